"""Row locks in the one order of :mod:`core.kernel.locking`; the only place storage locks rows.

Every lock a write path takes passes :meth:`core.locking.LockLedger.admit` first, which
refuses an order violation before anything is locked. PostgreSQL then locks the rows:
``FOR SHARE`` for a shared lock, ``FOR NO KEY UPDATE`` for an exclusive one (it still lets
other transactions insert rows that reference the locked row, as a foreign-key check only
takes ``FOR KEY SHARE``). SQLite has one writer at a time (``BEGIN IMMEDIATE``), so there only
the order is checked.
"""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import Select, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage import tables as t
from core.kernel.locking import Level, Lock, LockLedger, LockOrderViolation, Mode

# The row of each level, by its key column.
ROWS: dict[Level, tuple[Table, str]] = {
    Level.DRAFT: (t.event_drafts, "user_id"),
    Level.EVENT: (t.events, "id"),
    Level.TICKET_TYPE: (t.ticket_types, "id"),
    Level.ORDER: (t.orders, "id"),
    Level.ENTRY: (t.entries, "id"),
    Level.TICKET: (t.tickets, "id"),
    Level.INVITE: (t.invites, "id"),
}


def locking(query: Select[Any], mode: Mode) -> Select[Any]:
    """``query`` with the row lock of ``mode`` on the rows it reads."""
    if mode is Mode.SHARED:
        return query.with_for_update(read=True)
    return query.with_for_update(key_share=True)


def claiming(query: Select[Any], of: Any, dialect: str) -> Select[Any]:
    """``query`` locking the queue rows of ``of`` it reads, skipping rows another transaction
    holds (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), for claims on a work queue such as the
    inbox: two workers claiming at once take different rows and never wait for each other.

    Queue rows are outside the domain's lock order: a claim transaction locks nothing else
    and holds its rows only until it has marked them claimed. SQLite has one writer.
    """
    if dialect != "postgresql":
        return query
    return query.with_for_update(skip_locked=True, of=of)


class SqlLocks:
    """Takes the locks of one transaction, in the order, on its connection."""

    def __init__(self, conn: AsyncConnection, dialect: str) -> None:
        self._conn = conn
        self._dialect = dialect
        self.ledger = LockLedger()

    async def take(self, *locks: Lock) -> None:
        """Lock these objects (any mix of levels; sorted into the order here).

        Raises:
            core.locking.LockOrderViolation: the request breaks the order.
        """
        fresh = self.ledger.admit(locks)
        if self._dialect != "postgresql":
            return
        # One statement per run of one level and mode, rows in key order (the ledger sorted
        # them): locking five ticket types costs one round trip, not five.
        for (level, mode), run in itertools.groupby(fresh, key=lambda lock: (lock.level,
                                                                              lock.mode)):
            table, key = ROWS[level]
            column = table.c[key]
            await self._conn.execute(locking(
                select(column).where(column.in_([lock.key for lock in run])).order_by(column),
                mode))

    def require(self, lock: Lock) -> None:
        """Refuse to write an object whose lock this transaction does not hold: a row written
        without its lock is locked implicitly, outside the order.

        Raises:
            core.locking.LockOrderViolation: the lock is not held (in that mode or stronger).
        """
        if not self.ledger.holds(lock):
            raise LockOrderViolation(
                f"{lock.level.name.lower()} {lock.key} written without its {lock.mode.value} "
                "lock: take it first, in the order")

    async def read_locked(self, query: Select[Any], lock: Lock) -> Any:
        """Run ``query`` (one row: the object of ``lock``) holding ``lock``: one round trip
        that reads and locks. Returns the row or None."""
        fresh = self.ledger.admit([lock])
        if fresh and self._dialect == "postgresql":
            query = locking(query, lock.mode)
        return (await self._conn.execute(query)).first()
