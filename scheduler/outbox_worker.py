"""Drains the outbox: every side effect (Telegram message, Stripe refund) leaves from here.

Delivery is at least once: an item is marked done only after its effect succeeded, so a crash
in between repeats it on restart. Refunds are protected by their Stripe Idempotency-Key;
messages may, rarely, arrive twice, never zero times. Items of one chat go out in order;
different chats are served concurrently. Failures back off exponentially; after
``max_attempts`` an item is marked dead and its ``give_up`` hook runs (a refund is then flagged
for the organizer, never dropped).

Several workers (processes, machines) may drain one outbox: the store's claim holds the
items for this worker (a lease, renewed every ``renew_every`` seconds while the pass runs),
and never hands out a chat's later item while an earlier one is in flight on any worker, so
per-chat order holds across workers. A worker that dies stops renewing; its items are
claimed by another worker once the lease runs out and sent again. What that means per kind:

* **refund**: exactly once in effect (Stripe's Idempotency-Key is derived from the refund id,
  so the second worker's call returns the first refund);
* **edit** (a screen's message edited): idempotent in effect (the same text again is
  refused by Telegram as "not modified", which counts as done);
* **message / ticket**: at least once. Telegram has no idempotency key for sendMessage, so a
  worker killed after Telegram accepted a message and before the item was marked done
  leaves it to be sent again: rarely twice, never zero times.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from core.kernel import outbox
from core.kernel.clock import Clock
from core.kernel.ports import OutboxItem, OutboxStore
from core.payments.model import GatewayError

log = logging.getLogger(__name__)

Effect = Callable[[OutboxItem], Awaitable[None]]
# Refunds outlast provider outages: 40 attempts with the delay capped at 5 minutes is about
# three hours, well inside the 24 hours Stripe keeps an Idempotency-Key.
DEFAULT_ATTEMPTS_BY_KIND = {outbox.REFUND: 40}
GiveUp = Callable[[OutboxItem, str], Awaitable[None]]


@dataclass
class WorkerStats:
    """Counters for observability and tests."""

    done: int = 0
    retried: int = 0
    dead: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class OutboxWorker:
    """Runs effects for due outbox items, with retries, backoff and per-chat ordering."""

    def __init__(self, store: OutboxStore, effects: dict[str, Effect], clock: Clock, *,
                 give_up: dict[str, GiveUp] | None = None, batch_size: int = 200,
                 concurrency: int = 32, max_attempts: int = 8,
                 attempts_by_kind: dict[str, int] | None = None, base_delay: float = 1.0,
                 max_delay: float = 300.0, idle_poll: float = 1.0,
                 renew_every: float = 15.0) -> None:
        self._store = store
        self._effects = effects
        self._give_up = give_up or {}
        self._clock = clock
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.attempts_by_kind = dict(DEFAULT_ATTEMPTS_BY_KIND if attempts_by_kind is None
                                     else attempts_by_kind)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.idle_poll = idle_poll
        self.renew_every = renew_every
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        # One pass at a time: the background loop and an explicit drain never claim the
        # same item twice.
        self._pass_lock = asyncio.Lock()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.stats = WorkerStats()

    def set_effects(self, effects: dict[str, Effect],
                    give_up: dict[str, GiveUp] | None = None) -> None:
        """Install the effect per kind (done once the Telegram bot is connected)."""
        self._effects = dict(effects)
        self._give_up = dict(give_up or {})

    def wake(self) -> None:
        """Look for work now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        """Run :meth:`run` in a background task."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self.run(), name="outbox-worker")

    async def stop(self) -> None:
        """Finish the item in hand and stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            task, self._task = self._task, None
            try:
                await asyncio.wait_for(task, timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()

    async def run(self) -> None:
        """Drain until stopped; sleep until woken or the poll interval passes."""
        while not self._stopping:
            try:
                handled = await self.drain_once()
            except Exception:
                log.exception("outbox pass failed; retrying shortly")
                handled = 0
            if handled:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.idle_poll)

    async def drain_once(self) -> int:
        """One pass over due items; returns how many were attempted."""
        async with self._pass_lock:
            return await self._pass()

    async def _pass(self) -> int:
        items = await self._store.claim_due(now=self._clock.now(), limit=self.batch_size)
        if not items:
            return 0
        lanes: dict[object, list[OutboxItem]] = {}
        for item in items:
            lane = ("chat", item.chat_id) if item.chat_id is not None else ("item", item.id)
            lanes.setdefault(lane, []).append(item)
        renewing = asyncio.create_task(self._renew_leases(), name="outbox-leases")
        try:
            results = await asyncio.gather(
                *(self._run_lane(lane) for lane in lanes.values()), return_exceptions=True)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        for result in results:
            # Bookkeeping failed (database hiccup): the item stays pending and is retried.
            if isinstance(result, BaseException):
                log.error("outbox lane failed: %r", result)
        return len(items)

    async def _renew_leases(self) -> None:
        """Keep this pass's claims while its lanes wait for the send budget or a slow
        provider (with several workers; a single worker's store renews nothing)."""
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                await self._store.renew_leases(now=self._clock.now())
            except Exception:
                log.warning("could not renew outbox leases; retrying", exc_info=True)

    async def drain_until_idle(self, *, timeout: float = 30.0) -> None:
        """Drain repeatedly until nothing is due (tests and the demo)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await self.drain_once():
            if loop.time() > deadline:
                raise TimeoutError("outbox still busy")

    async def _run_lane(self, lane: list[OutboxItem]) -> None:
        async with self._slots:
            for item in lane:
                if not await self._run_one(item):
                    return  # keep this chat's order: later items wait for the retry

    async def _run_one(self, item: OutboxItem) -> bool:
        effect = self._effects.get(item.kind)
        now = self._clock.now()
        if effect is None:
            await self._store.mark_dead(item.id, error=f"no effect for kind {item.kind!r}",
                                        now=now)
            self.stats.dead += 1
            return True
        try:
            await effect(item)
        except Exception as exc:
            permanent = isinstance(exc, GatewayError) and exc.permanent
            return await self._failed(item, exc, permanent=permanent)
        await self._store.mark_done(item.id, now=self._clock.now())
        self.stats.done += 1
        self.stats.by_kind[item.kind] = self.stats.by_kind.get(item.kind, 0) + 1
        return True

    async def _failed(self, item: OutboxItem, exc: Exception, *, permanent: bool) -> bool:
        error = f"{type(exc).__name__}: {exc}"[:500]
        attempts = item.attempts + 1
        now = self._clock.now()
        limit = self.attempts_by_kind.get(item.kind, self.max_attempts)
        if permanent or attempts >= limit:
            log.warning("outbox item %s (%s) gave up after %s attempts: %s",
                        item.id, item.kind, attempts, error)
            hook = self._give_up.get(item.kind)
            if hook is not None:
                # The hook first (it flags the refund for the organizer and tells the buyer):
                # if it fails, the item stays pending and giving up is tried again.
                try:
                    await hook(item, error)
                except Exception as hook_exc:
                    log.error("give-up hook for outbox item %s failed: %r", item.id, hook_exc)
                    await self._store.retry_later(
                        item.id, error=error, at=now + timedelta(seconds=self.base_delay))
                    return False
            await self._store.mark_dead(item.id, error=error, now=now)
            self.stats.dead += 1
            return True  # a dead item no longer blocks its chat
        delay = min(self.max_delay, self.base_delay * 2 ** (attempts - 1))
        delay *= random.uniform(0.8, 1.2)
        log.info("outbox item %s (%s) failed (attempt %s), retry in %.1fs: %s",
                 item.id, item.kind, attempts, delay, error)
        await self._store.retry_later(item.id, error=error, at=now + timedelta(seconds=delay))
        self.stats.retried += 1
        return False
