"""The catalogs: every key in every language, placeholders as the source's, every rendered
text accepted by Telegram (the sandbox's HTML parser and length limits), money and dates in
the reader's format, and a right-to-left dummy locale."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from babel.messages.catalog import Catalog

from bot.sandbox.formatting import parse_html, utf16_len
from core.catalog.model import Event, EventStatus, EventText, SaleMode, TicketType
from core.catalog.spec import parse_event_spec
from core.kernel import outbox
from core.kernel.errors import DomainError
from core.kernel.localized import LocalText
from core.kernel.money import Money
from core.language.model import negotiate
from core.tickets.model import Ticket, TicketStatus
from core.tickets.service import TicketView
from handlers import callbacks as cb
from handlers import i18n, keyboards
from handlers import texts as tx
from handlers.i18n import catalog
from handlers.lengths import CAPTION_LIMIT, MESSAGE_LIMIT
from handlers.paging import Page
from tests.factories import event_doc

TRANSLATED = [code for code in i18n.LANGUAGES if code != i18n.DEFAULT]
# Values an attacker (or an unlucky organizer) could put into any text: markup, entities,
# a lone ampersand, bidi overrides, emoji outside the BMP, and lots of it.
HOSTILE = "<b>&amp; <i>x</i></b> & </code> \u202e🎟️" + "Ж" * 300


def _hostile_params(template: str) -> dict[str, object]:
    return {name: HOSTILE for name in i18n.placeholders(template)}


@pytest.mark.parametrize("code", TRANSLATED)
def test_translation_catalogs_have_every_key(code: str) -> None:
    missing = [str(p) for p in catalog.problems(code) if "placeholders" not in p.what]
    assert missing == [], "\n".join(missing) + "\nrun: python -m handlers.i18n update"


@pytest.mark.parametrize("code", TRANSLATED)
def test_translation_placeholders_are_the_sources(code: str) -> None:
    wrong = [str(p) for p in catalog.problems(code) if "placeholders" in p.what]
    assert wrong == []


def test_translation_check_finds_a_missing_key_and_a_changed_placeholder() -> None:
    """The two tests above can fail: a catalog without one key and with one placeholder
    renamed is reported on both counts."""
    source = catalog.template()
    broken = Catalog(locale="de", domain=i18n.DOMAIN)
    for message in i18n.read_catalog("de") or []:
        if message.id and message.context not in {"welcome", "hold.placed"}:
            broken.add(message.id, message.string, context=message.context)
    placed = next(m for m in source if m.context == "hold.placed")
    broken.add(placed.id, "✅ {quantity} × {ticket_type} für <b>{event}</b>: {summe}.",
               context="hold.placed")
    i18n.register("xx", broken, locale="de")
    try:
        found = {(p.key, p.what.split(" ")[0]) for p in catalog.problems("xx")}
    finally:
        i18n.unregister("xx")
    assert ("welcome", "missing") in found
    assert ("hold.placed", "placeholders") in found


def test_translation_untranslated_keys_are_listed_by_the_tool(capsys) -> None:
    from handlers.i18n.__main__ import main

    assert main(["check"]) == 0
    assert "0 entries to translate or fix" in capsys.readouterr().out


@pytest.mark.parametrize("code", i18n.LANGUAGES)
def test_translation_every_text_with_hostile_parameters_passes_telegram_checks(
        code: str) -> None:
    """Every key in every language, every placeholder filled with markup, entities and
    300 Cyrillic letters: valid Telegram HTML, within a message's length once fitted."""
    groups = i18n.plural_groups(tx.TEXTS)
    members = i18n.plural_member(tx.TEXTS)
    with i18n.use(code):
        for key, source in tx.TEXTS.items():
            group = groups.get(members.get(key, key))
            if group is not None:
                params = _hostile_params(tx.TEXTS[group[0]] + tx.TEXTS[group[1]])
                renders = [tx.tn(key, n, **{**params, "count": n})
                           for n in (0, 1, 2, 5, 21, 1000000)]
            else:
                renders = [tx.t(key, **_hostile_params(source))]
            for text in renders:
                fitted = tx.fit(text)
                plain, _ = parse_html(fitted)  # raises on anything Telegram would refuse
                assert utf16_len(plain) <= MESSAGE_LIMIT, key


@pytest.mark.parametrize("code", i18n.LANGUAGES)
def test_translation_rendered_screens_fit_in_every_language(code: str) -> None:
    """The longest composite texts (a ticket's caption) stay within Telegram's caption
    limit with hostile event texts in every language."""
    ticket = Ticket(id=1, order_id=1, event_id=7, ticket_type_id=1, owner_user_id=5,
                    token="a" * 22, short_code="K7QH3MZP", status=TicketStatus.REVOKED,
                    issued_at=datetime(2026, 1, 1, tzinfo=UTC))
    ticket_type = TicketType(id=1, event_id=7, name=HOSTILE[:64], price=Money(2500, "EUR"),
                             capacity=10, per_user_limit=4)
    event = _event(title=HOSTILE * 3, venue=HOSTILE * 3)
    with i18n.use(code):
        caption = tx.ticket_caption(TicketView(ticket, event, ticket_type))
    plain, _ = parse_html(caption)
    assert utf16_len(plain) <= CAPTION_LIMIT


@pytest.mark.parametrize(("code", "price", "stars", "big"), [
    ("en", "€25.00", "1,500 ⭐", "€1,234,567.89"),
    ("de", "25,00 €", "1.500 ⭐", "1.234.567,89 €"),
    ("ru", "25,00 €", "1 500 ⭐", "1 234 567,89 €"),
    ("es", "25,00 €", "1.500 ⭐", "1.234.567,89 €"),
    ("ja", "€25.00", "1,500 ⭐", "€1,234,567.89"),
])
def test_locale_money_is_written_as_the_reader_writes_it(code: str, price: str, stars: str,
                                                         big: str) -> None:
    with i18n.use(code):
        assert _spaces(tx.format_money(Money(2500, "EUR"))) == price
        assert _spaces(tx.format_money(Money(1500, "XTR"))) == stars
        assert _spaces(tx.format_money(Money(123456789, "EUR"))) == big
        assert "500" in tx.format_money(Money(500, "JPY"))  # no decimals for yen


def _spaces(text: str) -> str:
    """CLDR separates with no-break spaces (U+00A0, U+202F): shown here as spaces."""
    return text.replace("\xa0", " ").replace("\u202f", " ")


@pytest.mark.parametrize(("code", "when"), [
    ("en", "Sat, 12 Dec 2026, 21:00 CET"),
    ("de", "Sa., 12. Dez. 2026, 21:00 MEZ"),
    ("ru", "сб, 12 дек. 2026 г., 21:00 GMT+01:00"),
    ("es", "sáb, 12 dic 2026, 21:00 CET"),
    ("ja", "2026年12月12日(土) 21:00 GMT+01:00"),
])
def test_locale_dates_are_in_the_events_zone_and_the_readers_format(code: str,
                                                                    when: str) -> None:
    utc = datetime(2026, 12, 12, 20, 0, tzinfo=UTC)
    with i18n.use(code):
        assert _spaces(tx.format_local(utc, "Europe/Berlin")) == when


def test_language_code_from_telegram_picks_a_supported_language() -> None:
    supported = i18n.LANGUAGES
    assert negotiate("de", supported, "en") == "de"
    assert negotiate("de-AT", supported, "en") == "de"
    assert negotiate("pt-br", supported, "en") == "en"
    assert negotiate("JA", supported, "en") == "ja"
    assert negotiate(None, supported, "en") == "en"


def test_language_counted_texts_use_each_languages_plural_forms() -> None:
    with i18n.use("ru"):
        assert [str(tx.plural("count.tickets", n)) for n in (1, 2, 5, 21)] == [
            "1 билет", "2 билета", "5 билетов", "21 билет"]
    with i18n.use("ja"):
        assert str(tx.plural("count.tickets", 3)) == "3枚"
    with i18n.use("de"):
        assert str(tx.plural("events.seats_left", 1)) == "noch 1 Platz frei"


def _event(**extra: object) -> Event:
    base = dict(id=7, title="Night Market", description="Street food.", venue="Harbour",
                starts_at=datetime(2026, 12, 12, 20, tzinfo=UTC), timezone="Europe/Berlin",
                status=EventStatus.PUBLISHED, sale_mode=SaleMode.DIRECT)
    base.update(extra)
    return Event(**base)  # type: ignore[arg-type]


def test_language_event_texts_follow_the_reader_and_fall_back_to_the_default() -> None:
    event = _event(translations=(("de", EventText("Nachtmarkt", "")),
                                 ("ja", EventText("ナイトマーケット", "屋台とライブ"))))
    with i18n.use("de"):
        assert tx.title_of(event) == "Nachtmarkt"
        assert tx.description_of(event) == "Street food."  # no German one: the default
    with i18n.use("ja"):
        assert tx.title_of(event) == "ナイトマーケット"
        assert tx.description_of(event) == "屋台とライブ"
    with i18n.use("ru"):
        assert tx.title_of(event) == "Night Market"


def test_language_event_title_in_a_notice_survives_the_outbox_for_each_recipient() -> None:
    event = _event(translations=(("de", EventText("Nachtmarkt")),))
    params = outbox.decode(outbox.encode({"event": event.title_text(),
                                          "amount": Money(2500, "EUR")}))
    assert isinstance(params["event"], LocalText)
    with i18n.use("de"):
        assert tx.t("fairness.title", event=params["event"]).count("Nachtmarkt") == 1
    with i18n.use("en"):
        assert "Night Market" in tx.t("fairness.title", event=params["event"])


def test_language_event_file_takes_titles_per_language() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    spec = parse_event_spec(event_doc(language="en", translations={
        "de": {"title": "Nachtmarkt", "description": "Streetfood und Livemusik."},
        "ja": {"title": "ナイトマーケット"}}), now=now)
    assert dict(spec.translations)["de"] == EventText("Nachtmarkt", "Streetfood und Livemusik.")
    assert dict(spec.translations)["ja"].title == "ナイトマーケット"
    with pytest.raises(DomainError) as err:
        parse_event_spec(event_doc(translations={"Deutsch!": {"title": "x"},
                                                  "ru": {"description": "без названия"}}),
                         now=now)
    codes = {(i.path, i.code) for i in err.value.params["issues"]}
    assert ("translations.Deutsch!", "bad_language") in codes
    assert ("translations.ru.title", "required") in codes


# --- right to left -----------------------------------------------------------------------

def _pseudo_rtl() -> Catalog:
    """A dummy right-to-left language built now: every text behind Hebrew letters, its
    placeholders and tags kept (what a translator of Arabic or Persian would deliver)."""
    pseudo = Catalog(locale="ar", domain=i18n.DOMAIN)
    for message in catalog.template():
        if not message.id:
            continue
        if message.pluralizable:
            one, other = message.id
            forms = [other] * 6
            forms[1] = one
            pseudo.add(message.id, tuple("אבג " + f for f in forms), context=message.context)
        else:
            pseudo.add(message.id, "אבג " + str(message.id), context=message.context)
    return pseudo


@pytest.fixture
def rtl():
    i18n.register("ar", _pseudo_rtl(), locale="ar")
    try:
        yield "ar"
    finally:
        i18n.unregister("ar")


def test_locale_right_to_left_dummy_isolates_codes_numbers_and_mirrors_button_rows(
        rtl: str) -> None:
    with i18n.use(rtl) as language:
        assert language.rtl
        text = tx.t("ticket.caption", event="Night Market", ticket_type="GA",
                    when=datetime(2026, 12, 12, 20, tzinfo=ZoneInfo("Europe/Berlin")),
                    venue="Harbour", code="K7QH-3MZP")
        price = tx.t("card.offer", name="GA", price=Money(2500, "EUR"), seats=tx.Html("3"))
        row = keyboards.pager(Page(items=(1,), page=1, pages=3, total=30), cb.ListPage)
        laid_out = keyboards.markup([row]).inline_keyboard[0]
    assert f"{tx.FSI}K7QH-3MZP{tx.PDI}" in text  # a code keeps its own direction
    assert text.startswith("🎟 <b>") or "אבג" in text
    parse_html(text)
    assert tx.FSI + "GA" + tx.PDI in price
    # Reading order is Previous · 2/3 · Next; laid out right to left it is mirrored.
    assert [b.text for b in laid_out] == [b.text for b in reversed(row)]
    with i18n.use("en"):
        assert [b.text for b in keyboards.markup([row]).inline_keyboard[0]] == [
            b.text for b in row]
        assert tx.FSI not in tx.t("ticket.caption", event="E", ticket_type="GA", when=None,
                                  venue="V", code="K7QH-3MZP")


def test_locale_right_to_left_dummy_renders_every_key_as_valid_html(rtl: str) -> None:
    with i18n.use(rtl):
        for key, source in tx.TEXTS.items():
            parse_html(tx.fit(tx.t(key, **_hostile_params(source))))


@pytest.mark.parametrize("code", i18n.LANGUAGES)
def test_translation_invoices_fit_telegrams_limits_and_keep_the_refund_promise(
        code: str) -> None:
    """Title (32) and description (255) as Telegram counts them (UTF-16 code units), with
    the longest event texts; a lottery's refund promise comes first and survives the cut."""
    from handlers.common import INVOICE_DESCRIPTION_MAX, INVOICE_TITLE_MAX, invoice_texts

    long_title, venue, type_name = "🎆" * 120, "🏟" * 120, "🎫" * 64
    when = datetime(2026, 12, 12, 20, tzinfo=ZoneInfo("Europe/Berlin"))
    with i18n.use(code):
        promise = tx.plain(tx.t("invoice.lottery_description", quantity=1, ticket_type="",
                                draw=when, venue="")).split(":")[0].split("：")[0]
        for description in (
                tx.t("invoice.description", quantity=4, ticket_type=type_name, when=when,
                     venue=venue),
                tx.t("invoice.lottery_description", quantity=4, ticket_type=type_name,
                     draw=when, venue=venue)):
            title, text, label = invoice_texts(tx.t("invoice.title", event=long_title),
                                               description,
                                               tx.t("invoice.label", quantity=4,
                                                    ticket_type=type_name))
            assert 1 <= utf16_len(title) <= INVOICE_TITLE_MAX
            assert 1 <= utf16_len(text) <= INVOICE_DESCRIPTION_MAX
            assert label and type_name[:4] in label
        assert text.startswith(promise[:20])
