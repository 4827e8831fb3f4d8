"""One scheduler leader among the workers: a PostgreSQL session advisory lock.

Close, draw, settlement, reminders, hold-screen sweeps and reconciliation
(:mod:`scheduler.jobs`) run only on the leader. The leader is the worker that holds
``pg_try_advisory_lock(SCHEDULER_LOCK_KEY)`` on a connection of its own, opened for nothing
else. PostgreSQL releases a session lock when its connection ends, so when the leader dies
(SIGKILL, crash, its machine gone) the lock is free as soon as the server notices the closed
connection: at once for a process that died (the kernel closes its socket), within the TCP
keepalive time set below for a machine that vanished. Followers try again every
``retry_every`` seconds, so another worker leads within seconds. The leader checks its
connection every ``check_every`` seconds and stops leading as soon as it fails (the server
may already have handed the lock on).

Nothing depends on there never being two leaders for a moment (an old leader still finishing
a job when its connection dropped): every job is safe to run twice. The close and the draw
are single transactions under the event's exclusive lock that do nothing when the lottery is
already closed or drawn; settlement is outbox items (refunds with a Stripe Idempotency-Key
derived from the refund id, messages with dedupe keys), which any worker sends; reminders
and screen sweeps are marked done in the transaction that queues them. So a draw or a
settlement that a dead leader left half-done finishes exactly once. The leader only keeps
the database from doing the same work several times over.

SQLite: one process, always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

# pg_try_advisory_lock key of the scheduler (64-bit; the outbox's claim key is in
# bot.storage.locks).
SCHEDULER_LOCK_KEY = 0x7451_5C4E_D01E


def plain_dsn(url: str) -> str:
    """An asyncpg DSN from a SQLAlchemy PostgreSQL URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class LeaderElection:
    """Who runs the scheduler (see the module doc).

    Args:
        url: the database URL; None or SQLite: this process is always the leader.
        retry_every: seconds between a follower's attempts to take the lock.
        check_every: seconds between the leader's checks of its lock connection.
        on_change: called with True when this worker becomes the leader, False when it
            stops being it.
    """

    def __init__(self, url: str | None, *, retry_every: float = 3.0, check_every: float = 2.0,
                 on_change: Callable[[bool], None] | None = None,
                 key: int = SCHEDULER_LOCK_KEY) -> None:
        self._dsn = plain_dsn(url) if url and make_url(url).get_backend_name() == \
            "postgresql" else None
        self.retry_every = retry_every
        self.check_every = check_every
        self._on_change = on_change
        self.key = key
        self.is_leader = self._dsn is None
        self.became_leader = asyncio.Event()
        if self.is_leader:
            self.became_leader.set()
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self.terms = 0  # how many times this worker became the leader

    @property
    def shared(self) -> bool:
        """True when several workers may compete (PostgreSQL)."""
        return self._dsn is not None

    async def start(self) -> None:
        """Try at once (so a lone worker leads before its scheduler's first tick), then
        keep trying or checking in the background."""
        if self._dsn is None or self._task is not None:
            return
        await self._step()
        self._task = asyncio.create_task(self._loop(), name="leader-election")

    async def stop(self) -> None:
        """Stop competing and let go of the lock (closing its connection)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.resign()

    async def resign(self) -> None:
        """Close the lock connection: the lock is free for another worker at once."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)
        self._set(False)

    def _set(self, leading: bool) -> None:
        if leading == self.is_leader:
            return
        self.is_leader = leading
        if leading:
            self.terms += 1
            self.became_leader.set()
            log.info("this worker is now the scheduler leader")
        else:
            self.became_leader.clear()
            if self._dsn is not None:
                log.warning("this worker is no longer the scheduler leader")
        if self._on_change is not None:
            try:
                self._on_change(leading)
            except Exception:
                log.exception("leader change hook failed")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.check_every if self.is_leader else self.retry_every)
            await self._step()

    async def _step(self) -> None:
        try:
            if self.is_leader:
                await asyncio.wait_for(self._conn.fetchval("SELECT 1"), self.check_every * 2)
                return
            if self._conn is None or self._conn.is_closed():
                import asyncpg

                self._conn = await asyncio.wait_for(asyncpg.connect(
                    self._dsn, server_settings={
                        "application_name": f"ticketq-leader-{os.getpid()}",
                        # A leader whose machine vanished loses the lock within ~25 s.
                        "tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5",
                        "tcp_keepalives_count": "3"}), 10)
            got = await asyncio.wait_for(
                self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key), 10)
            if got:
                self._set(True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.is_leader:
                log.warning("scheduler lock connection failed (%r); stepping down", exc)
            else:
                log.info("could not try the scheduler lock (%r); retrying", exc)
            await self.resign()
