"""``/mytickets``: the user's lottery entries and tickets as one message with pages, each
ticket's QR code on demand."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ParseMode

from core.tickets.service import TicketView
from handlers import callbacks as cb
from handlers import keyboards
from handlers.common import reply, show, user_id
from handlers.context import TicketQContext
from handlers.qr import ticket_qr_png
from handlers.texts import my_tickets_text, ticket_caption


async def cmd_my_tickets(update: Update, context: TicketQContext) -> None:
    """``/mytickets``: list the user's lottery entries and upcoming tickets."""
    uid = user_id(update)
    if uid is None:
        return
    text, markup = await _listing(context, uid)
    await reply(update, context, text, markup)


@cb.handles(cb.MyTickets)
async def on_my_tickets(update: Update, context: TicketQContext, action: cb.MyTickets) -> None:
    """The "My tickets" button: the same list, in place."""
    await _show_page(update, context, 0)


@cb.handles(cb.MyTicketsPage)
async def on_my_tickets_page(update: Update, context: TicketQContext,
                             action: cb.MyTicketsPage) -> None:
    """Previous / Next under the list: another page, in place."""
    await _show_page(update, context, action.page)


async def _show_page(update: Update, context: TicketQContext, page: int) -> None:
    uid = user_id(update)
    if uid is None:
        return
    text, markup = await _listing(context, uid, page)
    await show(update, context, text, markup)


async def _listing(context: TicketQContext, uid: int,
                   page: int = 0) -> tuple[str, InlineKeyboardMarkup]:
    services = context.services
    views = await services.tickets.my_tickets(uid)
    entries = await services.lottery.my_entries(uid)
    return my_tickets_text(views, entries, page), keyboards.my_tickets(views, entries, page)


@cb.handles(cb.ShowTicket)
async def on_show_ticket(update: Update, context: TicketQContext,
                         action: cb.ShowTicket) -> None:
    """A ticket button: send that ticket's QR code again (owner only).

    Raises:
        DomainError: ``ticket_not_found`` (also for someone else's ticket).
    """
    uid, chat = user_id(update), update.effective_chat
    if uid is None or chat is None:
        return
    view = await context.services.tickets.ticket_for_owner(user_id=uid, ticket_id=action.ticket_id)
    await send_ticket_photo(context, chat.id, view)


async def send_ticket_photo(context: TicketQContext, chat_id: int, view: TicketView) -> None:
    """Send a ticket's QR code with the same caption the outbox uses."""
    username = context.services.bot_username or context.bot.username
    await context.bot.send_photo(chat_id=chat_id, photo=ticket_qr_png(username, view.ticket.token),
                                 caption=ticket_caption(view), parse_mode=ParseMode.HTML)
