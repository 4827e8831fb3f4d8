"""Inline keyboards. Every button's callback_data comes from :mod:`handlers.callbacks`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo

from core.catalog.model import Event
from core.catalog.service import EventCard, EventPage
from core.lottery.service import EntryView, LotteryInfo
from core.returns.service import ReturnOption
from core.tickets.actions import HolderAction
from core.tickets.model import format_short_code
from core.tickets.service import TicketView
from handlers import callbacks as cb
from handlers import i18n
from handlers.lengths import ELLIPSIS, cut, utf16_len
from handlers.paging import TICKETS_PER_PAGE, Page, paginate
from handlers.texts import format_day, lottery_stage, plain, t, title_of

# Telegram shows long button labels cut off anyway; keep them readable. Lengths are counted
# as Telegram counts them: UTF-16 code units.
LABEL_MAX = 48
# What a ticket type's name may take of a ticket button before it is cut.
TYPE_IN_LABEL_MAX = 16
PICKER_MAX = 10
PICKER_ROW = 5


def markup(rows: Sequence[Sequence[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    """An inline keyboard in the reader's reading order: rows are declared in reading order
    (first = where a reader starts: Previous before Next, 1 before 2) and laid out right to
    left for a language written right to left. Every keyboard is built through here, so no
    button order is hard-coded left to right."""
    rtl = i18n.get().rtl
    return InlineKeyboardMarkup([list(reversed(row)) if rtl else list(row) for row in rows])


def chunked(buttons: Sequence[InlineKeyboardButton],
         per_row: int) -> list[list[InlineKeyboardButton]]:
    """``buttons`` in rows of ``per_row`` (reading order; :func:`markup` lays them out)."""
    return [list(buttons[i:i + per_row]) for i in range(0, len(buttons), per_row)]


def fitted(head: str, tail: str, limit: int = LABEL_MAX) -> str:
    """``head + tail`` within ``limit`` UTF-16 units, cutting ``head`` first: the tail is
    what tells a button apart from its neighbours (a ticket code, a price, an id)."""
    room = limit - utf16_len(tail)
    if room < utf16_len(ELLIPSIS) + 1:
        return cut(head + tail, limit)
    return cut(head, room) + tail


def label(key: str, /, **params: object) -> str:
    """A text rendered for a button label (plain text: labels are not HTML)."""
    return plain(t(key, **params))


def web_app_button(text: str, url: str) -> InlineKeyboardButton:
    """A button that opens the Mini App at ``url`` (HTTPS, as Telegram requires)."""
    return InlineKeyboardButton(cut(text, LABEL_MAX), web_app=WebAppInfo(url))


def button(text: str, action: cb.Action) -> InlineKeyboardButton:
    """One callback button labelled with plain ``text`` (cut to a readable length)."""
    return InlineKeyboardButton(cut(text, LABEL_MAX), callback_data=cb.encode(action))


def pager(page: Page[Any], make: Callable[[int], cb.Action]) -> list[InlineKeyboardButton]:
    """Previous · x/y · Next under a list (empty when the list fits on one page)."""
    if page.pages <= 1:
        return []
    row = []
    if page.has_prev:
        row.append(button(label("button.prev"), make(page.page - 1)))
    row.append(button(label("button.page", page=page.page + 1, pages=page.pages), cb.Noop()))
    if page.has_next:
        row.append(button(label("button.next"), make(page.page + 1)))
    return row


def main_menu() -> InlineKeyboardMarkup:
    """Browse events / my tickets (welcome message)."""
    return markup([
        [button(label("button.browse"), cb.ListPage(0))],
        [button(label("button.my_tickets"), cb.MyTickets())],
    ])


def event_list(page: EventPage) -> InlineKeyboardMarkup:
    """One button per event on the page, then previous/next page buttons."""
    rows = [[button(event_label(item.event), cb.ShowEvent(item.event.id))]
            for item in page.items]
    nav = []
    if page.page > 0:
        nav.append(button(label("button.prev"), cb.ListPage(page.page - 1)))
    if page.page + 1 < page.pages:
        nav.append(button(label("button.next"), cb.ListPage(page.page + 1)))
    if nav:
        rows.append(nav)
    rows.append([button(label("button.my_tickets"), cb.MyTickets())])
    return markup(rows)


def event_label(event: Event) -> str:
    """An event's button in the list: its title (cut first) and its day, so two events of
    the same name can be told apart."""
    return label_cutting("button.event", "title", title=title_of(event),
                         day=format_day(event.local_start()))


def event_card(card: EventCard) -> InlineKeyboardMarkup:
    """One button per ticket type; sold-out or maxed-out types are shown but do nothing."""
    rows = []
    if card.on_sale:
        for offer in card.offers:
            name, price = offer.ticket_type.name, offer.ticket_type.price
            action: cb.Action
            if offer.stock.sold_out:
                text, action = label_cutting("card.button_sold_out", "name", name=name), cb.Noop()
                rows.append([button(text, action)])
                # Returned seats of a sold-out type go to its waiting list, in join order.
                text = label_cutting("card.button_waitlist", "name", name=name)
                action = cb.WaitlistType(offer.ticket_type.id)
            elif offer.max_for_user <= 0:
                text, action = label_cutting("card.button_limit", "name", name=name), cb.Noop()
            else:
                text = label_cutting("card.button", "name", name=name, price=price)
                action = cb.ChooseType(offer.ticket_type.id)
            rows.append([button(text, action)])
    rows.append([button(label("button.back_to_list"), cb.ListPage(0))])
    return markup(rows)


def lottery_card(card: EventCard, info: LotteryInfo) -> InlineKeyboardMarkup:
    """While entries are open and the user has none: one "Enter" button per ticket type."""
    rows = []
    if info.my_entry is None and lottery_stage(card.event, info) == "open":
        rows = [[button(label_cutting("lottery.button", "name", name=o.ticket_type.name,
                                      price=o.ticket_type.price),
                        cb.EnterLottery(o.ticket_type.id))] for o in card.offers]
    rows.append([button(label("button.back_to_list"), cb.ListPage(0))])
    return markup(rows)


def _number_picker(make: Callable[[int], cb.Action], max_quantity: int,
                   event_id: int | None) -> InlineKeyboardMarkup:
    top = max(0, min(max_quantity, PICKER_MAX, cb.MAX_QUANTITY))
    numbers = [button(str(n), make(n)) for n in range(1, top + 1)]
    rows = [numbers[i:i + PICKER_ROW] for i in range(0, len(numbers), PICKER_ROW)]
    back = cb.ShowEvent(event_id) if event_id else cb.ListPage(0)
    rows.append([button(label("button.back_to_event"), back)])
    return markup(rows)


def quantity_picker(ticket_type_id: int, max_quantity: int,
                    event_id: int | None = None) -> InlineKeyboardMarkup:
    """Buttons 1..max_quantity (at most 10) in rows of five, then Back to the event."""
    return _number_picker(lambda n: cb.HoldSeats(ticket_type_id, n), max_quantity, event_id)


def waitlist_picker(ticket_type_id: int, max_quantity: int,
                    event_id: int | None = None) -> InlineKeyboardMarkup:
    """Waiting list: how many seats to wait for (1..max, at most 10), then Back."""
    return _number_picker(lambda n: cb.WaitlistJoin(ticket_type_id, n), max_quantity, event_id)


def returnable(options: Sequence[ReturnOption]) -> InlineKeyboardMarkup:
    """One button per order the holder may return (or returned, pending), then My tickets."""
    rows = []
    for option in options:
        key = "return.button" if option.ret is None else "return.button_pending"
        rows.append([button(label_cutting(key, "event", quantity=option.order.quantity,
                                          ticket_type=option.ticket_type.name,
                                          event=option.event.title),
                            cb.ReturnAsk(option.order.id))])
    rows.append([button(label("button.my_tickets"), cb.MyTickets())])
    return InlineKeyboardMarkup(rows)


def return_confirm(order_id: int) -> InlineKeyboardMarkup:
    """Return them / Keep them."""
    return InlineKeyboardMarkup([
        [button(label("return.button_confirm"), cb.ReturnConfirm(order_id))],
        [button(label("return.button_keep"), cb.ReturnList())],
    ])


def entry_picker(ticket_type_id: int, max_quantity: int,
                 event_id: int | None = None) -> InlineKeyboardMarkup:
    """Lottery entry: how many tickets to ask for (1..max, at most 10), then Back."""
    return _number_picker(lambda n: cb.EntryQuantity(ticket_type_id, n), max_quantity, event_id)


def hold_followup(order_id: int) -> InlineKeyboardMarkup:
    """Under the "seats held" message: cancel the hold."""
    return markup([[button(label("button.cancel_hold"), cb.Release(order_id))]])


def label_cutting(key: str, part: str, /, **params: object) -> str:
    """A label from ``key`` in which the ``part`` parameter (a title, a name) is cut first, so
    that the rest of the label (a price, a ticket code, an id: what tells a button apart from
    its neighbours) always shows in full."""
    marker = "\x00"
    whole = label(key, **{**params, part: marker})
    prefix, _, suffix = whole.partition(marker)
    value = str(params[part])
    room = LABEL_MAX - utf16_len(prefix) - utf16_len(suffix)
    if room < utf16_len(ELLIPSIS) + 1:
        return cut(prefix + value + suffix, LABEL_MAX)
    return prefix + cut(value, room) + suffix


def ticket_label(view: TicketView) -> str:
    """A ticket's button: event · type · code, the title cut first so the type and the code
    (what tells two tickets apart) always show."""
    return label_cutting("mytickets.button", "event", event=title_of(view.event),
                         ticket_type=cut(view.ticket_type.name, TYPE_IN_LABEL_MAX),
                         code=format_short_code(view.ticket.short_code))


def my_tickets_items(views: Sequence[TicketView], entries: Sequence[EntryView]
                     ) -> list[TicketView | EntryView]:
    """The /mytickets list in its order: lottery entries first, then tickets."""
    return [*entries, *views]


def my_tickets(views: Sequence[TicketView], entries: Sequence[EntryView] = (),
               page: int = 0) -> InlineKeyboardMarkup:
    """For one page: a button per ticket (sends its QR again) and per lottery entry (opens
    its event), then Previous · x/y · Next, then Browse events."""
    shown = paginate(my_tickets_items(views, entries), page, TICKETS_PER_PAGE)
    rows = []
    for item in shown.items:
        if isinstance(item, TicketView):
            rows.append([button(ticket_label(item), cb.ShowTicket(item.ticket.id))])
            rows += holder_action_rows(item)
        else:
            rows.append([button(label("mytickets.entry_button", event=title_of(item.event)),
                                cb.ShowEvent(item.event.id))])
    nav = pager(shown, cb.MyTicketsPage)
    if nav:
        rows.append(nav)
    rows.append([button(label("button.browse"), cb.ListPage(0))])
    return markup(rows)


def holder_action_rows(view: TicketView) -> list[list[InlineKeyboardButton]]:
    """A button for each thing the holder may do with this ticket now (and nothing else):
    ``view.actions``, decided by ``core.tickets.actions``."""
    code = format_short_code(view.ticket.short_code)
    rows = []
    for action in view.actions:
        if action is HolderAction.TRANSFER:
            rows.append([button(label("mytickets.give_button", code=code),
                                cb.GiveTicket(view.ticket.id))])
        elif action is HolderAction.RETURN:
            rows.append([button(label("mytickets.return_button", code=code),
                                cb.ReturnAsk(view.ticket.order_id))])
    return rows


def back_to_list() -> InlineKeyboardMarkup:
    """A single "All events" button."""
    return markup([[button(label("button.back_to_list"), cb.ListPage(0))]])


def back_to_event(event_id: int) -> InlineKeyboardMarkup:
    """A single "Back" button to an event's card."""
    return markup([[button(label("button.back_to_event"), cb.ShowEvent(event_id))]])


# The buttons an outbox edit may put under a message (core names them; the bot draws them).
SCREEN_BUTTONS = frozenset({"my_tickets", "events"})


def screen_markup(name: str | None) -> InlineKeyboardMarkup | None:
    """Buttons for a screen edited by the outbox: ``my_tickets``, ``events`` or none."""
    if name == "my_tickets":
        return markup([[button(label("button.my_tickets"), cb.MyTickets())]])
    if name == "events":
        return back_to_list()
    return None
