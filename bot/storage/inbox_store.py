"""The durable inbox of Telegram updates (see ``bot.polling``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from bot.storage import tables as t
from bot.storage.database import SqlDatabase
from bot.storage.repositories import _upsert


class SqlInbox:
    """Stores fetched updates in one transaction per batch; forgets them once handled."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def store(self, updates: list[dict[str, Any]], *, now: datetime) -> None:
        """Keep a batch (idempotent: a re-fetched update is stored once)."""
        if not updates:
            return
        async with self._db.write() as uow:
            stmt = _upsert(self._db.dialect, t.inbox).on_conflict_do_nothing(
                index_elements=["update_id"])
            await uow.conn.execute(stmt, [
                {"update_id": u["update_id"], "payload": json.dumps(u), "received_at": now}
                for u in updates])

    async def forget(self, update_ids: list[int]) -> None:
        """Handled: drop them."""
        if not update_ids:
            return
        async with self._db.write() as uow:
            for start in range(0, len(update_ids), 5_000):
                await uow.conn.execute(delete(t.inbox).where(
                    t.inbox.c.update_id.in_(update_ids[start:start + 5_000])))

    async def pending(self) -> list[dict[str, Any]]:
        """Updates stored but not handled (a crash interrupted them), oldest first."""
        async with self._db.read() as uow:
            rows = await uow.conn.execute(select(t.inbox.c.payload)
                                          .order_by(t.inbox.c.update_id))
            return [json.loads(r.payload) for r in rows]
