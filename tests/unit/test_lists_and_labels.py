"""Pure rules behind lists, buttons and wording: pages, labels counted in UTF-16 that keep what
tells buttons apart, plurals, what a hold's screen must say, and the new callback actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.catalog.model import Event, EventStatus, SaleMode, TicketType
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.sales.model import Order, OrderStatus, ScreenState, screen_state_now
from core.tickets.model import Ticket, TicketStatus
from core.tickets.service import TicketView
from handlers import callbacks as cb
from handlers.keyboards import (
    LABEL_MAX,
    fitted,
    label_cutting,
    my_tickets,
    pager,
    ticket_label,
)
from handlers.lengths import cut, utf16_len
from handlers.paging import TICKETS_PER_PAGE, paginate
from handlers.texts import error_text, my_tickets_text, plain, plural, t

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


# --- pages ----------------------------------------------------------------------------------

def test_nine_items_in_pages_of_six_are_two_pages() -> None:
    first, second = paginate(range(9), 0, 6), paginate(range(9), 1, 6)
    assert (first.items, first.page, first.pages, first.total) == ((0, 1, 2, 3, 4, 5), 0, 2, 9)
    assert second.items == (6, 7, 8) and not second.has_next and second.has_prev


def test_a_page_past_the_end_shows_the_last_page_and_an_empty_list_one_page() -> None:
    assert paginate(list("abc"), 7, 2).items == ("c",)
    assert paginate(list("abc"), -1, 2).page == 0
    empty = paginate([], 3, 5)
    assert (empty.items, empty.page, empty.pages) == ((), 0, 1)
    with pytest.raises(ValueError):
        paginate([1], 0, 0)


@given(st.integers(0, 300), st.integers(1, 20))
def test_pages_cover_every_item_once(total: int, size: int) -> None:
    pages = paginate(range(total), 0, size).pages
    seen = [i for n in range(pages) for i in paginate(range(total), n, size).items]
    assert seen == list(range(total))


def test_the_pager_offers_previous_and_next_only_where_they_lead() -> None:
    assert pager(paginate(range(5), 0, 5), cb.MyTicketsPage) == []
    middle = pager(paginate(range(30), 1, 10), cb.MyTicketsPage)
    assert [b.text for b in middle] == ["◀️ Previous", "2/3", "Next ▶️"]
    assert [b.callback_data for b in middle] == ["v1:mp:0", "v1:noop", "v1:mp:2"]
    last = pager(paginate(range(30), 2, 10), cb.MyTicketsPage)
    assert [b.text for b in last] == ["◀️ Previous", "3/3"]


# --- labels ---------------------------------------------------------------------------------

def test_lengths_are_counted_in_utf16_units() -> None:
    assert utf16_len("abc") == 3 and utf16_len("🎟") == 2 and utf16_len("é") == 1


@given(st.text(max_size=120), st.integers(2, 64))
def test_a_cut_label_fits_and_never_splits_a_character(text: str, limit: int) -> None:
    out = cut(text, limit)
    assert utf16_len(out) <= limit
    out.encode("utf-16-le")  # a lone surrogate would not encode
    assert out == text or out.endswith("…")


def test_fitting_cuts_the_head_and_keeps_the_tail() -> None:
    label = fitted("🎸" * 40, " · K7QH-3MZP")
    assert label.endswith("🎸… · K7QH-3MZP") and utf16_len(label) <= LABEL_MAX


def _view(title: str, type_name: str, code: str) -> TicketView:
    event = Event(1, title, "", "Hall", NOW, "Europe/Berlin", EventStatus.PUBLISHED,
                  SaleMode.DIRECT)
    ticket_type = TicketType(2, 1, type_name, Money(2500, "EUR"), 10, 4)
    ticket = Ticket(3, 4, 1, 2, 99, "A" * 22, code, TicketStatus.VALID, NOW)
    return TicketView(ticket, event, ticket_type)


def test_tickets_of_a_long_titled_event_keep_their_type_and_code() -> None:
    title = "The Extraordinarily Long Midsummer Night Open Air Festival Of Harbour Lights 🎆"
    labels = [ticket_label(_view(title, "GA", "K7QH3MZP")),
              ticket_label(_view(title, "GA", "B3JA4BYM")),
              ticket_label(_view(title, "Backstage Very Important Person Pass", "ZC3UZ2R5"))]
    assert labels[0].endswith(" · GA · K7QH-3MZP") and labels[1].endswith("· B3JA-4BYM")
    assert labels[2].endswith(" · ZC3U-Z2R5") and "Backstage" in labels[2]
    assert len(set(labels)) == 3 and all(utf16_len(x) <= LABEL_MAX for x in labels)
    assert all(x.startswith("The Extraordinari") for x in labels)


def test_a_type_button_keeps_its_price_when_the_name_is_long() -> None:
    label = label_cutting("card.button", "name", name="N" * 80, price=Money(2500, "EUR"))
    assert label.endswith("… · €25.00") and utf16_len(label) <= LABEL_MAX


def test_my_tickets_buttons_and_text_show_one_page_with_paging() -> None:
    views = [_view("Gig", "GA", f"AAAA{n:04d}") for n in range(TICKETS_PER_PAGE + 3)]
    first = my_tickets(views)
    codes = [b.text[-9:] for row in first.inline_keyboard for b in row
             if b.callback_data and b.callback_data.startswith("v1:tk:")]
    assert codes == [f"AAAA-{n:04d}" for n in range(TICKETS_PER_PAGE)]
    nav = [b.callback_data for b in first.inline_keyboard[-2]]
    assert nav == ["v1:noop", "v1:mp:1"]
    text = plain(my_tickets_text(views, (), 1))
    assert "page 2 of 2" in text and "AAAA-0000" not in text
    assert f"AAAA-{TICKETS_PER_PAGE:04d}" in text


# --- wording --------------------------------------------------------------------------------

@pytest.mark.parametrize(("count", "words"), [(0, "0 minutes"), (1, "1 minute"),
                                              (2, "2 minutes"), (10, "10 minutes")])
def test_one_plural_helper_counts_minutes(count: int, words: str) -> None:
    assert plural("count.minutes", count) == words
    assert f"held for {words} " in plain(t("hold.placed", quantity=1, ticket_type="GA",
                                           event="X", total=Money(1, "EUR"),
                                           duration=plural("count.minutes", count)))


def test_counted_errors_use_the_singular_for_one() -> None:
    assert plain(error_text(DomainError(ErrorCode.NOT_ENOUGH_SEATS, available=1))) == (
        "Only 1 seat is left. Please pick fewer.")
    assert "Only 2 seats are left" in error_text(DomainError(ErrorCode.NOT_ENOUGH_SEATS,
                                                             available=2))
    assert error_text(DomainError(ErrorCode.ENTRY_QUANTITY_TOO_HIGH, limit=4)) == (
        "You can enter for at most 4 tickets.")
    assert error_text(DomainError(ErrorCode.ENTRY_QUANTITY_TOO_HIGH, limit=1)) == (
        "You can enter for at most 1 ticket.")
    assert "maximum of 1 ticket of" in error_text(DomainError(ErrorCode.USER_LIMIT_REACHED,
                                                               limit=1))
    assert error_text(DomainError(ErrorCode.INVOICE_NOT_YOURS)) == (
        "This invoice belongs to someone else; no money was taken.")


# --- what a hold's message must say ---------------------------------------------------------

def _order(status: OrderStatus, expires_in: timedelta) -> Order:
    return Order(1, 10, 1, 2, 1, Money(2500, "EUR"), status, NOW, NOW + expires_in)


@pytest.mark.parametrize(("status", "expires_in", "state"), [
    (OrderStatus.HELD, timedelta(minutes=5), None),
    (OrderStatus.HELD, timedelta(0), ScreenState.EXPIRED),
    (OrderStatus.HELD, -timedelta(minutes=5), ScreenState.EXPIRED),
    (OrderStatus.PAID, -timedelta(minutes=5), ScreenState.PAID),
    (OrderStatus.RELEASED, timedelta(minutes=5), ScreenState.RELEASED),
    (OrderStatus.REJECTED, -timedelta(minutes=5), ScreenState.REJECTED),
])
def test_a_hold_screen_changes_only_when_reserved_is_no_longer_true(
        status: OrderStatus, expires_in: timedelta, state: ScreenState | None) -> None:
    assert screen_state_now(_order(status, expires_in), NOW) is state


# --- the new callback actions ---------------------------------------------------------------

@pytest.mark.parametrize(("action", "wire"), [
    (cb.MyTicketsPage(1), "v1:mp:1"), (cb.MyEventsPage(2), "v1:me:2"),
    (cb.ConsoleEvent(42, 1), "v1:ce:42:1"), (cb.OrganizersPage(3), "v1:op:3"),
    (cb.StaffPage(42, 1), "v1:sp:42:1"),
])
def test_paging_actions_have_short_documented_wire_forms(action: cb.Action, wire: str) -> None:
    assert cb.encode(action) == wire and cb.decode(wire) == action
    assert len(cb.encode(type(action)(*[cb.MAX_ID if "id" in f else cb.MAX_PAGE
                                         for f in action.__slots__]))) <= cb.MAX_BYTES


@pytest.mark.parametrize("forged", ["v1:ce:42", "v1:sp:0:1", "v1:me:-1", "v1:op:10001",
                                    "v1:mp:01", "v1:ce:42:1:1"])
def test_malformed_paging_actions_decode_to_nothing(forged: str) -> None:
    assert cb.decode(forged) is None
