"""The single CallbackQueryHandler: decode, dispatch, and answer every query exactly once."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError

from core.kernel.errors import DomainError
from handlers import browse, console, lottery, my_tickets, purchase, transfers
from handlers import callbacks as cb
from handlers.common import ShownOnScreen, cut, reply
from handlers.context import TicketQContext
from handlers.delivery import before_waiting
from handlers.texts import error_text, plain, t
from handlers.wizard import chat as wizard

log = logging.getLogger(__name__)

ANSWER_MAX = 200  # UTF-16 units

# The modules whose flows answer buttons: importing them registers each flow
# (``@cb.handles``) next to it. A new button needs its declaration and its flow, nothing here.
FLOWS = (browse, console, lottery, my_tickets, purchase, transfers, wizard)


class Notice(Exception):  # not an error: how a flow ends with a short notice
    """Raised by a flow whose only answer is a short notice on the tapped button."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@cb.handles(cb.Noop)
async def on_noop(update: Update, context: TicketQContext, action: cb.Noop) -> None:
    """A label that does nothing when tapped: say so briefly."""
    raise Notice(t("fallback.noop"))


_missing = cb.BUTTONS.unhandled()
if _missing:  # pragma: no cover - a programming error, caught at import and by the tests
    raise RuntimeError(f"button actions without a flow: {', '.join(_missing)}")


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
            else:
                await cb.BUTTONS.flow(action)(update, context, action)
    except Notice as told:
        notice = told.text
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
