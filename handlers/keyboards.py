"""Inline keyboards. Every button's callback_data comes from :mod:`handlers.callbacks`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from core.services.catalog import EventCard, EventPage
from core.services.lottery import EntryView, LotteryInfo
from core.services.tickets import TicketView
from core.tickets import format_short_code
from handlers import callbacks as cb
from handlers.texts import lottery_stage, plain, t

# Telegram shows long button labels cut off anyway; keep them readable.
LABEL_MAX = 48
PICKER_MAX = 10
PICKER_ROW = 5


def label(key: str, /, **params: object) -> str:
    """A text rendered for a button label (plain text: labels are not HTML)."""
    return plain(t(key, **params))


def button(text: str, action: cb.Action) -> InlineKeyboardButton:
    """One callback button labelled with plain ``text`` (cut to a readable length)."""
    text = text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"
    return InlineKeyboardButton(text, callback_data=cb.encode(action))


def main_menu() -> InlineKeyboardMarkup:
    """Browse events / my tickets (welcome message)."""
    return InlineKeyboardMarkup([
        [button(label("button.browse"), cb.ListPage(0))],
        [button(label("button.my_tickets"), cb.MyTickets())],
    ])


def event_list(page: EventPage) -> InlineKeyboardMarkup:
    """One button per event on the page, then previous/next page buttons."""
    rows = [[button(item.event.title, cb.ShowEvent(item.event.id))] for item in page.items]
    nav = []
    if page.page > 0:
        nav.append(button(label("button.prev"), cb.ListPage(page.page - 1)))
    if page.page + 1 < page.pages:
        nav.append(button(label("button.next"), cb.ListPage(page.page + 1)))
    if nav:
        rows.append(nav)
    rows.append([button(label("button.my_tickets"), cb.MyTickets())])
    return InlineKeyboardMarkup(rows)


def event_card(card: EventCard) -> InlineKeyboardMarkup:
    """One button per ticket type; sold-out or maxed-out types are shown but do nothing."""
    rows = []
    if card.on_sale:
        for offer in card.offers:
            name, price = offer.ticket_type.name, offer.ticket_type.price
            if offer.stock.sold_out:
                rows.append([button(label("card.button_sold_out", name=name), cb.Noop())])
            elif offer.max_for_user <= 0:
                rows.append([button(label("card.button_limit", name=name), cb.Noop())])
            else:
                rows.append([button(label("card.button", name=name, price=price),
                                    cb.ChooseType(offer.ticket_type.id))])
    rows.append([button(label("button.back_to_list"), cb.ListPage(0))])
    return InlineKeyboardMarkup(rows)


def lottery_card(card: EventCard, info: LotteryInfo) -> InlineKeyboardMarkup:
    """While entries are open and the user has none: one "Enter" button per ticket type."""
    rows = []
    if info.my_entry is None and lottery_stage(card.event, info) == "open":
        rows = [[button(label("lottery.button", name=o.ticket_type.name,
                              price=o.ticket_type.price),
                        cb.EnterLottery(o.ticket_type.id))] for o in card.offers]
    rows.append([button(label("button.back_to_list"), cb.ListPage(0))])
    return InlineKeyboardMarkup(rows)


def _number_picker(make: Callable[[int], cb.Action], max_quantity: int,
                   event_id: int | None) -> InlineKeyboardMarkup:
    top = max(0, min(max_quantity, PICKER_MAX, cb.MAX_QUANTITY))
    numbers = [button(str(n), make(n)) for n in range(1, top + 1)]
    rows = [numbers[i:i + PICKER_ROW] for i in range(0, len(numbers), PICKER_ROW)]
    back = cb.ShowEvent(event_id) if event_id else cb.ListPage(0)
    rows.append([button(label("button.back_to_event"), back)])
    return InlineKeyboardMarkup(rows)


def quantity_picker(ticket_type_id: int, max_quantity: int,
                    event_id: int | None = None) -> InlineKeyboardMarkup:
    """Buttons 1..max_quantity (at most 10) in rows of five, then Back to the event."""
    return _number_picker(lambda n: cb.HoldSeats(ticket_type_id, n), max_quantity, event_id)


def entry_picker(ticket_type_id: int, max_quantity: int,
                 event_id: int | None = None) -> InlineKeyboardMarkup:
    """Lottery entry: how many tickets to ask for (1..max, at most 10), then Back."""
    return _number_picker(lambda n: cb.EntryQuantity(ticket_type_id, n), max_quantity, event_id)


def hold_followup(order_id: int) -> InlineKeyboardMarkup:
    """Under the "seats held" message: cancel the hold."""
    return InlineKeyboardMarkup([[button(label("button.cancel_hold"), cb.Release(order_id))]])


def my_tickets(views: Sequence[TicketView],
               entries: Sequence[EntryView] = ()) -> InlineKeyboardMarkup:
    """One button per ticket (sends its QR again), one per lottery entry (opens its event),
    then Browse events (at most 90 buttons: Telegram allows 100)."""
    rows = [[button(label("mytickets.button", event=v.event.title, ticket_type=v.ticket_type.name,
                      code=format_short_code(v.ticket.short_code)),
                    cb.ShowTicket(v.ticket.id))] for v in views[:90]]
    rows += [[button(label("mytickets.entry_button", event=e.event.title),
                     cb.ShowEvent(e.event.id))] for e in entries[:90 - len(rows)]]
    rows.append([button(label("button.browse"), cb.ListPage(0))])
    return InlineKeyboardMarkup(rows)


def back_to_list() -> InlineKeyboardMarkup:
    """A single "All events" button."""
    return InlineKeyboardMarkup([[button(label("button.back_to_list"), cb.ListPage(0))]])
