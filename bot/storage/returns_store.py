"""Returns, waiting lists and their offers in SQL (:class:`core.returns.ports.ReturnsRepository`).

Every write here runs under the ticket type's lock (and the orders' locks the service takes),
so its statements need no row locks of their own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage import tables as t
from bot.storage.locks import SqlLocks
from core.catalog.model import EventStatus, LotteryState, TicketType
from core.kernel.money import Money
from core.returns.model import (
    ReturnPolicy,
    ReturnStatus,
    TicketReturn,
    WaitlistEntry,
    WaitStatus,
)
from core.returns.ports import AfterSaleCounts
from core.sales.model import Order, OrderStatus


def _insert(dialect: str, table: Any) -> Any:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _return(row: Row[Any]) -> TicketReturn:
    return TicketReturn(
        id=row.id, order_id=row.order_id, event_id=row.event_id,
        ticket_type_id=row.ticket_type_id, user_id=row.user_id, chat_id=row.chat_id,
        quantity=row.quantity, status=ReturnStatus(row.status), created_at=row.created_at,
        offer_order_id=row.offer_order_id)


def _entry(row: Row[Any]) -> WaitlistEntry:
    return WaitlistEntry(
        id=row.id, event_id=row.event_id, ticket_type_id=row.ticket_type_id,
        user_id=row.user_id, chat_id=row.chat_id, quantity=row.quantity,
        status=WaitStatus(row.status), joined_at=row.joined_at,
        offer_order_id=row.offer_order_id, draw_position=row.draw_position,
        entry_ref=row.entry_ref)


def _offer_order(row: Row[Any]) -> Order:
    return Order(
        id=row.id, user_id=row.user_id, event_id=row.event_id,
        ticket_type_id=row.ticket_type_id, quantity=row.quantity,
        unit_price=Money(row.unit_price_minor, row.currency), status=OrderStatus(row.status),
        created_at=row.created_at, hold_expires_at=row.hold_expires_at, paid_at=row.paid_at,
        resale_of=row.resale_of)


class SqlReturnsRepository:
    """Return policies, returns, waiting lists and offers."""

    def __init__(self, conn: AsyncConnection, dialect: str, locks: SqlLocks) -> None:
        self.conn = conn
        self.dialect = dialect
        self.locks = locks

    async def policy(self, event_id: int) -> ReturnPolicy | None:
        row = (await self.conn.execute(select(t.return_policies).where(
            t.return_policies.c.event_id == event_id))).first()
        if row is None:
            return None
        return ReturnPolicy(until=row.returns_until, fee_minor=row.fee_minor,
                            offer_minutes=row.offer_minutes)

    async def set_policy(self, event_id: int, policy: ReturnPolicy) -> None:
        values = {"returns_until": policy.until, "fee_minor": policy.fee_minor,
                  "offer_minutes": policy.offer_minutes}
        await self.conn.execute(
            _insert(self.dialect, t.return_policies).values(event_id=event_id, **values)
            .on_conflict_do_update(index_elements=["event_id"], set_=values))

    async def join(self, *, ticket_type: TicketType, user_id: int, chat_id: int,
                   quantity: int, now: datetime) -> WaitlistEntry | None:
        result = await self.conn.execute(
            _insert(self.dialect, t.waitlist).values(
                event_id=ticket_type.event_id, ticket_type_id=ticket_type.id, user_id=user_id,
                chat_id=chat_id, quantity=quantity, status=WaitStatus.WAITING.value,
                joined_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["ticket_type_id", "user_id"])
            .returning(t.waitlist))
        row = result.first()
        return _entry(row) if row else None

    async def entry_for(self, *, user_id: int, ticket_type_id: int) -> WaitlistEntry | None:
        w = t.waitlist.c
        row = (await self.conn.execute(select(t.waitlist).where(
            w.user_id == user_id, w.ticket_type_id == ticket_type_id))).first()
        return _entry(row) if row else None

    async def waiting(self, ticket_type_id: int) -> list[WaitlistEntry]:
        w = t.waitlist.c
        rows = await self.conn.execute(select(t.waitlist).where(
            w.ticket_type_id == ticket_type_id, w.status == WaitStatus.WAITING.value)
            .order_by(func.coalesce(w.draw_position, 0), w.joined_at, w.id))
        return [_entry(r) for r in rows]

    async def add_return(self, order: Order, *, chat_id: int,
                         now: datetime) -> TicketReturn | None:
        result = await self.conn.execute(
            _insert(self.dialect, t.ticket_returns).values(
                order_id=order.id, event_id=order.event_id, ticket_type_id=order.ticket_type_id,
                user_id=order.user_id, chat_id=chat_id, quantity=order.quantity,
                status=ReturnStatus.OPEN.value, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["order_id"])
            .returning(t.ticket_returns))
        row = result.first()
        return _return(row) if row else None

    async def return_of(self, order_id: int) -> TicketReturn | None:
        row = (await self.conn.execute(select(t.ticket_returns).where(
            t.ticket_returns.c.order_id == order_id))).first()
        return _return(row) if row else None

    async def open_returns(self, ticket_type_id: int) -> list[TicketReturn]:
        r = t.ticket_returns.c
        rows = await self.conn.execute(select(t.ticket_returns).where(
            r.ticket_type_id == ticket_type_id, r.status == ReturnStatus.OPEN.value)
            .order_by(r.id))
        return [_return(row) for row in rows]

    async def add_offer(self, ret: TicketReturn, entry: WaitlistEntry, *, unit_price_minor: int,
                        currency: str, now: datetime, expires_at: datetime) -> Order:
        row = (await self.conn.execute(t.orders.insert().values(
            user_id=entry.user_id, event_id=ret.event_id, ticket_type_id=ret.ticket_type_id,
            quantity=ret.quantity, unit_price_minor=unit_price_minor, currency=currency,
            status=OrderStatus.HELD.value, created_at=now, hold_expires_at=expires_at,
            resale_of=ret.order_id,
        ).returning(t.orders))).one()
        await self.conn.execute(update(t.ticket_returns).where(
            t.ticket_returns.c.id == ret.id).values(
            status=ReturnStatus.OFFERED.value, offer_order_id=row.id, updated_at=now))
        await self.conn.execute(update(t.waitlist).where(t.waitlist.c.id == entry.id).values(
            status=WaitStatus.OFFERED.value, offer_order_id=row.id, updated_at=now))
        return _offer_order(row)

    async def add_seat_offer(self, entry: WaitlistEntry, *, quantity: int,
                             unit_price_minor: int, currency: str, now: datetime,
                             expires_at: datetime) -> Order:
        row = (await self.conn.execute(t.orders.insert().values(
            user_id=entry.user_id, event_id=entry.event_id,
            ticket_type_id=entry.ticket_type_id, quantity=quantity,
            unit_price_minor=unit_price_minor, currency=currency,
            status=OrderStatus.HELD.value, created_at=now, hold_expires_at=expires_at,
        ).returning(t.orders))).one()
        await self.conn.execute(update(t.waitlist).where(t.waitlist.c.id == entry.id).values(
            status=WaitStatus.OFFERED.value, offer_order_id=row.id, updated_at=now))
        return _offer_order(row)

    async def offer_entry(self, offer_order_id: int) -> WaitlistEntry | None:
        row = (await self.conn.execute(select(t.waitlist).where(
            t.waitlist.c.offer_order_id == offer_order_id))).first()
        return _entry(row) if row else None

    async def offer_of(self, offer_order_id: int) -> tuple[TicketReturn, WaitlistEntry] | None:
        ret = (await self.conn.execute(select(t.ticket_returns).where(
            t.ticket_returns.c.offer_order_id == offer_order_id))).first()
        entry = (await self.conn.execute(select(t.waitlist).where(
            t.waitlist.c.offer_order_id == offer_order_id))).first()
        if ret is None or entry is None:
            return None
        return _return(ret), _entry(entry)

    async def lapsed_entries(self, *, now: datetime, limit: int) -> list[WaitlistEntry]:
        w, o = t.waitlist.c, t.orders.c
        stale = or_(o.status.in_([OrderStatus.RELEASED.value, OrderStatus.REJECTED.value]),
                    and_(o.status == OrderStatus.HELD.value, o.hold_expires_at <= now))
        rows = await self.conn.execute(
            select(t.waitlist).join(t.orders, o.id == w.offer_order_id)
            .where(w.status == WaitStatus.OFFERED.value, stale)
            .order_by(w.offer_order_id).limit(limit))
        return [_entry(row) for row in rows]

    async def lapse(self, entry: WaitlistEntry, *, now: datetime) -> None:
        assert entry.offer_order_id is not None
        o, r = t.orders.c, t.ticket_returns.c
        await self.conn.execute(update(t.orders).where(
            o.id == entry.offer_order_id, o.status == OrderStatus.HELD.value)
            .values(status=OrderStatus.RELEASED.value))
        await self.conn.execute(update(t.waitlist).where(t.waitlist.c.id == entry.id).values(
            status=WaitStatus.LAPSED.value, updated_at=now))
        await self.conn.execute(update(t.ticket_returns).where(
            r.offer_order_id == entry.offer_order_id, r.status == ReturnStatus.OFFERED.value)
            .values(status=ReturnStatus.OPEN.value, offer_order_id=None, updated_at=now))

    async def mark_offer_paid(self, offer_order_id: int, *, now: datetime) -> None:
        await self.conn.execute(update(t.waitlist).where(
            t.waitlist.c.offer_order_id == offer_order_id).values(
            status=WaitStatus.PAID.value, updated_at=now))

    async def lotteries_to_seed(self) -> list[int]:
        e, w = t.events.c, t.waitlist.c
        queued = select(w.id).where(w.event_id == e.id).exists()
        rows = await self.conn.execute(
            select(e.id).join(t.return_policies, t.return_policies.c.event_id == e.id)
            .where(e.lottery_state == LotteryState.DRAWN.value,
                   e.status == EventStatus.PUBLISHED.value, ~queued).order_by(e.id))
        return [int(x) for x in rows.scalars()]

    async def seed_second_chance(self, event_id: int, *, now: datetime) -> int:
        d, en = t.draw_order.c, t.entries.c
        rows = (await self.conn.execute(
            select(en.ticket_type_id, en.user_id, en.chat_id, en.quantity, d.position,
                   en.public_ref)
            .join(t.entries, en.id == d.entry_id)
            .where(d.event_id == event_id, d.won.is_(False)).order_by(d.position))).all()
        if not rows:
            return 0
        before = await self._queued(event_id)
        await self.conn.execute(
            _insert(self.dialect, t.waitlist).on_conflict_do_nothing(
                index_elements=["ticket_type_id", "user_id"]),
            [{"event_id": event_id, "ticket_type_id": r.ticket_type_id, "user_id": r.user_id,
              "chat_id": r.chat_id, "quantity": r.quantity,
              "status": WaitStatus.WAITING.value, "joined_at": now, "updated_at": now,
              "draw_position": r.position, "entry_ref": r.public_ref} for r in rows])
        return await self._queued(event_id) - before

    async def _queued(self, event_id: int) -> int:
        return int((await self.conn.execute(select(func.count()).select_from(t.waitlist)
                                            .where(t.waitlist.c.event_id == event_id))
                    ).scalar_one())

    async def second_chance(self, event_id: int) -> list[tuple[str, int, str, str]]:
        w, o = t.waitlist.c, t.orders.c
        rows = await self.conn.execute(
            select(w.entry_ref, o.quantity, o.resale_of, w.status)
            .join(t.orders, o.id == w.offer_order_id)
            .where(w.event_id == event_id, w.draw_position.is_not(None))
            .order_by(o.id))
        return [(str(r.entry_ref), int(r.quantity),
                 "return" if r.resale_of is not None else "unclaimed", str(r.status))
                for r in rows]

    async def resell(self, ret: TicketReturn, *, now: datetime) -> None:
        assert ret.offer_order_id is not None
        await self.conn.execute(update(t.ticket_returns).where(
            t.ticket_returns.c.id == ret.id).values(
            status=ReturnStatus.RESOLD.value, updated_at=now))
        await self.conn.execute(update(t.waitlist).where(
            t.waitlist.c.offer_order_id == ret.offer_order_id).values(
            status=WaitStatus.PAID.value, updated_at=now))
        await self.conn.execute(update(t.orders).where(t.orders.c.id == ret.order_id).values(
            status=OrderStatus.RETURNED.value))

    async def types_to_match(self) -> list[int]:
        r, w = t.ticket_returns.c, t.waitlist.c
        waiting = select(w.id).where(w.ticket_type_id == r.ticket_type_id,
                                     w.status == WaitStatus.WAITING.value).exists()
        rows = await self.conn.execute(
            select(r.ticket_type_id).where(r.status == ReturnStatus.OPEN.value, waiting)
            .distinct().order_by(r.ticket_type_id))
        return [int(x) for x in rows.scalars()]

    async def counts(self, event_id: int | None = None) -> AfterSaleCounts:
        r, w = t.ticket_returns.c, t.waitlist.c
        rq = select(r.status, func.count()).group_by(r.status)
        wq = select(w.status, func.count()).group_by(w.status)
        oq = select(func.count()).select_from(t.waitlist).where(w.offer_order_id.is_not(None))
        if event_id is not None:
            rq, wq = rq.where(r.event_id == event_id), wq.where(w.event_id == event_id)
            oq = oq.where(w.event_id == event_id)
        returns = {s: int(n) for s, n in await self.conn.execute(rq)}
        waits = {s: int(n) for s, n in await self.conn.execute(wq)}
        offers = int((await self.conn.execute(oq)).scalar_one())
        return AfterSaleCounts(
            returns=sum(returns.values()), resold=returns.get(ReturnStatus.RESOLD.value, 0),
            waiting=waits.get(WaitStatus.WAITING.value, 0), offers=offers,
            lapsed=waits.get(WaitStatus.LAPSED.value, 0),
            paid=waits.get(WaitStatus.PAID.value, 0))
