"""Figures the operator's ``/healthz`` and ``/metrics`` read from the shared database."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, text

from bot.storage import tables as t
from bot.storage.database import SqlDatabase
from bot.storage.outbox_store import DEAD, PENDING


@dataclass(frozen=True, slots=True)
class Backlog:
    """Outbox and refunds still to be dealt with."""

    outbox_pending: int
    outbox_dead: int
    refunds_pending: int
    refunds_failed: int


class OperationsStore:
    """Read-only questions an operator asks of the database."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def ping(self) -> None:
        """Raise unless the database answers a query."""
        async with self._db.read() as uow:
            await uow.conn.execute(text("SELECT 1"))

    async def backlog(self) -> Backlog:
        """Outbox items pending and dead; refunds pending and failed."""
        o, r = t.outbox.c, t.refunds.c
        async with self._db.read() as uow:
            outbox: dict[str, int] = dict((await uow.conn.execute(
                select(o.status, func.count()).where(o.status.in_([PENDING, DEAD]))
                .group_by(o.status))).tuples().all())
            refunds: dict[str, int] = dict((await uow.conn.execute(
                select(r.status, func.count()).where(r.status.in_(["pending", "failed"]))
                .group_by(r.status))).tuples().all())
        return Backlog(outbox_pending=int(outbox.get(PENDING, 0)),
                       outbox_dead=int(outbox.get(DEAD, 0)),
                       refunds_pending=int(refunds.get("pending", 0)),
                       refunds_failed=int(refunds.get("failed", 0)))
