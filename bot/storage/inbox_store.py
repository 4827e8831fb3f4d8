"""The durable inbox of Telegram updates (see ``bot.polling`` and ``bot.inbox_worker``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, literal, not_, or_, select, update

from bot.storage import tables as t
from bot.storage.database import SqlDatabase
from bot.storage.locks import claiming
from bot.storage.repositories import _upsert

PAYMENT, PRE_CHECKOUT, TAP, MESSAGE, OTHER = "payment", "pre_checkout", "tap", "message", "other"


def describe(update: dict[str, Any]) -> tuple[str, int | None, str | None]:
    """(kind, chat id, provider charge id) of a raw update, for listing and reconciliation."""
    if "pre_checkout_query" in update:
        return PRE_CHECKOUT, None, None
    if "callback_query" in update:
        query = update["callback_query"]
        chat = ((query.get("message") or {}).get("chat") or {}).get("id")
        return TAP, chat if chat is not None else (query.get("from") or {}).get("id"), None
    for key in ("message", "edited_message", "channel_post", "business_message"):
        message = update.get(key)
        if isinstance(message, dict):
            chat = (message.get("chat") or {}).get("id")
            paid = message.get("successful_payment")
            if isinstance(paid, dict):
                return PAYMENT, chat, paid.get("provider_payment_charge_id") or None
            return MESSAGE, chat, None
    return OTHER, None, None


def lane_of(kind: str, chat_id: int | None) -> str | None:
    """The lane an update keeps its order in: a chat's payments, or its taps and messages.

    Pre-checkout queries (no chat, answered within 10 s) and chat-less updates keep no order.
    """
    if kind == PRE_CHECKOUT or chat_id is None:
        return None
    return f"{'pay' if kind == PAYMENT else 'chat'}:{chat_id}"


def valid_update(data: object) -> bool:
    """A JSON object with an integer ``update_id``: all the inbox needs to keep it."""
    if not isinstance(data, dict):
        return False
    update_id = data.get("update_id")
    return isinstance(update_id, int) and not isinstance(update_id, bool) and \
        0 <= update_id < 2 ** 63


@dataclass(frozen=True, slots=True)
class InboxStats:
    """What the operator's ``/healthz`` and ``/metrics`` show of the inbox."""

    waiting: int  # stored, not handled, not parked
    parked: int
    oldest: datetime | None  # arrival of the oldest waiting update


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """One stored update and where its handling stands."""

    update_id: int
    payload: dict[str, Any]
    received_at: datetime
    kind: str
    chat_id: int | None
    charge_id: str | None
    attempts: int
    next_attempt_at: datetime | None
    parked_at: datetime | None
    last_error: str | None

    @property
    def parked(self) -> bool:
        """Given up on: kept for the operator, not run again until retried by hand."""
        return self.parked_at is not None


class SqlInbox:
    """Stores fetched updates in one transaction per batch; forgets them once handled."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def store(self, updates: list[dict[str, Any]], *, now: datetime) -> None:
        """Keep a batch (idempotent: a re-fetched update is stored once)."""
        if not updates:
            return
        rows = []
        for u in updates:
            kind, chat_id, charge_id = describe(u)
            rows.append({"update_id": u["update_id"], "payload": json.dumps(u),
                         "received_at": now, "kind": kind, "chat_id": chat_id,
                         "charge_id": charge_id, "attempts": 0,
                         "lane": lane_of(kind, chat_id)})
        async with self._db.write() as uow:
            stmt = _upsert(self._db.dialect, t.inbox).on_conflict_do_nothing(
                index_elements=["update_id"])
            await uow.conn.execute(stmt, rows)

    async def forget(self, update_ids: list[int]) -> None:
        """Handled: drop them."""
        if not update_ids:
            return
        async with self._db.write() as uow:
            for start in range(0, len(update_ids), 5_000):
                await uow.conn.execute(delete(t.inbox).where(
                    t.inbox.c.update_id.in_(update_ids[start:start + 5_000])))

    async def settle(self, *, done: list[int], deferred: list[tuple[int, int, datetime, str]],
                     parked: list[tuple[int, int, datetime, str]]) -> None:
        """One transaction of bookkeeping: forget ``done``; record ``(update_id, attempts,
        next attempt, error)`` of updates waiting for a retry; park ``(update_id, attempts,
        when, error)``."""
        if not (done or deferred or parked):
            return
        c = t.inbox.c
        async with self._db.write() as uow:
            for start in range(0, len(done), 5_000):
                await uow.conn.execute(delete(t.inbox).where(
                    c.update_id.in_(done[start:start + 5_000])))
            for update_id, attempts, at, error in deferred:
                await uow.conn.execute(update(t.inbox).where(c.update_id == update_id).values(
                    attempts=attempts, next_attempt_at=at, last_error=error[:1000]))
            for update_id, attempts, at, error in parked:
                await uow.conn.execute(update(t.inbox).where(c.update_id == update_id).values(
                    attempts=attempts, parked_at=at, next_attempt_at=None,
                    last_error=error[:1000]))

    async def pending(self) -> list[InboxEntry]:
        """Updates stored but not handled (a crash interrupted them, or they wait for a
        retry), oldest first; parked ones are left out."""
        return await self._entries(parked=False)

    async def entries(self) -> list[InboxEntry]:
        """Every stored update, parked ones included, oldest first."""
        return await self._entries(parked=None)

    async def _entries(self, *, parked: bool | None,
                       charge_ids: list[str] | None = None) -> list[InboxEntry]:
        c = t.inbox.c
        query = select(t.inbox).where(c.handled_at.is_(None)).order_by(c.update_id)
        if charge_ids is not None:
            query = query.where(c.charge_id.in_(charge_ids))
        if parked is not None:
            query = query.where(c.parked_at.is_not(None) if parked else c.parked_at.is_(None))
        async with self._db.read() as uow:
            rows = (await uow.conn.execute(query)).all()
        return [_entry(r) for r in rows]

    # ------------------------------------------------------------------ several workers
    async def claim(self, worker: str, *, now: datetime, lease: float, limit: int,
                    payments: bool) -> list[InboxEntry]:
        """Take up to ``limit`` updates for ``worker`` until ``now + lease`` (see
        :mod:`bot.inbox_worker`), oldest first.

        Claimable: not parked, due (no retry pending), not claimed or its claim's lease over,
        and no earlier update of its lane still in the inbox unparked (so a chat's updates are
        handled one at a time in ``update_id`` order, whichever worker takes them).
        ``payments`` picks pre-checkout queries and successful payments, else everything
        else: each class is claimed on its own, so payments never queue behind a crowd.
        On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED``: two workers claiming at
        once take different updates and never wait for each other; SQLite has one writer.
        """
        i = t.inbox.alias("i")
        e = t.inbox.alias("e")
        earlier = select(literal(1)).where(
            e.c.lane == i.c.lane, e.c.update_id < i.c.update_id, e.c.parked_at.is_(None),
            e.c.handled_at.is_(None))
        kinds = [PAYMENT, PRE_CHECKOUT]
        query = (
            select(i.c.update_id)
            .where(i.c.handled_at.is_(None), i.c.parked_at.is_(None),
                   or_(i.c.lease_until.is_(None), i.c.lease_until < now),
                   or_(i.c.next_attempt_at.is_(None), i.c.next_attempt_at <= now),
                   or_(i.c.lane.is_(None), not_(earlier.exists())),
                   i.c.kind.in_(kinds) if payments
                   else or_(i.c.kind.is_(None), i.c.kind.not_in(kinds)))
            .order_by(i.c.update_id).limit(limit))
        query = claiming(query, i, self._db.dialect)
        c = t.inbox.c
        async with self._db.write() as uow:
            ids = list((await uow.conn.execute(query)).scalars())
            if not ids:
                return []
            await uow.conn.execute(update(t.inbox).where(c.update_id.in_(ids)).values(
                claimed_by=worker, lease_until=now + timedelta(seconds=lease)))
            rows = (await uow.conn.execute(
                select(t.inbox).where(c.update_id.in_(ids)).order_by(c.update_id))).all()
        return [_entry(r) for r in rows]

    async def renew(self, worker: str, update_ids: list[int], *,
                    until: datetime) -> set[int]:
        """Extend ``worker``'s claims on updates it is still handling; returns those it
        still held."""
        if not update_ids:
            return set()
        c = t.inbox.c
        async with self._db.write() as uow:
            result = await uow.conn.execute(update(t.inbox).where(
                c.update_id.in_(update_ids), c.claimed_by == worker).values(
                lease_until=until).returning(c.update_id))
            return set(result.scalars())

    async def finish(self, worker: str, update_id: int, *, now: datetime) -> bool:
        """Handled by ``worker``: keep only a tombstone (its id, kind and ``handled_at``), so
        that a redelivery of the same update is refused by the primary key and changes
        nothing. False if its claim had passed to another worker meanwhile."""
        c = t.inbox.c
        async with self._db.write() as uow:
            result = await uow.conn.execute(update(t.inbox).where(
                c.update_id == update_id, c.handled_at.is_(None),
                or_(c.claimed_by == worker, c.claimed_by.is_(None))).values(
                handled_at=now, payload="{}", claimed_by=None, lease_until=None,
                next_attempt_at=None))
            return bool(result.rowcount)

    async def purge_handled(self, *, before: datetime) -> int:
        """Drop tombstones of updates handled before ``before`` (Telegram redelivers only
        for a while). Returns how many."""
        async with self._db.write() as uow:
            result = await uow.conn.execute(delete(t.inbox).where(
                t.inbox.c.handled_at.is_not(None), t.inbox.c.handled_at < before))
            return int(result.rowcount or 0)

    async def defer(self, worker: str, update_id: int, *, attempts: int, at: datetime,
                    error: str) -> None:
        """Failed on a passing fault: release the claim; it runs again from ``at`` (its
        lane waits meanwhile)."""
        c = t.inbox.c
        async with self._db.write() as uow:
            await uow.conn.execute(update(t.inbox).where(
                c.update_id == update_id,
                or_(c.claimed_by == worker, c.claimed_by.is_(None))).values(
                attempts=attempts, next_attempt_at=at, last_error=error[:1000],
                claimed_by=None, lease_until=None))

    async def park(self, worker: str, update_id: int, *, attempts: int, at: datetime,
                   error: str) -> None:
        """Given up on: kept for the operator, its claim released, its lane free."""
        c = t.inbox.c
        async with self._db.write() as uow:
            await uow.conn.execute(update(t.inbox).where(
                c.update_id == update_id,
                or_(c.claimed_by == worker, c.claimed_by.is_(None))).values(
                attempts=attempts, parked_at=at, next_attempt_at=None,
                last_error=error[:1000], claimed_by=None, lease_until=None))

    async def release(self, worker: str, update_ids: list[int] | None = None) -> int:
        """Hand back ``worker``'s claims (all of them for None) without running them: another
        worker takes them at once instead of after the lease (a clean shutdown)."""
        c = t.inbox.c
        stmt = update(t.inbox).where(c.claimed_by == worker)
        if update_ids is not None:
            if not update_ids:
                return 0
            stmt = stmt.where(c.update_id.in_(update_ids))
        async with self._db.write() as uow:
            result = await uow.conn.execute(stmt.values(claimed_by=None, lease_until=None))
            return int(result.rowcount or 0)

    async def stats(self) -> InboxStats:
        """How many updates wait, how many are parked, and the oldest waiting one's arrival."""
        c = t.inbox.c
        query = select(
            func.count().filter(c.parked_at.is_(None)),
            func.count().filter(c.parked_at.is_not(None)),
            func.min(c.received_at).filter(c.parked_at.is_(None))).where(
            c.handled_at.is_(None))
        async with self._db.read() as uow:
            row = (await uow.conn.execute(query)).one()
        oldest = row[2]
        if isinstance(oldest, str):  # SQLite's MIN() of the stored text
            oldest = datetime.fromisoformat(oldest)
        return InboxStats(waiting=int(row[0] or 0), parked=int(row[1] or 0), oldest=oldest)

    async def retry(self, update_ids: list[int] | None) -> int:
        """Un-park updates (all parked ones for None) so the bot runs them again: a running
        bot within its rescan interval, a stopped one when it starts; their retry window
        starts again. Returns how many."""
        c = t.inbox.c
        stmt = update(t.inbox).where(c.parked_at.is_not(None))
        if update_ids is not None:
            stmt = stmt.where(c.update_id.in_(update_ids))
        async with self._db.write() as uow:
            result = await uow.conn.execute(stmt.values(parked_at=None, attempts=0,
                                                        next_attempt_at=None))
            return int(result.rowcount or 0)

    async def forget_parked(self, update_ids: list[int] | None, *,
                            keep_payments: bool = True) -> int:
        """Drop parked updates for good, on the operator's word: those named, or (None) all
        parked ones, payments kept unless ``keep_payments`` is False. Only parked updates
        can be dropped. Returns how many."""
        c = t.inbox.c
        stmt = delete(t.inbox).where(c.parked_at.is_not(None))
        if update_ids is not None:
            stmt = stmt.where(c.update_id.in_(update_ids))
        if keep_payments:
            stmt = stmt.where(or_(c.kind.is_(None), c.kind != PAYMENT))
        async with self._db.write() as uow:
            result = await uow.conn.execute(stmt)
            return int(result.rowcount or 0)

    async def by_charges(self, charge_ids: list[str]) -> dict[str, InboxEntry]:
        """Stored successful_payment updates by provider charge id."""
        if not charge_ids:
            return {}
        entries = await self._entries(parked=None, charge_ids=charge_ids)
        return {e.charge_id: e for e in entries if e.charge_id is not None}


def _entry(r: Any) -> InboxEntry:
    payload = json.loads(r.payload)
    return InboxEntry(
        update_id=r.update_id, payload=payload, received_at=r.received_at,
        kind=r.kind or describe(payload)[0], chat_id=r.chat_id, charge_id=r.charge_id,
        attempts=r.attempts, next_attempt_at=r.next_attempt_at, parked_at=r.parked_at,
        last_error=r.last_error)
