"""The one sending path: every Bot API call of the process goes through :class:`SendingPath`.

It is python-telegram-bot's rate-limiter hook (``ApplicationBuilder().rate_limiter(...)``), so
handler replies, edits, invoices, photos, documents, the error handler's apology and the
outbox's notifications (:class:`bot.messenger.TelegramMessenger` sends through the same
``Bot``) share one set of limits without any call site knowing about it.

What it does with a request depends on the endpoint (:func:`endpoint_policy`):

* **Chat writes** (``send*``, ``edit*``, ``delete*``, ``copy*``, ``forward*``, ``pin*``... to
  a chat) are paced: per chat (Telegram: about one message a second in a private chat, short
  bursts allowed; 20 a minute in a group) and for the bot as a whole (about 30 a second). A
  chat's requests leave strictly one after the other, in the order they were asked for, and a
  ``RetryAfter`` pauses that chat (and only that chat) while later messages to it wait
  behind, so the order survives flood control too.
* **Answers** (``answerCallbackQuery`` and ``answerPreCheckoutQuery``: Telegram drops them
  after 15 s and 10 s) are never queued behind messages and never paced; a ``RetryAfter`` or a
  network error is retried only while the answer can still arrive in time.
* **Everything else** (``getMe``, ``getFile``, ``setMyCommands``...) is not paced; it is
  retried like a reply. ``sendChatAction`` is best effort: never paced, never retried.
  (``getUpdates`` never reaches a rate limiter: PTB exempts it.)

Two lanes share the bot-wide budget: :attr:`Lane.REPLY` (the default: someone is waiting for
it) is always served before :attr:`Lane.BULK` (the outbox's fan-out, which passes
``rate_limit_args=Lane.BULK``), so a reply never waits behind thousands of queued
notifications. Within one chat both lanes keep one queue: order first.

Pacing never exceeds Telegram's sliding-second limit, even when the event loop stalls: send
*k* starts only once send *k - R* has **completed** and one more second has passed
(R = ``rate_global``), and a chat's token is charged when its request completes. A completed
request has certainly arrived, so a stalled loop that releases several requests at once can
never squeeze more than R arrivals into a second, nor more than the chat's budget into one
chat.

Retries:

* ``RetryAfter`` always: the chat waits the time Telegram asked for, then the same request is
  sent again, as long as the reply's give-up time (``reply_give_up``, 60 s by default) is
  not exceeded; an outbox message waits at most ``bulk_max_wait`` in place, then the outbox
  takes over (it is durable and retries with backoff).
* Network errors and 5xx answers of replies and answers: up to ``max_attempts`` with backoff
  (0.5 s, 1 s, 2 s...), within the give-up time. A request that may already have arrived
  (read/write timeout, connection lost after sending) is sent again as well: Telegram has no
  idempotency key for messages, and a duplicate reply is visible but harmless while a lost one
  is silence; an edit or answer sent twice is refused as "not modified"/"too old", which the
  callers already take as done. Outbox messages are not retried here: the outbox retries them
  durably (at least once, see :mod:`scheduler.outbox_worker`).

A reply that finally cannot be delivered is logged with its chat, the method and a redacted
start of its text (WARNING when the person blocked the bot or the chat is gone, ERROR
otherwise), then the error is raised to the caller as before.

Several workers: with a **shared budget** (:class:`SharedBudget`, on PostgreSQL
:class:`bot.storage.send_budget.SharedSendBudget`) every paced request also takes the chat's
token and a bot-wide place from the database after its process's own pacing let it go, and
a ``RetryAfter`` holds the chat for every worker. The limits then hold for all workers
together; replies keep places notifications may not use, so they stay fast.

Replies also keep the order of the **updates** that caused them: the poller starts each update
in a *turn* of its chat (:func:`spawn_in_turn`), and a reply waits until the handlers of the
chat's earlier updates have finished (at most ``reply_give_up``), so eight quick ``/events``
and a ``/help`` are answered in the order they were sent even though the handlers run
concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import heapq
import html
import logging
import math
import re
import time
import warnings
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from telegram import Bot, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from bot import metrics
from core.kernel.redaction import redact

log = logging.getLogger(__name__)

T = TypeVar("T")
JSON = bool | dict[str, Any] | list[dict[str, Any]]
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

_EPSILON = 1e-9
# Per-chat state idle long enough to be forgotten is dropped beyond this many chats.
_PRUNE_ABOVE = 10_000


class Lane(enum.IntEnum):
    """Who is waiting for a request; the bot-wide budget serves lower values first."""

    REPLY = 0
    """A person is waiting: replies, edits, invoices, the apology (the default)."""
    BULK = 1
    """Notifications from the outbox: durable, retried there, may wait."""


class Kind(enum.Enum):
    """How the sending path treats an endpoint."""

    CHAT_WRITE = "chat_write"
    ANSWER = "answer"
    BEST_EFFORT = "best_effort"
    OTHER = "other"


# Time left for an answer, counted from when the handler asks for it. Telegram allows 15 s
# (callback) and 10 s (pre-checkout) from when the person tapped; part of that is already
# gone by the time the handler runs.
ANSWER_BUDGET = {
    "answercallbackquery": 10.0,
    "answerprecheckoutquery": 6.0,
    "answershippingquery": 6.0,
    "answerinlinequery": 10.0,
    "answerwebappquery": 10.0,
}
# A reply expected to wait longer than this lets the callback query be answered first.
ANSWER_EARLY_AFTER = 0.5
_WRITE_PREFIXES = ("send", "edit", "delete", "copy", "forward", "pin", "unpin", "stop",
                   "setmessagereaction")
_BEST_EFFORT = frozenset({"sendchataction"})


def endpoint_policy(endpoint: str, data: dict[str, Any]) -> Kind:
    """How ``endpoint`` called with ``data`` is paced and retried (see the module doc)."""
    name = endpoint.lower()
    if name in ANSWER_BUDGET:
        return Kind.ANSWER
    if name in _BEST_EFFORT:
        return Kind.BEST_EFFORT
    if name.startswith(_WRITE_PREFIXES) and ("chat_id" in data or "inline_message_id" in data):
        return Kind.CHAT_WRITE
    return Kind.OTHER


# --------------------------------------------------------------------------- pacing


@dataclass(slots=True)
class _Bucket:
    rate: float
    burst: float
    tokens: float
    updated: float

    def level(self, now: float) -> float:
        return min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)

    def wait(self, now: float) -> float:
        """Seconds until one whole token is there."""
        level = self.level(now)
        return 0.0 if level >= 1.0 - _EPSILON else (1.0 - level) / self.rate

    def take(self, now: float) -> None:
        self.tokens = self.level(now) - 1.0
        self.updated = now

    def drain(self, now: float) -> None:
        """Telegram refused: our idea of the budget was too generous; start from empty."""
        self.tokens = min(self.level(now), 0.0)
        self.updated = now


@dataclass(slots=True)
class _Waiter:
    since: float  # when it started waiting for a bot-wide slot
    future: asyncio.Future[asyncio.Future[float]]


@dataclass(slots=True)
class _Chat:
    bucket: _Bucket
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    hold_until: float = 0.0
    users: int = 0


class Pacer:
    """Token buckets (one per chat, one bot-wide), a per-chat FIFO, priority lanes and a
    completion window. Time comes from ``clock``/``sleep`` so tests run on a virtual clock.

    Args:
        rate_global: requests per second for the bot as a whole (Telegram: about 30).
        rate_per_chat: requests per second to one private chat (Telegram: about 1).
        burst_per_chat: how many a quiet private chat may receive at once.
        group_per_minute: requests per minute to one group (negative chat id; Telegram: 20).
        clock: monotonic seconds.
        sleep: asynchronous sleep.
    """

    def __init__(self, *, rate_global: float = 25.0, rate_per_chat: float = 1.0,
                 burst_per_chat: int = 3, group_per_minute: float = 20.0,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        if rate_global <= 0 or rate_per_chat <= 0 or burst_per_chat < 1 \
                or group_per_minute <= 0:
            raise ValueError("rates must be positive and bursts at least 1")
        self._clock = clock
        self._sleep = sleep
        self.rate_global = rate_global
        self._rate_chat = rate_per_chat
        self._burst_chat = float(burst_per_chat)
        self._rate_group = group_per_minute / 60.0
        # Bot-wide slots every 1/rate seconds, no burst (Telegram counts per sliding second,
        # so a full bucket on top of the steady rate would overshoot in the first second). A
        # slot is reserved from when its request started waiting, so slots missed while the
        # completion window held sends back are caught up (the window still caps them).
        self._spacing = 1.0 / rate_global
        self._next_slot = -math.inf
        self._window = max(1, math.floor(rate_global))
        # The completion window: R places. A place holds a send in flight (its completion
        # future, resolved with the clock's time) or the time its last send completed.
        self._in_flight: set[asyncio.Future[float]] = set()
        self._ended: list[float] = []  # a heap
        self._completed = asyncio.Event()
        self._queues: tuple[deque[_Waiter], ...] = tuple(deque() for _ in Lane)
        self._dispatcher: asyncio.Task[None] | None = None
        self._chats: dict[int | str, _Chat] = {}

    # ---------------------------------------------------------------- chats
    def _chat(self, chat_id: int | str) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            now = self._clock()
            if len(self._chats) > _PRUNE_ABOVE:
                self._prune(now)
            group = isinstance(chat_id, str) or chat_id < 0
            rate = self._rate_group if group else self._rate_chat
            burst = 1.0 if group else self._burst_chat
            chat = self._chats[chat_id] = _Chat(_Bucket(rate, burst, burst, now))
        return chat

    def _prune(self, now: float) -> None:
        idle = [key for key, chat in self._chats.items()
                if chat.users == 0 and chat.hold_until <= now
                and chat.bucket.level(now) >= chat.bucket.burst - _EPSILON]
        for key in idle:
            del self._chats[key]

    @contextlib.asynccontextmanager
    async def chat_turn(self, chat_id: int | str | None) -> AsyncIterator[_Chat | None]:
        """Hold ``chat_id``'s place in line (FIFO) for a whole request, retries included."""
        if chat_id is None:
            yield None
            return
        chat = self._chat(chat_id)
        chat.users += 1
        try:
            async with chat.lock:
                yield chat
        finally:
            chat.users -= 1

    def expected_wait(self, chat_id: int | str | None) -> float:
        """Roughly how long a request to ``chat_id`` asked for now would wait for its turn."""
        now = self._clock()
        wait = 0.0
        chat = self._chats.get(chat_id) if chat_id is not None else None
        if chat is not None:
            ahead = chat.users  # requests of this chat in flight or in line
            level = chat.bucket.level(now)
            wait = max(chat.hold_until - now, (1.0 + ahead - level) / chat.bucket.rate)
        queued = sum(len(queue) for queue in self._queues)
        window = self._window_delay(now)
        bot_wide = max(self._next_slot - now, 0.0) + queued * self._spacing \
            + (1.0 if window is None else window)
        return max(wait, bot_wide, 0.0)

    def hold(self, chat: _Chat | None, seconds: float) -> None:
        """Telegram asked this chat to wait ``seconds``: nothing more goes to it before."""
        if chat is None:
            return
        now = self._clock()
        chat.hold_until = max(chat.hold_until, now + seconds)
        chat.bucket.drain(now)

    @contextlib.asynccontextmanager
    async def attempt(self, chat: _Chat | None, lane: Lane) -> AsyncIterator[None]:
        """Wait for the chat's budget and a bot-wide slot, run the body (one request), then
        record its completion. Use inside :meth:`chat_turn` for a chat."""
        if chat is not None:
            while True:
                now = self._clock()
                delay = max(chat.hold_until - now, chat.bucket.wait(now))
                if delay <= _EPSILON:
                    break
                await self._sleep(delay)
        done = await self._permit(lane)
        try:
            yield
        finally:
            end = self._clock()
            if not done.done():
                done.set_result(end)
            if chat is not None:
                chat.bucket.take(end)

    # ---------------------------------------------------------------- bot-wide
    def _window_delay(self, now: float) -> float | None:
        """Seconds until a place of the completion window is free (None: wait for a send in
        flight to complete). A place is free once its last send completed a second ago, so
        the sends of one place arrive at least a second apart and no sliding second can hold
        more than R arrivals, however long requests take or in which order they complete."""
        if len(self._in_flight) + len(self._ended) < self._window:
            return 0.0
        if not self._ended:
            return None
        return max(0.0, self._ended[0] + 1.0 - now)

    def _grant(self, slot: float) -> asyncio.Future[float]:
        if len(self._in_flight) + len(self._ended) >= self._window:
            heapq.heappop(self._ended)
        self._next_slot = slot + self._spacing
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._in_flight.add(done)
        done.add_done_callback(self._on_completed)
        return done

    def _on_completed(self, done: asyncio.Future[float]) -> None:
        self._in_flight.discard(done)
        ended = self._clock() if done.cancelled() else done.result()
        heapq.heappush(self._ended, ended)
        self._completed.set()

    def _queued(self) -> bool:
        return any(self._queues)

    async def _permit(self, lane: Lane) -> asyncio.Future[float]:
        now = self._clock()
        if not self._queued() and self._next_slot <= now + _EPSILON \
                and self._window_delay(now) == 0.0:
            return self._grant(now)
        waiter = _Waiter(now, asyncio.get_running_loop().create_future())
        self._queues[lane].append(waiter)
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.get_running_loop().create_task(
                self._dispatch(), name="ticketq-send-dispatcher")
        try:
            return await waiter.future
        except asyncio.CancelledError:
            future = waiter.future
            if future.done() and not future.cancelled():
                granted = future.result()  # granted just as we were cancelled: never sent
                if not granted.done():
                    granted.set_result(self._clock())
            else:
                with contextlib.suppress(ValueError):
                    self._queues[lane].remove(waiter)
            raise

    def _head(self) -> _Waiter | None:
        """The next waiter to serve: replies first, then bulk, each in arrival order."""
        for queue in self._queues:
            while queue and queue[0].future.done():
                queue.popleft()  # cancelled while waiting
            if queue:
                return queue[0]
        return None

    async def _dispatch(self) -> None:
        while True:
            head = self._head()
            if head is None:
                return
            slot = max(self._next_slot, head.since)
            delay = slot - self._clock()
            if delay > _EPSILON:
                await self._sleep(delay)
                continue
            wait = self._window_delay(self._clock())
            if wait is None:
                self._completed.clear()
                await self._completed.wait()
                continue
            if wait > _EPSILON:
                await self._sleep(wait)
                continue
            if self._head() is head:
                for queue in self._queues:
                    if queue and queue[0] is head:
                        queue.popleft()
                        break
                head.future.set_result(self._grant(slot))

    async def close(self) -> None:
        """Stop the dispatcher (the application is shutting down)."""
        task, self._dispatcher = self._dispatcher, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class SharedBudget(Protocol):
    """The send budget shared by every worker of the bot (None: this process is alone)."""

    async def acquire(self, chat_id: int | str | None, *, bulk: bool) -> Any:
        """Wait for the chat's token and a bot-wide place; returns what :meth:`release`
        gives back."""
        ...

    async def release(self, place: Any) -> None:
        """The request completed or failed."""
        ...

    async def hold_chat(self, chat_id: int | str | None, seconds: float) -> None:
        """Telegram asked this chat to wait ``seconds``."""
        ...


# --------------------------------------------------------------------------- update order


class _Turn:
    """One update being handled in one chat; replies wait for the chat's earlier turns."""

    __slots__ = ("chat_id", "closed", "done", "prev")

    def __init__(self, chat_id: int, prev: _Turn | None) -> None:
        self.chat_id = chat_id
        self.prev = prev
        self.closed = False
        self.done = asyncio.Event()

    def close(self) -> None:
        self.closed = True
        self.done.set()

    def has_open_earlier(self) -> bool:
        prev = self.prev
        while prev is not None:
            if not prev.closed:
                return True
            prev = prev.prev
        return False

    async def wait_earlier(self) -> None:
        while self.prev is not None:
            if not self.prev.closed:
                await self.prev.done.wait()
            self.prev = self.prev.prev


# Updates of one chat handled at once; more wait for their turn outside the poller's places.
UPDATES_PER_CHAT = 4


@dataclass(slots=True)
class _Gate:
    semaphore: asyncio.Semaphore
    users: int = 0


_current_turn: contextvars.ContextVar[_Turn | None] = contextvars.ContextVar(
    "ticketq_send_turn", default=None)

Hook = Callable[[], Awaitable[None]]


# --------------------------------------------------------------------------- the path


_CODE_LIKE = re.compile(r"\b[A-Z0-9]{4}-[A-Z0-9]{4}\b|[A-Za-z0-9_-]{16,}")
_TAG = re.compile(r"<[^>]*>")
PREVIEW_CHARS = 40


def preview(data: dict[str, Any]) -> str:
    """A redacted start of what a request would have shown (for logs): no tags, no
    secrets, no ticket codes or tokens, at most :data:`PREVIEW_CHARS` characters."""
    for key in ("text", "caption", "title", "description"):
        value = data.get(key)
        if isinstance(value, str) and value:
            flat = " ".join(html.unescape(_TAG.sub("", value)).split())
            flat = _CODE_LIKE.sub("***", redact(flat))
            return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"
    for key in ("photo", "document", "media"):
        if key in data:
            return f"<{key}>"
    return ""


def retry_after_seconds(exc: RetryAfter) -> float:
    """``exc.retry_after`` in seconds (PTB 22 moves it from int to timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: int | float | timedelta = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


_UNSENT_CAUSES = ("ConnectError", "ConnectTimeout", "PoolTimeout")


def transient(exc: TelegramError) -> str | None:
    """``"unsent"`` (certainly not processed: connect failure, 5xx answer), ``"maybe"`` (may
    have arrived: read/write timeout, connection lost) or None (not transient)."""
    if isinstance(exc, BadRequest) or not isinstance(exc, NetworkError):
        return None
    cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else ""
    if cause in _UNSENT_CAUSES or "Pool timeout" in str(exc):
        return "unsent"
    if isinstance(exc, TimedOut) or cause:
        return "maybe"
    return "unsent"  # Telegram answered with a 5xx status: it did not do it


class SendingPath(BaseRateLimiter[Lane]):
    """PTB rate limiter for the whole process (see the module doc).

    Args:
        rate_global: bot-wide requests per second (``TICKETQ_SEND_RATE``).
        rate_per_chat: requests per second to one private chat.
        burst_per_chat: a quiet private chat may receive this many at once.
        reply_give_up: seconds after which a reply that Telegram keeps refusing (flood
            control, network) is given up and logged; also the longest a reply waits for
            the chat's earlier updates.
        bulk_max_wait: the longest ``RetryAfter`` an outbox message waits in place before
            the outbox reschedules it.
        max_attempts: tries of one request on network errors and 5xx.
        clock: monotonic seconds (tests: a virtual clock).
        sleep: asynchronous sleep (tests: a virtual clock).
        before_waiting: where a handler leaves a hook to run, once, before its first reply
            that would wait in line (``handlers.delivery.waiting_hook``); None: no hooks.
        shared: the budget shared with the bot's other workers (None: one process).
    """

    def __init__(self, *, rate_global: float = 25.0, rate_per_chat: float = 1.0,
                 burst_per_chat: int = 3, reply_give_up: float = 60.0,
                 bulk_max_wait: float = 60.0, max_attempts: int = 4,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep,
                 before_waiting: contextvars.ContextVar[Hook | None] | None = None,
                 shared: SharedBudget | None = None) -> None:
        self._hook = before_waiting
        self.shared = shared
        self.pacer = Pacer(rate_global=rate_global, rate_per_chat=rate_per_chat,
                           burst_per_chat=burst_per_chat, clock=clock, sleep=sleep)
        self.reply_give_up = reply_give_up
        self.bulk_max_wait = bulk_max_wait
        self.max_attempts = max(1, max_attempts)
        self._clock = clock
        self._sleep = sleep
        self._turns: dict[int, _Turn] = {}
        self._gates: dict[int, _Gate] = {}
        self.lost = 0  # replies given up (observability)

    async def initialize(self) -> None:
        """Nothing to set up: the dispatcher starts with the first queued request."""

    async def shutdown(self) -> None:
        """Stop the dispatcher."""
        await self.pacer.close()

    # ---------------------------------------------------------------- update turns
    def open_turn(self, chat_id: int) -> _Turn:
        """Register an update of ``chat_id`` that is about to be handled (in update order)."""
        prev = self._turns.get(chat_id)
        while prev is not None and prev.closed:
            prev = prev.prev
        turn = _Turn(chat_id, prev)
        self._turns[chat_id] = turn
        return turn

    def chat_gate(self, chat_id: int) -> _Gate:
        """The chat's limit on updates handled at once (taken; give it back with
        :meth:`release_gate`)."""
        gate = self._gates.get(chat_id)
        if gate is None:
            gate = self._gates[chat_id] = _Gate(asyncio.Semaphore(UPDATES_PER_CHAT))
        gate.users += 1
        return gate

    def release_gate(self, chat_id: int, gate: _Gate) -> None:
        """One update of the chat is done with its gate."""
        gate.users -= 1
        if gate.users <= 0 and self._gates.get(chat_id) is gate:
            del self._gates[chat_id]

    def close_turn(self, turn: _Turn) -> None:
        """The update's handlers are done."""
        turn.close()
        if self._turns.get(turn.chat_id) is turn:
            del self._turns[turn.chat_id]

    async def _before_waiting(self, chat_id: int | str | None) -> None:
        hook = self._hook.get() if self._hook is not None else None
        if hook is None or self._hook is None:
            return
        turn = _current_turn.get()
        behind = turn is not None and turn.chat_id == chat_id and turn.has_open_earlier()
        if not behind and self.pacer.expected_wait(chat_id) < ANSWER_EARLY_AFTER:
            return
        self._hook.set(None)  # once
        try:
            await hook()
        except Exception:
            log.exception("the before-waiting hook failed")

    async def _after_earlier_updates(self, chat_id: int | str | None) -> None:
        turn = _current_turn.get()
        if turn is None or turn.chat_id != chat_id or turn.prev is None:
            return
        try:
            async with asyncio.timeout(self.reply_give_up):
                await turn.wait_earlier()
        except TimeoutError:
            log.warning("chat %s: an earlier update is still being handled after %.0f s; "
                        "replying without waiting for it", chat_id, self.reply_give_up)
            turn.prev = None

    # ---------------------------------------------------------------- requests
    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSON]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Lane | None,
    ) -> JSON:
        """Pace, order and retry one Bot API request (PTB calls this for every request)."""
        kind = endpoint_policy(endpoint, data)
        if kind is Kind.BEST_EFFORT:
            return await callback(*args, **kwargs)
        lane = rate_limit_args if isinstance(rate_limit_args, Lane) else Lane.REPLY
        start = self._clock()
        if kind is Kind.ANSWER:
            deadline = start + ANSWER_BUDGET[endpoint.lower()]
        elif lane is Lane.BULK:
            deadline = start + 2 * self.bulk_max_wait
        else:
            deadline = start + self.reply_give_up
        chat_id = _chat_key(data) if kind is Kind.CHAT_WRITE else None
        paced = kind is Kind.CHAT_WRITE
        if paced and lane is Lane.REPLY:
            await self._before_waiting(chat_id)
            await self._after_earlier_updates(chat_id)
        async with self.pacer.chat_turn(chat_id) as chat:
            attempt = 0
            while True:
                attempt += 1
                try:
                    if paced:
                        async with self.pacer.attempt(chat, lane), \
                                self._shared_place(chat_id, lane):
                            result = await callback(*args, **kwargs)
                        metrics.SENDS.inc()
                        return result
                    return await callback(*args, **kwargs)
                except RetryAfter as exc:
                    metrics.FLOOD_WAITS.inc()
                    wait = retry_after_seconds(exc)
                    self.pacer.hold(chat, wait)
                    if self.shared is not None:
                        await self.shared.hold_chat(chat_id, wait)
                    too_long = lane is Lane.BULK and wait > self.bulk_max_wait
                    if too_long or self._clock() + wait > deadline:
                        self._give_up(kind, lane, endpoint, data, exc, attempt)
                        raise
                    log.info("flood control: %s to chat %s waits %.1f s", endpoint,
                             chat_id if chat_id is not None else "-", wait)
                    if chat is None:
                        await self._sleep(wait)
                except TelegramError as exc:
                    verdict = transient(exc)
                    retry = (verdict is not None and lane is Lane.REPLY
                             and attempt < self.max_attempts)
                    delay = 0.5 * 2 ** (attempt - 1)
                    if not retry or self._clock() + delay > deadline:
                        self._give_up(kind, lane, endpoint, data, exc, attempt)
                        raise
                    log.info("%s to chat %s failed (%s: %s); trying again in %.1f s",
                             endpoint, chat_id if chat_id is not None else "-",
                             type(exc).__name__, redact(str(exc)), delay)
                    await self._sleep(delay)

    @contextlib.asynccontextmanager
    async def _shared_place(self, chat_id: int | str | None,
                            lane: Lane) -> AsyncIterator[None]:
        """Hold a place of the budget shared with the other workers for one request."""
        if self.shared is None:
            yield
            return
        place = await self.shared.acquire(chat_id, bulk=lane is Lane.BULK)
        try:
            yield
        finally:
            await self.shared.release(place)

    def _give_up(self, kind: Kind, lane: Lane, endpoint: str, data: dict[str, Any],
                 exc: TelegramError, attempts: int) -> None:
        """Log what could not be delivered, at a level that says whether it was lost."""
        if kind is not Kind.CHAT_WRITE or lane is Lane.BULK:
            # Answers: the handler logs them; bulk: the outbox retries and logs dead items.
            log.info("%s failed after %d attempt(s): %s: %s", endpoint, attempts,
                     type(exc).__name__, redact(str(exc)))
            return
        message = str(exc).lower()
        chat = data.get("chat_id", data.get("inline_message_id"))
        if "not modified" in message:
            return
        if endpoint.lower().startswith(("edit", "delete")) and isinstance(exc, BadRequest):
            # show() falls back to a new message; a message already gone needs no deleting.
            log.info("could not edit in chat %s (%s): %s", chat, endpoint, redact(str(exc)))
            return
        level = logging.WARNING if isinstance(exc, Forbidden | ChatMigrated) \
            or "chat not found" in message else logging.ERROR
        self.lost += 1
        log.log(level, "reply lost: chat=%s method=%s text=%r after %d attempt(s): %s: %s",
                chat, endpoint, preview(data), attempts, type(exc).__name__,
                redact(str(exc)))


def _chat_key(data: dict[str, Any]) -> int | str | None:
    chat_id = data.get("chat_id")
    if chat_id is None:
        return None
    if isinstance(chat_id, int):
        return chat_id
    try:
        return int(str(chat_id))
    except ValueError:
        return str(chat_id)  # @channelusername


def sending_path(bot: Bot) -> SendingPath | None:
    """The bot's :class:`SendingPath`, if it has one."""
    limiter = getattr(bot, "rate_limiter", None)
    return limiter if isinstance(limiter, SendingPath) else None


def spawn_in_turn(bot: Bot, update: Update,
                  coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Run ``coro`` (the handling of ``update``) as a task in its chat's turn.

    Call it in update order: the turn is registered at once, so replies to this update wait
    for the handling of the chat's earlier updates (see the module doc). At most
    :data:`UPDATES_PER_CHAT` updates of one chat are handled at once; the others wait
    without taking one of the poller's places, so one person tapping a hundred times (their
    replies paced at about one a second) cannot hold up everyone else.
    """
    path = sending_path(bot)
    chat = update.effective_chat
    if path is None or chat is None:
        return asyncio.create_task(coro)
    turn = path.open_turn(chat.id)
    gate = path.chat_gate(chat.id)

    async def gated() -> None:
        async with gate.semaphore:
            await coro

    def done(_task: asyncio.Task[None]) -> None:
        coro.close()  # a no-op once it ran; never "never awaited" if cancelled before
        path.close_turn(turn)
        path.release_gate(chat.id, gate)

    context = contextvars.copy_context()
    context.run(_current_turn.set, turn)
    task = asyncio.create_task(gated(), context=context)
    task.add_done_callback(done)
    return task
