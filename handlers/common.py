"""Small helpers shared by the flow handlers: replying, editing, invoices, who is asking."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import InlineKeyboardMarkup, LabeledPrice, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from core.kernel.errors import DomainError
from core.kernel.money import Money
from handlers import lengths
from handlers.context import TicketQContext
from handlers.texts import error_text, fit, plain

log = logging.getLogger(__name__)

# Telegram's sendInvoice limits (UTF-16 code units, as Telegram counts).
INVOICE_TITLE_MAX = 32
INVOICE_DESCRIPTION_MAX = 255


class ShownOnScreen(Exception):
    """A refusal the flow has already written into the message its button belongs to (a
    stale picker redrawn as "sold out"). The router still gives it as an alert when it can,
    but never repeats it as a chat message."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.code.value)
        self.error = error


def cut(text: str, limit: int) -> str:
    """Plain ``text`` shortened to ``limit`` UTF-16 units (an emoji can be two), ending in
    "…" when something was cut."""
    return lengths.cut(text, limit)


def user_id(update: Update) -> int | None:
    """Telegram id of the person behind the update, if any."""
    user = update.effective_user
    return user.id if user is not None else None


async def reply(update: Update, context: TicketQContext, text: str,
                markup: InlineKeyboardMarkup | None = None) -> Message | None:
    """Send ``text`` (HTML, cut to Telegram's length if needed) to the update's chat; None if
    there is no chat. It goes through the one sending path (``bot.sending``): paced, in order,
    retried, never dropped silently."""
    chat = update.effective_chat
    if chat is None:
        return None
    return await context.bot.send_message(chat_id=chat.id, text=fit(text),
                                          parse_mode=ParseMode.HTML, reply_markup=markup)


async def show(update: Update, context: TicketQContext, text: str,
               markup: InlineKeyboardMarkup | None = None) -> Message | None:
    """Replace the message a button belongs to, or send a new one (commands, old messages).

    Editing keeps the chat tidy while browsing; if the message cannot be edited (too old,
    a photo, an invoice) a new message is sent instead.

    Returns:
        The message that now shows ``text`` (the edited one or the new one), None if there
        is no chat.
    """
    query = update.callback_query
    message = query.message if query is not None else None
    if isinstance(message, Message) and message.text is not None:
        try:
            await message.edit_text(fit(text), parse_mode=ParseMode.HTML, reply_markup=markup)
            return message
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return message
            log.info("could not edit message %s: %s", message.message_id, exc)
    return await reply(update, context, text, markup)


def invoice_texts(title: str, description: str, label: str) -> tuple[str, str, str]:
    """Rendered invoice texts as Telegram takes them: plain, the title cut to 32 and the
    description to 255 UTF-16 code units (Telegram's count), in any language."""
    return (cut(plain(title), INVOICE_TITLE_MAX),
            cut(plain(description), INVOICE_DESCRIPTION_MAX), plain(label))


async def send_invoice(context: TicketQContext, chat_id: int, *, title: str, description: str,
                       label: str, payload: str, total: Money) -> None:
    """Send a one-line invoice for ``total`` (purchases and lottery entries alike).

    Args:
        context: the handler context (bot and payment provider token).
        chat_id: where the invoice goes.
        title: rendered text; made plain and cut to Telegram's 32 UTF-16 units.
        description: rendered text; made plain and cut to 255 UTF-16 units, so anything that
            must survive (a refund promise) belongs at its start.
        label: rendered text of the single price line.
        payload: the opaque invoice payload (``core.sales.model``), 1-128 bytes.
        total: the amount and currency to charge.

    Raises:
        TelegramError: Telegram refused the invoice.
    """
    title, description, label = invoice_texts(title, description, label)
    await context.bot.send_invoice(
        chat_id=chat_id,
        title=title,
        description=description,
        payload=payload,
        provider_token=context.services.provider_token or None,
        currency=total.currency,
        prices=[LabeledPrice(label, total.amount)],
    )


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
