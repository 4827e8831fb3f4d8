"""The reader's language: gettext catalogs managed with Babel, chosen per reader.

The English texts in :mod:`handlers.texts` (``TEXTS``) are the one source, keyed. Each other
language is a gettext catalog ``handlers/locales/<lang>/LC_MESSAGES/messages.po`` whose
entries carry the text key as ``msgctxt`` and the English source as ``msgid`` (so a translator
sees the English, and a changed English text makes its translation fuzzy on ``update`` instead
of silently staying). Counted texts (``key.one`` / ``key.other``, or ``key.one`` next to
``key``) are one plural entry ``msgctxt key``, ``msgid`` the one-form, ``msgid_plural`` the
other form: every language has its own plural rule (Russian three forms, Japanese one).

Catalogs are compiled at start-up, in memory, from the ``.po`` files with Babel (no ``.mo``
file is committed or needed: a clean clone works). ``python -m handlers.i18n`` extracts,
updates, compiles and checks them (see README, "Adding a language").

Who reads decides: :data:`current` holds the language of the reader being rendered for; the
language middleware sets it per update (``handlers.language``) and the outbox sets it per
recipient (``handlers.notices``). :func:`use` sets it for a block.
"""

from __future__ import annotations

import contextlib
import gettext
import io
import logging
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from core.language.model import negotiate as core_negotiate

log = logging.getLogger(__name__)

DEFAULT = "en"
# The languages at launch, in the order /language shows them.
LANGUAGES: tuple[str, ...] = ("en", "de", "ru", "es", "ja")
# Each language's own name, as its speakers write it (the /language buttons).
NATIVE_NAMES: dict[str, str] = {
    "en": "English", "de": "Deutsch", "ru": "Русский", "es": "Español", "ja": "日本語",
}
# The CLDR locale that formats numbers, money and dates for a language. English uses
# British conventions (24-hour clock, "Sat 12 Dec", CET), the usual choice of an event in
# Europe; the others their language's main locale.
FORMAT_LOCALES: dict[str, str] = {"en": "en_GB"}

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"

current: ContextVar[str] = ContextVar("ticketq_language", default=DEFAULT)

_PLACEHOLDER = re.compile(r"(?<!\{)\{([a-zA-Z_][a-zA-Z0-9_]*)\}(?!\})")


def placeholders(text: str) -> frozenset[str]:
    """The ``{name}`` placeholders of a template."""
    return frozenset(_PLACEHOLDER.findall(text))


@dataclass(frozen=True, slots=True)
class Language:
    """A language's compiled catalog and the locale that formats for it."""

    code: str
    translations: gettext.NullTranslations
    locale: Locale
    rtl: bool  # written right to left
    latin_digits: bool  # numbers in 0-9 (so small ones need no formatting)


_extra: dict[str, Catalog] = {}


def register(code: str, catalog: Catalog, locale: str | None = None) -> None:
    """Add (or replace) a language from a Babel catalog built in code (tests: a pseudo-locale
    written right to left)."""
    _extra[code] = catalog
    if locale is not None:
        FORMAT_LOCALES[code] = locale
    language.cache_clear()


def unregister(code: str) -> None:
    """Forget a language added with :func:`register`."""
    _extra.pop(code, None)
    language.cache_clear()


def po_path(code: str) -> Path:
    """Where the catalog of ``code`` lives."""
    return LOCALES_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(code: str) -> Catalog | None:
    """The catalog of ``code`` as Babel reads it, or None when there is none."""
    if code in _extra:
        return _extra[code]
    path = po_path(code)
    if not path.exists():
        return None
    with path.open("rb") as fh:
        return read_po(fh, locale=code, domain=DOMAIN)


def compile_catalog(catalog: Catalog) -> gettext.GNUTranslations:
    """Compile a catalog in memory (Babel's ``write_mo``); fuzzy entries are left out."""
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@cache
def language(code: str) -> Language:
    """The compiled language ``code`` (English, the source, has no catalog)."""
    locale = Locale.parse(FORMAT_LOCALES.get(code, code))
    catalog = None if code == DEFAULT else read_catalog(code)
    translations = (compile_catalog(catalog) if catalog is not None
                    else gettext.NullTranslations())
    return Language(code, translations, locale,
                    rtl=locale.character_order == "right-to-left",
                    latin_digits=locale.default_numbering_system == "latn")


def supported() -> tuple[str, ...]:
    """Every language a reader can have: the launch languages and any registered one."""
    return LANGUAGES + tuple(code for code in _extra if code not in LANGUAGES)


def negotiate(language_code: str | None) -> str:
    """The supported language for a Telegram ``language_code`` (an IETF tag such as ``de``,
    ``pt-br``, ``en-US``); the default when there is none or it is not supported."""
    return core_negotiate(language_code, supported(), DEFAULT)


def get() -> Language:
    """The language of the reader being rendered for."""
    return language(current.get())


@contextlib.contextmanager
def use(code: str | None) -> Iterator[Language]:
    """Render for a reader of language ``code`` inside this block."""
    token = current.set(code if code in supported() else DEFAULT)
    try:
        yield get()
    finally:
        current.reset(token)


def template(key: str, source: str) -> str:
    """The current reader's text of ``key`` whose English is ``source``."""
    lang = get()
    if lang.code == DEFAULT:
        return source
    return lang.translations.pgettext(key, source)


def plural_template(key: str, one: str, other: str, count: int) -> str:
    """The current reader's form of the counted text ``key`` for ``count``."""
    lang = get()
    if lang.code == DEFAULT:
        return one if count == 1 else other
    return lang.translations.npgettext(key, one, other, count)


def plural_groups(texts: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Counted texts: ``base -> (one_key, other_key)`` for every ``base.one`` with a
    ``base.other`` or a ``base`` next to it."""
    groups: dict[str, tuple[str, str]] = {}
    for key in texts:
        if not key.endswith(".one"):
            continue
        base = key.removesuffix(".one")
        if f"{base}.other" in texts:
            groups[base] = (key, f"{base}.other")
        elif base in texts:
            groups[base] = (key, base)
    return groups


def plural_member(texts: Mapping[str, str]) -> dict[str, str]:
    """Key of each member of a counted text -> its group (``count.seats.one`` ->
    ``count.seats``)."""
    return {member: base for base, pair in plural_groups(texts).items() for member in pair}
