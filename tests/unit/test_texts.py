"""Texts: every error code, outbox key and spec issue has a text; output is valid Telegram HTML."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.catalog.model import (
    Event,
    EventStatus,
    LotteryState,
    LotteryWindow,
    SaleMode,
    TicketType,
)
from core.catalog.service import EventCard, EventPage, EventSummary, Offer
from core.catalog.spec import SpecIssue, parse_event_spec
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.lottery.model import Entry, EntryStatus, LotteryFigures, WindowPhase
from core.lottery.service import EntryView, LotteryInfo
from core.organizer.admin import EventSales
from core.payments.model import RefundStatus
from core.payments.plans import RefundReason
from core.sales.model import Stock, TicketTypeSales
from core.tickets.model import Ticket, TicketStatus
from core.tickets.service import TicketView
from handlers import texts
from handlers.lengths import html_len
from handlers.texts import (
    OUTBOX_KEYS,
    SPEC_CODES,
    TEXTS,
    error_text,
    event_card_text,
    event_list_text,
    format_local,
    format_money,
    lottery_card_text,
    my_tickets_text,
    plain,
    sales_text,
    spec_issue_text,
    t,
    ticket_caption,
)

CORE = Path(__file__).resolve().parents[2] / "core"
TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre",
                 "a", "tg-spoiler", "span", "blockquote", "tg-emoji"}
NASTY = "<b>Tom & \"Jerry\" </i><script>x</script> &amp; {name} %s"


class _TelegramHtml(HTMLParser):
    """Checks that a text uses only Telegram's tags, properly nested."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.problems.append(f"tag <{tag}>")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.problems.append(f"unbalanced </{tag}>")

    def handle_entityref(self, name: str) -> None:
        if name not in {"lt", "gt", "amp", "quot"}:
            self.problems.append(f"entity &{name};")


def assert_telegram_html(text: str) -> None:
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    assert not parser.problems, (parser.problems, text)
    assert not parser.stack, (parser.stack, text)
    # A bare "<" or "&" outside a tag/entity would be rejected by Telegram.
    stripped = re.sub(r"</?[a-z-]+>|&(lt|gt|amp|quot|#\d+);", "", text)
    assert "<" not in stripped and ">" not in stripped and "&" not in stripped, text


def _dummy_params(template: str) -> dict[str, object]:
    names = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    samples: dict[str, object] = {
        "total": Money(5000, "EUR"), "amount": Money(2500, "EUR"), "price": Money(100, "USD"),
        "revenue": Money(0, "JPY"),
        "starts": datetime(2026, 12, 12, 21, 0, tzinfo=ZoneInfo("Europe/Berlin")),
        "when": datetime(2026, 12, 12, 20, 0, tzinfo=UTC),
        "values": ["EUR", "USD"], "choices": ["direct", "lottery"],
    }
    return {n: samples.get(n, NASTY) for n in names}


def _keys_queued_by_core() -> set[str]:
    keys: set[str] = set()
    for path in CORE.rglob("*.py"):
        source = path.read_text()
        keys.update(re.findall(r'"key":\s*"([a-z_.]+)"', source))
        if 'f"refund_started.{reason.value}"' in source:
            keys.update(f"refund_started.{r.value}" for r in RefundReason)
    return keys


def test_every_error_code_has_a_text() -> None:
    for code in ErrorCode:
        assert f"error.{code.value}" in TEXTS, code


def test_every_outbox_key_in_core_has_a_text() -> None:
    found = _keys_queued_by_core()
    assert "payment_confirmed" in found and "refund_done" in found
    assert found <= OUTBOX_KEYS
    assert all(key in TEXTS for key in OUTBOX_KEYS)


def test_every_spec_issue_code_in_core_has_a_text() -> None:
    source = (CORE / "catalog" / "spec.py").read_text()
    codes = set(re.findall(r'errs\.add\([^,]+,\s*"([a-z_]+)"', source))
    codes |= set(re.findall(r'SpecIssue\([^,]+,\s*"([a-z_]+)"', source))
    assert codes, "pattern found no issue codes"
    assert codes <= SPEC_CODES
    assert all(f"spec.{code}" in TEXTS for code in SPEC_CODES)


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_every_text_renders_as_telegram_html_with_hostile_params(key: str) -> None:
    rendered = t(key, **_dummy_params(TEXTS[key]))
    assert_telegram_html(rendered)
    assert "<script>" not in rendered


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_renders_with_its_parameters(code: ErrorCode) -> None:
    params = {"available": 3, "limit": 4, "currency": "E<UR", "left": "EUR", "right": "USD",
              "status": "paid", "quantity": 0, "event_id": 1, "name": "GA", "sold": 5,
              "opens": datetime(2030, 5, 1, 10, 0, tzinfo=ZoneInfo("Europe/Berlin")),
              "issues": [SpecIssue("title", "required")]}
    text = error_text(DomainError(code, **params))
    assert_telegram_html(text)
    assert "?" not in text.replace("?)", "")


def test_error_texts_carry_their_numbers() -> None:
    assert "3" in error_text(DomainError(ErrorCode.NOT_ENOUGH_SEATS, available=3))
    text = error_text(DomainError(ErrorCode.USER_LIMIT_REACHED, limit=4, remaining=1))
    assert "4" in text and "1 more" in text
    assert "4" in error_text(DomainError(ErrorCode.USER_LIMIT_REACHED, limit=4))


def test_error_without_params_does_not_crash() -> None:
    assert error_text(DomainError(ErrorCode.NOT_ENOUGH_SEATS))


@pytest.mark.parametrize(("money", "text"), [
    (Money(2500, "EUR"), "€25.00"), (Money(1000, "USD"), "US$10.00"),
    (Money(500, "JPY"), "JP¥500"), (Money(1250, "CHF"), "CHF12.50"),
    (Money(1234, "KWD"), "KWD1.234"),
    (Money(5, "EUR"), "€0.05"), (Money(123456789, "EUR"), "€1,234,567.89"),
    (Money(-250, "GBP"), "-£2.50"), (Money(500, "XTR"), "500\u00a0⭐"), (Money(0, "EUR"), "€0.00"),
])
def test_money_is_formatted_with_the_currency_exponent(money: Money, text: str) -> None:
    assert format_money(money) == text


@given(st.integers(min_value=0, max_value=10**15))
def test_money_formatting_is_exact_for_any_amount(amount: int) -> None:
    shown = format_money(Money(amount, "CHF")).removeprefix("CHF").replace(",", "")
    whole, frac = shown.split(".")
    assert int(whole) * 100 + int(frac) == amount


def test_local_time_shows_the_events_zone() -> None:
    utc = datetime(2026, 12, 12, 20, 0, tzinfo=UTC)
    assert format_local(utc, "Europe/Berlin") == "Sat, 12 Dec 2026, 21:00 CET"
    summer = datetime(2026, 7, 4, 18, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    assert format_local(summer) == "Sat, 4 Jul 2026, 20:30 CEST"


def test_spec_issue_lines_name_the_field_in_html_and_plain() -> None:
    issue = SpecIssue("ticket_types[0].price", "bad_price", {"value": "<abc>"})
    assert spec_issue_text(issue, plain=True) == (
        "ticket_types[0].price: must be a decimal amount like 25.00 (got <abc>)")
    assert spec_issue_text(issue) == (
        "ticket_types[0].price: must be a decimal amount like 25.00 (got &lt;abc&gt;)")


def test_every_issue_of_a_bad_file_renders() -> None:
    raw = {"title": 5, "venue": "x" * 500, "timezone": "Mars/Base", "starts_at": "tomorrow",
           "sale_mode": "auction", "publish": "yes", "ticket_types": [
               {"name": "GA", "price": "1.234", "currency": "EUR", "capacity": 0},
               {"name": "ga", "price": "abc", "currency": "US", "per_user_limit": True},
               "oops"]}
    with pytest.raises(DomainError) as caught:
        parse_event_spec(raw, now=datetime(2026, 1, 1, tzinfo=UTC))
    text = error_text(caught.value)
    assert_telegram_html(text)
    assert "?" not in text.replace("?)", "")
    assert text.count("•") == len(caught.value.params["issues"])


def test_plain_strips_tags_and_decodes_entities() -> None:
    assert plain(t("card.header", title="A & <B>")) == "A & <B>"


# --- composite views ---------------------------------------------------------------------

def _event(**overrides: object) -> Event:
    base: dict[str, object] = dict(
        id=7, title="Winter <Gala> & Co", description="Black tie & <dancing>", venue="Town Hall",
        starts_at=datetime(2026, 12, 12, 20, 0, tzinfo=UTC), timezone="Europe/Berlin",
        status=EventStatus.PUBLISHED, sale_mode=SaleMode.DIRECT)
    base.update(overrides)
    return Event(**base)  # type: ignore[arg-type]


def _type(tid: int, name: str, price: int) -> TicketType:
    return TicketType(id=tid, event_id=7, name=name, price=Money(price, "EUR"), capacity=100,
                      per_user_limit=4)


def test_event_card_shows_prices_seats_and_sold_out() -> None:
    card = EventCard(event=_event(), on_sale=True, offers=[
        Offer(_type(1, "GA", 2500), Stock(100, 88, 0), 4),
        Offer(_type(2, "VIP", 8000), Stock(10, 10, 0), 0),
    ])
    text = event_card_text(card)
    assert_telegram_html(text)
    assert "Winter &lt;Gala&gt; &amp; Co" in text
    assert "GA — €25.00 · 12 left" in text
    assert "VIP — €80.00 · <b>SOLD OUT</b>" in text
    assert "Sat, 12 Dec 2026, 21:00 CET" in text


def test_event_list_shows_price_range_and_availability() -> None:
    page = EventPage(items=[
        EventSummary(_event(), Money(2500, "EUR"), Money(8000, "EUR"), 12),
        EventSummary(_event(id=8, title="Sold"), Money(100, "EUR"), Money(100, "EUR"), 0),
    ], page=0, pages=2)
    text = event_list_text(page)
    assert_telegram_html(text)
    assert "€25.00–€80.00" in text and "12 seats left" in text and "SOLD OUT" in text
    assert "page 1 of 2" in text


def test_ticket_caption_and_list_use_the_grouped_short_code() -> None:
    ticket = Ticket(id=1, order_id=1, event_id=7, ticket_type_id=1, owner_user_id=5,
                    token="a" * 22, short_code="K7QH3MZP", status=TicketStatus.VALID,
                    issued_at=datetime(2026, 1, 1, tzinfo=UTC))
    view = TicketView(ticket, _event(), _type(1, "GA", 2500))
    caption = ticket_caption(view)
    assert_telegram_html(caption)
    assert "K7QH-3MZP" in caption and len(caption) <= texts.CAPTION_LIMIT
    listing = my_tickets_text([view])
    assert_telegram_html(listing)
    assert "K7QH-3MZP" in listing


def test_long_texts_are_cut_to_telegram_limits() -> None:
    # Telegram counts UTF-16 units of the text after entity parsing: "&amp;" is one, 🎉 two.
    card = EventCard(event=_event(description="line & more\n" * 1000), on_sale=True, offers=[])
    text = event_card_text(card)
    assert html_len(text) <= texts.MESSAGE_LIMIT
    assert_telegram_html(text)
    emoji = EventCard(event=_event(description="🎉" * 2000, title="🎟" * 120), on_sale=True,
                      offers=[])
    text = event_card_text(emoji)
    assert html_len(text) <= texts.MESSAGE_LIMIT and "🎉…" in text
    assert "Hall" in text  # the description is cut, not where and when
    assert_telegram_html(text)
    assert html_len(texts.fit("<b>" + "🎉" * 3000 + "</b>")) <= texts.MESSAGE_LIMIT


# --- lottery -------------------------------------------------------------------------------

_NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def _lottery_event(**overrides: object) -> Event:
    window = LotteryWindow(_NOW, _NOW + timedelta(days=7), _NOW + timedelta(days=7, hours=1),
                           4)
    return _event(sale_mode=SaleMode.LOTTERY, lottery=window, lottery_state=LotteryState.OPEN,
                  **overrides)


def _entry(status: EntryStatus, position: int | None = None) -> Entry:
    return Entry(id=9, event_id=7, ticket_type_id=1, user_id=5, chat_id=5, quantity=2,
                 unit_price=Money(3000, "EUR"), status=status, created_at=_NOW,
                 draw_position=position)


def _lottery_card(event: Event | None = None) -> EventCard:
    return EventCard(event=event or _lottery_event(), on_sale=False, offers=[
        Offer(_type(1, "G<A>", 3000), Stock(100, 0, 0), 4),
        Offer(_type(2, "VIP", 8000), Stock(100, 0, 0), 2)])


def _info(phase: WindowPhase = WindowPhase.OPEN, state: LotteryState = LotteryState.OPEN,
          mine: Entry | None = None, entries: int = 42, asked: int = 97) -> LotteryInfo:
    return LotteryInfo(phase=phase, state=state, entries=entries, tickets_asked=asked,
                       seats=200, my_entry=mine)


def test_lottery_card_shows_window_draw_seats_tally_and_how_it_works() -> None:
    text = lottery_card_text(_lottery_card(), _info())
    assert_telegram_html(text)
    shown = plain(text)
    assert ("🎲 Lottery: entries open Mon, 1 Jun 2026, 12:00 CEST – close Mon, 8 Jun 2026, "
            "12:00 CEST; draw Mon, 8 Jun 2026, 13:00 CEST") in shown
    assert "Winter <Gala> & Co" in shown and "Black tie & <dancing>" in shown
    assert "Town Hall" in shown and "Sat, 12 Dec 2026, 21:00 CET" in shown
    assert "• G<A> — €30.00 · 100 seats" in shown and "• VIP — €80.00 · 100 seats" in shown
    assert "42 entries so far (97 tickets asked)" in shown
    assert "every cent back automatically, with no action needed" in shown
    assert "Everyone has the same chance, whenever they enter." in shown
    assert "Pick a ticket type below to enter" in shown


def test_lottery_card_counts_read_naturally_for_one() -> None:
    shown = plain(lottery_card_text(_lottery_card(), _info(entries=1, asked=1)))
    assert "1 entry so far (1 ticket asked)" in shown
    assert "0 entries so far (0 tickets asked)" in plain(
        lottery_card_text(_lottery_card(), _info(entries=0, asked=0)))


@pytest.mark.parametrize(("phase", "state", "expected"), [
    (WindowPhase.NOT_YET_OPEN, LotteryState.OPEN, "Entries open on Mon, 1 Jun 2026, 12:00 CEST"),
    (WindowPhase.CLOSED, LotteryState.OPEN, "Entries are closed. The draw is on Mon, 8 Jun"),
    (WindowPhase.CLOSED, LotteryState.CLOSED, "Entries are closed. The draw is on"),
    (WindowPhase.CLOSED, LotteryState.DRAWN, "the draw has taken place"),
])
def test_lottery_card_says_where_the_lottery_stands(phase: WindowPhase, state: LotteryState,
                                                    expected: str) -> None:
    text = lottery_card_text(_lottery_card(), _info(phase, state))
    assert_telegram_html(text)
    assert expected in plain(text)
    assert "Pick a ticket type" not in plain(text)


@pytest.mark.parametrize(("status", "expected"), [
    (EntryStatus.ENTERED, "Your entry: 2 × G<A> (€60.00) — in the draw."),
    (EntryStatus.WON, "Your entry: 2 × G<A> — won!"),
    (EntryStatus.LOST, "Your entry: 2 × G<A> — not selected, refunded €60.00."),
])
def test_lottery_card_shows_the_users_own_entry(status: EntryStatus, expected: str) -> None:
    text = lottery_card_text(_lottery_card(), _info(mine=_entry(status)))
    assert_telegram_html(text)
    assert expected in plain(text)
    assert "Pick a ticket type" not in plain(text)


def test_a_cancelled_lottery_says_so() -> None:
    card = _lottery_card(_lottery_event(status=EventStatus.CANCELLED))
    assert "cancelled" in plain(lottery_card_text(card, _info()))


@pytest.mark.parametrize(("status", "position", "expected"), [
    (EntryStatus.ENTERED, None, "2 × G<A>: in the draw on Mon, 8 Jun 2026, 13:00 CEST"),
    (EntryStatus.WON, 3, "2 × G<A>: won — your tickets are below (draw position #3)"),
    (EntryStatus.LOST, 17, "2 × G<A>: not selected — refunded €60.00 (draw position #17)"),
])
def test_my_tickets_lists_lottery_entries_by_state(status: EntryStatus, position: int | None,
                                                   expected: str) -> None:
    view = EntryView(_entry(status, position), _lottery_event(), _type(1, "G<A>", 3000))
    text = my_tickets_text([], [view])
    assert_telegram_html(text)
    assert "Your lottery entries" in text and expected in plain(text)
    assert "Your tickets" not in text


def test_my_tickets_puts_entries_above_the_tickets() -> None:
    ticket = Ticket(id=1, order_id=1, event_id=7, ticket_type_id=1, owner_user_id=5,
                    token="a" * 22, short_code="K7QH3MZP", status=TicketStatus.VALID,
                    issued_at=_NOW)
    entry = EntryView(_entry(EntryStatus.WON), _lottery_event(), _type(1, "GA", 3000))
    text = my_tickets_text([TicketView(ticket, _lottery_event(), _type(1, "GA", 3000))],
                           [entry])
    assert_telegram_html(text)
    assert text.index("Your lottery entries") < text.index("Your tickets")
    assert my_tickets_text([], []) == t("mytickets.empty")


def test_lottery_stats_show_entries_oversubscription_money_and_refunds() -> None:
    event = _lottery_event()
    sales = EventSales(event, [TicketTypeSales(_type(1, "GA", 3000), Stock(5, 5, 0),
                                               Money(15000, "EUR"))],
                       {RefundStatus.SUCCEEDED: (30, 200000)})
    figures = LotteryFigures(state=LotteryState.DRAWN, entries=42, tickets_asked=97, seats=23,
                             winners=2, tickets_won=5, paid=Money(291000, "EUR"),
                             refunds_done=(30, 200000), refunds_pending=(10, 80000),
                             refunds_failed=(1, 3000))
    text = sales_text(sales, figures)
    assert_telegram_html(text)
    shown = plain(text)
    assert "🎲 Lottery (drawn)" in shown
    assert "Entries: 42, 97 tickets asked for 23 seats — 4.2× oversubscribed" in shown
    assert "Winners: 2 entries, 5 tickets" in shown
    assert "Paid in: €2,910.00 · still held: €910.00" in shown
    assert ("Refunds: 30 done (€2,000.00), 10 pending (€800.00), 1 failed (€30.00)"
            in shown)
    assert "Refunds succeeded" not in shown  # the lottery lines replace the generic ones


def test_lottery_texts_escape_hostile_names() -> None:
    nasty = _lottery_event(title=NASTY, venue=NASTY, description=NASTY)
    card = EventCard(event=nasty, on_sale=False,
                     offers=[Offer(_type(1, NASTY, 3000), Stock(5, 0, 0), 4)])
    assert_telegram_html(lottery_card_text(card, _info(mine=_entry(EntryStatus.LOST))))
    view = EntryView(_entry(EntryStatus.ENTERED), nasty, _type(1, NASTY, 3000))
    assert_telegram_html(my_tickets_text([], [view]))
    assert_telegram_html(t("lottery.picker", event=NASTY, ticket_type=NASTY,
                           price=Money(3000, "EUR"), max=4))
