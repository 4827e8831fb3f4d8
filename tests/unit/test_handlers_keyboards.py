"""Keyboards: every button decodes, sold-out types are not buyable, the picker is bounded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from telegram import InlineKeyboardMarkup

from core.catalog import Event, EventStatus, SaleMode, TicketType
from core.money import Money
from core.orders import Stock
from core.services.catalog import EventCard, EventPage, EventSummary, Offer
from handlers import callbacks as cb
from handlers import keyboards


def _actions(markup: InlineKeyboardMarkup) -> list[cb.Action]:
    out = []
    for row in markup.inline_keyboard:
        for b in row:
            assert isinstance(b.callback_data, str)
            assert len(b.callback_data.encode()) <= 64
            action = cb.decode(b.callback_data)
            assert action is not None, b.callback_data
            out.append(action)
    return out


def _event(event_id: int = 7, title: str = "Gala") -> Event:
    return Event(id=event_id, title=title, description="", venue="Hall",
                 starts_at=datetime(2026, 12, 12, 20, tzinfo=UTC), timezone="Europe/Berlin",
                 status=EventStatus.PUBLISHED, sale_mode=SaleMode.DIRECT)


def _offer(tid: int, available: int, max_for_user: int) -> Offer:
    ttype = TicketType(id=tid, event_id=7, name=f"T{tid}", price=Money(2500, "EUR"),
                       capacity=10, per_user_limit=4)
    return Offer(ttype, Stock(10, 10 - available, 0), max_for_user)


def test_event_card_offers_only_buyable_types() -> None:
    card = EventCard(_event(), [_offer(1, 5, 4), _offer(2, 0, 0), _offer(3, 5, 0)], True)
    markup = keyboards.event_card(card)
    actions = _actions(markup)
    assert cb.ChooseType(1) in actions
    assert cb.ChooseType(2) not in actions and cb.ChooseType(3) not in actions
    labels = [b.text for row in markup.inline_keyboard for b in row]
    assert "T2 · sold out" in labels and "T3 · limit reached" in labels
    assert "T1 · €25.00" in labels


def test_event_card_off_sale_has_no_type_buttons() -> None:
    card = EventCard(_event(), [_offer(1, 5, 4)], on_sale=False)
    assert _actions(keyboards.event_card(card)) == [cb.ListPage(0)]


@pytest.mark.parametrize(("max_quantity", "expected"), [(1, 1), (3, 3), (10, 10), (50, 10),
                                                        (0, 0)])
def test_quantity_picker_is_bounded(max_quantity: int, expected: int) -> None:
    actions = _actions(keyboards.quantity_picker(17, max_quantity, event_id=7))
    holds = [a for a in actions if isinstance(a, cb.HoldSeats)]
    assert [h.quantity for h in holds] == list(range(1, expected + 1))
    assert all(h.ticket_type_id == 17 for h in holds)
    assert actions[-1] == cb.ShowEvent(7)


def test_event_list_pages() -> None:
    items = [EventSummary(_event(i, f"E{i}"), None, None, 3) for i in (1, 2)]
    first = _actions(keyboards.event_list(EventPage(items, page=0, pages=3)))
    assert cb.ShowEvent(1) in first and cb.ListPage(1) in first
    assert cb.ListPage(0) not in first
    middle = _actions(keyboards.event_list(EventPage(items, page=1, pages=3)))
    assert cb.ListPage(0) in middle and cb.ListPage(2) in middle
    last = _actions(keyboards.event_list(EventPage(items, page=2, pages=3)))
    assert cb.ListPage(3) not in last


def test_long_titles_and_markup_in_labels_are_plain_and_short() -> None:
    items = [EventSummary(_event(1, "<b>" + "x" * 200), None, None, 3)]
    markup = keyboards.event_list(EventPage(items, page=0, pages=1))
    text = markup.inline_keyboard[0][0].text
    assert text.startswith("<b>x") and len(text) <= keyboards.LABEL_MAX


def test_hold_followup_releases_the_order() -> None:
    assert _actions(keyboards.hold_followup(99)) == [cb.Release(99)]
