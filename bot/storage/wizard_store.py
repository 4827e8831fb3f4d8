"""Storage for the event wizard: drafts (one row per organizer) and event edits."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage import tables as t
from bot.storage.event_texts import translations_to_json
from bot.storage.locks import SqlLocks
from core.catalog.model import LotteryState
from core.catalog.spec import EventSpec
from core.kernel import locking
from core.lottery.model import commitment, new_seed
from core.organizer.draft import Draft


class SqlDraftRepository:
    """Implements :class:`core.organizer.ports.DraftRepository`: the draft document is
    JSON text."""

    def __init__(self, conn: AsyncConnection, dialect: str, locks: SqlLocks) -> None:
        self.conn = conn
        self.dialect = dialect
        self.locks = locks

    async def get(self, user_id: int, *, lock: bool = False) -> Draft | None:
        query = select(t.event_drafts).where(t.event_drafts.c.user_id == user_id)
        row = (await self.locks.read_locked(query, locking.draft(user_id))
               if lock else (await self.conn.execute(query)).first())
        if row is None:
            return None
        try:
            doc = json.loads(row.data)
        except ValueError:
            doc = {}
        return Draft(doc if isinstance(doc, dict) else {}, row.step, row.event_id)

    async def put(self, user_id: int, draft: Draft, *, now: datetime) -> None:
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        stmt = insert(t.event_drafts).values(
            user_id=user_id, event_id=draft.event_id, step=draft.cursor,
            data=json.dumps(draft.doc, ensure_ascii=False), updated_at=now)
        await self.conn.execute(stmt.on_conflict_do_update(
            index_elements=["user_id"],
            set_={"event_id": stmt.excluded.event_id, "step": stmt.excluded.step,
                  "data": stmt.excluded.data, "updated_at": stmt.excluded.updated_at}))

    async def delete(self, user_id: int) -> bool:
        result = await self.conn.execute(
            delete(t.event_drafts).where(t.event_drafts.c.user_id == user_id))
        return int(result.rowcount) > 0


async def update_event(conn: AsyncConnection, event_id: int, spec: EventSpec, *,
                       now: datetime) -> None:
    """Overwrite an event and its ticket types by position (see ``EventRepository.update``).

    A direct event that becomes a lottery gets its secret seed and public commitment now; a
    lottery that becomes direct loses its window (the wizard allows both only before anything
    is sold or entered). The status is left to the caller.
    """
    e = t.events.c
    row = (await conn.execute(select(e.lottery_seed, e.entries_close_at, e.uses_beacon)
                              .where(e.id == event_id))).one()
    lottery = spec.lottery
    values: dict[str, Any] = {
        "title": spec.title, "description": spec.description, "venue": spec.venue,
        "starts_at": spec.starts_at, "timezone": spec.timezone, "language": spec.language,
        "translations": translations_to_json(spec.translations),
        "sale_mode": spec.sale_mode.value,
        "entries_open_at": lottery.entries_open_at if lottery else None,
        "entries_close_at": lottery.entries_close_at if lottery else None,
        "draw_at": lottery.draw_at if lottery else None,
        "max_per_entry": lottery.max_per_entry if lottery else None,
        "uses_beacon": bool(lottery and lottery.beacon),
        "transfers_allowed": spec.transfers.allowed, "transfer_until": spec.transfers.until,
        "transfer_max": spec.transfers.max_per_ticket,
    }
    if lottery is None:
        values.update(lottery_state=None, lottery_seed=None, lottery_commitment=None)
    elif row.lottery_seed is None:
        seed = new_seed()
        values.update(lottery_state=LotteryState.OPEN.value, lottery_seed=seed.hex(),
                      lottery_commitment=commitment(seed))
    if lottery is None or (lottery.entries_close_at, lottery.beacon) != (
            row.entries_close_at, bool(row.uses_beacon)):
        # The beacon round is the first after the close: fixed again by the lottery tick.
        values.update(beacon_round=None, beacon_value=None)
    await conn.execute(update(t.events).where(e.id == event_id).values(**values))
    tt = t.ticket_types.c
    ids = list((await conn.execute(select(tt.id).where(tt.event_id == event_id)
                                   .order_by(tt.position, tt.id))).scalars())
    top = (await conn.execute(select(func.coalesce(func.max(tt.position), -1))
                              .where(tt.event_id == event_id))).scalar_one()
    for i, spec_type in enumerate(spec.ticket_types):
        fields = {"name": spec_type.name, "price_minor": spec_type.price.amount,
                  "currency": spec_type.price.currency, "capacity": spec_type.capacity,
                  "per_user_limit": spec_type.per_user_limit}
        if i < len(ids):
            await conn.execute(update(t.ticket_types).where(tt.id == ids[i]).values(**fields))
        else:
            top += 1
            await conn.execute(t.ticket_types.insert().values(
                event_id=event_id, position=top, **fields))
