"""The Telegram side of the outbox: sends through the one sending path, classifies failures.

The outbox worker decodes an item (:func:`core.outbox.decode`) and calls
:meth:`TelegramMessenger.send_message` or :meth:`TelegramMessenger.send_ticket`. The
requests go through the application's ``Bot`` and so through
:class:`bot.sending.SendingPath` in its bulk lane: paced with every other message of the
process, behind the replies people are waiting for, flood control waited out in place. A
failure raises :class:`DeliveryError` (a :class:`core.payments.model.GatewayError`):
``permanent`` means retrying cannot help (bot blocked, chat gone, unknown text key, no such
ticket) and the item should be marked dead; otherwise retry later with backoff."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

from telegram import Bot, InlineKeyboardMarkup, LabeledPrice
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.sending import Lane, retry_after_seconds, sending_path
from core.kernel.errors import DomainError
from core.payments.model import GatewayError
from core.tickets.model import TicketStatus
from core.tickets.service import TicketService, TicketView

log = logging.getLogger(__name__)

T = TypeVar("T")
# An edit that finds the message already so, or no message to edit (deleted by the user, too
# old), has nothing left to do: the screen cannot be made truer by retrying.
_EDIT_DONE = ("message is not modified", "message to edit not found",
              "message can't be edited")


class DeliveryError(GatewayError):
    """A Telegram send failed. ``permanent`` errors must not be retried."""


class NoticeLook(Protocol):
    """How notices look in the chat: texts, buttons, ticket QR codes (``handlers.notices``)."""

    def text(self, key: str, params: Mapping[str, Any], language: str) -> str:
        """HTML text of message ``key`` in ``language``; KeyError for a key without a text."""

    def buttons(self, name: str | None, language: str) -> InlineKeyboardMarkup | None:
        """The named set of buttons of an edited screen (None: no buttons)."""

    def ticket_photo(self, bot_username: str, token: str) -> bytes:
        """PNG of a ticket's QR code."""

    def invoice_parts(self, item: Mapping[str, Any], language: str) -> tuple[str, str, str]:
        """Title, description and price label of an INVOICE item in ``language``, plain and
        cut to Telegram's limits; KeyError for a part without a text."""

    def ticket_caption(self, view: TicketView, language: str) -> str:
        """Caption under a ticket's QR code, in ``language``."""


LanguageOf = Callable[[int], Awaitable[str]]


async def _english(_chat_id: int) -> str:
    return "en"


class TelegramMessenger:
    """Sends outbox messages and ticket QR codes through the Bot API (bulk lane)."""

    def __init__(self, bot: Bot, tickets: TicketService, bot_username: str,
                 look: NoticeLook, language_of: LanguageOf | None = None) -> None:
        self._look = look
        # Every notice is rendered at send time in its recipient's language (stored per
        # user: ``core.language``), never in the language of whoever caused it.
        self._language_of = language_of or _english
        self._bot = bot
        self._tickets = tickets
        self.bot_username = bot_username
        # ``rate_limit_args`` is only accepted by a bot that has a rate limiter.
        self._lane: dict[str, Any] = (
            {"rate_limit_args": Lane.BULK} if sending_path(bot) is not None else {})

    async def send_message(self, chat_id: int, key: str, params: Mapping[str, Any]) -> None:
        """Render text ``key`` with decoded ``params`` and send it as HTML.

        Raises:
            DeliveryError: permanent for an unknown key or an unreachable chat, else transient.
        """
        language = await self._language_of(chat_id)
        try:
            text = self._look.text(key, params, language)
        except KeyError as exc:
            raise DeliveryError(f"no text for message key {key!r}", permanent=True,
                                code="unknown_key") from exc
        await self._call(lambda: self._bot.send_message(
            chat_id=chat_id, text=text, parse_mode=ParseMode.HTML, **self._lane))

    async def send_ticket(self, chat_id: int, ticket_id: int) -> None:
        """Send a ticket's QR code with its caption (event, type, start, venue, short code).

        A revoked ticket is not sent (the refund message explains it).

        Raises:
            DeliveryError: permanent for an unknown ticket or an unreachable chat, else
                transient.
        """
        try:
            view = await self._tickets.ticket_view(ticket_id)
        except DomainError as exc:
            raise DeliveryError(f"ticket {ticket_id}: {exc.code.value}", permanent=True,
                                code=exc.code.value) from exc
        if view.ticket.status is TicketStatus.REVOKED:
            log.info("ticket %s is revoked; not sending its QR code", ticket_id)
            return
        png = self._look.ticket_photo(self.bot_username, view.ticket.token)
        caption = self._look.ticket_caption(view, await self._language_of(chat_id))
        await self._call(lambda: self._bot.send_photo(
            chat_id=chat_id, photo=png, caption=caption, parse_mode=ParseMode.HTML,
            **self._lane))

    async def send_invoice(self, chat_id: int, item: Mapping[str, Any], *,
                           provider_token: str) -> None:
        """Send an invoice the bot decided on its own (a waiting-list offer): title,
        description and price line rendered from their text keys, cut to Telegram's limits.

        Raises:
            DeliveryError: permanent for an unknown key or an unreachable chat, else transient.
        """
        try:
            title, description, label = self._look.invoice_parts(
                item, await self._language_of(chat_id))
        except KeyError as exc:
            raise DeliveryError(f"no text for an invoice part: {exc}", permanent=True,
                                code="unknown_key") from exc
        total = item["total"]
        await self._call(lambda: self._bot.send_invoice(
            chat_id=chat_id, title=title, description=description, payload=item["payload"],
            provider_token=provider_token or None, currency=total.currency,
            prices=[LabeledPrice(label, total.amount)], **self._lane))

    async def edit_message(self, chat_id: int, message_id: int, key: str,
                           params: Mapping[str, Any], buttons: str | None = None) -> None:
        """Replace a bot message's text with text ``key`` and its buttons with the named set
        (none: the buttons go). Idempotent: "not modified" and "message to edit not found"
        count as done.

        Raises:
            DeliveryError: permanent for an unknown key or an unreachable chat, else transient.
        """
        language = await self._language_of(chat_id)
        try:
            text = self._look.text(key, params, language)
        except KeyError as exc:
            raise DeliveryError(f"no text for message key {key!r}", permanent=True,
                                code="unknown_key") from exc
        markup = self._look.buttons(buttons, language)

        async def edit() -> None:
            try:
                await self._bot.edit_message_text(
                    chat_id=chat_id, message_id=message_id, text=text,
                    parse_mode=ParseMode.HTML, reply_markup=markup,
                    **self._lane)
            except BadRequest as exc:
                if not any(done in str(exc).lower() for done in _EDIT_DONE):
                    raise
                log.info("edit of message %s in chat %s: %s (done)", message_id, chat_id, exc)

        await self._call(edit)

    @staticmethod
    async def _call(send: Callable[[], Awaitable[T]]) -> T:
        """Perform ``send``; the sending path paces it and waits out short flood control."""
        try:
            return await send()
        except RetryAfter as exc:
            wait = retry_after_seconds(exc)
            raise DeliveryError(f"flood control: retry after {wait:g} s", permanent=False,
                                code="retry_after") from exc
        except TelegramError as exc:
            raise classify(exc) from exc


def classify(exc: TelegramError) -> DeliveryError:
    """Map a Bot API error to a :class:`DeliveryError` with the right ``permanent`` flag."""
    message = str(exc)
    if isinstance(exc, Forbidden):
        return DeliveryError(f"forbidden: {message}", permanent=True, code="forbidden")
    if isinstance(exc, ChatMigrated):
        return DeliveryError(f"chat migrated to {exc.new_chat_id}", permanent=True,
                             code="chat_migrated")
    if isinstance(exc, BadRequest):
        code = "chat_not_found" if "chat not found" in message.lower() else "bad_request"
        return DeliveryError(f"bad request: {message}", permanent=True, code=code)
    if isinstance(exc, InvalidToken):
        # A configuration problem: keep the item so it goes out once the token is fixed.
        return DeliveryError("invalid bot token", permanent=False, code="invalid_token")
    if isinstance(exc, NetworkError):  # includes TimedOut
        return DeliveryError(f"network: {message}", permanent=False, code="network")
    return DeliveryError(f"telegram: {message}", permanent=False, code="telegram")
