"""Browsing: ``/events`` (paged list with availability and prices) and event cards."""

from __future__ import annotations

from telegram import Update

from handlers import callbacks as cb
from handlers import keyboards
from handlers.common import reply, show, user_id
from handlers.context import TicketQContext
from handlers.texts import event_card_text, event_list_text, lottery_card_text


async def cmd_events(update: Update, context: TicketQContext) -> None:
    """``/events``: the first page of the event list."""
    page = await context.services.catalog.list_events(0)
    await reply(update, context, event_list_text(page), keyboards.event_list(page))


@cb.handles(cb.ListPage)
async def on_list_page(update: Update, context: TicketQContext, action: cb.ListPage) -> None:
    """A paging button: show another page of the list in place."""
    page = await context.services.catalog.list_events(action.page)
    await show(update, context, event_list_text(page), keyboards.event_list(page))


@cb.handles(cb.ShowEvent)
async def on_show_event(update: Update, context: TicketQContext, action: cb.ShowEvent) -> None:
    """An event button: show the event card in place."""
    await send_event_card(update, context, action.event_id, edit=True)


async def send_event_card(update: Update, context: TicketQContext, event_id: int, *,
                          edit: bool = False) -> None:
    """Show an event card with live availability for the asking user.

    A lottery event's card shows the entry window, the draw, the seats, the entries so far
    and the user's own entry, with "Enter" buttons while entries are open.

    Raises:
        DomainError: ``event_not_found``.
    """
    uid = user_id(update) or 0
    services = context.services
    card = await services.catalog.event_card(event_id, uid)
    if card.event.is_lottery:
        info = await services.lottery.info(card.event, uid)
        text, markup = lottery_card_text(card, info), keyboards.lottery_card(card, info)
    else:
        text, markup = event_card_text(card), keyboards.event_card(card)
    if edit:
        await show(update, context, text, markup)
    else:
        await reply(update, context, text, markup)
