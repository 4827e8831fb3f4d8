"""Keyboards: every button decodes, sold-out types are not buyable, pickers are bounded,
lottery entry is offered only while entries are open."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from telegram import InlineKeyboardMarkup

from core.catalog.model import (
    Event,
    EventStatus,
    LotteryState,
    LotteryWindow,
    SaleMode,
    TicketType,
)
from core.catalog.service import EventCard, EventPage, EventSummary, Offer
from core.kernel.money import Money
from core.lottery.model import Entry, EntryStatus, WindowPhase
from core.lottery.service import EntryView, LotteryInfo
from core.sales.model import Stock
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


# --- lottery -------------------------------------------------------------------------------

def _lottery_card(status: EventStatus = EventStatus.PUBLISHED) -> EventCard:
    now = datetime(2026, 6, 1, 10, tzinfo=UTC)
    window = LotteryWindow(now, now + timedelta(days=7), now + timedelta(days=8), 4)
    event = Event(id=7, title="Show", description="", venue="Hall",
                  starts_at=now + timedelta(days=30), timezone="Europe/Berlin", status=status,
                  sale_mode=SaleMode.LOTTERY, lottery=window, lottery_state=LotteryState.OPEN)
    ga = TicketType(id=1, event_id=7, name="GA", price=Money(3000, "EUR"), capacity=5,
                    per_user_limit=4)
    vip = TicketType(id=2, event_id=7, name="VIP", price=Money(8000, "EUR"), capacity=2,
                     per_user_limit=2)
    return EventCard(event, [Offer(ga, Stock(5, 0, 0), 4), Offer(vip, Stock(2, 0, 0), 2)],
                     on_sale=False)


def _info(phase: WindowPhase = WindowPhase.OPEN, state: LotteryState = LotteryState.OPEN,
          mine: Entry | None = None) -> LotteryInfo:
    return LotteryInfo(phase=phase, state=state, entries=3, tickets_asked=7, seats=7,
                       my_entry=mine)


def test_an_open_lottery_offers_one_enter_button_per_type() -> None:
    markup = keyboards.lottery_card(_lottery_card(), _info())
    labels = [b.text for row in markup.inline_keyboard for b in row]
    assert labels == ["Enter · GA · €30.00", "Enter · VIP · €80.00", "⬅️ All events"]
    assert _actions(markup) == [cb.EnterLottery(1), cb.EnterLottery(2), cb.ListPage(0)]


@pytest.mark.parametrize(("phase", "state"), [
    (WindowPhase.NOT_YET_OPEN, LotteryState.OPEN), (WindowPhase.CLOSED, LotteryState.OPEN),
    (WindowPhase.OPEN, LotteryState.CLOSED), (WindowPhase.CLOSED, LotteryState.DRAWN)])
def test_a_lottery_outside_its_window_offers_no_enter_button(phase: WindowPhase,
                                                              state: LotteryState) -> None:
    assert _actions(keyboards.lottery_card(_lottery_card(), _info(phase, state))) == [
        cb.ListPage(0)]


def test_no_enter_button_once_entered_or_when_cancelled() -> None:
    mine = Entry(id=9, event_id=7, ticket_type_id=1, user_id=5, chat_id=5, quantity=2,
                 unit_price=Money(3000, "EUR"), status=EntryStatus.ENTERED,
                 created_at=datetime(2026, 6, 1, tzinfo=UTC))
    assert _actions(keyboards.lottery_card(_lottery_card(), _info(mine=mine))) == [
        cb.ListPage(0)]
    cancelled = _lottery_card(EventStatus.CANCELLED)
    assert _actions(keyboards.lottery_card(cancelled, _info())) == [cb.ListPage(0)]


@pytest.mark.parametrize(("max_quantity", "expected"), [(1, 1), (4, 4), (10, 10), (50, 10)])
def test_entry_picker_asks_for_entry_quantities_and_is_bounded(max_quantity: int,
                                                               expected: int) -> None:
    markup = keyboards.entry_picker(17, max_quantity, event_id=7)
    actions = _actions(markup)
    assert actions[:-1] == [cb.EntryQuantity(17, n) for n in range(1, expected + 1)]
    assert actions[-1] == cb.ShowEvent(7)
    assert [b.text for row in markup.inline_keyboard[:-1] for b in row] == [
        str(n) for n in range(1, expected + 1)]


def test_my_tickets_links_each_lottery_entry_to_its_event() -> None:
    card = _lottery_card()
    entry = Entry(id=9, event_id=7, ticket_type_id=1, user_id=5, chat_id=5, quantity=2,
                  unit_price=Money(3000, "EUR"), status=EntryStatus.ENTERED,
                  created_at=datetime(2026, 6, 1, tzinfo=UTC))
    markup = keyboards.my_tickets([], [EntryView(entry, card.event, card.offers[0].ticket_type)])
    assert _actions(markup) == [cb.ShowEvent(7), cb.ListPage(0)]
    assert markup.inline_keyboard[0][0].text == "🎲 Show"
