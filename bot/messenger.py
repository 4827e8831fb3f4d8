"""The Telegram side of the outbox: rate-limited sends that classify failures.

The outbox worker decodes an item (:func:`core.outbox.decode`) and calls
:meth:`TelegramMessenger.send_message` or :meth:`TelegramMessenger.send_ticket`. A failure
raises :class:`DeliveryError` (a :class:`core.ports.GatewayError`): ``permanent`` means retrying
cannot help (bot blocked, chat gone, unknown text key, no such ticket) and the item should be
marked dead; otherwise retry later with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import warnings
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from telegram import Bot
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
from telegram.warnings import PTBDeprecationWarning

from bot.qr import ticket_qr_png
from core.errors import DomainError
from core.ports import GatewayError
from core.services.tickets import TicketService
from core.tickets import TicketStatus
from handlers.keyboards import screen_markup
from handlers.texts import render_outbox_message, ticket_caption

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

# Per-chat buckets idle long enough to be full again are dropped beyond this many.
_PRUNE_ABOVE = 10_000
# An edit that finds the message already so, or no message to edit (deleted by the user, too
# old), has nothing left to do: the screen cannot be made truer by retrying.
_EDIT_DONE = ("message is not modified", "message to edit not found",
              "message can't be edited")


class DeliveryError(GatewayError):
    """A Telegram send failed. ``permanent`` errors must not be retried."""


@dataclass(slots=True)
class _Bucket:
    rate: float
    burst: float
    tokens: float
    updated: float

    def reserve(self, now: float) -> float:
        """Take one token, possibly ahead of time; returns how long to wait for it."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def full_at(self, now: float) -> bool:
        return self.tokens + (now - self.updated) * self.rate >= self.burst


class RateLimiter:
    """Token buckets, one global and one per chat, plus a completion window, shared by senders.

    A caller reserves a token (the bucket may go negative) and sleeps until it is due, so
    waiting callers are served in arrival order without a lock and without polling. The
    per-chat token is taken first, the global one when the chat's turn comes, so a busy chat
    never holds back the global budget of the others.

    The buckets pace the moment a request *starts*, but Telegram counts the moment it
    *arrives*; a stalled event loop can let requests due during the stall arrive together.
    So, on top of the buckets, send *k* starts only once send *k - R* (R = ``rate_global``,
    rounded down, at least 1) has **completed** and a further second has passed: a completed
    request has certainly arrived, so no sliding second can ever hold more than R sends,
    whatever the jitter. Use :meth:`slot` around the request to report its completion;
    :meth:`acquire` alone counts the send as completed when it is allowed to start.
    """

    def __init__(self, *, rate_global: float = 25.0, burst_global: int | None = None,
                 rate_per_chat: float = 1.0, burst_per_chat: int = 3,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        if rate_global <= 0 or rate_per_chat <= 0 or burst_per_chat < 1:
            raise ValueError("rates must be positive and bursts at least 1")
        self._clock = clock
        self._sleep = sleep
        self._rate_chat = rate_per_chat
        self._burst_chat = float(burst_per_chat)
        # No global burst by default: Telegram counts messages per sliding second, so a full
        # bucket on top of the steady rate would overshoot the limit in the first second.
        burst = float(burst_global if burst_global is not None else 1)
        self._global = _Bucket(rate_global, burst, burst, clock())
        self._chats: dict[int, _Bucket] = {}
        self._window = max(1, math.floor(rate_global))
        # Completion futures (resolved with the clock's time) of the last sends, oldest first.
        self._ends: deque[asyncio.Future[float]] = deque()

    async def acquire(self, chat_id: int | None = None) -> None:
        """Wait until one more message may go to ``chat_id`` (None: global limit only).

        The send is counted as completed at once; prefer :meth:`slot`, which counts it
        when the request returns.
        """
        done = await self._enter(chat_id)
        done.set_result(self._clock())

    @asynccontextmanager
    async def slot(self, chat_id: int | None = None) -> AsyncIterator[None]:
        """Wait as :meth:`acquire`, then run the body (the request); leaving it, successfully
        or not, marks the send completed."""
        done = await self._enter(chat_id)
        try:
            yield
        finally:
            done.set_result(self._clock())

    async def _enter(self, chat_id: int | None) -> asyncio.Future[float]:
        if chat_id is not None:
            now = self._clock()
            bucket = self._chats.get(chat_id)
            if bucket is None:
                if len(self._chats) > _PRUNE_ABOVE:
                    self._prune(now)
                bucket = self._chats[chat_id] = _Bucket(
                    self._rate_chat, self._burst_chat, self._burst_chat, now)
            delay = bucket.reserve(now)
            if delay > 0:
                await self._sleep(delay)
        delay = self._global.reserve(self._clock())
        if delay > 0:
            await self._sleep(delay)
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._ends.append(done)
        if len(self._ends) > self._window:
            earlier = self._ends.popleft()  # send k - R
            try:
                ended = await asyncio.shield(earlier)
                delay = ended + 1.0 - self._clock()
                if delay > 0:
                    await self._sleep(delay)
            except BaseException:
                done.set_result(self._clock())  # cancelled while waiting: never sent
                raise
        return done

    def _prune(self, now: float) -> None:
        for chat_id in [c for c, b in self._chats.items() if b.full_at(now)]:
            del self._chats[chat_id]


class TelegramMessenger:
    """Sends outbox messages and ticket QR codes through the Bot API, within rate limits."""

    def __init__(self, bot: Bot, tickets: TicketService, bot_username: str, *,
                 rate_global: float = 25.0, rate_per_chat: float = 1.0,
                 burst_per_chat: int = 3, max_retry_after: int = 3,
                 max_retry_after_seconds: float = 60.0,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self._bot = bot
        self._tickets = tickets
        self.bot_username = bot_username
        self._sleep = sleep
        self._max_retry_after = max_retry_after
        self._max_retry_after_seconds = max_retry_after_seconds
        self.limiter = RateLimiter(rate_global=rate_global, rate_per_chat=rate_per_chat,
                                   burst_per_chat=burst_per_chat, clock=clock, sleep=sleep)

    async def send_message(self, chat_id: int, key: str, params: Mapping[str, Any]) -> None:
        """Render text ``key`` with decoded ``params`` and send it as HTML.

        Raises:
            DeliveryError: permanent for an unknown key or an unreachable chat, else transient.
        """
        try:
            text = render_outbox_message(key, params)
        except KeyError as exc:
            raise DeliveryError(f"no text for message key {key!r}", permanent=True,
                                code="unknown_key") from exc
        await self._call(chat_id, lambda: self._bot.send_message(
            chat_id=chat_id, text=text, parse_mode=ParseMode.HTML))

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
        png = ticket_qr_png(self.bot_username, view.ticket.token)
        caption = ticket_caption(view)
        await self._call(chat_id, lambda: self._bot.send_photo(
            chat_id=chat_id, photo=png, caption=caption, parse_mode=ParseMode.HTML))

    async def edit_message(self, chat_id: int, message_id: int, key: str,
                           params: Mapping[str, Any], buttons: str | None = None) -> None:
        """Replace a bot message's text with text ``key`` and its buttons with the named set
        (none: the buttons go). Idempotent: "not modified" and "message to edit not found"
        count as done.

        Raises:
            DeliveryError: permanent for an unknown key or an unreachable chat, else transient.
        """
        try:
            text = render_outbox_message(key, params)
        except KeyError as exc:
            raise DeliveryError(f"no text for message key {key!r}", permanent=True,
                                code="unknown_key") from exc

        async def edit() -> None:
            try:
                await self._bot.edit_message_text(
                    chat_id=chat_id, message_id=message_id, text=text,
                    parse_mode=ParseMode.HTML, reply_markup=screen_markup(buttons))
            except BadRequest as exc:
                if not any(done in str(exc).lower() for done in _EDIT_DONE):
                    raise
                log.info("edit of message %s in chat %s: %s (done)", message_id, chat_id, exc)

        await self._call(chat_id, edit)

    async def _call(self, chat_id: int, send: Callable[[], Awaitable[T]]) -> T:
        """Rate-limit and perform ``send``, honouring RetryAfter a bounded number of times."""
        for attempt in range(self._max_retry_after + 1):
            try:
                async with self.limiter.slot(chat_id):
                    return await send()
            except RetryAfter as exc:
                wait = _retry_after_seconds(exc)
                if attempt >= self._max_retry_after or wait > self._max_retry_after_seconds:
                    raise DeliveryError(f"flood control: retry after {wait:g} s",
                                        permanent=False, code="retry_after") from exc
                log.warning("flood control for chat %s: sleeping %.1f s", chat_id, wait)
                await self._sleep(wait)
            except TelegramError as exc:
                raise classify(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover


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


def _retry_after_seconds(exc: RetryAfter) -> float:
    # PTB 22 warns that ``retry_after`` becomes a timedelta; accept both, without the noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: int | float | timedelta = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)
