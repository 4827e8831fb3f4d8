"""The single CallbackQueryHandler: decode, dispatch, and answer every query exactly once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.error import TelegramError

from core.kernel.errors import DomainError
from handlers import browse, console, lottery, my_tickets, purchase, wizard
from handlers import callbacks as cb
from handlers.common import ShownOnScreen, cut, reply
from handlers.context import TicketQContext
from handlers.delivery import before_waiting
from handlers.texts import error_text, plain, t

log = logging.getLogger(__name__)

ANSWER_MAX = 200  # UTF-16 units

Flow = Callable[[Update, TicketQContext, Any], Awaitable[None]]

ROUTES: dict[type, Flow] = {
    cb.ListPage: browse.on_list_page,
    cb.ShowEvent: browse.on_show_event,
    cb.ChooseType: purchase.on_choose_type,
    cb.HoldSeats: purchase.on_hold,
    cb.Release: purchase.on_release,
    cb.EnterLottery: lottery.on_enter,
    cb.EntryQuantity: lottery.on_entry_quantity,
    cb.ShowTicket: my_tickets.on_show_ticket,
    cb.MyTickets: my_tickets.on_my_tickets,
    cb.MyTicketsPage: my_tickets.on_my_tickets_page,
    cb.ConsoleStats: console.on_stats,
    cb.ConsoleExport: console.on_export,
    cb.StaffInvite: console.on_staff_invite,
    cb.StaffList: console.on_staff_list,
    cb.CancelAsk: console.on_cancel_ask,
    cb.CancelConfirm: console.on_cancel_confirm,
    cb.CancelKeep: console.on_cancel_keep,
    cb.RevokeStaff: console.on_revoke_staff,
    cb.RevokeOrganizer: console.on_revoke_organizer,
    cb.WithdrawInvite: console.on_withdraw_invite,
    cb.MyEventsPage: console.on_my_events_page,
    cb.ConsoleEvent: console.on_console_event,
    cb.OrganizersPage: console.on_organizers_page,
    cb.StaffPage: console.on_staff_page,
    cb.WizardPick: wizard.on_pick,
    cb.WizardNav: wizard.on_nav,
}


async def on_callback(update: Update, context: TicketQContext) -> None:
    """Run the button's flow; answer the query once, with an alert for a domain error.

    Stale or forged callback_data (anything :func:`handlers.callbacks.decode` rejects) gets a
    friendly "this button has expired" alert. Unexpected exceptions still answer the query
    (silently) before reaching the error handler.

    Telegram shows a spinner on the button until the query is answered and drops answers
    after 15 s, while messages to one chat are paced (about one a second, ``bot.sending``).
    So when the flow's edit or message would have to wait in line, the query is answered
    first, silently; a refusal the flow then ends in arrives as a message, not an alert.
    """
    query = update.callback_query
    if query is None:
        return
    answered = False

    async def answer(notice: str | None = None, alert: bool = False) -> None:
        nonlocal answered
        if answered:
            return
        answered = True
        try:
            if notice is None:
                await query.answer()
            else:
                await query.answer(text=cut(plain(notice), ANSWER_MAX), show_alert=alert)
        except TelegramError as exc:
            log.info("could not answer callback query %s: %s", query.id, exc)

    notice: str | None = None
    alert = False
    on_screen = False  # the refusal is already written in the message: no second telling
    try:
        with before_waiting(answer):
            action = cb.decode(query.data)
            if action is None:
                notice, alert = t("fallback.stale_button"), True
            elif isinstance(action, cb.Noop):
                notice = t("fallback.noop")
            else:
                await ROUTES[type(action)](update, context, action)
    except ShownOnScreen as shown:
        log.info("callback %r: %r (shown on screen)", query.data, shown.error)
        notice, alert, on_screen = error_text(shown.error), True, True
    except DomainError as err:
        log.info("callback %r: %r", query.data, err)
        notice, alert = error_text(err), True
    finally:
        early = answered
        await answer(notice, alert)  # no-op if answered early; silent on unexpected errors
    if early and notice is not None and alert and not on_screen:
        await reply(update, context, notice)  # too late for an alert: say it in the chat
