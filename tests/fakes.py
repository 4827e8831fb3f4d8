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
  :class:`IntegrityError` where the SQL would raise (also one paid lottery entry per account
  and per phone, one public reference per lottery, one draw position per entry).
* **The set-based paths as the SQL runs them.** An event's cancellation, the reminders and
  the draw's settlement carry out the same plans (``core/organizer/plans.py``,
  ``core.lottery.model.DrawSettlement``) row by row with the same selections, dedupe keys,
  refund rows and outbox items, in the same order of ids.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from core.access.model import Grant, Invite, Role, new_invite_token
from core.catalog.model import (
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
from core.kernel.locking import Lock, LockLedger, LockOrderViolation
from core.kernel.money import Money
from core.kernel.ports import OutboxItem
from core.lottery.group_model import GroupMember, MemberStatus, new_group_token
from core.lottery.model import (
    TICKET_KEY,
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
from core.organizer.draft import Draft  # the type DraftRepository (core/organizer/ports.py) names
from core.organizer.plans import CancellationPlan, ReminderPlan
from core.payments.model import IncomingPayment, PaymentRecord, Refund, RefundStatus
from core.payments.plans import RefundPlan, RefundReason
from core.returns.model import (
    ReturnPolicy,
    ReturnStatus,
    TicketReturn,
    WaitlistEntry,
    WaitStatus,
)
from core.returns.ports import AfterSaleCounts
from core.sales.model import HoldScreen, Order, OrderStatus, ScreenState, Stock
from core.tickets.model import (
    RevokeReason,
    Ticket,
    TicketStatus,
    new_short_code,
    new_token,
)
from core.transfers.model import Transfer, TransferStatus


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
    """An ``events`` row. :attr:`event` carries the columns a :class:`Event` shows; the rest
    are the lottery's bookkeeping columns. ``require_phone`` is its own column, as in SQL
    (an edit leaves it alone), and is copied into ``event.lottery``."""

    event: Event
    created_by: int
    created_at: datetime
    lottery_seed: str | None = None
    lottery_commitment: str | None = None
    lottery_list_hash: str | None = None
    require_phone: bool = False
    beacon_round: int | None = None
    beacon_value: str | None = None
    closed_at: datetime | None = None
    drawn_at: datetime | None = None
    cancelled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class _EntryRow:
    """An ``entries`` row: the entry as read (no draw position: that is ``draw_order``'s)
    and the hash of the entrant's verified phone."""

    entry: Entry
    phone_hash: str | None = None


@dataclass(frozen=True, slots=True)
class _DrawRow:
    """A ``draw_order`` row (keyed by event id and position)."""

    entry_id: int
    won: bool


@dataclass(frozen=True, slots=True)
class _PhoneRow:
    phone_hash: str
    verified_at: datetime


@dataclass(frozen=True, slots=True)
class _DraftRow:
    """An ``event_drafts`` row: the draft in its stored form (cursor and JSON text)."""

    event_id: int | None
    step: str
    data: str
    updated_at: datetime


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
    language: str | None = None


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
    claimed_by: str | None = None
    lease_until: datetime | None = None


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
    entries: dict[int, _EntryRow] = field(default_factory=dict)
    verified_phones: dict[int, _PhoneRow] = field(default_factory=dict)  # by user id
    draw_order: dict[tuple[int, int], _DrawRow] = field(default_factory=dict)  # (event, pos)
    event_drafts: dict[int, _DraftRow] = field(default_factory=dict)  # by user id
    return_policies: dict[int, ReturnPolicy] = field(default_factory=dict)  # by event id
    waitlist: dict[int, WaitlistEntry] = field(default_factory=dict)
    ticket_returns: dict[int, TicketReturn] = field(default_factory=dict)
    lottery_groups: dict[int, int] = field(default_factory=dict)  # group size by event id
    group_invites: dict[int, str] = field(default_factory=dict)  # token by entry id
    group_members: dict[int, GroupMember] = field(default_factory=dict)
    transfers: dict[int, Transfer] = field(default_factory=dict)

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


def _queue(tx: _Tx, kind: str, payload: dict[str, Any], key: str, chat_id: int | None,
           now: datetime, *, on_conflict: str = "skip") -> int:
    """Insert one outbox item; 1 if it was added. A dedupe key already queued is skipped
    (the SQL's ``NOT EXISTS`` / ``ON CONFLICT DO NOTHING``), or, with ``on_conflict="raise"``,
    an :class:`IntegrityError` (a plain ``INSERT`` against the unique key)."""
    tables = tx.write()
    if any(row.dedupe_key == key for row in tables.outbox.values()):
        if on_conflict == "raise":
            raise IntegrityError(f"outbox.dedupe_key {key!r} must be unique")
        return 0
    item_id = tx.seq.next("outbox")
    tables.outbox[item_id] = _OutboxRow(
        id=item_id, kind=kind, payload=json.dumps(outbox_codec.encode(payload)),
        dedupe_key=key, chat_id=chat_id, status="pending", attempts=0,
        due_at=_utc(now), created_at=_utc(now))
    return 1


def _owe_back(tx: _Tx, plan: RefundPlan, event_id: int,
              paid: Sequence[Callable[[PaymentRecord], bool]], now: datetime) -> int:
    """As ``bot.storage.repositories._owe_back``: for each selection of payments in turn (in
    payment id order), a pending refund of the whole amount for each payment not refunded
    yet; then the plan's ``refund`` item for every pending refund of this event and reason
    that has none. Returns how many refunds were added."""
    if plan.tell_payer:
        raise ValueError(f"{plan.reason}: payers of set-based refunds are told by the caller")
    tables = tx.write()
    added = 0
    for selects in paid:
        refunded = {row.refund.payment_id for row in tables.refunds.values()
                    if row.refund.ticket_id is None}
        for payment_id in sorted(tables.payments):
            p = tables.payments[payment_id].record
            # What its tickets' own refunds left of the payment is owed back.
            left = p.amount.amount - sum(row.refund.amount.amount
                                         for row in tables.refunds.values()
                                         if row.refund.payment_id == p.id)
            if p.id in refunded or not selects(p) or left <= 0:
                continue
            refund_id = tx.seq.next("refunds")
            tables.refunds[refund_id] = _RefundRow(
                Refund(id=refund_id, payment_id=p.id, user_id=p.user_id, chat_id=p.chat_id,
                       amount=Money(left, p.amount.currency), reason=plan.reason,
                       status=RefundStatus.PENDING,
                       provider_charge_id=p.provider_charge_id, attempts=0),
                event_id, _utc(now), _utc(now))
            added += 1
    for refund_id in sorted(tables.refunds):
        row = tables.refunds[refund_id]
        if (row.event_id == event_id and row.refund.reason is plan.reason
                and row.refund.status is RefundStatus.PENDING):
            _queue(tx, outbox_codec.REFUND, plan.work(refund_id), plan.item_key.of(refund_id),
                   None, now)
    return added


def _stored_policy(policy: TransferPolicy) -> TransferPolicy:
    """A transfer policy as the ``events`` columns give it back (its deadline in UTC)."""
    return replace(policy, until=_utc_or_none(policy.until))


def _void_pending(tables: _Tables, event_id: int) -> int:
    voided = 0
    for row in list(tables.entries.values()):
        if row.entry.event_id == event_id and row.entry.status is EntryStatus.PENDING:
            tables.entries[row.entry.id] = replace(
                row, entry=replace(row.entry, status=EntryStatus.VOID))
            voided += 1
    return voided


class _Repo:
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    @property
    def _t(self) -> _Tables:
        return self._tx.t


# --- Repositories. ----------------------------------------------------------------------------

class InMemoryEventRepository(_Repo):
    """Events, ticket types, the derived stock, and an event's cancellation and reminders."""

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
            lottery_state=LotteryState.OPEN if lottery else None,
            transfers=_stored_policy(spec.transfers), language=spec.language,
            translations=spec.translations)
        tables.events[event_id] = _EventRow(
            event, created_by=created_by, created_at=_utc(now),
            lottery_seed=seed.hex() if seed else None,
            lottery_commitment=commitment(seed) if seed else None,
            require_phone=bool(lottery and lottery.require_phone))
        for position, spec_type in enumerate(spec.ticket_types):
            type_id = self._tx.seq.next("ticket_types")
            tables.ticket_types[type_id] = TicketType(
                id=type_id, event_id=event_id, name=spec_type.name, price=spec_type.price,
                capacity=spec_type.capacity, per_user_limit=spec_type.per_user_limit,
                position=position)
        if spec.group_size > 1:
            tables.lottery_groups[event_id] = spec.group_size
        if spec.returns is not None:
            until = spec.returns.until
            tables.return_policies[event_id] = replace(
                spec.returns, until=_utc(until) if until else None)
        return event

    async def get(self, event_id: int) -> Event | None:
        await _round_trip()
        row = self._t.events.get(event_id)
        return row.event if row else None

    async def created_by(self, event_id: int) -> int | None:
        await _round_trip()
        row = self._t.events.get(event_id)
        return row.created_by if row else None

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

    async def update(self, event_id: int, spec: EventSpec, *, now: datetime) -> None:
        """As ``bot.storage.wizard_store.update_event``: the event's fields and its ticket
        types by position; a new lottery gets its seed, a direct event loses the lottery's
        columns, a changed close or beacon unfixes the beacon round. Status and
        ``require_phone`` are left alone."""
        await _round_trip()
        self._tx.locks.require(locking.event(event_id))
        tables = self._tx.write()
        row = tables.events.get(event_id)
        if row is None:  # the SQL's .one() on the event's columns
            raise LookupError(f"event {event_id} does not exist")
        lottery, old = spec.lottery, row.event
        values: dict[str, Any] = {}
        state = old.lottery_state
        if lottery is None:
            state = None
            values.update(lottery_seed=None, lottery_commitment=None)
        elif row.lottery_seed is None:
            seed = new_seed()
            state = LotteryState.OPEN
            values.update(lottery_seed=seed.hex(), lottery_commitment=commitment(seed))
        old_close = old.lottery.entries_close_at if old.lottery else None
        old_beacon = bool(old.lottery and old.lottery.beacon)
        if lottery is None or (_utc(lottery.entries_close_at), bool(lottery.beacon)) != (
                old_close, old_beacon):
            values.update(beacon_round=None, beacon_value=None)
        window = None if lottery is None else LotteryWindow(
            _utc(lottery.entries_open_at), _utc(lottery.entries_close_at),
            _utc(lottery.draw_at), lottery.max_per_entry or 1, bool(lottery.beacon),
            row.require_phone)
        event = replace(old, title=spec.title, description=spec.description,
                        venue=spec.venue, starts_at=_utc(spec.starts_at),
                        timezone=spec.timezone, sale_mode=spec.sale_mode, lottery=window,
                        lottery_state=state, transfers=_stored_policy(spec.transfers),
                        language=spec.language, translations=spec.translations)
        tables.events[event_id] = replace(row, event=event, **values)
        mine = sorted((tt for tt in tables.ticket_types.values() if tt.event_id == event_id),
                      key=lambda tt: (tt.position, tt.id))
        top = max((tt.position for tt in mine), default=-1)
        for i, spec_type in enumerate(spec.ticket_types):
            columns: dict[str, Any] = {
                "name": spec_type.name, "price": spec_type.price,
                "capacity": spec_type.capacity, "per_user_limit": spec_type.per_user_limit}
            if i < len(mine):
                tables.ticket_types[mine[i].id] = replace(mine[i], **columns)
            else:
                top += 1
                type_id = self._tx.seq.next("ticket_types")
                tables.ticket_types[type_id] = TicketType(
                    id=type_id, event_id=event_id, position=top, **columns)

    async def cancel_everything(self, plan: CancellationPlan, *,
                                now: datetime) -> dict[str, int]:
        """As the SQL: the plan's refunds for the payments of paid orders, then of paid
        entries; valid tickets revoked, holds (live or not) released, pending entries
        voided; the notice to every payer's chat once (orders' and entries' payers)."""
        await _round_trip()
        event_id = plan.event_id
        self._tx.locks.require(locking.event(event_id))
        tables = self._tx.write()

        def by_orders(p: PaymentRecord) -> bool:  # payments JOIN orders WHERE ...
            order = tables.orders.get(p.order_id) if p.order_id is not None else None
            return (order is not None and order.event_id == event_id
                    and order.status in plan.paid_orders)

        def by_entries(p: PaymentRecord) -> bool:  # payments JOIN entries WHERE ...
            row = tables.entries.get(p.entry_id) if p.entry_id is not None else None
            return (row is not None and row.entry.event_id == event_id
                    and row.entry.status in plan.paid_entries)

        queued = _owe_back(self._tx, plan.refund, event_id, (by_orders, by_entries), now)
        revoked = 0
        for ticket in list(tables.tickets.values()):
            if ticket.event_id == event_id and ticket.status is TicketStatus.VALID:
                tables.tickets[ticket.id] = replace(ticket, status=TicketStatus.REVOKED,
                                                    revoked_reason=RevokeReason.CANCELLED)
                revoked += 1
        for order in list(tables.orders.values()):
            if order.event_id == event_id and order.status is OrderStatus.HELD:
                tables.orders[order.id] = replace(order, status=OrderStatus.RELEASED)
        _void_pending(tables, event_id)
        payers = {row.record.chat_id for row in tables.payments.values()
                  if by_orders(row.record) or by_entries(row.record)}
        payers |= {tk.owner_user_id for tk in tables.tickets.values()  # holders given one
                   if tk.event_id == event_id and tk.revoked_reason is RevokeReason.CANCELLED}
        told = sum(_queue(self._tx, outbox_codec.MESSAGE, plan.notice.payload(),
                          plan.notice_key.of(chat_id), chat_id, now)
                   for chat_id in sorted(payers))
        return {"refunds_queued": queued, "tickets_revoked": revoked, "holders_told": told}

    async def published_starting(self, *, after: datetime, until: datetime) -> list[Event]:
        await _round_trip()
        return sorted((row.event for row in self._t.events.values()
                       if row.event.status is EventStatus.PUBLISHED
                       and after < row.event.starts_at <= until),
                      key=lambda e: (e.starts_at, e.id))

    async def queue_reminder(self, plan: ReminderPlan, *, now: datetime) -> int:
        """As the SQL: each distinct holder (the owner) of a ticket still valid and
        issued by ``plan.issued_by`` gets the message once; each such ticket's QR goes to
        its owner once."""
        await _round_trip()
        tables = self._tx.write()
        held = sorted((tk for tk in tables.tickets.values()
                       if tk.event_id == plan.event_id and tk.status is TicketStatus.VALID
                       and tk.issued_at <= plan.issued_by), key=lambda tk: tk.id)
        holders = sorted({tk.owner_user_id for tk in held})
        queued = sum(_queue(self._tx, outbox_codec.MESSAGE, plan.message.payload(),
                            plan.holder_key.of(user_id), user_id, now)
                     for user_id in holders)
        for ticket in held:
            _queue(self._tx, outbox_codec.TICKET, {"ticket_id": ticket.id},
                   plan.ticket_key.of(ticket.id), ticket.owner_user_id, now)
        return queued

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
                sold[order.ticket_type_id] += order.quantity - order.refunded_quantity
            elif (order.status is OrderStatus.HELD and order.hold_expires_at > now
                  and order.user_id != exclude_user_id and order.resale_of is None):
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
                and o.id != except_order_id and o.resale_of is None]
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
        return sum(o.quantity - o.refunded_quantity for o in self._t.orders.values()
                   if o.user_id == user_id and o.ticket_type_id == ticket_type_id
                   and o.status is OrderStatus.PAID)

    async def renew_hold(self, order_id: int, *, expires_at: datetime) -> None:
        await _round_trip()
        self._change(order_id, status=OrderStatus.HELD, hold_expires_at=_utc(expires_at))

    async def paid_timeline(self, event_id: int) -> list[tuple[datetime, int, int]]:
        await _round_trip()
        paid = [o for o in self._t.orders.values() if o.event_id == event_id
                and o.status is OrderStatus.PAID and o.paid_at is not None]
        return [(o.paid_at, o.ticket_type_id, o.quantity)
                for o in sorted(paid, key=lambda o: (o.paid_at, o.id)) if o.paid_at]

    async def mark_paid(self, order_id: int, *, now: datetime) -> None:
        await _round_trip()
        self._change(order_id, status=OrderStatus.PAID, paid_at=_utc(now))

    async def return_seats(self, order_id: int, count: int) -> None:
        await _round_trip()
        self._tx.locks.require(locking.order(order_id))
        order = self._tx.write().orders[order_id]
        self._change(order_id, refunded_quantity=order.refunded_quantity + count)

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
        if entry_id is not None and entry_id not in tables.entries:
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

    async def paying_for_order(self, order_id: int) -> PaymentRecord | None:
        await _round_trip()
        tables = self._t
        entries = {e.entry.id for e in tables.entries.values() if e.entry.order_id == order_id}
        whole = {r.refund.payment_id for r in tables.refunds.values()
                 if r.refund.ticket_id is None}
        paying = sorted((row.record for row in tables.payments.values()
                         if (row.record.order_id == order_id or row.record.entry_id in entries)
                         and row.record.id not in whole), key=lambda r: r.id)
        return paying[0] if paying else None


class InMemoryRefundRepository(_Repo):
    """Refunds owed and their progress; one per payment."""

    async def request(self, payment: PaymentRecord, *, amount: Money, reason: RefundReason,
                      now: datetime, ticket_id: int | None = None,
                      note: str | None = None) -> Refund:
        await _round_trip()
        tables = self._tx.write()
        for row in tables.refunds.values():
            # ON CONFLICT DO NOTHING: one whole refund per payment, one per ticket.
            if (ticket_id is None and row.refund.payment_id == payment.id
                    and row.refund.ticket_id is None) or (
                    ticket_id is not None and row.refund.ticket_id == ticket_id):
                return row.refund
        if ticket_id is not None and ticket_id not in tables.tickets:
            raise IntegrityError(f"refunds.ticket_id {ticket_id} does not exist")
        if payment.id not in tables.payments:
            raise IntegrityError(f"refunds.payment_id {payment.id} does not exist")
        event_id = None
        if payment.order_id is not None:
            order = tables.orders.get(payment.order_id)
            event_id = order.event_id if order else None
        elif payment.entry_id is not None:
            entry = tables.entries.get(payment.entry_id)
            event_id = entry.entry.event_id if entry else None
        refund_id = self._tx.seq.next("refunds")
        refund = Refund(
            id=refund_id, payment_id=payment.id, user_id=payment.user_id,
            chat_id=payment.chat_id, amount=amount, reason=reason,
            status=RefundStatus.PENDING, provider_charge_id=payment.provider_charge_id,
            attempts=0, ticket_id=ticket_id, note=note)
        tables.refunds[refund_id] = _RefundRow(refund, event_id, _utc(now), _utc(now))
        return refund

    async def refunded_minor(self, payment_id: int) -> int:
        await _round_trip()
        return sum(row.refund.amount.amount for row in self._t.refunds.values()
                   if row.refund.payment_id == payment_id)

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

    async def revoke(self, ticket_id: int, *, reason: RevokeReason) -> None:
        await _round_trip()
        self._tx.locks.require(locking.ticket(ticket_id))
        tables = self._tx.write()
        ticket = tables.tickets.get(ticket_id)
        if ticket is not None:
            tables.tickets[ticket_id] = replace(ticket, status=TicketStatus.REVOKED,
                                                revoked_reason=reason)

    async def reissue(self, ticket: Ticket, *, owner_user_id: int, now: datetime) -> Ticket:
        await _round_trip()
        self._tx.locks.require(locking.ticket(ticket.id))
        tables = self._tx.write()
        taken = {t.short_code for t in tables.tickets.values()}
        code = new_short_code()
        while code in taken:
            code = new_short_code()
        ticket_id = self._tx.seq.next("tickets")
        new = Ticket(id=ticket_id, order_id=ticket.order_id, event_id=ticket.event_id,
                     ticket_type_id=ticket.ticket_type_id, owner_user_id=owner_user_id,
                     token=new_token(), short_code=code, status=TicketStatus.VALID,
                     issued_at=_utc(now), transfer_count=ticket.transfer_count + 1,
                     transferred_from=ticket.id)
        tables.tickets[ticket_id] = new
        return new


    async def export_rows(self, event_id: int) -> list[tuple[object, ...]]:
        await _round_trip()
        tables = self._t
        first_valid: dict[int, CheckinRecord] = {}
        for record in sorted(tables.checkins.values(), key=lambda c: (c.scanned_at, c.id)):
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
                scan.scanned_at if scan else None, staff.first_name if staff else None,
                ticket.revoked_reason.value if ticket.revoked_reason else None,
                ticket.transferred_from, ticket.transfer_count))
        return rows


class InMemoryTransferRepository(_Repo):
    """Claim links of ticket transfers (written under their ticket's lock, as in SQL)."""

    async def add(self, *, ticket_id: int, event_id: int, from_user_id: int, token: str,
                  confirm_code: int, now: datetime, expires_at: datetime) -> Transfer:
        await _round_trip()
        self._tx.locks.require(locking.ticket(ticket_id))
        tables = self._tx.write()
        if any(x.token == token for x in tables.transfers.values()):
            raise IntegrityError("transfers.token must be unique")
        if ticket_id not in tables.tickets or event_id not in tables.events:
            raise IntegrityError("transfers: ticket or event does not exist")
        transfer_id = self._tx.seq.next("transfers")
        transfer = Transfer(
            id=transfer_id, ticket_id=ticket_id, event_id=event_id,
            from_user_id=from_user_id, token=token, confirm_code=confirm_code,
            status=TransferStatus.PENDING, created_at=_utc(now), expires_at=_utc(expires_at))
        tables.transfers[transfer_id] = transfer
        return transfer

    async def get(self, transfer_id: int) -> Transfer | None:
        await _round_trip()
        return self._t.transfers.get(transfer_id)

    async def by_token(self, token: str) -> Transfer | None:
        await _round_trip()
        return next((x for x in self._t.transfers.values() if x.token == token), None)

    async def pending_for_ticket(self, ticket_id: int, *, now: datetime) -> Transfer | None:
        await _round_trip()
        live = [x for x in self._t.transfers.values()
                if x.ticket_id == ticket_id and x.status is TransferStatus.PENDING
                and x.expires_at > now]
        return max(live, key=lambda x: x.id) if live else None

    def _set(self, transfer_id: int, **values: Any) -> None:
        tables = self._tx.write()
        transfer = tables.transfers[transfer_id]
        self._tx.locks.require(locking.ticket(transfer.ticket_id))
        tables.transfers[transfer_id] = replace(transfer, **values)

    async def mark_claimed(self, transfer_id: int, *, claimed_by: int, new_ticket_id: int,
                           now: datetime) -> None:
        await _round_trip()
        self._set(transfer_id, status=TransferStatus.CLAIMED, claimed_by=claimed_by,
                  claimed_at=_utc(now), new_ticket_id=new_ticket_id)

    async def mark_cancelled(self, transfer_id: int, *, now: datetime) -> None:
        await _round_trip()
        self._set(transfer_id, status=TransferStatus.CANCELLED, cancelled_at=_utc(now))

    async def claimed_count(self, event_id: int) -> int:
        await _round_trip()
        return sum(1 for x in self._t.transfers.values()
                   if x.event_id == event_id and x.status is TransferStatus.CLAIMED)


class InMemoryCheckinRepository(_Repo):
    """The append-only check-in log."""

    async def append(self, *, ticket_id: int, event_id: int, staff_user_id: int,
                     verdict: Verdict, nonce: str, now: datetime,
                     synced_at: datetime | None = None) -> CheckinRecord:
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
                               scanned_at=_utc(now), nonce=nonce,
                               synced_at=_utc(synced_at) if synced_at else None)
        tables.checkins[checkin_id] = record
        return record

    async def by_nonce(self, nonce: str) -> CheckinRecord | None:
        await _round_trip()
        nonce = nonce[:64]
        return next((c for c in self._t.checkins.values() if c.nonce == nonce), None)

    async def first_admission(self, ticket_id: int) -> CheckinRecord | None:
        admissions = await self.admissions(ticket_id)
        return admissions[0] if admissions else None

    async def admissions(self, ticket_id: int) -> list[CheckinRecord]:
        await _round_trip()
        return sorted((c for c in self._t.checkins.values()
                       if c.ticket_id == ticket_id and c.verdict is Verdict.VALID),
                      key=lambda c: (c.scanned_at, c.id))

    def _first_admissions(self, event_ids: Collection[int]) -> dict[int, CheckinRecord]:
        first: dict[int, CheckinRecord] = {}
        for c in sorted(self._t.checkins.values(), key=lambda c: (c.scanned_at, c.id)):
            if c.event_id in event_ids and c.verdict is Verdict.VALID:
                first.setdefault(c.ticket_id, c)
        return first

    async def pack_tickets(self, event_ids: Collection[int]) -> list[PackTicket]:
        await _round_trip()
        tables = self._t
        first = self._first_admissions(set(event_ids))
        out = []
        for ticket in sorted(tables.tickets.values(), key=lambda t: t.id):
            if ticket.event_id not in event_ids:
                continue
            scan = first.get(ticket.id)
            staff = tables.users.get(scan.staff_user_id) if scan else None
            out.append(PackTicket(
                ticket_id=ticket.id, event_id=ticket.event_id, token=ticket.token,
                ticket_type=tables.ticket_types[ticket.ticket_type_id].name,
                revoked=ticket.status is TicketStatus.REVOKED,
                cancelled=tables.events[ticket.event_id].event.status is EventStatus.CANCELLED,
                admitted_at=scan.scanned_at if scan else None,
                admitted_by=staff.first_name if staff else None))
        return out

    async def admission_times(self, event_id: int) -> list[datetime]:
        await _round_trip()
        return sorted(c.scanned_at for c in self._first_admissions({event_id}).values())

    async def duplicates(self, event_id: int) -> list[CheckinRecord]:
        await _round_trip()
        valid = [c for c in self._t.checkins.values()
                 if c.event_id == event_id and c.verdict is Verdict.VALID]
        counts: dict[int, int] = {}
        for c in valid:
            counts[c.ticket_id] = counts.get(c.ticket_id, 0) + 1
        return sorted((c for c in valid if counts[c.ticket_id] > 1),
                      key=lambda c: (c.ticket_id, c.scanned_at, c.id))

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
            known.created_at if known else _utc(now), _utc(now),
            known.language if known else None)

    async def first_name(self, user_id: int) -> str | None:
        await _round_trip()
        user = self._t.users.get(user_id)
        return user.first_name if user else None

    async def language(self, user_id: int) -> str | None:
        await _round_trip()
        user = self._t.users.get(user_id)
        return user.language if user else None

    async def remember_language(self, *, user_id: int, first_name: str, language: str,
                                language_code: str | None, now: datetime) -> str:
        await _round_trip()
        tables = self._tx.write()
        known = tables.users.get(user_id)
        if known is None:
            tables.users[user_id] = _UserRow(user_id, first_name[:128], language_code,
                                             _utc(now), _utc(now), language)
            return language
        if known.language is None:
            tables.users[user_id] = replace(known, language=language)
            return language
        return known.language

    async def choose_language(self, *, user_id: int, first_name: str, language: str,
                              now: datetime) -> None:
        await _round_trip()
        tables = self._tx.write()
        known = tables.users.get(user_id)
        tables.users[user_id] = (
            replace(known, language=language) if known is not None
            else _UserRow(user_id, first_name[:128], None, _utc(now), _utc(now), language))


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


_PAID = (EntryStatus.ENTERED, EntryStatus.WON, EntryStatus.LOST)


class InMemoryLotteryRepository(_Repo):
    """Lottery state on events, entries, verified phones and the draw's bookkeeping, with
    the entries' unique keys (one paid entry per account and per phone in a lottery, one
    public reference per lottery) and the ``draw_order`` keys."""

    def _event_row(self, event_id: int) -> _EventRow:
        row = self._t.events.get(event_id)
        if row is None:  # the SQL's scalar_one() / one()
            raise LookupError(f"event {event_id} does not exist")
        return row

    async def due(self, *, now: datetime) -> list[Event]:
        await _round_trip()
        due = [row.event for row in self._t.events.values()
               if row.event.sale_mode is SaleMode.LOTTERY
               and row.event.status is EventStatus.PUBLISHED
               and row.event.lottery_state in (LotteryState.OPEN, LotteryState.CLOSED)
               and row.event.lottery is not None
               and row.event.lottery.entries_close_at <= now]
        return sorted(due, key=lambda e: (e.lottery.draw_at if e.lottery else now, e.id))

    async def set_state(self, event_id: int, state: LotteryState, *, now: datetime) -> None:
        await _round_trip()
        self._tx.locks.require(locking.event(event_id))
        tables = self._tx.write()
        row = tables.events.get(event_id)
        if row is None:
            return
        values: dict[str, Any] = {}
        if state is LotteryState.CLOSED:
            values["closed_at"] = _utc(now)
        elif state is LotteryState.DRAWN:
            values["drawn_at"] = _utc(now)
        tables.events[event_id] = replace(row, event=replace(row.event, lottery_state=state),
                                          **values)

    async def seed(self, event_id: int) -> bytes:
        await _round_trip()
        seed = self._event_row(event_id).lottery_seed
        if seed is None:
            raise TypeError(f"event {event_id} has no lottery seed")
        return bytes.fromhex(seed)

    async def fairness(self, event_id: int) -> Fairness:
        await _round_trip()
        row = self._event_row(event_id)
        return Fairness(commitment=row.lottery_commitment, list_hash=row.lottery_list_hash,
                        uses_beacon=bool(row.event.lottery and row.event.lottery.beacon),
                        beacon_round=row.beacon_round, beacon_value=row.beacon_value)

    async def _set_event(self, event_id: int, **columns: Any) -> None:
        await _round_trip()
        self._tx.locks.require(locking.event(event_id))
        tables = self._tx.write()
        row = tables.events.get(event_id)
        if row is not None:
            tables.events[event_id] = replace(row, **columns)

    async def record_list_hash(self, event_id: int, list_hash: str) -> None:
        await self._set_event(event_id, lottery_list_hash=list_hash)

    async def fix_beacon_round(self, event_id: int, round_number: int) -> None:
        await self._set_event(event_id, beacon_round=round_number)

    async def record_beacon_value(self, event_id: int, value_hex: str) -> None:
        await self._set_event(event_id, beacon_value=value_hex)

    async def needing_beacon_round(self) -> list[int]:
        await _round_trip()
        return sorted(event_id for event_id, row in self._t.events.items()
                      if row.event.lottery is not None and row.event.lottery.beacon
                      and row.beacon_round is None
                      and row.event.lottery_state is LotteryState.OPEN)

    def _paid_rows(self, event_id: int) -> list[EntryRow]:
        types = self._t.ticket_types
        rows = [(r.entry.id, r.entry.ref or "", r.entry.quantity,
                 types[r.entry.ticket_type_id].name)
                for r in self._t.entries.values()
                if r.entry.event_id == event_id and r.entry.status in _PAID]
        return sorted(rows, key=lambda row: row[1])

    async def public_entries(self, event_id: int) -> list[tuple[int, PublicEntry]]:
        await _round_trip()
        return [(i, PublicEntry(ref, quantity, name))
                for i, ref, quantity, name in self._paid_rows(event_id)]

    async def public_entry_rows(self, event_id: int) -> list[EntryRow]:
        await _round_trip()
        return self._paid_rows(event_id)

    async def add_pending(self, *, user_id: int, chat_id: int, ticket_type: TicketType,
                          quantity: int, now: datetime) -> Entry:
        await _round_trip()
        tables = self._tx.write()
        for row in list(tables.entries.values()):
            entry = row.entry
            if (entry.event_id, entry.user_id, entry.status) == (
                    ticket_type.event_id, user_id, EntryStatus.PENDING):
                tables.entries[entry.id] = replace(
                    row, entry=replace(entry, status=EntryStatus.VOID))
        if ticket_type.id not in tables.ticket_types:
            raise IntegrityError(f"entries.ticket_type_id {ticket_type.id} does not exist")
        entry_id = self._tx.seq.next("entries")
        entry = Entry(id=entry_id, event_id=ticket_type.event_id,
                      ticket_type_id=ticket_type.id, user_id=user_id, chat_id=chat_id,
                      quantity=quantity, unit_price=ticket_type.price,
                      status=EntryStatus.PENDING, created_at=_utc(now))
        tables.entries[entry_id] = _EntryRow(entry)
        return entry

    async def get(self, entry_id: int, *, lock: bool = False) -> Entry | None:
        await _round_trip()
        if lock:
            self._tx.locks.admit(locking.entry(entry_id))
        row = self._t.entries.get(entry_id)
        return row.entry if row else None

    async def active_for_user(self, *, event_id: int, user_id: int) -> Entry | None:
        await _round_trip()
        return next((r.entry for _, r in sorted(self._t.entries.items())
                     if r.entry.event_id == event_id and r.entry.user_id == user_id
                     and r.entry.status in _PAID), None)

    async def mark_entered(self, entry_id: int, *, now: datetime,
                           phone_hash: str | None = None) -> None:
        await _round_trip()
        tables = self._tx.write()
        row = tables.entries.get(entry_id)
        if row is None:  # the SQL's scalar_one() on the entry's event
            raise LookupError(f"entry {entry_id} does not exist")
        event_id = row.entry.event_id
        refs = {r.entry.ref for r in tables.entries.values() if r.entry.event_id == event_id}
        ref = new_reference()
        while ref in refs:  # a public reference unique within the lottery
            ref = new_reference()
        entered = _EntryRow(replace(row.entry, status=EntryStatus.ENTERED, paid_at=_utc(now),
                                    ref=ref), phone_hash)
        for other in tables.entries.values():  # the partial unique indexes on paid entries
            if other.entry.id == entry_id or other.entry.event_id != event_id \
                    or other.entry.status not in _PAID:
                continue
            if other.entry.user_id == row.entry.user_id:
                raise IntegrityError("uq_entries_one_paid_per_user")
            if phone_hash is not None and other.phone_hash == phone_hash:
                raise IntegrityError("uq_entries_one_paid_per_phone")
        tables.entries[entry_id] = entered

    async def verified_phone(self, user_id: int) -> str | None:
        await _round_trip()
        row = self._t.verified_phones.get(user_id)
        return row.phone_hash if row else None

    async def set_verified_phone(self, user_id: int, phone_hash: str, *,
                                 now: datetime) -> None:
        await _round_trip()
        self._tx.write().verified_phones[user_id] = _PhoneRow(phone_hash, _utc(now))

    async def phone_entered(self, event_id: int, phone_hash: str) -> bool:
        await _round_trip()
        return any(r.entry.event_id == event_id and r.phone_hash == phone_hash
                   and r.entry.status in _PAID for r in self._t.entries.values())

    async def void_pending(self, event_id: int) -> int:
        await _round_trip()
        return _void_pending(self._tx.write(), event_id)

    async def candidates(self, event_id: int) -> list[Candidate]:
        await _round_trip()
        return [Candidate(r.entry.id, r.entry.ticket_type_id, r.entry.quantity)
                for _, r in sorted(self._t.entries.items())
                if r.entry.event_id == event_id and r.entry.status is EntryStatus.ENTERED]

    async def for_user(self, user_id: int) -> list[Entry]:
        await _round_trip()
        drawn = {row.entry_id: (position, row.won)
                 for (_, position), row in self._t.draw_order.items()}

        def seen(entry: Entry) -> Entry:
            position, won = drawn.get(entry.id, (None, None))
            status = entry.status
            if status is EntryStatus.ENTERED and won is False:
                status = EntryStatus.LOST  # as the SQL: drawn, its refund batch to come
            return replace(entry, draw_position=position, status=status)

        return [seen(r.entry) for _, r in sorted(self._t.entries.items(), reverse=True)
                if r.entry.user_id == user_id and r.entry.status in _PAID]

    async def tally(self, event_id: int) -> EntryTally:
        await _round_trip()
        paid = [r.entry for r in self._t.entries.values()
                if r.entry.event_id == event_id and r.entry.status in _PAID]
        won = [e for e in paid if e.status is EntryStatus.WON]
        of_event = {r.entry.id for r in self._t.entries.values()
                    if r.entry.event_id == event_id}
        money = sum(row.record.amount.amount for row in self._t.payments.values()
                    if row.record.entry_id in of_event)
        return EntryTally(entries=len(paid), tickets_asked=sum(e.quantity for e in paid),
                          winners=len(won), tickets_won=sum(e.quantity for e in won),
                          paid_minor=money)

    async def record_draw(self, plan: DrawSettlement, result: DrawResult, *,
                          now: datetime) -> dict[str, int]:
        """As the SQL: 1. the whole order into ``draw_order``; 2. each winning entry (by id)
        marked won, a paid order, its tickets and the winner's message and QR codes (a plain
        insert: a key queued before is an error). The losers stay entered."""
        await _round_trip()
        event = plan.event
        tables = self._tx.write()
        # 1. The complete order.
        for position, entry_id in enumerate(result.order, start=1):
            if (event.id, position) in tables.draw_order:
                raise IntegrityError("draw_order (event_id, position) must be unique")
            if entry_id not in tables.entries or any(
                    row.entry_id == entry_id for row in tables.draw_order.values()):
                raise IntegrityError(f"draw_order.entry_id {entry_id}: missing or drawn")
            tables.draw_order[(event.id, position)] = _DrawRow(entry_id,
                                                               entry_id in result.winners)
        winners = sorted(result.winners)
        tickets = self._ticket_winners(plan, winners, now)
        return {"entries": len(result.order), "winners": len(winners), "tickets": tickets,
                "losers": len(result.order) - len(winners)}

    async def settle_losers(self, plan: DrawSettlement, *, limit: int,
                            now: datetime) -> tuple[int, int | None]:
        """As the SQL: up to ``limit`` entered entries of the event (any of them) marked
        lost, their payments owed back (skipping one refunded already), items queued."""
        await _round_trip()
        event_id = plan.event.id
        self._tx.locks.require(locking.event(event_id))
        tables = self._tx.write()
        ids = [row.entry.id for row in tables.entries.values()
               if row.entry.event_id == event_id
               and row.entry.status is EntryStatus.ENTERED][:limit]
        if not ids:
            return 0, None
        batch = set(ids)
        _owe_back(self._tx, plan.loser_refund, event_id,
                  (lambda p: p.entry_id in batch,), now)
        for entry_id in ids:
            row = tables.entries[entry_id]
            tables.entries[entry_id] = replace(row, entry=replace(row.entry,
                                                                  status=EntryStatus.LOST))
        return len(ids), min(ids)

    def _ticket_winners(self, plan: DrawSettlement, winners: list[int], now: datetime) -> int:
        tables = self._tx.write()
        issued = 0
        codes = {t.short_code for t in tables.tickets.values()}
        tokens = {t.token for t in tables.tickets.values()}
        for entry_id in winners:  # ascending entry id, as the SQL's chunks
            row = tables.entries.get(entry_id)
            if row is None:
                continue  # the SQL's SELECT ... WHERE id IN (...) finds nothing
            entry = row.entry
            order_id = self._tx.seq.next("orders")
            order = Order(id=order_id, user_id=entry.user_id, event_id=entry.event_id,
                          ticket_type_id=entry.ticket_type_id, quantity=entry.quantity,
                          unit_price=entry.unit_price, status=OrderStatus.PAID,
                          created_at=_utc(now), hold_expires_at=_utc(now), paid_at=_utc(now))
            tables.orders[order_id] = order
            tables.entries[entry_id] = replace(row, entry=replace(
                entry, order_id=order_id, status=EntryStatus.WON))
            ticket_ids = []
            for _ in range(entry.quantity):
                code = new_short_code()
                while code in codes:
                    code = new_short_code()
                token = new_token()
                if token in tokens:
                    raise IntegrityError("tickets.token must be unique")
                codes.add(code)
                tokens.add(token)
                ticket_id = self._tx.seq.next("tickets")
                tables.tickets[ticket_id] = Ticket(
                    id=ticket_id, order_id=order_id, event_id=entry.event_id,
                    ticket_type_id=entry.ticket_type_id, owner_user_id=entry.user_id,
                    token=token, short_code=code, status=TicketStatus.VALID,
                    issued_at=_utc(now))
                ticket_ids.append(ticket_id)
            issued += len(ticket_ids)
            message = plan.winner_message(
                ticket_type=tables.ticket_types[entry.ticket_type_id].name,
                quantity=entry.quantity, total=entry.unit_price.times(entry.quantity))
            _queue(self._tx, outbox_codec.MESSAGE, message.payload(),
                   plan.winner_key.of(entry_id), entry.chat_id, now, on_conflict="raise")
            for ticket_id in ticket_ids:
                _queue(self._tx, outbox_codec.TICKET, {"ticket_id": ticket_id},
                       plan.ticket_key.of(ticket_id), entry.chat_id, now,
                       on_conflict="raise")
        return issued


class InMemoryDraftRepository(_Repo):
    """The wizard's drafts, stored as the SQL stores them (the cursor and the answers as
    JSON text) and restored the same way."""

    async def get(self, user_id: int, *, lock: bool = False) -> Draft | None:
        await _round_trip()
        if lock:
            self._tx.locks.admit(locking.draft(user_id))
        row = self._t.event_drafts.get(user_id)
        if row is None:
            return None
        try:
            doc = json.loads(row.data)
        except ValueError:
            doc = {}
        return Draft(doc if isinstance(doc, dict) else {}, row.step, row.event_id)

    async def put(self, user_id: int, draft: Draft, *, now: datetime) -> None:
        await _round_trip()
        tables = self._tx.write()
        if draft.event_id is not None and draft.event_id not in tables.events:
            raise IntegrityError(f"event_drafts.event_id {draft.event_id} does not exist")
        tables.event_drafts[user_id] = _DraftRow(
            draft.event_id, draft.cursor, json.dumps(draft.doc, ensure_ascii=False), _utc(now))

    async def delete(self, user_id: int) -> bool:
        await _round_trip()
        return self._tx.write().event_drafts.pop(user_id, None) is not None


class InMemoryReturnsRepository(_Repo):
    """Return policies, returns, waiting lists and offers (as ``SqlReturnsRepository``)."""

    async def policy(self, event_id: int) -> ReturnPolicy | None:
        await _round_trip()
        return self._t.return_policies.get(event_id)

    async def set_policy(self, event_id: int, policy: ReturnPolicy) -> None:
        await _round_trip()
        tables = self._tx.write()
        if event_id not in tables.events:
            raise IntegrityError(f"return_policies.event_id {event_id} does not exist")
        tables.return_policies[event_id] = replace(
            policy, until=_utc(policy.until) if policy.until else None)

    async def join(self, *, ticket_type: TicketType, user_id: int, chat_id: int,
                   quantity: int, now: datetime) -> WaitlistEntry | None:
        await _round_trip()
        tables = self._tx.write()
        if any(e.ticket_type_id == ticket_type.id and e.user_id == user_id
               for e in tables.waitlist.values()):
            return None  # ON CONFLICT (ticket_type_id, user_id) DO NOTHING
        entry_id = self._tx.seq.next("waitlist")
        entry = WaitlistEntry(
            id=entry_id, event_id=ticket_type.event_id, ticket_type_id=ticket_type.id,
            user_id=user_id, chat_id=chat_id, quantity=quantity, status=WaitStatus.WAITING,
            joined_at=_utc(now))
        tables.waitlist[entry_id] = entry
        return entry

    async def entry_for(self, *, user_id: int, ticket_type_id: int) -> WaitlistEntry | None:
        await _round_trip()
        return next((e for e in self._t.waitlist.values()
                     if e.user_id == user_id and e.ticket_type_id == ticket_type_id), None)

    async def waiting(self, ticket_type_id: int) -> list[WaitlistEntry]:
        await _round_trip()
        return sorted((e for e in self._t.waitlist.values()
                       if e.ticket_type_id == ticket_type_id
                       and e.status is WaitStatus.WAITING), key=lambda e: e.place)

    async def add_return(self, order: Order, *, chat_id: int,
                         now: datetime) -> TicketReturn | None:
        await _round_trip()
        tables = self._tx.write()
        if order.id not in tables.orders:
            raise IntegrityError(f"ticket_returns.order_id {order.id} does not exist")
        if any(r.order_id == order.id for r in tables.ticket_returns.values()):
            return None
        ret_id = self._tx.seq.next("ticket_returns")
        ret = TicketReturn(
            id=ret_id, order_id=order.id, event_id=order.event_id,
            ticket_type_id=order.ticket_type_id, user_id=order.user_id, chat_id=chat_id,
            quantity=order.quantity, status=ReturnStatus.OPEN, created_at=_utc(now))
        tables.ticket_returns[ret_id] = ret
        return ret

    async def return_of(self, order_id: int) -> TicketReturn | None:
        await _round_trip()
        return next((r for r in self._t.ticket_returns.values() if r.order_id == order_id),
                    None)

    async def open_returns(self, ticket_type_id: int) -> list[TicketReturn]:
        await _round_trip()
        return sorted((r for r in self._t.ticket_returns.values()
                       if r.ticket_type_id == ticket_type_id
                       and r.status is ReturnStatus.OPEN), key=lambda r: r.id)

    async def add_offer(self, ret: TicketReturn, entry: WaitlistEntry, *, unit_price_minor: int,
                        currency: str, now: datetime, expires_at: datetime) -> Order:
        await _round_trip()
        tables = self._tx.write()
        order_id = self._tx.seq.next("orders")
        order = Order(
            id=order_id, user_id=entry.user_id, event_id=ret.event_id,
            ticket_type_id=ret.ticket_type_id, quantity=ret.quantity,
            unit_price=Money(unit_price_minor, currency), status=OrderStatus.HELD,
            created_at=_utc(now), hold_expires_at=_utc(expires_at), resale_of=ret.order_id)
        tables.orders[order_id] = order
        tables.ticket_returns[ret.id] = replace(tables.ticket_returns[ret.id],
                                                status=ReturnStatus.OFFERED,
                                                offer_order_id=order_id)
        tables.waitlist[entry.id] = replace(tables.waitlist[entry.id],
                                            status=WaitStatus.OFFERED, offer_order_id=order_id)
        return order

    async def offer_of(self, offer_order_id: int) -> tuple[TicketReturn, WaitlistEntry] | None:
        await _round_trip()
        ret = next((r for r in self._t.ticket_returns.values()
                    if r.offer_order_id == offer_order_id), None)
        entry = next((e for e in self._t.waitlist.values()
                      if e.offer_order_id == offer_order_id), None)
        return (ret, entry) if ret is not None and entry is not None else None

    async def add_seat_offer(self, entry: WaitlistEntry, *, quantity: int,
                             unit_price_minor: int, currency: str, now: datetime,
                             expires_at: datetime) -> Order:
        await _round_trip()
        tables = self._tx.write()
        order_id = self._tx.seq.next("orders")
        order = Order(
            id=order_id, user_id=entry.user_id, event_id=entry.event_id,
            ticket_type_id=entry.ticket_type_id, quantity=quantity,
            unit_price=Money(unit_price_minor, currency), status=OrderStatus.HELD,
            created_at=_utc(now), hold_expires_at=_utc(expires_at))
        tables.orders[order_id] = order
        tables.waitlist[entry.id] = replace(tables.waitlist[entry.id],
                                            status=WaitStatus.OFFERED, offer_order_id=order_id)
        return order

    async def offer_entry(self, offer_order_id: int) -> WaitlistEntry | None:
        await _round_trip()
        return next((e for e in self._t.waitlist.values()
                     if e.offer_order_id == offer_order_id), None)

    async def lapsed_entries(self, *, now: datetime, limit: int) -> list[WaitlistEntry]:
        await _round_trip()
        stale = []
        for entry in self._t.waitlist.values():
            if entry.status is not WaitStatus.OFFERED or entry.offer_order_id is None:
                continue
            order = self._t.orders[entry.offer_order_id]
            if order.status in (OrderStatus.RELEASED, OrderStatus.REJECTED) or (
                    order.status is OrderStatus.HELD and order.hold_expires_at <= now):
                stale.append(entry)
        return sorted(stale, key=lambda e: e.offer_order_id or 0)[:limit]

    async def lapse(self, entry: WaitlistEntry, *, now: datetime) -> None:
        await _round_trip()
        tables = self._tx.write()
        assert entry.offer_order_id is not None
        order = tables.orders[entry.offer_order_id]
        if order.status is OrderStatus.HELD:
            tables.orders[order.id] = replace(order, status=OrderStatus.RELEASED)
        tables.waitlist[entry.id] = replace(tables.waitlist[entry.id],
                                            status=WaitStatus.LAPSED)
        for ret in list(tables.ticket_returns.values()):
            if ret.offer_order_id == entry.offer_order_id \
                    and ret.status is ReturnStatus.OFFERED:
                tables.ticket_returns[ret.id] = replace(ret, status=ReturnStatus.OPEN,
                                                        offer_order_id=None)

    async def mark_offer_paid(self, offer_order_id: int, *, now: datetime) -> None:
        await _round_trip()
        tables = self._tx.write()
        for entry in list(tables.waitlist.values()):
            if entry.offer_order_id == offer_order_id:
                tables.waitlist[entry.id] = replace(entry, status=WaitStatus.PAID)

    async def lotteries_to_seed(self) -> list[int]:
        await _round_trip()
        queued = {e.event_id for e in self._t.waitlist.values()}
        return sorted(event_id for event_id, row in self._t.events.items()
                      if row.event.lottery_state is LotteryState.DRAWN
                      and row.event.status is EventStatus.PUBLISHED
                      and event_id in self._t.return_policies and event_id not in queued)

    async def seed_second_chance(self, event_id: int, *, now: datetime) -> int:
        await _round_trip()
        tables = self._tx.write()
        queued = 0
        for (event, position), row in sorted(tables.draw_order.items()):
            if event != event_id or row.won:
                continue
            entry = tables.entries[row.entry_id].entry
            if any(w.ticket_type_id == entry.ticket_type_id and w.user_id == entry.user_id
                   for w in tables.waitlist.values()):
                continue
            waitlist_id = self._tx.seq.next("waitlist")
            tables.waitlist[waitlist_id] = WaitlistEntry(
                id=waitlist_id, event_id=event_id, ticket_type_id=entry.ticket_type_id,
                user_id=entry.user_id, chat_id=entry.chat_id, quantity=entry.quantity,
                status=WaitStatus.WAITING, joined_at=_utc(now), draw_position=position,
                entry_ref=entry.ref)
            queued += 1
        return queued

    async def second_chance(self, event_id: int) -> list[tuple[str, int, str, str]]:
        await _round_trip()
        offers = []
        for entry in self._t.waitlist.values():
            if entry.event_id != event_id or entry.draw_position is None \
                    or entry.offer_order_id is None:
                continue
            order = self._t.orders[entry.offer_order_id]
            offers.append((order.id, (str(entry.entry_ref), order.quantity,
                                      "return" if order.resale_of is not None else "unclaimed",
                                      entry.status.value)))
        return [offer for _, offer in sorted(offers)]

    async def resell(self, ret: TicketReturn, *, now: datetime) -> None:
        await _round_trip()
        tables = self._tx.write()
        tables.ticket_returns[ret.id] = replace(tables.ticket_returns[ret.id],
                                                status=ReturnStatus.RESOLD)
        for entry in list(tables.waitlist.values()):
            if entry.offer_order_id == ret.offer_order_id:
                tables.waitlist[entry.id] = replace(entry, status=WaitStatus.PAID)
        tables.orders[ret.order_id] = replace(tables.orders[ret.order_id],
                                              status=OrderStatus.RETURNED)

    async def types_to_match(self) -> list[int]:
        await _round_trip()
        waiting = {e.ticket_type_id for e in self._t.waitlist.values()
                   if e.status is WaitStatus.WAITING}
        return sorted({r.ticket_type_id for r in self._t.ticket_returns.values()
                       if r.status is ReturnStatus.OPEN and r.ticket_type_id in waiting})

    async def counts(self, event_id: int | None = None) -> AfterSaleCounts:
        await _round_trip()
        returns = [r for r in self._t.ticket_returns.values()
                   if event_id is None or r.event_id == event_id]
        waits = [e for e in self._t.waitlist.values()
                 if event_id is None or e.event_id == event_id]
        offers = [e for e in waits if e.offer_order_id is not None]
        return AfterSaleCounts(
            returns=len(returns),
            resold=sum(r.status is ReturnStatus.RESOLD for r in returns),
            waiting=sum(e.status is WaitStatus.WAITING for e in waits), offers=len(offers),
            lapsed=sum(e.status is WaitStatus.LAPSED for e in waits),
            paid=sum(e.status is WaitStatus.PAID for e in waits))


class InMemoryGroupRepository(_Repo):
    """Group sizes, invite links and companions (as ``SqlGroupRepository``)."""

    async def group_size(self, event_id: int) -> int:
        await _round_trip()
        return self._t.lottery_groups.get(event_id, 1)

    async def set_group_size(self, event_id: int, size: int) -> None:
        await _round_trip()
        self._tx.write().lottery_groups[event_id] = size

    async def invite_token(self, entry: Entry, *, now: datetime) -> str:
        await _round_trip()
        tables = self._tx.write()
        if entry.id not in tables.entries:
            raise IntegrityError(f"group_invites.entry_id {entry.id} does not exist")
        return tables.group_invites.setdefault(entry.id, new_group_token())

    async def entry_for_token(self, token: str) -> int | None:
        await _round_trip()
        return next((e for e, tok in self._t.group_invites.items() if tok == token), None)

    async def members(self, entry_id: int) -> list[GroupMember]:
        await _round_trip()
        return sorted((m for m in self._t.group_members.values() if m.entry_id == entry_id),
                      key=lambda m: m.id)

    async def member_of(self, event_id: int, user_id: int) -> GroupMember | None:
        await _round_trip()
        return next((m for m in self._t.group_members.values()
                     if m.event_id == event_id and m.user_id == user_id), None)

    async def add_member(self, entry: Entry, *, user_id: int, chat_id: int,
                         now: datetime) -> GroupMember | None:
        await _round_trip()
        tables = self._tx.write()
        if any(m.event_id == entry.event_id and m.user_id == user_id
               for m in tables.group_members.values()):
            return None
        member_id = self._tx.seq.next("group_members")
        member = GroupMember(id=member_id, event_id=entry.event_id, entry_id=entry.id,
                             user_id=user_id, chat_id=chat_id, status=MemberStatus.INVITED,
                             joined_at=_utc(now))
        tables.group_members[member_id] = member
        return member

    async def confirm(self, member_id: int, *, phone_hash: str | None, now: datetime) -> None:
        await _round_trip()
        tables = self._tx.write()
        tables.group_members[member_id] = replace(
            tables.group_members[member_id], status=MemberStatus.CONFIRMED,
            phone_hash=phone_hash)

    async def phone_in_group(self, event_id: int, phone_hash: str) -> bool:
        await _round_trip()
        return any(m.event_id == event_id and m.phone_hash == phone_hash
                   and m.status is MemberStatus.CONFIRMED
                   for m in self._t.group_members.values())

    async def groups_of(self, event_id: int) -> list[tuple[Entry, list[GroupMember]]]:
        await _round_trip()
        by_entry: dict[int, list[GroupMember]] = {}
        for member in sorted(self._t.group_members.values(), key=lambda m: m.id):
            if member.event_id == event_id and member.status is MemberStatus.CONFIRMED:
                by_entry.setdefault(member.entry_id, []).append(member)
        return [(self._t.entries[e].entry, members) for e, members in sorted(by_entry.items())]

    async def give_ticket(self, ticket_id: int, user_id: int, *, chat_id: int) -> None:
        await _round_trip()
        tables = self._tx.write()
        tables.tickets[ticket_id] = replace(tables.tickets[ticket_id], owner_user_id=user_id)
        key = TICKET_KEY.of(ticket_id)
        for row_id, row in list(tables.outbox.items()):
            if row.dedupe_key == key:
                tables.outbox[row_id] = replace(row, chat_id=chat_id)

    async def group_counts(self, event_id: int | None = None) -> tuple[int, int]:
        await _round_trip()
        grouped = {m.entry_id for m in self._t.group_members.values()
                   if m.status is MemberStatus.CONFIRMED}
        statuses = [self._t.entries[e].entry.status for e in grouped
                    if event_id is None or self._t.entries[e].entry.event_id == event_id]
        return (sum(s is EntryStatus.WON for s in statuses),
                sum(s is EntryStatus.LOST for s in statuses))


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
        self.transfers = InMemoryTransferRepository(tx)
        self.checkins = InMemoryCheckinRepository(tx)
        self.roles = InMemoryRoleRepository(tx)
        self.users = InMemoryUserRepository(tx)
        self.outbox = InMemoryOutbox(tx)
        self.lottery = InMemoryLotteryRepository(tx)
        self.drafts = InMemoryDraftRepository(tx)
        self.returns = InMemoryReturnsRepository(tx)
        self.groups = InMemoryGroupRepository(tx)


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
    that waits for its retry or is in flight on another worker holds that chat's later items
    back; with a ``worker_id`` a claim holds its items for ``lease`` seconds."""

    def __init__(self, db: InMemoryDatabase, *, worker_id: str | None = None,
                 lease: float = 60.0) -> None:
        self._db = db
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease)

    def for_worker(self, worker_id: str, *, lease: float = 60.0) -> InMemoryOutboxStore:
        """The same outbox as seen by one of several workers."""
        return InMemoryOutboxStore(self._db, worker_id=worker_id, lease=lease)

    async def claim_due(self, *, now: datetime, limit: int) -> list[OutboxItem]:
        async with self._db.write() as uow:
            tables = uow.tx.write()
            rows = sorted(tables.outbox.values(), key=lambda r: r.id)
            me = self.worker_id or ""
            blocking = [r for r in rows if r.status == "pending" and (
                r.due_at > now or (r.lease_until is not None and r.lease_until > now
                                   and r.claimed_by != me))]
            due = [r for r in rows if r.status == "pending" and r.due_at <= now
                   and (r.lease_until is None or r.lease_until <= now or r.claimed_by == me)
                   and not any(w.chat_id is not None and w.chat_id == r.chat_id
                               and w.id < r.id for w in blocking)][:limit]
            if self.worker_id is not None:
                for r in due:
                    tables.outbox[r.id] = replace(r, claimed_by=self.worker_id,
                                                  lease_until=_utc(now + self.lease))
        return [OutboxItem(id=r.id, kind=r.kind,
                           payload=outbox_codec.decode(json.loads(r.payload)),
                           attempts=r.attempts, chat_id=r.chat_id) for r in due]

    async def renew_leases(self, *, now: datetime) -> int:
        if self.worker_id is None:
            return 0
        async with self._db.write() as uow:
            tables = uow.tx.write()
            mine = [r for r in tables.outbox.values() if r.claimed_by == self.worker_id
                    and r.status == "pending" and r.lease_until is not None
                    and r.lease_until > now]
            for r in mine:
                tables.outbox[r.id] = replace(r, lease_until=_utc(now + self.lease))
        return len(mine)

    async def _change(self, item_id: int, **values: Any) -> None:
        async with self._db.write() as uow:
            tables = uow.tx.write()
            row = tables.outbox.get(item_id)
            if row is not None and row.status == "pending":
                tables.outbox[item_id] = replace(row, attempts=row.attempts + 1,
                                                 lease_until=None, **values)

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
    """Never called: ``mypy tests/fakes.py`` checks here that the fake is a complete
    :class:`core.unit_of_work.UnitOfWork` and :class:`~core.unit_of_work.Database` with the
    ports' exact signatures (``tests/unit/test_ports_complete.py`` checks the same by name
    and signature at test time, for the fake and the SQL storage)."""
    from core.kernel.ports import OutboxStore
    from core.unit_of_work import Database, UnitOfWork

    uow: UnitOfWork = InMemoryUnitOfWork(tx)
    database: Database = db
    store: OutboxStore = db.outbox_store
    del uow, database, store
