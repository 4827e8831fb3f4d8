"""Small helpers shared by the flow handlers: replying, editing, who is asking."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from core.errors import DomainError
from handlers.context import TicketQContext
from handlers.texts import error_text

log = logging.getLogger(__name__)


def user_id(update: Update) -> int | None:
    """Telegram id of the person behind the update, if any."""
    user = update.effective_user
    return user.id if user is not None else None


async def reply(update: Update, context: TicketQContext, text: str,
                markup: InlineKeyboardMarkup | None = None) -> Message | None:
    """Send ``text`` (HTML) to the update's chat; None if there is no chat."""
    chat = update.effective_chat
    if chat is None:
        return None
    return await context.bot.send_message(chat_id=chat.id, text=text, parse_mode=ParseMode.HTML,
                                          reply_markup=markup)


async def show(update: Update, context: TicketQContext, text: str,
               markup: InlineKeyboardMarkup | None = None) -> None:
    """Replace the message a button belongs to, or send a new one (commands, old messages).

    Editing keeps the chat tidy while browsing; if the message cannot be edited (too old,
    a photo, an invoice) a new message is sent instead.
    """
    query = update.callback_query
    message = query.message if query is not None else None
    if isinstance(message, Message) and message.text is not None:
        try:
            await message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
            return
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return
            log.info("could not edit message %s: %s", message.message_id, exc)
    await reply(update, context, text, markup)


Handler = Callable[[Update, TicketQContext], Coroutine[Any, Any, None]]


def guarded(handler: Handler) -> Handler:
    """Wrap a message handler so a :class:`DomainError` becomes its text, never a crash."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: TicketQContext) -> None:
        try:
            await handler(update, context)
        except DomainError as err:
            log.info("%s: %r", handler.__name__, err)
            await reply(update, context, error_text(err))

    return wrapper
