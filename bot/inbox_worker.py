"""Handling the durable inbox from several processes at once (webhook mode).

In webhook mode any number of ``ticketq run`` processes share one PostgreSQL database; the
webhook (:mod:`bot.web.webhook`) of whichever worker the reverse proxy picked stores each
update in the ``inbox`` table, and every worker's :class:`InboxWorker` *claims* updates from
it:

* **Exactly one worker per update.** A claim sets ``claimed_by`` and ``lease_until`` in one
  short transaction whose ``SELECT ... FOR UPDATE SKIP LOCKED`` lets two workers claiming at
  once take different rows without waiting for each other (:meth:`SqlInbox.claim`). While
  it handles an update the worker renews its lease; when it is done it marks the row
  handled and empties it. The tombstone stays a day (:data:`KEEP_HANDLED`): Telegram
  redelivers an update whose 200 it did not see, and the redelivery, refused by the primary
  key, changes nothing (deleting the row would let it be stored and handled again).
* **A dead worker's updates are not lost.** Its leases run out (``lease`` seconds, 30 by
  default) and another worker claims the updates and handles them. Handlers are idempotent
  (payments unique by charge id, scans by nonce, notices by dedupe key), so an update run
  again after a crash between handling and deleting changes nothing twice. A worker that
  stops cleanly hands its claims back at once.
* **A chat's updates in ``update_id`` order, across workers.** An update is claimable only
  when no earlier update of its *lane* is still in the inbox unparked: a chat's payments
  form one lane, its taps and messages another (as in :mod:`bot.polling`), so a payment
  being retried for an hour does not hold up the chat's taps, and a tap never overtakes
  the message before it, whichever worker holds either.
* **Payments never wait behind a crowd.** Pre-checkout queries (no lane: Telegram wants an
  answer within 10 s) and successful payments are claimed by a loop of their own with
  places of their own, so a flood of taps filling every tap place cannot delay them.

Failures follow :class:`bot.polling.RetryPolicy` exactly as in polling mode: a passing fault
is retried (the row stays, with ``attempts`` and ``next_attempt_at``, its claim released, and
its lane waits), anything else is parked for the operator (``ticketq inbox``), a
pre-checkout query is dropped, an update PTB cannot parse is parked.

SQLite works too (one process: its single writer serializes the claims).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot import metrics
from bot.polling import Delivering, InboxGaveUp, RetryPolicy, parse_update, run_update
from bot.sending import spawn_in_turn
from bot.storage.inbox_store import PAYMENT, InboxEntry, SqlInbox
from core.kernel.clock import Clock

log = logging.getLogger(__name__)

KEEP_HANDLED = timedelta(hours=24)  # how long a handled update's tombstone refuses replays
PURGE_EVERY = 600.0  # seconds between purges of older tombstones (any worker may purge)


@dataclass
class _Class:
    """One claim loop: payments, or everything else."""

    name: str
    payments: bool
    places: int
    in_hand: set[int]
    wake: asyncio.Event


class InboxWorker:
    """Claims updates from the shared inbox and runs them through the Application."""

    def __init__(self, app: Application[Any, Any, Any, Any, Any, Any], inbox: SqlInbox,
                 clock: Clock, *, worker_id: str, delivering: Delivering,
                 policy: RetryPolicy | None = None, lease: float = 30.0,
                 concurrency: int = 64, payment_concurrency: int = 32, batch: int = 32,
                 poll_every: float = 0.25, max_backoff: float = 5.0) -> None:
        self._app = app
        self._inbox = inbox
        self._clock = clock
        self.worker_id = worker_id
        self._delivering = delivering
        self.policy = policy or RetryPolicy()
        self.lease = lease
        self._slots = asyncio.Semaphore(concurrency)
        self._batch = batch
        self._poll_every = poll_every
        self._max_backoff = max_backoff
        self._classes = [
            _Class("payments", True, payment_concurrency, set(), asyncio.Event()),
            _Class("chats", False, concurrency, set(), asyncio.Event()),
        ]
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self.handled = 0  # updates this worker finished with (any outcome)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Claim in the background (whatever a crash left in the inbox is claimed too)."""
        self._stopping.clear()
        for cls in self._classes:
            self._loops.append(asyncio.create_task(self._claim_loop(cls),
                                                   name=f"ticketq-inbox-{cls.name}"))
        self._loops.append(asyncio.create_task(self._renew_loop(), name="ticketq-leases"))

    def wake(self) -> None:
        """Claim now (an update was just stored, or a lane became free)."""
        for cls in self._classes:
            cls.wake.set()

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, let updates in hand finish, hand the claims of the rest back."""
        self._stopping.set()
        self.wake()
        for task in self._loops:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loops = []
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        with contextlib.suppress(Exception):
            released = await self._inbox.release(self.worker_id)
            if released:
                log.info("handed %d claimed update(s) back to the other workers", released)

    @property
    def in_hand(self) -> int:
        """Updates claimed and not yet finished with."""
        return sum(len(cls.in_hand) for cls in self._classes)

    # ------------------------------------------------------------------ claiming
    async def _claim_loop(self, cls: _Class) -> None:
        failures = 0
        while not self._stopping.is_set():
            room = cls.places - len(cls.in_hand)
            entries: list[InboxEntry] = []
            if room > 0:
                try:
                    entries = await self._inbox.claim(
                        self.worker_id, now=self._clock.now(), lease=self.lease,
                        limit=min(room, self._batch), payments=cls.payments)
                except Exception as exc:  # the database is away: back off and claim again
                    failures += 1
                    delay = min(self._max_backoff, 0.1 * 2 ** min(failures, 8))
                    if failures == 1 or failures % 20 == 0:
                        log.warning("claiming updates failed (%s); retrying in %.1fs",
                                    exc, delay)
                    await asyncio.sleep(delay)
                    continue
                failures = 0
            for entry in entries:
                cls.in_hand.add(entry.update_id)
                task = asyncio.create_task(self._handle(cls, entry))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if len(entries) == min(room, self._batch) and room > 0:
                continue  # there may be more: claim again at once
            cls.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cls.wake.wait(), timeout=self._poll_every)

    async def _renew_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_purge = loop.time()
        while True:
            await asyncio.sleep(self.lease / 3)
            if loop.time() >= next_purge:
                next_purge = loop.time() + PURGE_EVERY
                with contextlib.suppress(Exception):
                    await self._inbox.purge_handled(before=self._clock.now() - KEEP_HANDLED)
            ids = [i for cls in self._classes for i in cls.in_hand]
            if not ids:
                continue
            try:
                held = await self._inbox.renew(
                    self.worker_id, ids,
                    until=self._clock.now() + timedelta(seconds=self.lease))
            except Exception as exc:
                log.warning("renewing %d lease(s) failed (%s)", len(ids), exc)
                continue
            in_hand = {i for cls in self._classes for i in cls.in_hand}
            lost = [i for i in ids if i not in held and i in in_hand]  # not just finished
            if lost:
                log.warning("%d claimed update(s) passed to another worker (this one was too "
                            "slow to renew its lease): %s", len(lost), lost[:10])

    # ------------------------------------------------------------------ handling
    async def _handle(self, cls: _Class, entry: InboxEntry) -> None:
        try:
            await self._handle_claimed(entry)
        except Exception:  # bookkeeping failed: the lease runs out and someone runs it again
            log.exception("update %s: bookkeeping failed; it runs again after its lease",
                          entry.update_id)
        finally:
            cls.in_hand.discard(entry.update_id)
            self.handled += 1
            self.wake()  # its lane (and a place) is free: claim the next at once

    async def _handle_claimed(self, entry: InboxEntry) -> None:
        parsed = parse_update(self._app, entry.payload)
        if isinstance(parsed, str):
            await self._park(entry, entry.attempts, parsed)
            return
        update = parsed
        received_at = entry.received_at
        if entry.attempts == 0 and entry.last_error is not None:
            received_at = self._clock.now()  # un-parked by the operator: a fresh start
        elif entry.attempts > 0 and entry.kind != PAYMENT:
            age = (self._clock.now() - entry.received_at).total_seconds()
            if age > self.policy.tap_window:  # its moment has passed (a crash, a long outage)
                await self._park(entry, entry.attempts,
                                 f"not run again: {age:.0f}s old", update=update)
                return
        attempts = entry.attempts + 1

        async def run() -> None:
            outcome = await run_update(self._app, self._delivering, self.policy, self._clock,
                                       self._slots, update, kind=entry.kind,
                                       attempts=attempts, received_at=received_at)
            await self._settle(entry, update, attempts, outcome)

        # In its chat's turn, so replies keep the order of the chat's updates (bot.sending).
        await spawn_in_turn(self._app.bot, update, run())

    async def _settle(self, entry: InboxEntry, update: Update, attempts: int,
                      outcome: Any) -> None:
        if outcome is None:
            if not await self._inbox.finish(self.worker_id, entry.update_id,
                                            now=self._clock.now()):
                log.warning("update %s was handled here after its claim passed to another "
                            "worker", entry.update_id)
            metrics.UPDATES_HANDLED.labels(entry.kind, "handled").inc()
            latency = (self._clock.now() - entry.received_at).total_seconds()
            metrics.UPDATE_LATENCY.labels(entry.kind).observe(max(0.0, latency))
            return
        decision, error = outcome
        if decision.retry:
            log.warning("update %s (%s, chat %s) failed (attempt %d: %s); retrying in %.1fs",
                        entry.update_id, entry.kind, entry.chat_id, attempts, error[:300],
                        decision.delay)
            await self._inbox.defer(
                self.worker_id, entry.update_id, attempts=attempts,
                at=self._clock.now() + timedelta(seconds=decision.delay), error=error)
            metrics.UPDATES_HANDLED.labels(entry.kind, "retried").inc()
            return
        if decision.action == "drop":
            log.warning("update %s (%s) failed and is not retried (%s): %s",
                        entry.update_id, entry.kind, decision.reason, error[:300])
            await self._inbox.finish(self.worker_id, entry.update_id, now=self._clock.now())
            metrics.UPDATES_HANDLED.labels(entry.kind, "dropped").inc()
            return
        await self._park(entry, attempts, f"{decision.reason}: {error}")

    async def _park(self, entry: InboxEntry, attempts: int, why: str, *,
                    update: Update | None = None) -> None:
        """Keep it for the operator; with ``update``, tell the user it failed (it was not run
        now, so no handler told them)."""
        await self._inbox.park(self.worker_id, entry.update_id, attempts=attempts,
                               at=self._clock.now(), error=why)
        metrics.UPDATES_HANDLED.labels(entry.kind, "parked").inc()
        level = logging.CRITICAL if entry.kind == PAYMENT else logging.ERROR
        log.log(level, "update %s (%s, chat %s) PARKED after %d attempt(s): %s. "
                "`ticketq inbox` lists it, `ticketq inbox retry %s` runs it again",
                entry.update_id, entry.kind, entry.chat_id, attempts, why[:500],
                entry.update_id)
        if update is not None:
            with self._delivering(attempts + 1, lambda _e: False):
                try:
                    await self._app.process_error(update, InboxGaveUp(why))
                except Exception:
                    log.exception("could not report parked update %s", entry.update_id)


def default_worker_id() -> str:
    """``hostname:pid``: unique among the workers on one database."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"
