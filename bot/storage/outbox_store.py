"""The outbox worker's view of the ``outbox`` table (implements
``core.kernel.ports.OutboxStore``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from bot.storage import tables as t
from bot.storage.database import SqlDatabase
from bot.storage.repositories import outbox_item
from core.kernel.ports import OutboxItem

PENDING, DONE, DEAD = "pending", "done", "dead"


class SqlOutboxStore:
    """Claims due items and records their fate, each call its own short transaction."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def claim_due(self, *, now: datetime, limit: int) -> list[OutboxItem]:
        o = t.outbox.c
        # An earlier item of the same chat waiting for its retry holds the later ones back:
        # otherwise they would overtake it and a chat would read its messages out of order.
        waiting = t.outbox.alias("waiting")
        earlier_waits = select(waiting.c.id).where(
            waiting.c.status == PENDING, waiting.c.due_at > now,
            waiting.c.chat_id == o.chat_id, waiting.c.id < o.id).exists()
        async with self._db.read() as uow:
            rows = await uow.conn.execute(
                select(t.outbox).where(o.status == PENDING, o.due_at <= now, ~earlier_waits)
                .order_by(o.id).limit(limit))
            return [outbox_item(r) for r in rows]

    async def mark_done(self, item_id: int, *, now: datetime) -> None:
        async with self._db.write() as uow:
            await uow.conn.execute(update(t.outbox).where(t.outbox.c.id == item_id).values(
                status=DONE, done_at=now, attempts=t.outbox.c.attempts + 1))

    async def retry_later(self, item_id: int, *, error: str, at: datetime) -> None:
        async with self._db.write() as uow:
            await uow.conn.execute(update(t.outbox).where(t.outbox.c.id == item_id).values(
                due_at=at, last_error=error[:500], attempts=t.outbox.c.attempts + 1))

    async def mark_dead(self, item_id: int, *, error: str, now: datetime) -> None:
        async with self._db.write() as uow:
            await uow.conn.execute(update(t.outbox).where(t.outbox.c.id == item_id).values(
                status=DEAD, done_at=now, last_error=error[:500],
                attempts=t.outbox.c.attempts + 1))

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
