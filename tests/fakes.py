"""An in-memory database implementing the feature ports (core/<feature>/ports.py) in Python.

``InMemoryDatabase`` stands in for ``bot.storage.database.SqlDatabase`` in service specs, so a
product rule is checked in milliseconds. It is held to the real storage by the contract tests
(``tests/contract``): each of them runs unchanged on this fake, SQLite and PostgreSQL.

What makes it honest rather than a stub:

* **Transactions.** ``write()`` works on a copy of the committed tables (copy-on-write of each
  table's dict; rows are immutable values, changed by replacing them); the copy becomes the
  committed state only when the block ends without an exception. ``read()`` sees the
  committed state as of its start and refuses to write.
* **One writer at a time.** Write blocks queue on an ``asyncio.Lock``, as on SQLite; every
  repository call yields to the event loop once, as a database round trip does, so
  concurrent tasks interleave between calls as they do on a real engine.
* **The lock order.** ``uow.locks`` and every ``lock=True`` read go through
  :class:`core.locking.LockLedger`, and the writes that the SQL storage refuses without the
  event lock are refused here too: a service that breaks the order fails on the fake.
* **Set-based answers from rows.** Stock, seats owned, check-in counts, refund counts and the
  CSV rows are computed from the stored rows each time, as the SQL computes them, never kept
  as counters beside them.
* **Constraints.** Unique keys (a Telegram charge, a Stripe charge, one refund per payment,
  one outbox item per dedupe key, ticket tokens and short codes, scan nonces, invite tokens)
  behave as the database's: ignored where the SQL says ``ON CONFLICT DO NOTHING``, an
  :class:`IntegrityError` where the SQL would raise.

Not here (yet): the lottery repository and the set-based organizer paths
(``events.cancel_everything``, ``events.queue_reminders``, ``lottery.record_draw``), which
are being rewritten; specs that need them run on SQLite and PostgreSQL only
(``tests/integration``). The wizard's drafts and ``events.update`` are not here either.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from core.access.model import Grant, Invite, Role, new_invite_token
from core.catalog.model import Event, EventStatus, LotteryState, TicketType
from core.catalog.spec import EventSpec
from core.door.model import CheckinRecord, Verdict
from core.kernel import locking
from core.kernel import outbox as outbox_codec
from core.kernel.locking import Lock, LockLedger, LockOrderViolation
from core.kernel.money import Money
from core.kernel.ports import OutboxItem
from core.lottery.model import commitment, new_seed
from core.payments.model import IncomingPayment, PaymentRecord, Refund, RefundStatus
from core.payments.plans import RefundReason
from core.sales.model import HoldScreen, Order, OrderStatus, ScreenState, Stock
from core.tickets.model import Ticket, TicketStatus, new_short_code, new_token


class IntegrityError(Exception):
    """A write broke a unique key or a reference, as the database would refuse it."""


class ReadOnlyTransaction(Exception):
    """A write was attempted in a ``read()`` block."""


def _utc(value: datetime) -> datetime:
    """Stored datetimes come back as aware UTC, as from ``bot.storage.tables.UTCDateTime``."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the database")
    return value.astimezone(UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


async def _round_trip() -> None:
    """Where a real driver would wait for the database: other tasks run meanwhile."""
    await asyncio.sleep(0)


# --- Rows: immutable values; a change replaces the row in its table. -----------------------

@dataclass(frozen=True, slots=True)
class _EventRow:
    event: Event
    created_by: int
    created_at: datetime
    lottery_seed: str | None = None
    lottery_commitment: str | None = None
    cancelled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class _ScreenRow:
    screen: HoldScreen
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class _PaymentRow:
    record: PaymentRecord
    payload: str


@dataclass(frozen=True, slots=True)
class _RefundRow:
    refund: Refund
    event_id: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class _UserRow:
    id: int
    first_name: str
    language_code: str | None
    created_at: datetime
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class _RoleRow:
    id: int
    user_id: int
    role: Role
    event_id: int | None
    granted_by: int
    granted_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class _OutboxRow:
    id: int
    kind: str
    payload: str  # JSON text, as stored by the SQL outbox (the codec's round trip included)
    dedupe_key: str
    chat_id: int | None
    status: str
    attempts: int
    due_at: datetime
    created_at: datetime
    last_error: str | None = None
    done_at: datetime | None = None


@dataclass(slots=True)
class _Tables:
    """The whole database: one dict per table, keyed by primary key."""

    events: dict[int, _EventRow] = field(default_factory=dict)
    ticket_types: dict[int, TicketType] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    hold_screens: dict[int, _ScreenRow] = field(default_factory=dict)  # by order id
    payments: dict[int, _PaymentRow] = field(default_factory=dict)
    refunds: dict[int, _RefundRow] = field(default_factory=dict)
    tickets: dict[int, Ticket] = field(default_factory=dict)
    checkins: dict[int, CheckinRecord] = field(default_factory=dict)
    users: dict[int, _UserRow] = field(default_factory=dict)
    roles: dict[int, _RoleRow] = field(default_factory=dict)
    invites: dict[int, Invite] = field(default_factory=dict)
    outbox: dict[int, _OutboxRow] = field(default_factory=dict)

    def copy(self) -> _Tables:
        """A working copy for one write transaction (rows are shared: they are immutable)."""
        return _Tables(**{f.name: dict(getattr(self, f.name)) for f in fields(self)})


class _Sequences:
    """Primary keys, one counter per table. Like PostgreSQL sequences they are not rolled
    back: a rolled-back insert leaves a gap."""

    def __init__(self) -> None:
        self._counters: dict[str, itertools.count[int]] = {}

    def next(self, table: str) -> int:
        counter = self._counters.setdefault(table, itertools.count(1))
        return next(counter)


# --- The transaction and its lock gate. -----------------------------------------------------

class InMemoryLocks:
    """Implements :class:`core.kernel.ports.Locks`: the order is checked by the same
    :class:`~core.locking.LockLedger` as the SQL storage's; the writer lock of the database
    already serializes the writes, so nothing else needs to wait."""

    def __init__(self) -> None:
        self.ledger = LockLedger()

    async def take(self, *locks: Lock) -> None:
        """Lock these objects (any mix of levels; sorted into the order here).

        Raises:
            core.locking.LockOrderViolation: the request breaks the order.
        """
        await _round_trip()
        self.ledger.admit(locks)

    def admit(self, lock: Lock) -> None:
        """One lock taken by a ``lock=True`` read."""
        self.ledger.admit([lock])

    def require(self, lock: Lock) -> None:
        """Refuse to write an object whose lock is not held (as ``SqlLocks.require``)."""
        if not self.ledger.holds(lock):
            raise LockOrderViolation(
                f"{lock.level.name.lower()} {lock.key} written without its {lock.mode.value} "
                "lock: take it first, in the order")


class _Tx:
    """What the repositories of one unit of work share."""

    def __init__(self, tables: _Tables, sequences: _Sequences, *, writable: bool) -> None:
        self.t = tables
        self.seq = sequences
        self.writable = writable
        self.locks = InMemoryLocks()

    def write(self) -> _Tables:
        """The tables, for a change; refused in a read-only transaction."""
        if not self.writable:
            raise ReadOnlyTransaction("a write inside db.read(): use db.write()")
        return self.t


class _Repo:
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    @property
    def _t(self) -> _Tables:
        return self._tx.t


# --- Repositories. ----------------------------------------------------------------------------

class InMemoryEventRepository(_Repo):
    """Events, ticket types and the derived stock (no ``cancel_everything`` or
    ``queue_reminders`` yet: see the module doc)."""

    async def add(self, spec: EventSpec, *, created_by: int, now: datetime) -> Event:
        await _round_trip()
        tables = self._tx.write()
        lottery = spec.lottery
        seed = new_seed() if lottery else None
        event_id = self._tx.seq.next("events")
        if lottery is not None:
            lottery = replace(lottery, entries_open_at=_utc(lottery.entries_open_at),
                              entries_close_at=_utc(lottery.entries_close_at),
                              draw_at=_utc(lottery.draw_at))
        event = Event(
            id=event_id, title=spec.title, description=spec.description, venue=spec.venue,
            starts_at=_utc(spec.starts_at), timezone=spec.timezone,
            status=EventStatus.PUBLISHED if spec.publish else EventStatus.DRAFT,
            sale_mode=spec.sale_mode, lottery=lottery,
            lottery_state=LotteryState.OPEN if lottery else None)
        tables.events[event_id] = _EventRow(
            event, created_by=created_by, created_at=_utc(now),
            lottery_seed=seed.hex() if seed else None,
            lottery_commitment=commitment(seed) if seed else None)
        for position, spec_type in enumerate(spec.ticket_types):
            type_id = self._tx.seq.next("ticket_types")
            tables.ticket_types[type_id] = TicketType(
                id=type_id, event_id=event_id, name=spec_type.name, price=spec_type.price,
                capacity=spec_type.capacity, per_user_limit=spec_type.per_user_limit,
                position=position)
        return event

    async def get(self, event_id: int) -> Event | None:
        await _round_trip()
        row = self._t.events.get(event_id)
        return row.event if row else None

    async def lock(self, event_id: int, *, shared: bool = False) -> Event | None:
        await _round_trip()
        self._tx.locks.admit(locking.event(event_id, shared=shared))
        row = self._t.events.get(event_id)
        return row.event if row else None

    def _published(self, now: datetime) -> list[Event]:
        return [row.event for row in self._t.events.values()
                if row.event.status is EventStatus.PUBLISHED and row.event.starts_at > now]

    async def list_published(self, *, now: datetime, offset: int, limit: int) -> list[Event]:
        await _round_trip()
        events = sorted(self._published(now), key=lambda e: (e.starts_at, e.id))
        return events[offset:offset + limit]

    async def count_published(self, *, now: datetime) -> int:
        await _round_trip()
        return len(self._published(now))

    async def ticket_types(self, event_id: int) -> list[TicketType]:
        await _round_trip()
        return sorted((tt for tt in self._t.ticket_types.values() if tt.event_id == event_id),
                      key=lambda tt: (tt.position, tt.id))

    async def get_ticket_type(self, ticket_type_id: int, *,
                              lock: bool = False) -> TicketType | None:
        await _round_trip()
        if lock:
            self._tx.locks.admit(locking.ticket_type(ticket_type_id))
        return self._t.ticket_types.get(ticket_type_id)

    async def managed_by(self, user_id: int, *, all_events: bool = False) -> list[int]:
        await _round_trip()
        return sorted(event_id for event_id, row in self._t.events.items()
                      if all_events or row.created_by == user_id)

    async def set_status(self, event_id: int, status: EventStatus, *, now: datetime) -> None:
        await _round_trip()
        self._tx.locks.require(locking.event(event_id))
        tables = self._tx.write()
        row = tables.events.get(event_id)
        if row is None:
            return
        tables.events[event_id] = replace(
            row, event=replace(row.event, status=status),
            cancelled_at=_utc(now) if status is EventStatus.CANCELLED else row.cancelled_at)

    async def stock(self, ticket_type_ids: Sequence[int], *, now: datetime,
                    exclude_user_id: int | None = None) -> dict[int, Stock]:
        await _round_trip()
        wanted = {i: self._t.ticket_types[i] for i in ticket_type_ids
                  if i in self._t.ticket_types}
        sold = dict.fromkeys(wanted, 0)
        held = dict.fromkeys(wanted, 0)
        for order in self._t.orders.values():  # the SQL's one grouped pass over the orders
            if order.ticket_type_id not in wanted:
                continue
            if order.status is OrderStatus.PAID:
                sold[order.ticket_type_id] += order.quantity
            elif (order.status is OrderStatus.HELD and order.hold_expires_at > now
                  and order.user_id != exclude_user_id):
                held[order.ticket_type_id] += order.quantity
        return {i: Stock(tt.capacity, sold[i], held[i]) for i, tt in wanted.items()}


class InMemoryOrderRepository(_Repo):
    """Orders, holds and their screens."""

    async def add_hold(self, *, user_id: int, ticket_type: TicketType, quantity: int,
                       now: datetime, expires_at: datetime) -> Order:
        await _round_trip()
        tables = self._tx.write()
        if ticket_type.id not in tables.ticket_types:
            raise IntegrityError(f"orders.ticket_type_id {ticket_type.id} does not exist")
        order_id = self._tx.seq.next("orders")
        order = Order(
            id=order_id, user_id=user_id, event_id=ticket_type.event_id,
            ticket_type_id=ticket_type.id, quantity=quantity, unit_price=ticket_type.price,
            status=OrderStatus.HELD, created_at=_utc(now), hold_expires_at=_utc(expires_at))
        tables.orders[order_id] = order
        return order

    async def get(self, order_id: int, *, lock: bool = False) -> Order | None:
        await _round_trip()
        if lock:
            self._tx.locks.admit(locking.order(order_id))
        return self._t.orders.get(order_id)

    async def release_live_holds(self, *, user_id: int, event_id: int, now: datetime,
                                 except_order_id: int | None = None) -> int:
        await _round_trip()
        tables = self._tx.write()
        live = [o for o in tables.orders.values()
                if o.user_id == user_id and o.event_id == event_id
                and o.status is OrderStatus.HELD and o.hold_expires_at > now
                and o.id != except_order_id]
        for order in live:
            tables.orders[order.id] = replace(order, status=OrderStatus.RELEASED)
        return len(live)

    def _change(self, order_id: int, **values: Any) -> None:
        tables = self._tx.write()
        order = tables.orders.get(order_id)
        if order is not None:  # an UPDATE that matches no row changes nothing
            tables.orders[order_id] = replace(order, **values)

    async def release(self, order_id: int) -> None:
        await _round_trip()
        self._change(order_id, status=OrderStatus.RELEASED)

    async def seats_owned(self, *, user_id: int, ticket_type_id: int) -> int:
        await _round_trip()
        return sum(o.quantity for o in self._t.orders.values()
                   if o.user_id == user_id and o.ticket_type_id == ticket_type_id
                   and o.status is OrderStatus.PAID)

    async def renew_hold(self, order_id: int, *, expires_at: datetime) -> None:
        await _round_trip()
        self._change(order_id, status=OrderStatus.HELD, hold_expires_at=_utc(expires_at))

    async def mark_paid(self, order_id: int, *, now: datetime) -> None:
        await _round_trip()
        self._change(order_id, status=OrderStatus.PAID, paid_at=_utc(now))

    async def mark_rejected(self, order_id: int) -> None:
        await _round_trip()
        self._change(order_id, status=OrderStatus.REJECTED)

    async def set_screen(self, order_id: int, *, chat_id: int, message_id: int,
                         now: datetime) -> None:
        await _round_trip()
        tables = self._tx.write()
        if order_id not in tables.orders:
            raise IntegrityError(f"hold_screens.order_id {order_id} does not exist")
        for key, row in list(tables.hold_screens.items()):
            screen = row.screen
            if (screen.chat_id, screen.message_id) == (chat_id, message_id) \
                    and key != order_id and screen.state is ScreenState.OPEN:
                tables.hold_screens[key] = _ScreenRow(
                    replace(screen, state=ScreenState.SUPERSEDED), _utc(now))
        tables.hold_screens[order_id] = _ScreenRow(
            HoldScreen(order_id, chat_id, message_id, ScreenState.OPEN), _utc(now))

    async def screen(self, order_id: int) -> HoldScreen | None:
        await _round_trip()
        row = self._t.hold_screens.get(order_id)
        return row.screen if row else None

    async def close_screen(self, order_id: int, state: ScreenState, *, now: datetime,
                           from_states: Collection[ScreenState]) -> bool:
        await _round_trip()
        tables = self._tx.write()
        row = tables.hold_screens.get(order_id)
        if row is None or row.screen.state not in from_states:
            return False
        tables.hold_screens[order_id] = _ScreenRow(replace(row.screen, state=state), _utc(now))
        return True

    async def screens_to_close(self, *, now: datetime,
                               limit: int) -> list[tuple[Order, HoldScreen]]:
        await _round_trip()
        stale = []
        for order_id in sorted(self._t.hold_screens):
            screen = self._t.hold_screens[order_id].screen
            order = self._t.orders[order_id]
            if screen.state is ScreenState.OPEN and (
                    order.status in (OrderStatus.RELEASED, OrderStatus.REJECTED)
                    or (order.status is OrderStatus.HELD and order.hold_expires_at <= now)):
                stale.append((order, screen))
        return stale[:limit]


class InMemoryPaymentRepository(_Repo):
    """Payments, unique per Telegram charge id and per (non-empty) Stripe charge id."""

    def _matching(self, payment: IncomingPayment) -> list[PaymentRecord]:
        return sorted((row.record for row in self._t.payments.values()
                       if row.record.telegram_charge_id == payment.telegram_charge_id
                       or (payment.provider_charge_id
                           and row.record.provider_charge_id == payment.provider_charge_id)),
                      key=lambda r: r.id)

    async def record(self, payment: IncomingPayment, *, order_id: int | None,
                     now: datetime, entry_id: int | None = None) -> tuple[PaymentRecord, bool]:
        await _round_trip()
        tables = self._tx.write()
        existing = self._matching(payment)
        if existing:  # ON CONFLICT DO NOTHING: same Telegram charge, or a claimed Stripe one
            return existing[0], False
        if order_id is not None and order_id not in tables.orders:
            raise IntegrityError(f"payments.order_id {order_id} does not exist")
        if entry_id is not None:  # no entries table here (lottery): a dangling reference
            raise IntegrityError(f"payments.entry_id {entry_id} does not exist")
        payment_id = self._tx.seq.next("payments")
        record = PaymentRecord(
            id=payment_id, order_id=order_id, user_id=payment.user_id,
            chat_id=payment.chat_id, telegram_charge_id=payment.telegram_charge_id,
            provider_charge_id=payment.provider_charge_id, amount=payment.amount,
            received_at=_utc(now), entry_id=entry_id)
        tables.payments[payment_id] = _PaymentRow(record, payment.payload[:128])
        return record, True

    async def for_order(self, order_id: int) -> list[PaymentRecord]:
        await _round_trip()
        return sorted((row.record for row in self._t.payments.values()
                       if row.record.order_id == order_id), key=lambda r: r.id)


class InMemoryRefundRepository(_Repo):
    """Refunds owed and their progress; one per payment."""

    async def request(self, payment: PaymentRecord, *, amount: Money, reason: RefundReason,
                      now: datetime) -> Refund:
        await _round_trip()
        tables = self._tx.write()
        for row in tables.refunds.values():
            if row.refund.payment_id == payment.id:  # ON CONFLICT (payment_id) DO NOTHING
                return row.refund
        if payment.id not in tables.payments:
            raise IntegrityError(f"refunds.payment_id {payment.id} does not exist")
        event_id = None
        if payment.order_id is not None:
            order = tables.orders.get(payment.order_id)
            event_id = order.event_id if order else None
        refund_id = self._tx.seq.next("refunds")
        refund = Refund(
            id=refund_id, payment_id=payment.id, user_id=payment.user_id,
            chat_id=payment.chat_id, amount=amount, reason=reason,
            status=RefundStatus.PENDING, provider_charge_id=payment.provider_charge_id,
            attempts=0)
        tables.refunds[refund_id] = _RefundRow(refund, event_id, _utc(now), _utc(now))
        return refund

    async def get(self, refund_id: int) -> Refund | None:
        await _round_trip()
        row = self._t.refunds.get(refund_id)
        return row.refund if row else None

    def _change(self, refund_id: int, now: datetime, **values: Any) -> None:
        tables = self._tx.write()
        row = tables.refunds.get(refund_id)
        if row is not None:
            tables.refunds[refund_id] = replace(
                row, refund=replace(row.refund, attempts=row.refund.attempts + 1, **values),
                updated_at=_utc(now))

    async def mark_succeeded(self, refund_id: int, *, provider_refund_id: str,
                             now: datetime) -> None:
        await _round_trip()
        self._change(refund_id, now, status=RefundStatus.SUCCEEDED,
                     provider_refund_id=provider_refund_id, last_error=None)

    async def mark_attempt(self, refund_id: int, *, error: str, final: bool,
                           now: datetime) -> None:
        await _round_trip()
        values: dict[str, Any] = {"last_error": error[:500]}
        if final:
            values["status"] = RefundStatus.FAILED
        self._change(refund_id, now, **values)

    async def counts(self, event_id: int | None = None) -> dict[RefundStatus, tuple[int, int]]:
        await _round_trip()
        out = {status: (0, 0) for status in RefundStatus}
        for row in self._t.refunds.values():
            if event_id is not None and row.event_id != event_id:
                continue
            count, amount = out[row.refund.status]
            out[row.refund.status] = (count + 1, amount + row.refund.amount.amount)
        return out


class InMemoryTicketRepository(_Repo):
    """Issued tickets."""

    async def issue(self, order: Order, *, now: datetime) -> list[Ticket]:
        await _round_trip()
        tables = self._tx.write()
        if order.id not in tables.orders:
            raise IntegrityError(f"tickets.order_id {order.id} does not exist")
        taken = {t.short_code for t in tables.tickets.values()}
        tokens = {t.token for t in tables.tickets.values()}
        for _ in range(order.quantity):
            code = new_short_code()
            while code in taken:  # 31^8 codes: a clash is rare, and never a duplicate
                code = new_short_code()
            token = new_token()
            if token in tokens:
                raise IntegrityError("tickets.token must be unique")
            taken.add(code)
            tokens.add(token)
            ticket_id = self._tx.seq.next("tickets")
            tables.tickets[ticket_id] = Ticket(
                id=ticket_id, order_id=order.id, event_id=order.event_id,
                ticket_type_id=order.ticket_type_id, owner_user_id=order.user_id,
                token=token, short_code=code, status=TicketStatus.VALID,
                issued_at=_utc(now))
        return self._for_order(order.id)

    def _for_order(self, order_id: int) -> list[Ticket]:
        return sorted((t for t in self._t.tickets.values() if t.order_id == order_id),
                      key=lambda t: t.id)

    async def for_order(self, order_id: int) -> list[Ticket]:
        await _round_trip()
        return self._for_order(order_id)

    async def for_owner(self, user_id: int, *, upcoming_after: datetime) -> list[Ticket]:
        await _round_trip()
        events = self._t.events
        mine = [t for t in self._t.tickets.values()
                if t.owner_user_id == user_id and events[t.event_id].event.starts_at
                > upcoming_after]
        return sorted(mine, key=lambda t: (events[t.event_id].event.starts_at, t.id))

    async def get(self, ticket_id: int, *, lock: bool = False) -> Ticket | None:
        await _round_trip()
        if lock:
            self._tx.locks.admit(locking.ticket(ticket_id))
        return self._t.tickets.get(ticket_id)

    async def by_token(self, token: str) -> Ticket | None:
        await _round_trip()
        return next((t for t in self._t.tickets.values() if t.token == token), None)

    async def by_short_code(self, code: str) -> Ticket | None:
        await _round_trip()
        return next((t for t in self._t.tickets.values() if t.short_code == code), None)

    async def export_rows(self, event_id: int) -> list[tuple[object, ...]]:
        await _round_trip()
        tables = self._t
        first_valid: dict[int, CheckinRecord] = {}
        for record in sorted(tables.checkins.values(), key=lambda c: c.id):
            if record.verdict is Verdict.VALID:
                first_valid.setdefault(record.ticket_id, record)
        rows: list[tuple[object, ...]] = []
        for ticket in sorted(tables.tickets.values(), key=lambda t: t.id):
            if ticket.event_id != event_id:
                continue
            order = tables.orders[ticket.order_id]
            holder = tables.users.get(ticket.owner_user_id)
            scan = first_valid.get(ticket.id)
            staff = tables.users.get(scan.staff_user_id) if scan else None
            rows.append((
                ticket.id, ticket.short_code, tables.ticket_types[ticket.ticket_type_id].name,
                ticket.status.value, ticket.owner_user_id,
                holder.first_name if holder else None, ticket.order_id, order.paid_at,
                order.unit_price.amount, order.unit_price.currency,
                scan.scanned_at if scan else None, staff.first_name if staff else None))
        return rows


class InMemoryCheckinRepository(_Repo):
    """The append-only check-in log."""

    async def append(self, *, ticket_id: int, event_id: int, staff_user_id: int,
                     verdict: Verdict, nonce: str, now: datetime) -> CheckinRecord:
        await _round_trip()
        tables = self._tx.write()
        nonce = nonce[:64]
        if any(c.nonce == nonce for c in tables.checkins.values()):
            raise IntegrityError("checkins.nonce must be unique")
        if ticket_id not in tables.tickets:
            raise IntegrityError(f"checkins.ticket_id {ticket_id} does not exist")
        checkin_id = self._tx.seq.next("checkins")
        record = CheckinRecord(id=checkin_id, ticket_id=ticket_id, event_id=event_id,
                               staff_user_id=staff_user_id, verdict=verdict,
                               scanned_at=_utc(now), nonce=nonce)
        tables.checkins[checkin_id] = record
        return record

    async def by_nonce(self, nonce: str) -> CheckinRecord | None:
        await _round_trip()
        nonce = nonce[:64]
        return next((c for c in self._t.checkins.values() if c.nonce == nonce), None)

    async def first_admission(self, ticket_id: int) -> CheckinRecord | None:
        await _round_trip()
        valid = [c for c in self._t.checkins.values()
                 if c.ticket_id == ticket_id and c.verdict is Verdict.VALID]
        return min(valid, key=lambda c: c.id) if valid else None

    async def counts(self, event_id: int) -> tuple[int, int]:
        await _round_trip()
        checked = {c.ticket_id for c in self._t.checkins.values()
                   if c.event_id == event_id and c.verdict is Verdict.VALID}
        sold = sum(1 for t in self._t.tickets.values()
                   if t.event_id == event_id and t.status is TicketStatus.VALID)
        return len(checked), sold


class InMemoryRoleRepository(_Repo):
    """Roles and invites."""

    def _active(self, user_id: int, role: Role, event_id: int | None) -> list[_RoleRow]:
        return [r for r in self._t.roles.values()
                if r.user_id == user_id and r.role is role and r.revoked_at is None
                and r.event_id == event_id]

    async def has(self, user_id: int, role: Role, event_id: int | None) -> bool:
        await _round_trip()
        return bool(self._active(user_id, role, event_id))

    async def staff_events(self, user_id: int) -> list[int]:
        await _round_trip()
        return [r.event_id for r in sorted(self._t.roles.values(), key=lambda r: r.id)
                if r.user_id == user_id and r.role is Role.STAFF and r.revoked_at is None
                and r.event_id is not None]

    async def add_invite(self, *, role: Role, event_id: int | None, created_by: int,
                         now: datetime, expires_at: datetime) -> Invite:
        await _round_trip()
        tables = self._tx.write()
        if event_id is not None and event_id not in tables.events:
            raise IntegrityError(f"invites.event_id {event_id} does not exist")
        token = new_invite_token()
        if any(i.token == token for i in tables.invites.values()):
            raise IntegrityError("invites.token must be unique")
        invite_id = self._tx.seq.next("invites")
        invite = Invite(id=invite_id, token=token, role=role, event_id=event_id,
                        created_by=created_by, created_at=_utc(now),
                        expires_at=_utc(expires_at))
        tables.invites[invite_id] = invite
        return invite

    async def invite_by_token(self, token: str, *, lock: bool = False) -> Invite | None:
        await _round_trip()
        invite = next((i for i in self._t.invites.values() if i.token == token), None)
        if invite is not None and lock:
            self._tx.locks.admit(locking.invite(invite.id))
        return invite

    async def invite(self, invite_id: int) -> Invite | None:
        await _round_trip()
        return self._t.invites.get(invite_id)

    async def use_invite(self, invite_id: int, *, user_id: int, now: datetime) -> None:
        await _round_trip()
        tables = self._tx.write()
        invite = tables.invites.get(invite_id)
        if invite is not None:
            tables.invites[invite_id] = replace(invite, used_by=user_id, used_at=_utc(now))

    async def revoke_invite(self, invite_id: int, *, now: datetime) -> None:
        await _round_trip()
        tables = self._tx.write()
        invite = tables.invites.get(invite_id)
        if invite is not None and invite.used_by is None:
            tables.invites[invite_id] = replace(invite, revoked_at=_utc(now))

    async def grant(self, *, user_id: int, role: Role, event_id: int | None,
                    granted_by: int, now: datetime) -> Grant:
        await _round_trip()
        tables = self._tx.write()
        if not self._active(user_id, role, event_id):
            if event_id is not None and event_id not in tables.events:
                raise IntegrityError(f"roles.event_id {event_id} does not exist")
            role_id = self._tx.seq.next("roles")
            tables.roles[role_id] = _RoleRow(role_id, user_id, role, event_id, granted_by,
                                             _utc(now))
        user = tables.users.get(user_id)
        return Grant(user_id, role, event_id, granted_by, now,
                     user.first_name if user else None)

    async def grants(self, role: Role, event_id: int | None) -> list[Grant]:
        await _round_trip()
        rows = sorted((r for r in self._t.roles.values()
                       if r.role is role and r.revoked_at is None and r.event_id == event_id),
                      key=lambda r: (r.granted_at, r.id))
        users = self._t.users
        return [Grant(r.user_id, r.role, r.event_id, r.granted_by, r.granted_at,
                      users[r.user_id].first_name if r.user_id in users else None)
                for r in rows]

    async def revoke(self, *, user_id: int, role: Role, event_id: int | None,
                     now: datetime) -> bool:
        await _round_trip()
        tables = self._tx.write()
        active = self._active(user_id, role, event_id)
        for row in active:
            tables.roles[row.id] = replace(row, revoked_at=_utc(now))
        return bool(active)


class InMemoryUserRepository(_Repo):
    """People who talked to the bot."""

    async def seen(self, *, user_id: int, first_name: str, language_code: str | None,
                   now: datetime) -> None:
        await _round_trip()
        tables = self._tx.write()
        known = tables.users.get(user_id)
        tables.users[user_id] = _UserRow(
            user_id, first_name[:128], language_code,
            known.created_at if known else _utc(now), _utc(now))

    async def first_name(self, user_id: int) -> str | None:
        await _round_trip()
        user = self._t.users.get(user_id)
        return user.first_name if user else None


class InMemoryOutbox(_Repo):
    """Outbox writes, inside the caller's transaction; one item per dedupe key."""

    async def put(self, kind: str, payload: dict[str, Any], *, dedupe_key: str,
                  now: datetime, chat_id: int | None = None) -> None:
        await _round_trip()
        tables = self._tx.write()
        if any(row.dedupe_key == dedupe_key for row in tables.outbox.values()):
            return  # ON CONFLICT (dedupe_key) DO NOTHING
        item_id = self._tx.seq.next("outbox")
        tables.outbox[item_id] = _OutboxRow(
            id=item_id, kind=kind, payload=json.dumps(outbox_codec.encode(payload)),
            dedupe_key=dedupe_key, chat_id=chat_id, status="pending", attempts=0,
            due_at=_utc(now), created_at=_utc(now))


class InMemoryUnitOfWork:
    """The repositories of one in-memory transaction (see :class:`InMemoryDatabase`)."""

    def __init__(self, tx: _Tx) -> None:
        self.tx = tx
        self.locks = tx.locks
        self.events = InMemoryEventRepository(tx)
        self.orders = InMemoryOrderRepository(tx)
        self.payments = InMemoryPaymentRepository(tx)
        self.refunds = InMemoryRefundRepository(tx)
        self.tickets = InMemoryTicketRepository(tx)
        self.checkins = InMemoryCheckinRepository(tx)
        self.roles = InMemoryRoleRepository(tx)
        self.users = InMemoryUserRepository(tx)
        self.outbox = InMemoryOutbox(tx)


class InMemoryDatabase:
    """Implements :class:`core.unit_of_work.Database` (see the module doc for what it
    guarantees)."""

    def __init__(self) -> None:
        self._committed = _Tables()
        self._sequences = _Sequences()
        self._write_lock = asyncio.Lock()
        self.outbox_store = InMemoryOutboxStore(self)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[InMemoryUnitOfWork]:
        """A read-write transaction on a copy, committed if the block ends without error."""
        async with self._write_lock:
            await _round_trip()  # BEGIN
            working = self._committed.copy()
            yield InMemoryUnitOfWork(_Tx(working, self._sequences, writable=True))
            self._committed = working  # COMMIT (never reached when the block raised)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[InMemoryUnitOfWork]:
        """A read-only transaction on the state committed when it began."""
        await _round_trip()
        yield InMemoryUnitOfWork(_Tx(self._committed, self._sequences, writable=False))

    @property
    def committed(self) -> _Tables:
        """The committed tables, for assertions in tests of the fake itself."""
        return self._committed


class InMemoryOutboxStore:
    """Implements :class:`core.kernel.ports.OutboxStore` over :class:`InMemoryDatabase`, with the
    same rules as ``SqlOutboxStore``: due items oldest first, and an earlier item of a chat
    that waits for its retry holds that chat's later items back."""

    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db

    async def claim_due(self, *, now: datetime, limit: int) -> list[OutboxItem]:
        async with self._db.read() as uow:
            rows = sorted(uow.tx.t.outbox.values(), key=lambda r: r.id)
        waiting = [r for r in rows if r.status == "pending" and r.due_at > now]
        due = [r for r in rows if r.status == "pending" and r.due_at <= now
               and not any(w.chat_id is not None and w.chat_id == r.chat_id and w.id < r.id
                           for w in waiting)]
        return [OutboxItem(id=r.id, kind=r.kind,
                           payload=outbox_codec.decode(json.loads(r.payload)),
                           attempts=r.attempts, chat_id=r.chat_id) for r in due[:limit]]

    async def _change(self, item_id: int, **values: Any) -> None:
        async with self._db.write() as uow:
            tables = uow.tx.write()
            row = tables.outbox.get(item_id)
            if row is not None:
                tables.outbox[item_id] = replace(row, attempts=row.attempts + 1, **values)

    async def mark_done(self, item_id: int, *, now: datetime) -> None:
        await self._change(item_id, status="done", done_at=_utc(now))

    async def retry_later(self, item_id: int, *, error: str, at: datetime) -> None:
        await self._change(item_id, due_at=_utc(at), last_error=error[:500])

    async def mark_dead(self, item_id: int, *, error: str, now: datetime) -> None:
        await self._change(item_id, status="dead", done_at=_utc(now), last_error=error[:500])

    async def pending_count(self) -> int:
        async with self._db.read() as uow:
            return sum(1 for r in uow.tx.t.outbox.values() if r.status == "pending")

    async def next_due_at(self) -> datetime | None:
        """When the earliest pending item becomes due (for the worker's sleep)."""
        async with self._db.read() as uow:
            due = [r.due_at for r in uow.tx.t.outbox.values() if r.status == "pending"]
        return min(due) if due else None


def _conforms_to_the_ports(tx: _Tx, db: InMemoryDatabase) -> None:
    """Never called: ``mypy tests/fakes.py`` checks here that each fake repository has the
    port's exact signatures (EventRepository lacks the three methods named in the module doc,
    so the unit of work is not a full ``core.unit_of_work.UnitOfWork`` yet)."""
    from core import ports

    orders: ports.OrderRepository = InMemoryOrderRepository(tx)
    payments: ports.PaymentRepository = InMemoryPaymentRepository(tx)
    refunds: ports.RefundRepository = InMemoryRefundRepository(tx)
    tickets: ports.TicketRepository = InMemoryTicketRepository(tx)
    checkins: ports.CheckinRepository = InMemoryCheckinRepository(tx)
    roles: ports.RoleRepository = InMemoryRoleRepository(tx)
    users: ports.UserRepository = InMemoryUserRepository(tx)
    box: ports.Outbox = InMemoryOutbox(tx)
    locks: ports.Locks = tx.locks
    store: ports.OutboxStore = db.outbox_store
    del orders, payments, refunds, tickets, checkins, roles, users, box, locks, store
