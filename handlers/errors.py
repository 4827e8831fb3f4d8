"""PTB's error handler: log without secrets, apologise to the user if there is a chat."""

from __future__ import annotations

import logging
import traceback

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import TelegramError

from core.kernel.redaction import redact
from handlers.context import TicketQContext
from handlers.delivery import record_failure
from handlers.texts import t

log = logging.getLogger(__name__)

async def on_error(update: object, context: TicketQContext) -> None:
    """Log the failure (redacted) and tell the user, when there is a chat, that it failed.

    The failure is reported to the durable inbox first; an update it will run again (a
    passing database or network fault) is not apologised for yet.
    """
    error = context.error
    if error is not None and isinstance(update, Update) and record_failure(error):
        log.warning("update %s failed (%s); the inbox will run it again", update.update_id,
                    redact(f"{type(error).__name__}: {error}")[:300])
        return
    if error is not None:
        details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        log.error("handler failed for update %s:\n%s",
                  update.update_id if isinstance(update, Update) else "-", redact(details))
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        await context.bot.send_message(chat_id=update.effective_chat.id,
                                       text=t("error.unexpected"), parse_mode=ParseMode.HTML)
    except TelegramError as exc:
        log.warning("could not tell chat about the failure: %s", redact(str(exc)))
