"""The outbox worker's view of the ``outbox`` table (implements
``core.kernel.ports.OutboxStore``).

Several workers on one database (``worker_id`` given): a claim marks the items it returns as
in flight on this worker until ``lease_until``; no other worker claims them before the lease
runs out, and no other worker claims a *later* item of the same chat while an earlier one is
in flight or waiting for its retry, so a chat reads its messages in order whichever worker
sends them. Claims are serialized (a transaction-scoped advisory lock) and take the rows
``FOR UPDATE SKIP LOCKED`` on PostgreSQL. The worker renews its leases while it works
(:meth:`SqlOutboxStore.renew_leases`); a worker that died stops renewing, its items become
claimable when their lease runs out and another worker sends them (at least once: see
:mod:`scheduler.outbox_worker`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update

from bot.storage import tables as t
from bot.storage.database import SqlDatabase
from bot.storage.locks import OUTBOX_CLAIM_KEY, claiming, serialize_claims
from bot.storage.repositories import outbox_item
from core.kernel.ports import OutboxItem

PENDING, DONE, DEAD = "pending", "done", "dead"


class SqlOutboxStore:
    """Claims due items and records their fate, each call its own short transaction.

    Args:
        db: the database.
        worker_id: this worker's name (unique among the workers of the database); None: the
            only worker (claims set no lease, as before several workers existed).
        lease: seconds a claim lasts unless renewed.
    """

    def __init__(self, db: SqlDatabase, *, worker_id: str | None = None,
                 lease: float = 60.0) -> None:
        self._db = db
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease)

    async def claim_due(self, *, now: datetime, limit: int) -> list[OutboxItem]:
        o = t.outbox.c
        # An earlier item of the same chat waiting for its retry, or in flight on a worker,
        # holds the later ones back: otherwise they would overtake it and a chat would read
        # its messages out of order.
        # This worker's own unexpired claims are not in flight when it claims (one pass at a
        # time per worker): items a pass left unsent behind a failure are claimed again.
        me = self.worker_id or ""
        waiting = t.outbox.alias("waiting")
        earlier_blocks = select(waiting.c.id).where(
            waiting.c.status == PENDING, waiting.c.chat_id == o.chat_id, waiting.c.id < o.id,
            or_(waiting.c.due_at > now,
                and_(waiting.c.lease_until > now, waiting.c.claimed_by != me))).exists()
        free = or_(o.lease_until.is_(None), o.lease_until <= now, o.claimed_by == me)
        query = (select(t.outbox).where(o.status == PENDING, o.due_at <= now, free,
                                        ~earlier_blocks)
                 .order_by(o.id).limit(limit))
        if self.worker_id is None:
            async with self._db.read() as uow:
                return [outbox_item(r) for r in await uow.conn.execute(query)]
        async with self._db.write() as uow:
            await serialize_claims(uow.conn, self._db.dialect, OUTBOX_CLAIM_KEY)
            claimed = list(await uow.conn.execute(claiming(query, self._db.dialect)))
            if claimed:
                await uow.conn.execute(update(t.outbox).where(
                    o.id.in_([r.id for r in claimed])).values(
                        claimed_by=self.worker_id, lease_until=now + self.lease))
            return [outbox_item(r) for r in claimed]

    async def renew_leases(self, *, now: datetime) -> int:
        """Extend the lease of every item this worker still holds; returns how many."""
        if self.worker_id is None:
            return 0
        o = t.outbox.c
        async with self._db.write() as uow:
            result = await uow.conn.execute(update(t.outbox).where(
                o.claimed_by == self.worker_id, o.status == PENDING, o.lease_until > now
            ).values(lease_until=now + self.lease))
            return int(result.rowcount or 0)

    async def mark_done(self, item_id: int, *, now: datetime) -> None:
        async with self._db.write() as uow:
            await uow.conn.execute(update(t.outbox).where(
                t.outbox.c.id == item_id, t.outbox.c.status == PENDING).values(
                status=DONE, done_at=now, attempts=t.outbox.c.attempts + 1, lease_until=None))

    async def retry_later(self, item_id: int, *, error: str, at: datetime) -> None:
        async with self._db.write() as uow:
            await uow.conn.execute(update(t.outbox).where(
                t.outbox.c.id == item_id, t.outbox.c.status == PENDING).values(
                due_at=at, last_error=error[:500], attempts=t.outbox.c.attempts + 1,
                lease_until=None))

    async def mark_dead(self, item_id: int, *, error: str, now: datetime) -> None:
        async with self._db.write() as uow:
            await uow.conn.execute(update(t.outbox).where(
                t.outbox.c.id == item_id, t.outbox.c.status == PENDING).values(
                status=DEAD, done_at=now, last_error=error[:500],
                attempts=t.outbox.c.attempts + 1, lease_until=None))

    async def pending_count(self) -> int:
        async with self._db.read() as uow:
            result = await uow.conn.execute(select(func.count()).select_from(t.outbox).where(
                t.outbox.c.status == PENDING))
            return int(result.scalar_one())

    async def next_due_at(self) -> datetime | None:
        """When the earliest pending item becomes due (for the worker's sleep)."""
        async with self._db.read() as uow:
            result = await uow.conn.execute(select(func.min(t.outbox.c.due_at)).where(
                t.outbox.c.status == PENDING))
            value = result.scalar_one_or_none()
            if value is None:
                return None
            return t.UTCDateTime().process_result_value(value, self._db.engine.dialect)
