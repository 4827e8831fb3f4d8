"""Repositories implementing the feature ports (`core/<feature>/ports.py`) with SQLAlchemy Core."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage import tables as t
from bot.storage.event_texts import translations_from_json, translations_to_json
from bot.storage.groups_store import SqlGroupRepository
from bot.storage.locks import SqlLocks
from bot.storage.returns_store import SqlReturnsRepository
from bot.storage.wizard_store import SqlDraftRepository, update_event
from core.access.model import Grant, Invite, Role, new_invite_token
from core.catalog.model import (
    DEFAULT_LANGUAGE,
    Event,
    EventStatus,
    LotteryState,
    LotteryWindow,
    SaleMode,
    TicketType,
    TransferPolicy,
)
from core.catalog.spec import EventSpec
from core.door.model import CheckinRecord, Verdict
from core.door.offline import PackTicket
from core.kernel import locking
from core.kernel import outbox as outbox_codec
from core.kernel.money import Money
from core.kernel.ports import OutboxItem
from core.lottery.model import (
    Candidate,
    DrawResult,
    DrawSettlement,
    Entry,
    EntryRow,
    EntryStatus,
    EntryTally,
    Fairness,
    PublicEntry,
    commitment,
    new_reference,
    new_seed,
)
from core.organizer.plans import CancellationPlan, ReminderPlan
from core.payments.model import IncomingPayment, PaymentRecord, Refund, RefundStatus
from core.payments.plans import RefundPlan, RefundReason
from core.sales.model import HoldScreen, Order, OrderStatus, ScreenState, Stock
from core.tickets.model import (
    RevokeReason,
    Ticket,
    TicketStatus,
    new_short_code,
    new_token,
)
from core.transfers.model import Transfer, TransferStatus


def _upsert(dialect: str, table: Any) -> Any:
    """INSERT that can say ON CONFLICT DO NOTHING / DO UPDATE on both engines."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


class _Repo:
    def __init__(self, conn: AsyncConnection, dialect: str, locks: SqlLocks) -> None:
        self.conn = conn
        self.dialect = dialect
        self.locks = locks


def _event(row: Row[Any]) -> Event:
    lottery = None
    if row.entries_open_at and row.entries_close_at and row.draw_at:
        lottery = LotteryWindow(row.entries_open_at, row.entries_close_at, row.draw_at,
                                row.max_per_entry or 1, bool(row.uses_beacon),
                                bool(row.require_phone))
    return Event(
        id=row.id, title=row.title, description=row.description, venue=row.venue,
        starts_at=row.starts_at, timezone=row.timezone, status=EventStatus(row.status),
        sale_mode=SaleMode(row.sale_mode), lottery=lottery,
        lottery_state=LotteryState(row.lottery_state) if row.lottery_state else None,
        transfers=TransferPolicy(allowed=bool(row.transfers_allowed), until=row.transfer_until,
                                 max_per_ticket=row.transfer_max),
        language=row.language or DEFAULT_LANGUAGE,
        translations=translations_from_json(row.translations),
    )


def transfer_columns(policy: TransferPolicy) -> dict[str, Any]:
    """The ``events`` columns of a transfer policy (an event's creation and its edits)."""
    return {"transfers_allowed": policy.allowed, "transfer_until": policy.until,
            "transfer_max": policy.max_per_ticket}



def _ticket_type(row: Row[Any]) -> TicketType:
    return TicketType(
        id=row.id, event_id=row.event_id, name=row.name,
        price=Money(row.price_minor, row.currency), capacity=row.capacity,
        per_user_limit=row.per_user_limit, position=row.position,
    )


def _order(row: Row[Any]) -> Order:
    return Order(
        id=row.id, user_id=row.user_id, event_id=row.event_id,
        ticket_type_id=row.ticket_type_id, quantity=row.quantity,
        unit_price=Money(row.unit_price_minor, row.currency), status=OrderStatus(row.status),
        created_at=row.created_at, hold_expires_at=row.hold_expires_at, paid_at=row.paid_at,
        resale_of=row.resale_of,
        refunded_quantity=row.refunded_quantity,
    )


def _screen(row: Row[Any]) -> HoldScreen:
    return HoldScreen(order_id=row.order_id, chat_id=row.chat_id, message_id=row.message_id,
                      state=ScreenState(row.state))


def _ticket(row: Row[Any]) -> Ticket:
    return Ticket(
        id=row.id, order_id=row.order_id, event_id=row.event_id,
        ticket_type_id=row.ticket_type_id, owner_user_id=row.owner_user_id, token=row.token,
        short_code=row.short_code, status=TicketStatus(row.status), issued_at=row.issued_at,
        revoked_reason=RevokeReason(row.revoked_reason) if row.revoked_reason else None,
        transfer_count=row.transfer_count, transferred_from=row.transferred_from,
    )


def _payment(row: Row[Any]) -> PaymentRecord:
    return PaymentRecord(
        id=row.id, order_id=row.order_id, user_id=row.user_id, chat_id=row.chat_id,
        telegram_charge_id=row.telegram_charge_id, provider_charge_id=row.provider_charge_id,
        amount=Money(row.amount_minor, row.currency), received_at=row.received_at,
        entry_id=row.entry_id,
    )


def _refund(row: Row[Any]) -> Refund:
    return Refund(
        id=row.id, payment_id=row.payment_id, user_id=row.user_id, chat_id=row.chat_id,
        amount=Money(row.amount_minor, row.currency), reason=RefundReason(row.reason),
        status=RefundStatus(row.status), provider_charge_id=row.provider_charge_id,
        attempts=row.attempts, provider_refund_id=row.provider_refund_id,
        last_error=row.last_error, ticket_id=row.ticket_id, note=row.note,
    )


class SqlEventRepository(_Repo):
    """Events, ticket types and the derived stock."""

    async def add(self, spec: EventSpec, *, created_by: int, now: datetime) -> Event:
        lottery = spec.lottery
        seed = new_seed() if lottery else None
        result = await self.conn.execute(t.events.insert().values(
            title=spec.title, description=spec.description, venue=spec.venue,
            starts_at=spec.starts_at, timezone=spec.timezone,
            status=(EventStatus.PUBLISHED if spec.publish else EventStatus.DRAFT).value,
            sale_mode=spec.sale_mode.value,
            entries_open_at=lottery.entries_open_at if lottery else None,
            entries_close_at=lottery.entries_close_at if lottery else None,
            draw_at=lottery.draw_at if lottery else None,
            max_per_entry=lottery.max_per_entry if lottery else None,
            lottery_state=LotteryState.OPEN.value if lottery else None,
            lottery_seed=seed.hex() if seed else None,
            lottery_commitment=commitment(seed) if seed else None,
            uses_beacon=bool(lottery and lottery.beacon),
            require_phone=bool(lottery and lottery.require_phone),
            **transfer_columns(spec.transfers),
            created_by=created_by, created_at=now, language=spec.language,
            translations=translations_to_json(spec.translations),
        ).returning(t.events.c.id))
        event_id = result.scalar_one()
        await self.conn.execute(t.ticket_types.insert(), [
            {"event_id": event_id, "name": tt.name, "price_minor": tt.price.amount,
             "currency": tt.price.currency, "capacity": tt.capacity,
             "per_user_limit": tt.per_user_limit, "position": i}
            for i, tt in enumerate(spec.ticket_types)
        ])
        if spec.group_size > 1:
            await self.conn.execute(t.lottery_groups.insert().values(
                event_id=event_id, group_size=spec.group_size))
        if spec.returns is not None:
            await self.conn.execute(t.return_policies.insert().values(
                event_id=event_id, returns_until=spec.returns.until,
                fee_minor=spec.returns.fee_minor, offer_minutes=spec.returns.offer_minutes))
        event = await self.get(event_id)
        assert event is not None
        return event

    async def get(self, event_id: int) -> Event | None:
        row = (await self.conn.execute(
            select(t.events).where(t.events.c.id == event_id))).first()
        return _event(row) if row else None

    async def created_by(self, event_id: int) -> int | None:
        value = (await self.conn.execute(select(t.events.c.created_by).where(
            t.events.c.id == event_id))).scalar_one_or_none()
        return int(value) if value is not None else None

    async def lock(self, event_id: int, *, shared: bool = False) -> Event | None:
        row = await self.locks.read_locked(select(t.events).where(t.events.c.id == event_id),
                                           locking.event(event_id, shared=shared))
        return _event(row) if row else None

    def _published(self, now: datetime) -> Any:
        return and_(t.events.c.status == EventStatus.PUBLISHED.value,
                    t.events.c.starts_at > now)

    async def list_published(self, *, now: datetime, offset: int, limit: int) -> list[Event]:
        rows = await self.conn.execute(
            select(t.events).where(self._published(now))
            .order_by(t.events.c.starts_at, t.events.c.id).offset(offset).limit(limit))
        return [_event(r) for r in rows]

    async def count_published(self, *, now: datetime) -> int:
        result = await self.conn.execute(
            select(func.count()).select_from(t.events).where(self._published(now)))
        return int(result.scalar_one())

    async def ticket_types(self, event_id: int) -> list[TicketType]:
        rows = await self.conn.execute(
            select(t.ticket_types).where(t.ticket_types.c.event_id == event_id)
            .order_by(t.ticket_types.c.position, t.ticket_types.c.id))
        return [_ticket_type(r) for r in rows]

    async def get_ticket_type(self, ticket_type_id: int, *,
                              lock: bool = False) -> TicketType | None:
        query = select(t.ticket_types).where(t.ticket_types.c.id == ticket_type_id)
        row = (await self.locks.read_locked(query, locking.ticket_type(ticket_type_id))
               if lock else (await self.conn.execute(query)).first())
        return _ticket_type(row) if row else None

    async def managed_by(self, user_id: int, *, all_events: bool = False) -> list[int]:
        query = select(t.events.c.id)
        if not all_events:
            query = query.where(t.events.c.created_by == user_id)
        return list((await self.conn.execute(query.order_by(t.events.c.id))).scalars())

    async def set_status(self, event_id: int, status: EventStatus, *, now: datetime) -> None:
        self.locks.require(locking.event(event_id))
        values: dict[str, Any] = {"status": status.value}
        if status is EventStatus.CANCELLED:
            values["cancelled_at"] = now
        await self.conn.execute(update(t.events).where(t.events.c.id == event_id)
                                .values(**values))

    async def update(self, event_id: int, spec: EventSpec, *, now: datetime) -> None:
        self.locks.require(locking.event(event_id))
        await update_event(self.conn, event_id, spec, now=now)

    async def cancel_everything(self, plan: CancellationPlan, *,
                                now: datetime) -> dict[str, int]:
        p, o, en, tk = t.payments.c, t.orders.c, t.entries.c, t.tickets.c
        event_id = plan.event_id
        self.locks.require(locking.event(event_id))
        ts = literal(now, t.UTCDateTime)
        # The payments of paid orders and paid entries (as the plan names them).
        paid = (
            (t.payments.join(t.orders, o.id == p.order_id),
             and_(o.event_id == event_id, o.status.in_([s.value for s in plan.paid_orders]))),
            (t.payments.join(t.entries, en.id == p.entry_id),
             and_(en.event_id == event_id,
                  en.status.in_([s.value for s in plan.paid_entries]))),
        )
        queued = await _owe_back(self.conn, plan.refund, event_id, paid, now)
        revoked = await self.conn.execute(update(t.tickets).where(
            tk.event_id == event_id, tk.status == TicketStatus.VALID.value)
            .values(status=TicketStatus.REVOKED.value,
                    revoked_reason=RevokeReason.CANCELLED.value))
        await self.conn.execute(update(t.orders).where(
            o.event_id == event_id, o.status == OrderStatus.HELD.value)
            .values(status=OrderStatus.RELEASED.value))
        await self.conn.execute(update(t.entries).where(
            en.event_id == event_id, en.status == EntryStatus.PENDING.value)
            .values(status=EntryStatus.VOID.value))
        # Every payer (buyers, lottery entrants) hears it once, in their chat, and so does
        # whoever holds a ticket they were given (their chat is their user id).
        (orders, orders_paid), (entries, entries_paid) = paid
        payers = union(
            select(p.chat_id.label("chat_id")).select_from(orders).where(orders_paid),
            select(p.chat_id).select_from(entries).where(entries_paid),
            select(tk.owner_user_id).where(tk.event_id == event_id,
                                           tk.revoked_reason == RevokeReason.CANCELLED.value),
        ).subquery()
        oc = t.outbox.c
        key = literal(plan.notice_key.prefix) + cast(payers.c.chat_id, String)
        told = await self.conn.execute(t.outbox.insert().from_select(
            _OUTBOX_COLUMNS,
            select(literal(outbox_codec.MESSAGE), literal(_payload(plan.notice.payload())),
                   key, payers.c.chat_id, literal("pending"), literal(0), ts, ts)
            .where(~select(oc.id).where(oc.dedupe_key == key).exists())))
        return {"refunds_queued": queued, "tickets_revoked": int(revoked.rowcount),
                "holders_told": int(told.rowcount)}

    async def published_starting(self, *, after: datetime, until: datetime) -> list[Event]:
        e = t.events.c
        rows = await self.conn.execute(select(t.events).where(
            e.status == EventStatus.PUBLISHED.value, e.starts_at > after,
            e.starts_at <= until).order_by(e.starts_at, e.id))
        return [_event(r) for r in rows]

    async def queue_reminder(self, plan: ReminderPlan, *, now: datetime) -> int:
        tk, oc = t.tickets.c, t.outbox.c
        ts = literal(now, t.UTCDateTime)
        held = and_(tk.event_id == plan.event_id, tk.status == TicketStatus.VALID.value,
                    tk.issued_at <= plan.issued_by)
        holders = (select(tk.owner_user_id.label("user_id")).distinct()
                   .where(held).subquery())
        key = literal(plan.holder_key.prefix) + cast(holders.c.user_id, String)
        result = await self.conn.execute(t.outbox.insert().from_select(
            _OUTBOX_COLUMNS,
            select(literal(outbox_codec.MESSAGE), literal(_payload(plan.message.payload())),
                   key, holders.c.user_id, literal("pending"), literal(0), ts, ts)
            .where(~select(oc.id).where(oc.dedupe_key == key).exists())))
        ticket_key = literal(plan.ticket_key.prefix) + cast(tk.id, String)
        payload = literal('{"ticket_id": ') + cast(tk.id, String) + literal("}")
        await self.conn.execute(t.outbox.insert().from_select(
            _OUTBOX_COLUMNS,
            select(literal(outbox_codec.TICKET), payload, ticket_key, tk.owner_user_id,
                   literal("pending"), literal(0), ts, ts)
            .where(held, ~select(oc.id).where(oc.dedupe_key == ticket_key).exists())
            .order_by(tk.id)))
        return int(result.rowcount)

    async def stock(self, ticket_type_ids: Sequence[int], *, now: datetime,
                    exclude_user_id: int | None = None) -> dict[int, Stock]:
        if not ticket_type_ids:
            return {}
        o, tt = t.orders.c, t.ticket_types.c
        # A waiting-list offer holds a returned seat, still counted as sold: not the stock's.
        live_hold = and_(o.status == OrderStatus.HELD.value, o.hold_expires_at > now,
                         o.resale_of.is_(None))
        if exclude_user_id is not None:
            live_hold = and_(live_hold, o.user_id != exclude_user_id)
        # One round trip: capacity with sold and live-held seats (a hot path under a crowd).
        counts = (
            select(
                tt.id, tt.capacity,
                func.coalesce(func.sum(case((o.status == OrderStatus.PAID.value,
                                             o.quantity - o.refunded_quantity),
                                            else_=0)), 0).label("sold"),
                func.coalesce(func.sum(case((live_hold, o.quantity), else_=0)), 0)
                .label("held"),
            )
            .select_from(t.ticket_types.outerjoin(t.orders, and_(
                o.ticket_type_id == tt.id,
                o.status.in_([OrderStatus.PAID.value, OrderStatus.HELD.value]))))
            .where(tt.id.in_(ticket_type_ids))
            .group_by(tt.id, tt.capacity)
        )
        return {r.id: Stock(r.capacity, int(r.sold), int(r.held))
                for r in await self.conn.execute(counts)}


class SqlOrderRepository(_Repo):
    """Orders and holds."""

    async def add_hold(self, *, user_id: int, ticket_type: TicketType, quantity: int,
                       now: datetime, expires_at: datetime) -> Order:
        result = await self.conn.execute(t.orders.insert().values(
            user_id=user_id, event_id=ticket_type.event_id, ticket_type_id=ticket_type.id,
            quantity=quantity, unit_price_minor=ticket_type.price.amount,
            currency=ticket_type.price.currency, status=OrderStatus.HELD.value,
            created_at=now, hold_expires_at=expires_at,
        ).returning(t.orders))
        return _order(result.one())

    async def get(self, order_id: int, *, lock: bool = False) -> Order | None:
        query = select(t.orders).where(t.orders.c.id == order_id)
        row = (await self.locks.read_locked(query, locking.order(order_id))
               if lock else (await self.conn.execute(query)).first())
        return _order(row) if row else None

    async def release_live_holds(self, *, user_id: int, event_id: int, now: datetime,
                                 except_order_id: int | None = None) -> int:
        o = t.orders.c
        where = and_(o.user_id == user_id, o.event_id == event_id,
                     o.status == OrderStatus.HELD.value, o.hold_expires_at > now,
                     o.resale_of.is_(None))  # a waiting-list offer is not a cart
        if except_order_id is not None:
            where = and_(where, o.id != except_order_id)
        result = await self.conn.execute(
            update(t.orders).where(where).values(status=OrderStatus.RELEASED.value))
        return int(result.rowcount)

    async def release(self, order_id: int) -> None:
        await self._set_status(order_id, OrderStatus.RELEASED)

    async def seats_owned(self, *, user_id: int, ticket_type_id: int) -> int:
        o = t.orders.c
        result = await self.conn.execute(
            select(func.coalesce(func.sum(o.quantity - o.refunded_quantity), 0))
            .where(o.user_id == user_id, o.ticket_type_id == ticket_type_id,
                   o.status == OrderStatus.PAID.value))
        return int(result.scalar_one())

    async def renew_hold(self, order_id: int, *, expires_at: datetime) -> None:
        await self.conn.execute(update(t.orders).where(t.orders.c.id == order_id).values(
            status=OrderStatus.HELD.value, hold_expires_at=expires_at))

    async def paid_timeline(self, event_id: int) -> list[tuple[datetime, int, int]]:
        o = t.orders.c
        rows = await self.conn.execute(
            select(o.paid_at, o.ticket_type_id, o.quantity).where(
                o.event_id == event_id, o.status == OrderStatus.PAID.value,
                o.paid_at.is_not(None)).order_by(o.paid_at, o.id))
        return [(r.paid_at, r.ticket_type_id, r.quantity) for r in rows]

    async def mark_paid(self, order_id: int, *, now: datetime) -> None:
        await self.conn.execute(update(t.orders).where(t.orders.c.id == order_id).values(
            status=OrderStatus.PAID.value, paid_at=now))

    async def mark_rejected(self, order_id: int) -> None:
        await self._set_status(order_id, OrderStatus.REJECTED)

    async def return_seats(self, order_id: int, count: int) -> None:
        self.locks.require(locking.order(order_id))
        o = t.orders.c
        await self.conn.execute(update(t.orders).where(o.id == order_id).values(
            refunded_quantity=o.refunded_quantity + count))

    async def _set_status(self, order_id: int, status: OrderStatus) -> None:
        await self.conn.execute(update(t.orders).where(t.orders.c.id == order_id)
                                .values(status=status.value))

    async def set_screen(self, order_id: int, *, chat_id: int, message_id: int,
                         now: datetime) -> None:
        s = t.hold_screens.c
        await self.conn.execute(update(t.hold_screens).where(
            s.chat_id == chat_id, s.message_id == message_id, s.order_id != order_id,
            s.state == ScreenState.OPEN.value,
        ).values(state=ScreenState.SUPERSEDED.value, updated_at=now))
        values = {"chat_id": chat_id, "message_id": message_id,
                  "state": ScreenState.OPEN.value, "updated_at": now}
        await self.conn.execute(
            _upsert(self.dialect, t.hold_screens).values(order_id=order_id, **values)
            .on_conflict_do_update(index_elements=["order_id"], set_=values))

    async def screen(self, order_id: int) -> HoldScreen | None:
        row = (await self.conn.execute(
            select(t.hold_screens).where(t.hold_screens.c.order_id == order_id))).first()
        return _screen(row) if row else None

    async def close_screen(self, order_id: int, state: ScreenState, *, now: datetime,
                           from_states: Collection[ScreenState]) -> bool:
        s = t.hold_screens.c
        result = await self.conn.execute(
            update(t.hold_screens)
            .where(s.order_id == order_id, s.state.in_([f.value for f in from_states]))
            .values(state=state.value, updated_at=now))
        return bool(result.rowcount)

    async def screens_to_close(self, *, now: datetime,
                               limit: int) -> list[tuple[Order, HoldScreen]]:
        s, o = t.hold_screens.c, t.orders.c
        stale = and_(s.state == ScreenState.OPEN.value, or_(
            o.status.in_([OrderStatus.RELEASED.value, OrderStatus.REJECTED.value]),
            and_(o.status == OrderStatus.HELD.value, o.hold_expires_at <= now)))
        rows = (await self.conn.execute(
            select(t.orders, s.chat_id, s.message_id, s.state.label("screen_state"))
            .join(t.hold_screens, s.order_id == o.id).where(stale)
            .order_by(o.id).limit(limit))).all()
        return [(_order(row), HoldScreen(row.id, row.chat_id, row.message_id,
                                         ScreenState(row.screen_state))) for row in rows]


class SqlPaymentRepository(_Repo):
    """Payments, unique per Telegram charge id."""

    async def record(self, payment: IncomingPayment, *, order_id: int | None,
                     now: datetime, entry_id: int | None = None) -> tuple[PaymentRecord, bool]:
        stmt = _upsert(self.dialect, t.payments).values(
            telegram_charge_id=payment.telegram_charge_id,
            provider_charge_id=payment.provider_charge_id, order_id=order_id,
            entry_id=entry_id,
            user_id=payment.user_id, chat_id=payment.chat_id,
            amount_minor=payment.amount.amount, currency=payment.amount.currency,
            payload=payment.payload[:128], received_at=now,
        ).on_conflict_do_nothing()  # same Telegram charge, or a Stripe charge already claimed
        inserted = (await self.conn.execute(stmt.returning(t.payments))).first()
        if inserted is not None:  # one round trip in the usual case
            return _payment(inserted), True
        created = False
        p = t.payments.c
        match = p.telegram_charge_id == payment.telegram_charge_id
        if payment.provider_charge_id:
            match = or_(match, p.provider_charge_id == payment.provider_charge_id)
        row = (await self.conn.execute(select(t.payments).where(match)
                                       .order_by(p.id).limit(1))).one()
        return _payment(row), created

    async def for_order(self, order_id: int) -> list[PaymentRecord]:
        rows = await self.conn.execute(select(t.payments).where(
            t.payments.c.order_id == order_id).order_by(t.payments.c.id))
        return [_payment(r) for r in rows]

    async def paying_for_order(self, order_id: int) -> PaymentRecord | None:
        p, r, en = t.payments.c, t.refunds.c, t.entries.c
        whole = select(r.id).where(r.payment_id == p.id, r.ticket_id.is_(None)).exists()
        row = (await self.conn.execute(select(t.payments).where(
            or_(p.order_id == order_id,
                p.entry_id.in_(select(en.id).where(en.order_id == order_id))),
            ~whole).order_by(p.id).limit(1))).first()
        return _payment(row) if row else None


class SqlRefundRepository(_Repo):
    """Refunds owed and their progress."""

    async def request(self, payment: PaymentRecord, *, amount: Money, reason: RefundReason,
                      now: datetime, ticket_id: int | None = None,
                      note: str | None = None) -> Refund:
        event_id = None
        if payment.order_id is not None:
            event_id = (await self.conn.execute(select(t.orders.c.event_id).where(
                t.orders.c.id == payment.order_id))).scalar_one_or_none()
        elif payment.entry_id is not None:
            event_id = (await self.conn.execute(select(t.entries.c.event_id).where(
                t.entries.c.id == payment.entry_id))).scalar_one_or_none()
        await self.conn.execute(_upsert(self.dialect, t.refunds).values(
            payment_id=payment.id, event_id=event_id, user_id=payment.user_id,
            chat_id=payment.chat_id, amount_minor=amount.amount, currency=amount.currency,
            reason=reason.value, status=RefundStatus.PENDING.value,
            provider_charge_id=payment.provider_charge_id, attempts=0,
            created_at=now, updated_at=now, ticket_id=ticket_id, note=note,
        ).on_conflict_do_nothing(
            index_elements=["payment_id"] if ticket_id is None else ["ticket_id"],
            index_where=(t.refunds.c.ticket_id.is_(None) if ticket_id is None
                         else t.refunds.c.ticket_id.is_not(None))))
        r = t.refunds.c
        row = (await self.conn.execute(select(t.refunds).where(
            r.payment_id == payment.id,
            r.ticket_id.is_(None) if ticket_id is None else r.ticket_id == ticket_id))).one()
        return _refund(row)

    async def refunded_minor(self, payment_id: int) -> int:
        r = t.refunds.c
        return int((await self.conn.execute(select(func.coalesce(func.sum(r.amount_minor), 0))
                                            .where(r.payment_id == payment_id))).scalar_one())

    async def get(self, refund_id: int) -> Refund | None:
        row = (await self.conn.execute(select(t.refunds).where(
            t.refunds.c.id == refund_id))).first()
        return _refund(row) if row else None

    async def mark_succeeded(self, refund_id: int, *, provider_refund_id: str,
                             now: datetime) -> None:
        await self.conn.execute(update(t.refunds).where(t.refunds.c.id == refund_id).values(
            status=RefundStatus.SUCCEEDED.value, provider_refund_id=provider_refund_id,
            attempts=t.refunds.c.attempts + 1, last_error=None, updated_at=now))

    async def mark_attempt(self, refund_id: int, *, error: str, final: bool,
                           now: datetime) -> None:
        values: dict[str, Any] = {"attempts": t.refunds.c.attempts + 1,
                                  "last_error": error[:500], "updated_at": now}
        if final:
            values["status"] = RefundStatus.FAILED.value
        await self.conn.execute(
            update(t.refunds).where(t.refunds.c.id == refund_id).values(**values))

    async def counts(self, event_id: int | None = None) -> dict[RefundStatus, tuple[int, int]]:
        r = t.refunds.c
        query = select(r.status, func.count(), func.coalesce(func.sum(r.amount_minor), 0))
        if event_id is not None:
            query = query.where(r.event_id == event_id)
        rows = await self.conn.execute(query.group_by(r.status))
        out = {status: (0, 0) for status in RefundStatus}
        for status, count, amount in rows:
            out[RefundStatus(status)] = (int(count), int(amount))
        return out


class SqlTicketRepository(_Repo):
    """Issued tickets."""

    async def issue(self, order: Order, *, now: datetime) -> list[Ticket]:
        rows = [{
            "order_id": order.id, "event_id": order.event_id,
            "ticket_type_id": order.ticket_type_id, "owner_user_id": order.user_id,
            "token": new_token(), "short_code": code,
            "status": TicketStatus.VALID.value, "issued_at": now,
        } for code in await self._free_short_codes(order.quantity)]
        if not rows:
            return []
        # One multi-row INSERT that returns the rows (ids ascending, as for_order reads them).
        result = await self.conn.execute(t.tickets.insert().values(rows).returning(t.tickets))
        return sorted((_ticket(r) for r in result), key=lambda ticket: ticket.id)

    async def _free_short_codes(self, count: int) -> list[str]:
        # 31^8 codes: a clash is rare, but checking costs one indexed lookup for them all.
        codes: list[str] = []
        while len(codes) < count:
            drawn = [c for c in dict.fromkeys(new_short_code()
                                              for _ in range(count - len(codes)))
                     if c not in codes]
            taken = set((await self.conn.execute(select(t.tickets.c.short_code).where(
                t.tickets.c.short_code.in_(drawn)))).scalars())
            codes.extend(c for c in drawn if c not in taken)
        return codes

    async def for_order(self, order_id: int) -> list[Ticket]:
        rows = await self.conn.execute(select(t.tickets).where(
            t.tickets.c.order_id == order_id).order_by(t.tickets.c.id))
        return [_ticket(r) for r in rows]

    async def for_owner(self, user_id: int, *, upcoming_after: datetime) -> list[Ticket]:
        rows = await self.conn.execute(
            select(t.tickets).join(t.events, t.events.c.id == t.tickets.c.event_id)
            .where(t.tickets.c.owner_user_id == user_id,
                   t.events.c.starts_at > upcoming_after)
            .order_by(t.events.c.starts_at, t.tickets.c.id))
        return [_ticket(r) for r in rows]

    async def get(self, ticket_id: int, *, lock: bool = False) -> Ticket | None:
        query = select(t.tickets).where(t.tickets.c.id == ticket_id)
        row = (await self.locks.read_locked(query, locking.ticket(ticket_id))
               if lock else (await self.conn.execute(query)).first())
        return _ticket(row) if row else None

    async def by_short_code(self, code: str) -> Ticket | None:
        row = (await self.conn.execute(select(t.tickets).where(
            t.tickets.c.short_code == code))).first()
        return _ticket(row) if row else None

    async def export_rows(self, event_id: int) -> list[tuple[object, ...]]:
        tk, tt, o, u, c = (t.tickets.c, t.ticket_types.c, t.orders.c, t.users.c,
                           t.checkins.c)
        # The first admission is the earliest scan time (an offline scan synced late counts
        # from when it was scanned), then the lowest id.
        ranked = (select(c.ticket_id, c.id.label("first_id"),
                         func.row_number().over(partition_by=c.ticket_id,
                                                order_by=(c.scanned_at, c.id)).label("n"))
                  .where(c.verdict == "valid", c.event_id == event_id).subquery())
        first_valid = select(ranked.c.ticket_id, ranked.c.first_id).where(
            ranked.c.n == 1).subquery()
        scan = t.checkins.alias("scan")
        staff = t.users.alias("staff")
        rows = await self.conn.execute(
            select(tk.id, tk.short_code, tt.name, tk.status, tk.owner_user_id, u.first_name,
                   tk.order_id, o.paid_at, o.unit_price_minor, o.currency,
                   scan.c.scanned_at, staff.c.first_name, tk.revoked_reason,
                   tk.transferred_from, tk.transfer_count)
            .select_from(
                t.tickets.join(t.ticket_types, tt.id == tk.ticket_type_id)
                .join(t.orders, o.id == tk.order_id)
                .outerjoin(t.users, u.id == tk.owner_user_id)
                .outerjoin(first_valid, first_valid.c.ticket_id == tk.id)
                .outerjoin(scan, scan.c.id == first_valid.c.first_id)
                .outerjoin(staff, staff.c.id == scan.c.staff_user_id))
            .where(tk.event_id == event_id).order_by(tk.id))
        return [tuple(r) for r in rows]

    async def by_token(self, token: str) -> Ticket | None:
        # The unique index finds the row; the token itself is the secret, so an indexed
        # equality lookup leaks nothing a constant-time compare would protect.
        row = (await self.conn.execute(select(t.tickets).where(
            t.tickets.c.token == token))).first()
        return _ticket(row) if row else None

    async def revoke(self, ticket_id: int, *, reason: RevokeReason) -> None:
        self.locks.require(locking.ticket(ticket_id))
        await self.conn.execute(update(t.tickets).where(t.tickets.c.id == ticket_id).values(
            status=TicketStatus.REVOKED.value, revoked_reason=reason.value))

    async def reissue(self, ticket: Ticket, *, owner_user_id: int, now: datetime) -> Ticket:
        self.locks.require(locking.ticket(ticket.id))
        code = (await self._free_short_codes(1))[0]
        result = await self.conn.execute(t.tickets.insert().values(
            order_id=ticket.order_id, event_id=ticket.event_id,
            ticket_type_id=ticket.ticket_type_id, owner_user_id=owner_user_id,
            token=new_token(), short_code=code, status=TicketStatus.VALID.value,
            issued_at=now, transfer_count=ticket.transfer_count + 1,
            transferred_from=ticket.id).returning(t.tickets))
        return _ticket(result.one())


def _transfer(row: Row[Any]) -> Transfer:
    return Transfer(
        id=row.id, ticket_id=row.ticket_id, event_id=row.event_id,
        from_user_id=row.from_user_id, token=row.token, confirm_code=row.confirm_code,
        status=TransferStatus(row.status), created_at=row.created_at,
        expires_at=row.expires_at, claimed_by=row.claimed_by, claimed_at=row.claimed_at,
        new_ticket_id=row.new_ticket_id, cancelled_at=row.cancelled_at)


class SqlTransferRepository(_Repo):
    """Claim links of ticket transfers (written under their ticket's lock)."""

    async def add(self, *, ticket_id: int, event_id: int, from_user_id: int, token: str,
                  confirm_code: int, now: datetime, expires_at: datetime) -> Transfer:
        self.locks.require(locking.ticket(ticket_id))
        result = await self.conn.execute(t.transfers.insert().values(
            token=token, confirm_code=confirm_code, ticket_id=ticket_id, event_id=event_id,
            from_user_id=from_user_id, status=TransferStatus.PENDING.value, created_at=now,
            expires_at=expires_at).returning(t.transfers))
        return _transfer(result.one())

    async def get(self, transfer_id: int) -> Transfer | None:
        row = (await self.conn.execute(select(t.transfers).where(
            t.transfers.c.id == transfer_id))).first()
        return _transfer(row) if row else None

    async def by_token(self, token: str) -> Transfer | None:
        row = (await self.conn.execute(select(t.transfers).where(
            t.transfers.c.token == token))).first()
        return _transfer(row) if row else None

    async def pending_for_ticket(self, ticket_id: int, *, now: datetime) -> Transfer | None:
        x = t.transfers.c
        row = (await self.conn.execute(select(t.transfers).where(
            x.ticket_id == ticket_id, x.status == TransferStatus.PENDING.value,
            x.expires_at > now).order_by(x.id.desc()).limit(1))).first()
        return _transfer(row) if row else None

    async def _set(self, transfer_id: int, **values: Any) -> None:
        ticket_id = (await self.conn.execute(select(t.transfers.c.ticket_id).where(
            t.transfers.c.id == transfer_id))).scalar_one()
        self.locks.require(locking.ticket(ticket_id))
        await self.conn.execute(update(t.transfers).where(t.transfers.c.id == transfer_id)
                                .values(**values))

    async def mark_claimed(self, transfer_id: int, *, claimed_by: int, new_ticket_id: int,
                           now: datetime) -> None:
        await self._set(transfer_id, status=TransferStatus.CLAIMED.value,
                        claimed_by=claimed_by, claimed_at=now, new_ticket_id=new_ticket_id)

    async def mark_cancelled(self, transfer_id: int, *, now: datetime) -> None:
        await self._set(transfer_id, status=TransferStatus.CANCELLED.value, cancelled_at=now)

    async def claimed_count(self, event_id: int) -> int:
        x = t.transfers.c
        return int((await self.conn.execute(select(func.count()).select_from(t.transfers)
                                            .where(x.event_id == event_id,
                                                   x.status == TransferStatus.CLAIMED.value))
                    ).scalar_one())


class SqlUserRepository(_Repo):
    """People who talked to the bot."""

    async def seen(self, *, user_id: int, first_name: str, language_code: str | None,
                   now: datetime) -> None:
        stmt = _upsert(self.dialect, t.users).values(
            id=user_id, first_name=first_name[:128], language_code=language_code,
            created_at=now, seen_at=now)
        stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={
            "first_name": stmt.excluded.first_name,
            "language_code": stmt.excluded.language_code, "seen_at": stmt.excluded.seen_at})
        await self.conn.execute(stmt)

    async def first_name(self, user_id: int) -> str | None:
        result = await self.conn.execute(select(t.users.c.first_name).where(
            t.users.c.id == user_id))
        return result.scalar_one_or_none()

    async def language(self, user_id: int) -> str | None:
        result = await self.conn.execute(select(t.users.c.language).where(
            t.users.c.id == user_id))
        return result.scalar_one_or_none()

    async def remember_language(self, *, user_id: int, first_name: str, language: str,
                                language_code: str | None, now: datetime) -> str:
        u = t.users.c
        stmt = _upsert(self.dialect, t.users).values(
            id=user_id, first_name=first_name[:128], language_code=language_code,
            language=language, created_at=now, seen_at=now)
        stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={
            "language": func.coalesce(u.language, stmt.excluded.language)})
        result = await self.conn.execute(stmt.returning(u.language))
        return str(result.scalar_one())

    async def choose_language(self, *, user_id: int, first_name: str, language: str,
                              now: datetime) -> None:
        stmt = _upsert(self.dialect, t.users).values(
            id=user_id, first_name=first_name[:128], language=language, created_at=now,
            seen_at=now)
        stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={
            "language": stmt.excluded.language})
        await self.conn.execute(stmt)


class SqlOutbox(_Repo):
    """Outbox writes, inside the caller's transaction."""

    async def put(self, kind: str, payload: dict[str, Any], *, dedupe_key: str,
                  now: datetime, chat_id: int | None = None) -> None:
        await self.conn.execute(_upsert(self.dialect, t.outbox).values(
            kind=kind, payload=json.dumps(outbox_codec.encode(payload)),
            dedupe_key=dedupe_key, chat_id=chat_id, status="pending", attempts=0,
            due_at=now, created_at=now,
        ).on_conflict_do_nothing(index_elements=["dedupe_key"]))


def outbox_item(row: Row[Any]) -> OutboxItem:
    """Decode an outbox row for the worker."""
    return OutboxItem(id=row.id, kind=row.kind,
                      payload=outbox_codec.decode(json.loads(row.payload)),
                      attempts=row.attempts, chat_id=row.chat_id)


class SqlUnitOfWork:
    """Repositories sharing one connection and transaction."""

    def __init__(self, conn: AsyncConnection, dialect: str) -> None:
        self.conn = conn
        self.locks = locks = SqlLocks(conn, dialect)
        self.events = SqlEventRepository(conn, dialect, locks)
        self.orders = SqlOrderRepository(conn, dialect, locks)
        self.payments = SqlPaymentRepository(conn, dialect, locks)
        self.refunds = SqlRefundRepository(conn, dialect, locks)
        self.tickets = SqlTicketRepository(conn, dialect, locks)
        self.transfers = SqlTransferRepository(conn, dialect, locks)
        self.users = SqlUserRepository(conn, dialect, locks)
        self.outbox = SqlOutbox(conn, dialect, locks)
        self.lottery = SqlLotteryRepository(conn, dialect, locks)
        self.checkins = SqlCheckinRepository(conn, dialect, locks)
        self.roles = SqlRoleRepository(conn, dialect, locks)
        self.drafts = SqlDraftRepository(conn, dialect, locks)
        self.returns = SqlReturnsRepository(conn, dialect, locks)
        self.groups = SqlGroupRepository(conn, dialect, locks)


_PAID = (EntryStatus.ENTERED.value, EntryStatus.WON.value, EntryStatus.LOST.value)


def _entry(row: Row[Any], position: int | None = None, won: bool | None = None) -> Entry:
    status = EntryStatus(row.status)
    if status is EntryStatus.ENTERED and won is False:
        status = EntryStatus.LOST  # drawn, not a winner, its refund batch still to come
    return Entry(
        id=row.id, event_id=row.event_id, ticket_type_id=row.ticket_type_id,
        user_id=row.user_id, chat_id=row.chat_id, quantity=row.quantity,
        unit_price=Money(row.unit_price_minor, row.currency), status=status,
        created_at=row.created_at, paid_at=row.paid_at, draw_position=position,
        order_id=row.order_id, ref=row.public_ref,
    )


class SqlLotteryRepository(_Repo):
    """Lottery state, entries and the draw's set-based bookkeeping."""

    async def due(self, *, now: datetime) -> list[Event]:
        e = t.events.c
        rows = await self.conn.execute(select(t.events).where(
            e.sale_mode == SaleMode.LOTTERY.value, e.status == EventStatus.PUBLISHED.value,
            e.lottery_state.in_([LotteryState.OPEN.value, LotteryState.CLOSED.value]),
            e.entries_close_at <= now).order_by(e.draw_at, e.id))
        return [_event(r) for r in rows]

    async def set_state(self, event_id: int, state: LotteryState, *, now: datetime) -> None:
        self.locks.require(locking.event(event_id))
        values: dict[str, Any] = {"lottery_state": state.value}
        if state is LotteryState.CLOSED:
            values["closed_at"] = now
        elif state is LotteryState.DRAWN:
            values["drawn_at"] = now
        await self.conn.execute(update(t.events).where(t.events.c.id == event_id)
                                .values(**values))

    async def seed(self, event_id: int) -> bytes:
        value = (await self.conn.execute(select(t.events.c.lottery_seed).where(
            t.events.c.id == event_id))).scalar_one()
        return bytes.fromhex(value)

    async def add_pending(self, *, user_id: int, chat_id: int, ticket_type: TicketType,
                          quantity: int, now: datetime) -> Entry:
        en = t.entries.c
        await self.conn.execute(update(t.entries).where(
            en.event_id == ticket_type.event_id, en.user_id == user_id,
            en.status == EntryStatus.PENDING.value).values(status=EntryStatus.VOID.value))
        result = await self.conn.execute(t.entries.insert().values(
            event_id=ticket_type.event_id, ticket_type_id=ticket_type.id, user_id=user_id,
            chat_id=chat_id, quantity=quantity, unit_price_minor=ticket_type.price.amount,
            currency=ticket_type.price.currency, status=EntryStatus.PENDING.value,
            created_at=now).returning(t.entries))
        return _entry(result.one())

    async def get(self, entry_id: int, *, lock: bool = False) -> Entry | None:
        query = select(t.entries).where(t.entries.c.id == entry_id)
        row = (await self.locks.read_locked(query, locking.entry(entry_id))
               if lock else (await self.conn.execute(query)).first())
        return _entry(row) if row else None

    async def active_for_user(self, *, event_id: int, user_id: int) -> Entry | None:
        en = t.entries.c
        row = (await self.conn.execute(select(t.entries).where(
            en.event_id == event_id, en.user_id == user_id, en.status.in_(_PAID)))).first()
        return _entry(row) if row else None

    async def verified_phone(self, user_id: int) -> str | None:
        result = await self.conn.execute(select(t.verified_phones.c.phone_hash).where(
            t.verified_phones.c.user_id == user_id))
        return result.scalar_one_or_none()

    async def set_verified_phone(self, user_id: int, phone_hash: str, *,
                                 now: datetime) -> None:
        stmt = _upsert(self.dialect, t.verified_phones).values(
            user_id=user_id, phone_hash=phone_hash, verified_at=now)
        await self.conn.execute(stmt.on_conflict_do_update(
            index_elements=["user_id"], set_={"phone_hash": stmt.excluded.phone_hash,
                                              "verified_at": stmt.excluded.verified_at}))

    async def phone_entered(self, event_id: int, phone_hash: str) -> bool:
        en = t.entries.c
        row = (await self.conn.execute(select(en.id).where(
            en.event_id == event_id, en.phone_hash == phone_hash, en.status.in_(_PAID))
            .limit(1))).first()
        return row is not None

    async def mark_entered(self, entry_id: int, *, now: datetime,
                           phone_hash: str | None = None) -> None:
        en = t.entries.c
        event_id = (await self.conn.execute(select(en.event_id).where(en.id == entry_id))
                    ).scalar_one()
        while True:  # a public reference unique within the lottery
            ref = new_reference()
            taken = (await self.conn.execute(select(en.id).where(
                en.event_id == event_id, en.public_ref == ref))).first()
            if taken is None:
                break
        await self.conn.execute(update(t.entries).where(en.id == entry_id).values(
            status=EntryStatus.ENTERED.value, paid_at=now, public_ref=ref,
            phone_hash=phone_hash))

    async def fairness(self, event_id: int) -> Fairness:
        e = t.events.c
        row = (await self.conn.execute(select(
            e.lottery_commitment, e.lottery_list_hash, e.uses_beacon, e.beacon_round,
            e.beacon_value).where(e.id == event_id))).one()
        return Fairness(commitment=row.lottery_commitment, list_hash=row.lottery_list_hash,
                        uses_beacon=bool(row.uses_beacon), beacon_round=row.beacon_round,
                        beacon_value=row.beacon_value)

    async def record_list_hash(self, event_id: int, list_hash: str) -> None:
        await self._set_event(event_id, lottery_list_hash=list_hash)

    async def fix_beacon_round(self, event_id: int, round_number: int) -> None:
        await self._set_event(event_id, beacon_round=round_number)

    async def record_beacon_value(self, event_id: int, value_hex: str) -> None:
        await self._set_event(event_id, beacon_value=value_hex)

    async def _set_event(self, event_id: int, **columns: object) -> None:
        self.locks.require(locking.event(event_id))
        await self.conn.execute(update(t.events).where(t.events.c.id == event_id)
                                .values(**columns))

    async def needing_beacon_round(self) -> list[int]:
        """Open lotteries that mix in a beacon whose round is not fixed yet."""
        e = t.events.c
        rows = await self.conn.execute(select(e.id).where(
            e.uses_beacon.is_(True), e.beacon_round.is_(None),
            e.lottery_state == LotteryState.OPEN.value))
        return list(rows.scalars())

    async def public_entries(self, event_id: int) -> list[tuple[int, PublicEntry]]:
        return [(i, PublicEntry(ref, quantity, name))
                for i, ref, quantity, name in await self.public_entry_rows(event_id)]

    async def public_entry_rows(self, event_id: int) -> list[EntryRow]:
        # Straight from the driver: a million SQLAlchemy Row objects cost seconds.
        statuses = ", ".join(f"'{status}'" for status in _PAID)
        sql = ("SELECT e.id, e.public_ref, e.quantity, tt.name FROM entries e "
               "JOIN ticket_types tt ON tt.id = e.ticket_type_id "
               f"WHERE e.event_id = {{}} AND e.status IN ({statuses}) ORDER BY e.public_ref")
        if self.dialect == "postgresql":
            driver = await _driver(self.conn)
            return [tuple(r) for r in await driver.fetch(sql.format("$1"), event_id)]
        return await self.conn.run_sync(_fetch_plain, sql.format("?"), (event_id,))

    async def void_pending(self, event_id: int) -> int:
        en = t.entries.c
        result = await self.conn.execute(update(t.entries).where(
            en.event_id == event_id, en.status == EntryStatus.PENDING.value)
            .values(status=EntryStatus.VOID.value))
        return int(result.rowcount)

    async def candidates(self, event_id: int) -> list[Candidate]:
        en = t.entries.c
        rows = await self.conn.execute(select(en.id, en.ticket_type_id, en.quantity).where(
            en.event_id == event_id, en.status == EntryStatus.ENTERED.value).order_by(en.id))
        return [Candidate(r.id, r.ticket_type_id, r.quantity) for r in rows]

    async def for_user(self, user_id: int) -> list[Entry]:
        en, d = t.entries.c, t.draw_order.c
        rows = await self.conn.execute(
            select(t.entries, d.position, d.won).select_from(
                t.entries.outerjoin(t.draw_order, d.entry_id == en.id))
            .where(en.user_id == user_id, en.status.in_(_PAID)).order_by(en.id.desc()))
        return [_entry(r, r.position, r.won) for r in rows]

    async def tally(self, event_id: int) -> EntryTally:
        en, p = t.entries.c, t.payments.c
        won = en.status == EntryStatus.WON.value
        row = (await self.conn.execute(select(
            func.count().label("entries"),
            func.coalesce(func.sum(en.quantity), 0).label("tickets_asked"),
            func.coalesce(func.sum(case((won, 1), else_=0)), 0).label("winners"),
            func.coalesce(func.sum(case((won, en.quantity), else_=0)), 0).label("tickets_won"),
        ).where(en.event_id == event_id, en.status.in_(_PAID)))).one()
        paid = (await self.conn.execute(
            select(func.coalesce(func.sum(p.amount_minor), 0))
            .select_from(t.payments.join(t.entries, en.id == p.entry_id))
            .where(en.event_id == event_id))).scalar_one()
        return EntryTally(entries=int(row.entries), tickets_asked=int(row.tickets_asked),
                          winners=int(row.winners), tickets_won=int(row.tickets_won),
                          paid_minor=int(paid))

    async def record_draw(self, plan: DrawSettlement, result: DrawResult, *,
                          now: datetime) -> dict[str, int]:
        event = plan.event
        # 1. The complete order, for audits, returns and a waiting list: plain tuples straight
        #    to the driver (COPY on PostgreSQL), no per-row bind processing.
        won = result.winners
        order_rows = [(event.id, i, entry_id, entry_id in won)
                      for i, entry_id in enumerate(result.order, start=1)]
        columns = ("event_id", "position", "entry_id", "won")
        if self.dialect == "postgresql":
            driver = await _driver(self.conn)
            await driver.copy_records_to_table("draw_order", records=order_rows,
                                               columns=columns)
        else:
            for chunk in _chunks(order_rows, 250_000):
                await self.conn.exec_driver_sql(
                    f"INSERT INTO draw_order ({', '.join(columns)}) VALUES (?, ?, ?, ?)",
                    chunk)
        # 2. The winners: marked won, with their orders, tickets and messages. The losers
        #    stay entered (read as lost through the stored order) until settle_losers.
        winners = sorted(won)
        tickets = await self._ticket_winners(plan, winners, now)
        return {"entries": len(result.order), "winners": len(winners), "tickets": tickets,
                "losers": len(result.order) - len(winners)}

    async def settle_losers(self, plan: DrawSettlement, *, limit: int,
                            now: datetime) -> tuple[int, int | None]:
        event_id = plan.event.id
        self.locks.require(locking.event(event_id))
        en, p, r, oc = t.entries.c, t.payments.c, t.refunds.c, t.outbox.c
        # Every paid entry of a drawn lottery is in the order; the winners are marked won in
        # the draw's transaction, so the entered ones left are losers not settled yet.
        ids = list((await self.conn.execute(
            select(en.id).where(en.event_id == event_id,
                                en.status == EntryStatus.ENTERED.value).limit(limit)
        )).scalars())
        if not ids:
            return 0, None
        refund = plan.loser_refund
        if refund.tell_payer:
            raise ValueError(f"{refund.reason}: losers are told by the draw's result")
        ts = literal(now, t.UTCDateTime)
        await self.conn.execute(t.refunds.insert().from_select(
            _REFUND_COLUMNS,
            select(p.id, literal(event_id), p.user_id, p.chat_id, p.amount_minor, p.currency,
                   literal(refund.reason.value), literal(RefundStatus.PENDING.value),
                   p.provider_charge_id, literal(0), ts, ts)
            .where(p.entry_id.in_(ids), ~select(r.id).where(r.payment_id == p.id).exists())
            .order_by(p.id)))
        key = literal(refund.item_key.prefix) + cast(r.id, String)
        payload = literal('{"refund_id": ') + cast(r.id, String) + literal("}")
        await self.conn.execute(t.outbox.insert().from_select(
            _OUTBOX_COLUMNS,
            select(literal(outbox_codec.REFUND), payload, key, null(), literal("pending"),
                   literal(0), ts, ts)
            .select_from(t.refunds.join(t.payments, p.id == r.payment_id))
            .where(p.entry_id.in_(ids), r.reason == refund.reason.value,
                   r.status == RefundStatus.PENDING.value,
                   ~select(oc.id).where(oc.dedupe_key == key).exists())
            .order_by(r.id)))
        await self.conn.execute(update(t.entries).where(en.id.in_(ids))
                                .values(status=EntryStatus.LOST.value))
        return len(ids), min(ids)

    async def _ticket_winners(self, plan: DrawSettlement, winners: list[int],
                              now: datetime) -> int:
        """A paid order and tickets per winning entry, and their outbox messages."""
        en, tt = t.entries.c, t.ticket_types.c
        issued = 0
        for chunk in _chunks(winners, 2_000):
            rows = (await self.conn.execute(
                select(t.entries, tt.name.label("type_name"))
                .join(t.ticket_types, tt.id == en.ticket_type_id)
                .where(en.id.in_(chunk)).order_by(en.id))).all()
            order_ids = await self._insert_orders(
                [{"user_id": r.user_id, "event_id": r.event_id,
                  "ticket_type_id": r.ticket_type_id, "quantity": r.quantity,
                  "unit_price_minor": r.unit_price_minor, "currency": r.currency,
                  "status": OrderStatus.PAID.value, "created_at": now,
                  "hold_expires_at": now, "paid_at": now} for r in rows])
            await self.conn.execute(
                update(t.entries).where(en.id == bindparam("b_entry"))
                .values(order_id=bindparam("b_order"), status=EntryStatus.WON.value),
                [{"b_entry": r.id, "b_order": o} for r, o in zip(rows, order_ids, strict=True)])
            ticket_rows = []
            codes = await self._free_codes(sum(r.quantity for r in rows))
            for r, order_id in zip(rows, order_ids, strict=True):
                for _ in range(r.quantity):
                    ticket_rows.append({
                        "order_id": order_id, "event_id": r.event_id,
                        "ticket_type_id": r.ticket_type_id, "owner_user_id": r.user_id,
                        "token": new_token(), "short_code": codes.pop(),
                        "status": TicketStatus.VALID.value, "issued_at": now})
            # Each returned row names its order, so the rows' order does not matter and
            # SQLite can batch the inserts (sort_by_parameter_order would run one per row).
            ticket_ids = sorted((int(ticket_id), int(order_id)) for ticket_id, order_id in
                                (await self.conn.execute(
                                    t.tickets.insert().returning(t.tickets.c.id,
                                                                 t.tickets.c.order_id),
                                    ticket_rows)))
            issued += len(ticket_ids)
            by_order: dict[int, list[int]] = {}
            for ticket_id, order_id in ticket_ids:
                by_order.setdefault(order_id, []).append(ticket_id)
            outbox_rows = []
            for r, order_id in zip(rows, order_ids, strict=True):
                total = Money(r.unit_price_minor * r.quantity, r.currency)
                message = plan.winner_message(ticket_type=r.type_name, quantity=r.quantity,
                                              total=total)
                outbox_rows.append(_outbox_row(outbox_codec.MESSAGE, message.payload(),
                                               plan.winner_key.of(r.id), r.chat_id, now))
                for ticket_id in by_order[order_id]:
                    outbox_rows.append(_outbox_row(outbox_codec.TICKET, {"ticket_id": ticket_id},
                                                   plan.ticket_key.of(ticket_id), r.chat_id,
                                                   now))
            await self.conn.execute(t.outbox.insert(), outbox_rows)
        return issued

    async def _insert_orders(self, rows: list[dict[str, Any]]) -> list[int]:
        """Insert orders; their ids in the order of ``rows``."""
        if self.dialect != "sqlite":
            return list((await self.conn.execute(
                t.orders.insert().returning(t.orders.c.id, sort_by_parameter_order=True),
                rows)).scalars())
        # On SQLite an ordered RETURNING runs one statement per row. This transaction holds
        # the database's write lock and a new rowid is one more than the largest, so the
        # rows inserted now are exactly those above the largest id before, in insert order.
        o = t.orders.c
        before = (await self.conn.execute(select(func.coalesce(func.max(o.id), 0)))).scalar_one()
        await self.conn.execute(t.orders.insert(), rows)
        ids = list((await self.conn.execute(
            select(o.id).where(o.id > before).order_by(o.id))).scalars())
        if len(ids) != len(rows):
            raise RuntimeError(f"expected {len(rows)} new orders, found {len(ids)}")
        return ids

    async def _free_codes(self, count: int) -> list[str]:
        codes: set[str] = set()
        while len(codes) < count:
            fresh = {new_short_code() for _ in range(count - len(codes))} - codes
            taken = set((await self.conn.execute(select(t.tickets.c.short_code).where(
                t.tickets.c.short_code.in_(list(fresh))))).scalars())
            codes |= fresh - taken
        return list(codes)


def _payload(payload: dict[str, Any]) -> str:
    return json.dumps(outbox_codec.encode(payload))


def _outbox_row(kind: str, payload: dict[str, Any], key: str, chat_id: int | None,
                now: datetime) -> dict[str, Any]:
    return {"kind": kind, "payload": _payload(payload),
            "dedupe_key": key, "chat_id": chat_id, "status": "pending", "attempts": 0,
            "due_at": now, "created_at": now}


_OUTBOX_COLUMNS = ["kind", "payload", "dedupe_key", "chat_id", "status", "attempts", "due_at",
                   "created_at"]
_REFUND_COLUMNS = ["payment_id", "event_id", "user_id", "chat_id", "amount_minor", "currency",
                   "reason", "status", "provider_charge_id", "attempts", "created_at",
                   "updated_at"]


async def _owe_back(conn: AsyncConnection, plan: RefundPlan, event_id: int,
                    paid: Sequence[tuple[Any, Any]], now: datetime) -> int:
    """Carry out ``plan`` set-based for the payments of one event that ``paid`` selects (each
    a FROM clause over payments and a WHERE): a refund row per payment not refunded yet, then
    the plan's refund item for each of the event's pending refunds of that reason without
    one. Returns how many refunds were added.

    Refunds owed in bulk are told to their payers by the plan's caller (a cancellation's
    notice, a draw's result), so a plan that tells each payer itself is refused here.
    """
    if plan.tell_payer:
        raise ValueError(f"{plan.reason}: payers of set-based refunds are told by the caller")
    p, r, oc = t.payments.c, t.refunds.c, t.outbox.c
    ts = literal(now, t.UTCDateTime)
    # Not refunded as a whole yet; what is owed is what its tickets' own refunds left.
    not_refunded = ~select(r.id).where(r.payment_id == p.id, r.ticket_id.is_(None)).exists()
    left = p.amount_minor - (select(func.coalesce(func.sum(r.amount_minor), 0))
                             .where(r.payment_id == p.id).scalar_subquery())
    added = 0
    for source, where in paid:
        result = await conn.execute(t.refunds.insert().from_select(
            _REFUND_COLUMNS,
            select(p.id, literal(event_id), p.user_id, p.chat_id, left, p.currency,
                   literal(plan.reason.value), literal(RefundStatus.PENDING.value),
                   p.provider_charge_id, literal(0), ts, ts)
            .select_from(source).where(where, not_refunded, left > 0).order_by(p.id)))
        added += int(result.rowcount)
    key = literal(plan.item_key.prefix) + cast(r.id, String)
    payload = literal('{"refund_id": ') + cast(r.id, String) + literal("}")
    await conn.execute(t.outbox.insert().from_select(
        _OUTBOX_COLUMNS,
        select(literal(outbox_codec.REFUND), payload, key, null(), literal("pending"),
               literal(0), ts, ts)
        .where(r.event_id == event_id, r.reason == plan.reason.value,
               r.status == RefundStatus.PENDING.value,
               ~select(oc.id).where(oc.dedupe_key == key).exists())
        .order_by(r.id)))
    return added


async def _driver(conn: AsyncConnection) -> Any:
    """The driver's own connection (aiosqlite or asyncpg) under ``conn``, in its transaction."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection


def _fetch_plain(conn: Any, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """Plain driver tuples of ``sql`` (a sync connection: run through ``run_sync``)."""
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _checkin(row: Row[Any]) -> CheckinRecord:
    return CheckinRecord(id=row.id, ticket_id=row.ticket_id, event_id=row.event_id,
                         staff_user_id=row.staff_user_id, verdict=Verdict(row.verdict),
                         scanned_at=row.scanned_at, nonce=row.nonce, synced_at=row.synced_at)


class SqlCheckinRepository(_Repo):
    """The append-only check-in log."""

    async def append(self, *, ticket_id: int, event_id: int, staff_user_id: int,
                     verdict: Verdict, nonce: str, now: datetime,
                     synced_at: datetime | None = None) -> CheckinRecord:
        result = await self.conn.execute(t.checkins.insert().values(
            ticket_id=ticket_id, event_id=event_id, staff_user_id=staff_user_id,
            verdict=verdict.value, nonce=nonce[:64], scanned_at=now, synced_at=synced_at)
            .returning(t.checkins))
        return _checkin(result.one())

    async def by_nonce(self, nonce: str) -> CheckinRecord | None:
        row = (await self.conn.execute(select(t.checkins).where(
            t.checkins.c.nonce == nonce[:64]))).first()
        return _checkin(row) if row else None

    async def first_admission(self, ticket_id: int) -> CheckinRecord | None:
        admissions = await self.admissions(ticket_id)
        return admissions[0] if admissions else None

    async def admissions(self, ticket_id: int) -> list[CheckinRecord]:
        c = t.checkins.c
        rows = await self.conn.execute(select(t.checkins).where(
            c.ticket_id == ticket_id, c.verdict == Verdict.VALID.value)
            .order_by(c.scanned_at, c.id))
        return [_checkin(row) for row in rows]

    async def counts(self, event_id: int) -> tuple[int, int]:
        c, tk = t.checkins.c, t.tickets.c
        checked = (await self.conn.execute(select(func.count(func.distinct(c.ticket_id)))
                   .where(c.event_id == event_id, c.verdict == Verdict.VALID.value))
                   ).scalar_one()
        sold = (await self.conn.execute(select(func.count()).select_from(t.tickets).where(
            tk.event_id == event_id, tk.status == TicketStatus.VALID.value))).scalar_one()
        return int(checked), int(sold)

    def _first_admissions(self, event_ids: Collection[int]) -> Any:
        """Per admitted ticket: its earliest VALID scan (time, staff), as a subquery."""
        c = t.checkins.c
        ranked = (select(c.ticket_id, c.scanned_at, c.staff_user_id,
                         func.row_number().over(partition_by=c.ticket_id,
                                                order_by=(c.scanned_at, c.id)).label("n"))
                  .where(c.event_id.in_(list(event_ids)), c.verdict == Verdict.VALID.value)
                  .subquery())
        return select(ranked.c.ticket_id, ranked.c.scanned_at, ranked.c.staff_user_id) \
            .where(ranked.c.n == 1).subquery()

    async def pack_tickets(self, event_ids: Collection[int]) -> list[PackTicket]:
        if not event_ids:
            return []
        tk, tt, ev, u = t.tickets.c, t.ticket_types.c, t.events.c, t.users.c
        first = self._first_admissions(event_ids)
        rows = await self.conn.execute(
            select(tk.id, tk.event_id, tk.token, tk.status, tt.name, ev.status.label("event"),
                   first.c.scanned_at, u.first_name)
            .select_from(t.tickets.join(t.ticket_types, tt.id == tk.ticket_type_id)
                         .join(t.events, ev.id == tk.event_id)
                         .outerjoin(first, first.c.ticket_id == tk.id)
                         .outerjoin(t.users, u.id == first.c.staff_user_id))
            .where(tk.event_id.in_(list(event_ids))).order_by(tk.id))
        return [PackTicket(ticket_id=r.id, event_id=r.event_id, token=r.token,
                           ticket_type=r.name, revoked=r.status == TicketStatus.REVOKED.value,
                           cancelled=r.event == EventStatus.CANCELLED.value,
                           admitted_at=_aware(r.scanned_at), admitted_by=r.first_name)
                for r in rows]

    async def admission_times(self, event_id: int) -> list[datetime]:
        first = self._first_admissions([event_id])
        rows = await self.conn.execute(select(first.c.scanned_at)
                                       .order_by(first.c.scanned_at))
        return [at for at in (_aware(r) for r in rows.scalars()) if at is not None]

    async def duplicates(self, event_id: int) -> list[CheckinRecord]:
        c = t.checkins.c
        twice = (select(c.ticket_id).where(c.event_id == event_id,
                                           c.verdict == Verdict.VALID.value)
                 .group_by(c.ticket_id).having(func.count() > 1))
        rows = await self.conn.execute(select(t.checkins).where(
            c.ticket_id.in_(twice), c.verdict == Verdict.VALID.value)
            .order_by(c.ticket_id, c.scanned_at, c.id))
        return [_checkin(row) for row in rows]


def _aware(value: Any) -> datetime | None:
    """A datetime read from a subquery column (SQLite hands back text there)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _invite(row: Row[Any]) -> Invite:
    return Invite(id=row.id, token=row.token, role=Role(row.role), event_id=row.event_id,
                  created_by=row.created_by, created_at=row.created_at,
                  expires_at=row.expires_at, used_by=row.used_by, used_at=row.used_at,
                  revoked_at=row.revoked_at)


class SqlRoleRepository(_Repo):
    """Roles and invites."""

    def _active(self, user_id: int, role: Role, event_id: int | None) -> Any:
        ro = t.roles.c
        where = and_(ro.user_id == user_id, ro.role == role.value, ro.revoked_at.is_(None))
        return and_(where, ro.event_id.is_(None) if event_id is None
                    else ro.event_id == event_id)

    async def has(self, user_id: int, role: Role, event_id: int | None) -> bool:
        row = (await self.conn.execute(select(t.roles.c.id).where(
            self._active(user_id, role, event_id)).limit(1))).first()
        return row is not None

    async def staff_events(self, user_id: int) -> list[int]:
        ro = t.roles.c
        rows = await self.conn.execute(select(ro.event_id).where(
            ro.user_id == user_id, ro.role == Role.STAFF.value, ro.revoked_at.is_(None)))
        return [r for r in rows.scalars() if r is not None]

    async def add_invite(self, *, role: Role, event_id: int | None, created_by: int,
                         now: datetime, expires_at: datetime) -> Invite:
        result = await self.conn.execute(t.invites.insert().values(
            token=new_invite_token(), role=role.value, event_id=event_id,
            created_by=created_by, created_at=now, expires_at=expires_at)
            .returning(t.invites))
        return _invite(result.one())

    async def invite_by_token(self, token: str, *, lock: bool = False) -> Invite | None:
        query = select(t.invites).where(t.invites.c.token == token)
        row = (await self.conn.execute(query)).first()
        if row is not None and lock:
            row = await self.locks.read_locked(
                select(t.invites).where(t.invites.c.id == row.id), locking.invite(row.id))
        return _invite(row) if row else None

    async def invite(self, invite_id: int) -> Invite | None:
        row = (await self.conn.execute(select(t.invites).where(
            t.invites.c.id == invite_id))).first()
        return _invite(row) if row else None

    async def use_invite(self, invite_id: int, *, user_id: int, now: datetime) -> None:
        await self.conn.execute(update(t.invites).where(t.invites.c.id == invite_id)
                                .values(used_by=user_id, used_at=now))

    async def revoke_invite(self, invite_id: int, *, now: datetime) -> None:
        await self.conn.execute(update(t.invites).where(
            t.invites.c.id == invite_id, t.invites.c.used_by.is_(None))
            .values(revoked_at=now))

    async def grant(self, *, user_id: int, role: Role, event_id: int | None,
                    granted_by: int, now: datetime) -> Grant:
        if not await self.has(user_id, role, event_id):
            await self.conn.execute(t.roles.insert().values(
                user_id=user_id, role=role.value, event_id=event_id, granted_by=granted_by,
                granted_at=now))
        name = (await self.conn.execute(select(t.users.c.first_name).where(
            t.users.c.id == user_id))).scalar_one_or_none()
        return Grant(user_id, role, event_id, granted_by, now, name)

    async def grants(self, role: Role, event_id: int | None) -> list[Grant]:
        ro, u = t.roles.c, t.users.c
        where = and_(ro.role == role.value, ro.revoked_at.is_(None))
        where = and_(where, ro.event_id.is_(None) if event_id is None
                     else ro.event_id == event_id)
        rows = await self.conn.execute(
            select(ro.user_id, ro.role, ro.event_id, ro.granted_by, ro.granted_at,
                   u.first_name)
            .select_from(t.roles.outerjoin(t.users, u.id == ro.user_id))
            .where(where).order_by(ro.granted_at))
        return [Grant(r.user_id, Role(r.role), r.event_id, r.granted_by, r.granted_at,
                      r.first_name) for r in rows]

    async def revoke(self, *, user_id: int, role: Role, event_id: int | None,
                     now: datetime) -> bool:
        result = await self.conn.execute(update(t.roles).where(
            self._active(user_id, role, event_id)).values(revoked_at=now))
        return int(result.rowcount) > 0
