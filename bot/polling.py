"""Long polling with a durable inbox: an update is acknowledged only once it is stored, and
forgotten only once it was handled, retried, or parked for the operator.

python-telegram-bot's ``Updater`` confirms a batch (the next ``getUpdates`` carries
``offset = last id + 1``) as soon as it has queued it, before any handler ran. A crash in that
window loses the updates for good; a lost ``successful_payment`` is money taken with no ticket
and no refund.

:class:`InboxPoller` stores each fetched batch in the ``inbox`` table in one transaction
before asking for the next one (which acknowledges it), handles the updates concurrently, and
deletes them once handled. At start-up, whatever a crash left in the inbox is handled first.
Handlers are idempotent (payments are unique by charge id, scans by nonce), so an update
replayed after a crash between handling and deleting changes nothing twice.

**Failures.** PTB hands a handler's exception to the error handler, so the poller learns of it
through :mod:`handlers.delivery` (the error handler, or the payment handler itself, records it).
What then happens is :class:`RetryPolicy`'s decision:

* a *transient* fault (:func:`is_transient`: the database unreachable, locked or failing over,
  a connection or a request timing out, Telegram's flood control) is retried with backoff;
  the update stays in the inbox meanwhile, with its attempts and next attempt stored when the
  database allows;
* a **successful payment** is retried for a long time (an hour by default, backoff up to a
  minute): money was taken, and the buyer was told once that it is delayed. Reconciliation
  against Stripe (``bot.reconcile``) waits longer than that before it refunds a charge nothing
  explains;
* a **tap or a message** is retried only briefly (a few tries within seconds): a screen that
  changes minutes after the tap, or an invoice out of nowhere, would surprise more than help.
  After that it is parked without being run again, and the user gets the usual apology ("try
  again in a moment") from the error handler on the last failure;
* a **pre-checkout query** is never retried or parked: Telegram gives up on it after 10 s and
  no money moved (the handler answers it whatever happens);
* a *non-transient* failure (a bug, a constraint) parks the update at once: **poison updates
  are parked, never dropped**. ``ticketq inbox`` lists waiting and parked updates and
  ``ticketq inbox retry`` un-parks them; a running bot picks them up within ``rescan_every``.

**Order within a chat.** While an update of a chat waits for its retry, later updates of that
chat in the same *lane* queue behind it and run one by one, in order, once it is done or
parked. There are two lanes per chat: payments, and everything else. Payments of one chat keep
their order (the buyer's first payment for an order is the one that counts; a later duplicate
is refunded). A chat's taps and messages keep theirs (a wizard answer must not overtake the
previous one), but they do not wait behind a payment that may retry for an hour: they are
answered meanwhile (or fail and are parked, when the database is down for them too). Nothing
waits when nothing failed: updates run concurrently as before.

Payments (pre-checkout queries and successful payments) never wait behind a crowd's taps:
Telegram drops a pre-checkout query not answered within 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import exc as sa_exc
from telegram import Update
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application

from bot.sending import spawn_in_turn
from bot.storage.inbox_store import (
    PAYMENT,
    PRE_CHECKOUT,
    InboxEntry,
    SqlInbox,
    describe,
    valid_update,
)
from core.kernel.clock import Clock

log = logging.getLogger(__name__)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_transient(error: BaseException) -> bool:
    """A fault that may pass by itself: retrying the same update can succeed.

    Database: unreachable, connection lost, refusing connections, locked, pool exhausted,
    serialization failure or deadlock (SQLAlchemy's ``OperationalError``/``InterfaceError``/
    ``DisconnectionError``/pool ``TimeoutError``, a connection invalidated, asyncpg's
    connection and serialization errors and PostgreSQL's SQLSTATEs for them, SQLite's
    ``OperationalError``). Network: ``OSError``, timeouts, Telegram's
    ``NetworkError`` (including ``TimedOut``) and ``RetryAfter``. Anything else (a bug, a
    constraint violation, bad data) is not.
    """
    for exc in _chain(error):
        if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
            return True
        if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError,
                            sa_exc.DisconnectionError, sa_exc.TimeoutError)):
            return True
        if isinstance(exc, (sqlite3.OperationalError, OSError, TimeoutError, NetworkError,
                            RetryAfter)):
            return True
        if type(exc).__module__.startswith("asyncpg") and _asyncpg_transient(exc):
            return True
        if _transient_sqlstate(getattr(exc, "sqlstate", None), str(exc)):
            return True
    return False


# PostgreSQL SQLSTATEs of faults that pass: connection exceptions (08), insufficient
# resources (53: too many connections, disk full), operator intervention (57P: shutdown,
# cannot connect now), system errors (58), serialization failure and deadlock, lock and
# statement timeouts.
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "57P", "58", "40001", "40P01", "55P03", "57014")


def _transient_sqlstate(sqlstate: object, message: str) -> bool:
    if not isinstance(sqlstate, str):
        return False
    if sqlstate.startswith(_TRANSIENT_SQLSTATE_PREFIXES):
        return True
    # 55000 is generic; this one is a database closed to connections for a while.
    return sqlstate == "55000" and "accepting connections" in message


def _asyncpg_transient(exc: BaseException) -> bool:
    import asyncpg

    return isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                            asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError,
                            asyncpg.SerializationError, asyncpg.DeadlockDetectedError,
                            asyncpg.QueryCanceledError, asyncpg.AdminShutdownError))


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to an update whose handling failed."""

    action: str  # "retry" | "park" | "drop"
    delay: float = 0.0
    reason: str = ""

    @property
    def retry(self) -> bool:
        """The update runs again after :attr:`delay` seconds."""
        return self.action == "retry"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long failed updates are retried (see the module docstring).

    Attributes:
        tap_delays: seconds before each retry of a tap or message; parked after the last.
        tap_window: seconds after it arrived beyond which a tap or message is not run again.
        payment_base: first delay of a successful payment's retries (doubling each time).
        payment_max_delay: the longest delay between a payment's retries.
        payment_window: seconds after it arrived beyond which a payment is parked (keep it
            shorter than reconciliation's grace period).
    """

    tap_delays: tuple[float, ...] = (0.5, 1.5, 3.0)
    tap_window: float = 15.0
    payment_base: float = 1.0
    payment_max_delay: float = 60.0
    payment_window: float = 3600.0

    def decide(self, kind: str, attempts: int, age: float, error: BaseException) -> Decision:
        """The fate of an update of ``kind`` that failed its ``attempts``-th run ``age``
        seconds after it arrived."""
        if kind == PRE_CHECKOUT:
            return Decision("drop", reason="a pre-checkout query cannot be answered later")
        if not is_transient(error):
            return Decision("park", reason="not a passing fault")
        if kind == PAYMENT:
            delay = min(self.payment_max_delay, self.payment_base * 2 ** (attempts - 1))
            if age + delay > self.payment_window:
                return Decision("park", reason=f"still failing after {age:.0f}s")
            return Decision("retry", delay)
        if attempts > len(self.tap_delays):
            return Decision("park", reason=f"failed {attempts} times")
        delay = self.tap_delays[attempts - 1]
        if age + delay > self.tap_window:
            return Decision("park", reason=f"too old to run again ({age:.0f}s)")
        return Decision("retry", delay)


@dataclass
class _Meta:
    """What the poller knows of an update in hand."""

    kind: str
    chat_id: int | None
    received_at: datetime  # when its retry window started (arrival, or the operator's retry)
    attempts: int = 0
    due: float = 0.0  # loop time of the next attempt (lanes)

    @property
    def lane(self) -> tuple[str, int] | None:
        if self.kind == PRE_CHECKOUT or self.chat_id is None:
            return None
        return ("pay" if self.kind == PAYMENT else "chat", self.chat_id)


class InboxGaveUp(Exception):
    """Reported to the error handler for an update parked without being run again."""


@dataclass
class _Lane:
    """Updates of one chat (and lane) that run one by one because one of them failed."""

    waiting: list[tuple[int, Update]] = field(default_factory=list)  # (update_id, update)
    task: asyncio.Task[None] | None = None


class DeliveryRun(Protocol):
    """One run of one update, as the handlers saw it: the first failure they recorded."""

    failure: BaseException | None


# ``delivering(attempt, will_retry)``: a block in which the handlers of the update record
# their failure (``handlers.delivery.delivering``, handed in by the composition root).
Delivering = Callable[[int, Callable[[BaseException], bool]], AbstractContextManager[DeliveryRun]]


async def run_update(app: Application[Any, Any, Any, Any, Any, Any], delivering: Delivering,
                     policy: RetryPolicy, clock: Clock, slots: asyncio.Semaphore,
                     update: Update, *, kind: str, attempts: int,
                     received_at: datetime) -> tuple[Decision, str] | None:
    """Run ``update`` once through the Application (its ``attempts``-th run).

    Returns None when it was handled, else the policy's decision and the error as a line.
    Payments and pre-checkout queries do not wait for one of the ``slots`` the taps share.
    """
    decided: list[Decision] = []

    def will_retry(error: BaseException) -> bool:
        if not decided:
            age = (clock.now() - received_at).total_seconds()
            decided.append(policy.decide(kind, attempts, age, error))
        return decided[0].retry

    with delivering(attempts, will_retry) as run:
        try:
            if kind in (PAYMENT, PRE_CHECKOUT):
                await app.process_update(update)
            else:
                async with slots:
                    await app.process_update(update)
        except Exception as exc:  # process_update itself failed (not a handler)
            if run.failure is None:
                run.failure = exc
    if run.failure is None:
        return None
    will_retry(run.failure)
    return decided[0], f"{type(run.failure).__name__}: {run.failure}"


def parse_update(app: Application[Any, Any, Any, Any, Any, Any],
                 data: dict[str, Any]) -> Update | str:
    """The update PTB makes of a stored payload, or why it cannot (then it is parked: an
    update this version of PTB does not understand must not stop the others)."""
    try:
        update = Update.de_json(data, app.bot)
    except Exception as exc:
        return f"cannot be parsed: {type(exc).__name__}: {exc}"
    if update is None:
        return "cannot be parsed: empty update"
    return update


class InboxPoller:
    """Fetches updates, stores them, runs them through the Application, forgets them."""

    def __init__(self, app: Application[Any, Any, Any, Any, Any, Any], inbox: SqlInbox,
                 clock: Clock, *, timeout: int, concurrency: int = 64,
                 max_backoff: float = 30.0, backlog: int = 2000,
                 flush_every: float = 0.2, policy: RetryPolicy | None = None,
                 rescan_every: float = 30.0, delivering: Delivering) -> None:
        self._app = app
        self._delivering = delivering
        self._inbox = inbox
        self._clock = clock
        self._timeout = timeout
        self._slots = asyncio.Semaphore(concurrency)
        self._max_backoff = max_backoff
        self._backlog = backlog
        self._flush_every = flush_every
        self.policy = policy or RetryPolicy()
        self._rescan_every = rescan_every
        self._next: int | None = None  # one past the highest update id stored
        self._in_hand: set[int] = set()
        self._meta: dict[int, _Meta] = {}
        self._lanes: dict[tuple[str, int], _Lane] = {}
        self._done: list[int] = []
        self._deferred: dict[int, tuple[int, int, datetime, str]] = {}
        self._parked: list[tuple[int, int, datetime, str]] = []
        self._room = asyncio.Event()
        self._room.set()
        self.caught_up = asyncio.Event()  # set once a getUpdates came back with no backlog
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._fetcher: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Remove any webhook, replay what a crash left behind, then poll in the background."""
        await self._app.bot.delete_webhook(drop_pending_updates=False)
        leftovers = await self._inbox.pending()
        if leftovers:
            log.info("replaying %d update(s) left unhandled by the previous run",
                     len(leftovers))
        for entry in leftovers:
            await self._take_over(entry)
        self._fetcher = asyncio.create_task(self._fetch(), name="ticketq-polling")
        self._flusher = asyncio.create_task(self._flush_loop(), name="ticketq-inbox-flush")

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop fetching, let updates in hand finish, forget them, acknowledge the rest.

        Updates waiting for a retry stay in the inbox for the next start.
        """
        for task in (self._fetcher, self._flusher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._fetcher = self._flusher = None
        self._stopping.set()  # retries that are waiting stay in the inbox for the next start
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        with contextlib.suppress(Exception):
            await self._flush()
        if self._next is not None:  # everything fetched is stored: safe to acknowledge
            with contextlib.suppress(TelegramError):
                await self._app.bot.get_updates(offset=self._next, timeout=0, limit=1)

    # ------------------------------------------------------------------ intake
    async def _take_over(self, entry: InboxEntry) -> None:
        """Run (or schedule) an update found in the inbox: a crash's leftover, or one the
        operator un-parked."""
        if entry.update_id in self._in_hand:
            return
        parsed = parse_update(self._app, entry.payload)
        if isinstance(parsed, str):
            self._park_unparsed(entry.update_id,
                                _Meta(entry.kind, entry.chat_id, entry.received_at,
                                      attempts=entry.attempts), parsed)
            return
        update = parsed
        self._next = max(self._next or 0, update.update_id + 1)
        meta = _Meta(entry.kind, entry.chat_id, entry.received_at, attempts=entry.attempts)
        if entry.attempts == 0:
            if entry.last_error is not None:  # un-parked by the operator: a fresh start
                meta.received_at = self._clock.now()
            self._dispatch(update, meta)
            return
        # It failed before: it goes on with its retries, unless it is a tap whose moment
        # has passed (then it is parked, and the user hears that it failed).
        age = (self._clock.now() - entry.received_at).total_seconds()
        if meta.kind != PAYMENT and age > self.policy.tap_window:
            self._in_hand.add(update.update_id)
            self._meta[update.update_id] = meta
            await self._park(update, meta, f"not run again: {age:.0f}s old after a restart",
                             report=True)
            return
        self._in_hand.add(update.update_id)
        self._meta[update.update_id] = meta
        loop = asyncio.get_running_loop()
        delay = 0.0
        if entry.next_attempt_at is not None:
            delay = max(0.0, (entry.next_attempt_at - self._clock.now()).total_seconds())
        self._wait_in_lane(update, meta, loop.time() + delay)

    def _dispatch(self, update: Update, meta: _Meta) -> None:
        if update.update_id in self._in_hand:
            return
        self._in_hand.add(update.update_id)
        self._meta[update.update_id] = meta
        if len(self._in_hand) >= self._backlog:
            self._room.clear()
        lane_key = meta.lane
        if lane_key is not None and lane_key in self._lanes:
            # An earlier update of this chat waits for a retry: queue behind it, in order.
            meta.due = 0.0
            self._enqueue(self._lanes[lane_key], update)
            return
        # In its chat's turn: replies keep the order of the updates (bot.sending).
        self._track(spawn_in_turn(self._app.bot, update, self._run_free(update, meta)))

    def _spawn(self, coro: Any) -> None:
        self._track(asyncio.create_task(coro))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fetch(self) -> None:
        failures = 0
        while True:
            await self._room.wait()  # enough in hand: let Telegram keep the rest for now
            try:
                # Raw JSON, not PTB's Update objects: PTB's get_updates fails the whole batch
                # when it cannot parse one update, and that batch would come back forever.
                # An update it cannot parse is stored and parked like any other failure.
                updates = await self._app.bot._post(
                    "getUpdates", {"offset": self._next, "timeout": self._timeout,
                                   "allowed_updates": list(Update.ALL_TYPES)},
                    read_timeout=self._timeout + 10)
                if not isinstance(updates, list):
                    updates = []
                fresh = [d for d in updates if valid_update(d)
                         and (self._next is None or d["update_id"] >= self._next)]
                # Stored before the next getUpdates acknowledges them.
                now = self._clock.now()
                raw = fresh
                await self._inbox.store(raw, now=now)
            except InvalidToken:
                log.error("the Bot API refused the token; polling stops")
                raise
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
                continue
            except Exception as exc:  # Bot API or database trouble: back off, refetch
                failures += 1
                delay = min(self._max_backoff, 0.5 * 2 ** min(failures, 8))
                log.warning("fetching updates failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            if len(updates) < 100:
                self.caught_up.set()
            skipped = len(updates) - len(fresh)
            if skipped:
                log.warning("getUpdates returned %d entr(ies) without an update id; skipped",
                            skipped)
            for data in raw:
                self._next = max(self._next or 0, data["update_id"] + 1)
                kind, chat_id, _ = describe(data)
                parsed = parse_update(self._app, data)
                if isinstance(parsed, str):
                    self._park_unparsed(data["update_id"], _Meta(kind, chat_id, now), parsed)
                    continue
                self._dispatch(parsed, _Meta(kind, chat_id, now))

    # ------------------------------------------------------------------ running
    async def _run_free(self, update: Update, meta: _Meta) -> None:
        """First run of an update outside any lane."""
        decision = await self._attempt(update, meta)
        if decision is not None and decision.retry:
            loop = asyncio.get_running_loop()
            self._wait_in_lane(update, meta, loop.time() + decision.delay)

    async def _attempt(self, update: Update, meta: _Meta) -> Decision | None:
        """Run the update once. None when it was handled (or dropped/parked: done with);
        a retry decision when it must run again (the caller schedules it)."""
        meta.attempts += 1
        outcome = await run_update(self._app, self._delivering, self.policy, self._clock,
                                   self._slots, update, kind=meta.kind,
                                   attempts=meta.attempts, received_at=meta.received_at)
        if outcome is None:
            self._finish(update.update_id)
            return None
        decision, error = outcome
        if decision.retry:
            at = self._clock.now()
            self._deferred[update.update_id] = (update.update_id, meta.attempts,
                                                at + timedelta(seconds=decision.delay), error)
            log.warning("update %s (%s, chat %s) failed (attempt %d: %s); retrying in %.1fs",
                        update.update_id, meta.kind, meta.chat_id, meta.attempts,
                        error[:300], decision.delay)
            return decision
        if decision.action == "drop":
            log.warning("update %s (%s) failed and is not retried (%s): %s",
                        update.update_id, meta.kind, decision.reason, error[:300])
            self._finish(update.update_id)
            return None
        await self._park(update, meta, f"{decision.reason}: {error}")
        return None

    def _finish(self, update_id: int) -> None:
        self._deferred.pop(update_id, None)
        self._done.append(update_id)

    def _park_unparsed(self, update_id: int, meta: _Meta, why: str) -> None:
        """Park an update PTB cannot parse (a newer Bot API field, a malformed payload)."""
        self._next = max(self._next or 0, update_id + 1)
        self._in_hand.add(update_id)
        self._meta[update_id] = meta
        self._parked.append((update_id, meta.attempts, self._clock.now(), why))
        log.error("update %s (%s, chat %s) PARKED: %s. `ticketq inbox` lists it",
                  update_id, meta.kind, meta.chat_id, why[:500])

    async def _park(self, update: Update, meta: _Meta, why: str, *,
                    report: bool = False) -> None:
        """Keep the update for the operator and stop running it (never dropped)."""
        self._deferred.pop(update.update_id, None)
        self._parked.append((update.update_id, meta.attempts, self._clock.now(), why))
        level = logging.CRITICAL if meta.kind == PAYMENT else logging.ERROR
        log.log(level, "update %s (%s, chat %s) PARKED after %d attempt(s): %s. "
                "`ticketq inbox` lists it, `ticketq inbox retry %s` runs it again%s",
                update.update_id, meta.kind, meta.chat_id, meta.attempts, why[:500],
                update.update_id,
                "; reconciliation refunds its charge after the grace period unless it is "
                "retried first" if meta.kind == PAYMENT else "")
        if report:  # not run now: let the error handler tell the user it failed
            with self._delivering(meta.attempts + 1, lambda _e: False):
                try:
                    await self._app.process_error(update, InboxGaveUp(why))
                except Exception:
                    log.exception("could not report parked update %s", update.update_id)

    # ------------------------------------------------------------------ lanes
    def _wait_in_lane(self, update: Update, meta: _Meta, due: float) -> None:
        lane_key = meta.lane
        meta.due = due
        if lane_key is None:  # no chat to keep in order: a retry of its own
            self._spawn(self._retry_alone(update, meta))
            return
        lane = self._lanes.get(lane_key)
        if lane is None:
            lane = self._lanes[lane_key] = _Lane()
        self._enqueue(lane, update)
        if lane.task is None or lane.task.done():
            lane.task = asyncio.create_task(self._run_lane(lane_key, lane))
            self._tasks.add(lane.task)
            lane.task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _enqueue(lane: _Lane, update: Update) -> None:
        lane.waiting.append((update.update_id, update))
        lane.waiting.sort(key=lambda pair: pair[0])

    async def _sleep(self, seconds: float) -> bool:
        """Sleep; False (at once) when the poller stops meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=max(0.0, seconds))
        return not self._stopping.is_set()

    async def _retry_alone(self, update: Update, meta: _Meta) -> None:
        while True:
            if not await self._sleep(meta.due - asyncio.get_running_loop().time()):
                return
            decision = await self._attempt(update, meta)
            if decision is None or not decision.retry:
                return
            meta.due = asyncio.get_running_loop().time() + decision.delay

    async def _run_lane(self, key: tuple[str, int], lane: _Lane) -> None:
        """Run the lane's updates one by one in update order, each when it is due."""
        loop = asyncio.get_running_loop()
        try:
            while lane.waiting:
                update_id, update = lane.waiting[0]
                meta = self._meta[update_id]
                wait = meta.due - loop.time()
                if wait > 0:  # (an earlier update of the chat may join meanwhile)
                    if not await self._sleep(min(wait, 1.0)):
                        return
                    continue
                if self._stopping.is_set():
                    return
                try:
                    decision = await self._attempt(update, meta)
                except Exception:  # bookkeeping itself failed: keep the lane alive
                    log.exception("running update %s failed; trying again", update_id)
                    meta.due = loop.time() + 1.0
                    continue
                if decision is not None and decision.retry:
                    meta.due = loop.time() + decision.delay
                    continue
                lane.waiting.remove((update_id, update))
        finally:
            if self._lanes.get(key) is lane and not lane.waiting:
                del self._lanes[key]

    # ------------------------------------------------------------------ bookkeeping
    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last_rescan = loop.time()
        failures = 0
        while True:
            # While the database is away, try less often (and log less).
            await asyncio.sleep(min(2.0, self._flush_every * 2 ** min(failures, 4)))
            try:
                await self._flush()
                if loop.time() >= last_rescan + self._rescan_every:
                    last_rescan = loop.time()
                    for entry in await self._inbox.pending():
                        if entry.update_id not in self._in_hand:
                            log.info("picking up update %s from the inbox (retried by hand)",
                                     entry.update_id)
                            await self._take_over(entry)
            except Exception as exc:
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    log.warning("could not update the inbox (%s); retrying", exc,
                                exc_info=failures == 1)
            else:
                failures = 0

    async def _flush(self) -> None:
        done, self._done = self._done, []
        parked, self._parked = self._parked, []
        deferred = list(self._deferred.values())
        try:
            await self._inbox.settle(done=done, deferred=deferred, parked=parked)
        except Exception:
            self._done.extend(done)
            self._parked.extend(parked)
            raise
        for update_id, attempts, at, error in deferred:
            if self._deferred.get(update_id) == (update_id, attempts, at, error):
                del self._deferred[update_id]
        finished = done + [p[0] for p in parked]
        self._in_hand.difference_update(finished)
        for update_id in finished:
            self._meta.pop(update_id, None)
        if len(self._in_hand) < self._backlog:
            self._room.set()


def _seconds(value: Any) -> float:
    return float(value.total_seconds() if hasattr(value, "total_seconds") else value)
