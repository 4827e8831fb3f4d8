"""Extract, update, compile and check the gettext catalogs (Babel's ``babel.messages`` API).

The extractor reads ``handlers.texts.TEXTS`` (the English source, keyed) instead of scanning
code for ``_()`` calls: the keys are the message ids of the product, and a text added there is
extracted with nothing else to do. See :mod:`handlers.i18n` for the layout of an entry.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import write_po

from handlers import i18n

PROJECT = "TicketQ"
POT_PATH = i18n.LOCALES_DIR / f"{i18n.DOMAIN}.pot"


def _texts() -> dict[str, str]:
    from handlers.texts import TEXTS  # the source; imported late (texts imports i18n)
    return TEXTS


def template(texts: dict[str, str] | None = None) -> Catalog:
    """The template catalog (``messages.pot``) of every key of ``TEXTS``."""
    texts = _texts() if texts is None else texts
    groups = i18n.plural_groups(texts)
    members = i18n.plural_member(texts)
    catalog = Catalog(project=PROJECT, domain=i18n.DOMAIN, fuzzy=False,
                      creation_date=datetime(2026, 12, 1, tzinfo=UTC),
                      revision_date=datetime(2026, 12, 1, tzinfo=UTC))
    for key, source in texts.items():
        if key in members and key not in groups:
            base = members[key]
            if base in catalog_keys(catalog):
                continue
            one, other = groups[base]
            names = sorted(i18n.placeholders(texts[one]) | i18n.placeholders(texts[other]))
            catalog.add((texts[one], texts[other]), context=base,
                        auto_comments=_comments(names, counted=True))
            continue
        if key in groups:  # a base that is also the other form: added with its group
            one, other = groups[key]
            names = sorted(i18n.placeholders(texts[one]) | i18n.placeholders(texts[other]))
            catalog.add((texts[one], texts[other]), context=key,
                        auto_comments=_comments(names, counted=True))
            continue
        catalog.add(source, context=key,
                    auto_comments=_comments(sorted(i18n.placeholders(source))))
    return catalog


def catalog_keys(catalog: Catalog) -> set[str]:
    """The contexts (text keys) of a catalog's entries."""
    return {m.context for m in catalog if m.id and m.context}


def _comments(names: Iterable[str], counted: bool = False) -> list[str]:
    out = []
    names = list(names)
    if names:
        out.append("placeholders: " + ", ".join("{" + n + "}" for n in names))
    if counted:
        out.append("counted: one entry per plural form of your language")
    return out


def extract(path: Path = POT_PATH) -> Catalog:
    """Write the template catalog; returns it."""
    pot = template()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        write_po(fh, pot, width=99, omit_header=False, sort_output=False)
    return pot


def update(codes: Iterable[str] | None = None, *, pot: Catalog | None = None) -> list[Path]:
    """Merge the template into each language's catalog (creating it the first time): new keys
    come in untranslated, changed English makes its translation fuzzy, gone keys go."""
    pot = template() if pot is None else pot
    written = []
    for code in codes or [c for c in i18n.LANGUAGES if c != i18n.DEFAULT]:
        path = i18n.po_path(code)
        catalog = i18n.read_catalog(code) if path.exists() else None
        if catalog is None:
            catalog = Catalog(locale=code, domain=i18n.DOMAIN, project=PROJECT,
                              creation_date=pot.creation_date, fuzzy=False)
        catalog.update(pot, no_fuzzy_matching=False, update_header_comment=False)
        catalog.obsolete.clear()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, catalog, width=99, ignore_obsolete=True, sort_output=False)
        written.append(path)
    return written


def compile_all(codes: Iterable[str] | None = None) -> list[Path]:
    """Write ``messages.mo`` next to each catalog (optional: the bot compiles the ``.po`` files
    in memory at start-up; this is for other gettext tools and a quick syntax check)."""
    written = []
    for code in codes or [c for c in i18n.LANGUAGES if c != i18n.DEFAULT]:
        catalog = i18n.read_catalog(code)
        if catalog is None:
            continue
        path = i18n.po_path(code).with_suffix(".mo")
        with path.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        written.append(path)
    return written


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with one entry of one language."""

    language: str
    key: str
    what: str

    def __str__(self) -> str:
        return f"{self.language}: {self.key}: {self.what}"


def problems(code: str, texts: dict[str, str] | None = None) -> list[Problem]:
    """Every key of ``TEXTS`` that ``code`` lacks, has fuzzy or empty, translates from an old
    English text, or whose placeholders differ from the source's."""
    texts = _texts() if texts is None else texts
    catalog = i18n.read_catalog(code)
    if catalog is None:
        return [Problem(code, "*", "no catalog")]
    pot = template(texts)
    by_key = {m.context: m for m in catalog if m.id and m.context}
    nplurals = catalog.num_plurals
    locale = Locale.parse(i18n.FORMAT_LOCALES.get(code, code))
    out: list[Problem] = []
    for source in pot:
        if not source.id:
            continue
        key = str(source.context)
        entry = by_key.get(key)
        if entry is None:
            out.append(Problem(code, key, "missing"))
            continue
        if entry.id != source.id:
            out.append(Problem(code, key, "translates an older English text (run update)"))
            continue
        if entry.fuzzy:
            out.append(Problem(code, key, "fuzzy"))
            continue
        out += _check_entry(code, key, source, entry, nplurals, locale)
    return out


def _check_entry(code: str, key: str, source: Message, entry: Message, nplurals: int,
                 locale: Locale) -> list[Problem]:
    if not source.pluralizable:
        text = entry.string if isinstance(entry.string, str) else ""
        if not text:
            return [Problem(code, key, "untranslated")]
        want, got = i18n.placeholders(str(source.id)), i18n.placeholders(text)
        if want != got:
            return [Problem(code, key, f"placeholders {sorted(got)} != {sorted(want)}")]
        return []
    forms = [str(f or "") for f in (entry.string if isinstance(entry.string, tuple | list)
                                    else [entry.string])]
    if len(forms) != nplurals or not all(forms):
        return [Problem(code, key, f"needs {nplurals} plural forms")]
    one, other = (str(part) for part in source.id)
    want = i18n.placeholders(other) | i18n.placeholders(one)
    # The number itself ({count}, {limit} ...): what the other form has and the one form not.
    counted = i18n.placeholders(other) - i18n.placeholders(one)
    out = []
    for index, form in enumerate(forms):
        got = i18n.placeholders(form)
        # A form may leave out the number only if it is used for exactly the number 1.
        only_one = _numbers_of_form(locale, index, nplurals) == {1}
        allowed = {want, want - counted} if only_one else {want}
        if got not in allowed:
            out.append(Problem(code, key,
                               f"plural form {index}: placeholders {sorted(got)} != "
                               f"{sorted(want)}"))
    return out


def _numbers_of_form(locale: Locale, index: int, nplurals: int) -> set[int]:
    """The numbers 0..199 for which gettext picks plural form ``index`` in ``locale``."""
    from babel.messages.plurals import get_plural

    choose = gettext.c2py(get_plural(locale).plural_expr)
    return {n for n in range(200) if choose(n) == index}
