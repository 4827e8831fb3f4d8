"""Narrow interfaces the domain needs from the outside world.

Storage (``bot/storage``), Stripe (``bot/payments``) and Telegram (``bot/messenger``) implement
these; services depend only on them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from core.access.model import Grant, Invite, Role
from core.catalog.model import Event, EventStatus, LotteryState, TicketType
from core.catalog.spec import EventSpec
from core.door.model import CheckinRecord, Verdict
from core.kernel.locking import Lock
from core.kernel.money import Money
from core.lottery.model import Candidate, DrawResult, DrawSettlement, Entry, EntryRow, PublicEntry
from core.organizer.plans import CancellationPlan, ReminderPlan
from core.payments.plans import RefundReason as RefundReason  # re-exported: its old home
from core.sales.model import HoldScreen, Order, ScreenState, Stock
from core.tickets.model import Ticket
from core.wizard import Draft


class RefundStatus(StrEnum):
    """A refund is pending until Stripe confirms it; ``failed`` needs the organizer."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class IncomingPayment:
    """What Telegram reports in ``successful_payment``."""

    user_id: int
    chat_id: int
    telegram_charge_id: str
    provider_charge_id: str
    payload: str
    amount: Money
    first_name: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    """A payment we received, stored once per Telegram charge id."""

    id: int
    order_id: int | None
    user_id: int
    chat_id: int
    telegram_charge_id: str
    provider_charge_id: str
    amount: Money
    received_at: datetime
    entry_id: int | None = None


@dataclass(frozen=True, slots=True)
class Refund:
    """Money owed back for one payment."""

    id: int
    payment_id: int
    user_id: int
    chat_id: int
    amount: Money
    reason: RefundReason
    status: RefundStatus
    provider_charge_id: str
    attempts: int
    provider_refund_id: str | None = None
    last_error: str | None = None

    @property
    def idempotency_key(self) -> str:
        """Stripe Idempotency-Key: one refund per payment, whatever the retries (one per
        charge for a charge refunded by reconciliation)."""
        if self.reason is RefundReason.UNCLAIMED_CHARGE:
            return f"tq-refund-charge-{self.provider_charge_id}"
        return f"tq-refund-{self.payment_id}"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A side effect waiting to leave the building."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    chat_id: int | None


@dataclass(frozen=True, slots=True)
class TicketTypeSales:
    """Sales figures of one ticket type."""

    ticket_type: TicketType
    stock: Stock
    revenue: Money


class EventRepository(Protocol):
    """Events and ticket types."""

    async def add(self, spec: EventSpec, *, created_by: int, now: datetime) -> Event:
        """Create an event with its ticket types."""
        ...

    async def get(self, event_id: int) -> Event | None:
        """One event or None."""
        ...

    async def list_published(self, *, now: datetime, offset: int, limit: int) -> list[Event]:
        """Published events that have not started, soonest first."""
        ...

    async def count_published(self, *, now: datetime) -> int:
        """How many events :meth:`list_published` would page through."""
        ...

    async def ticket_types(self, event_id: int) -> list[TicketType]:
        """An event's ticket types in display order."""
        ...

    async def get_ticket_type(self, ticket_type_id: int, *,
                              lock: bool = False) -> TicketType | None:
        """One ticket type; ``lock`` serializes seat allocation for it until commit."""
        ...

    async def lock(self, event_id: int, *, shared: bool = False) -> Event | None:
        """The event, read under its lock (:func:`core.locking.event`) until commit."""
        ...

    async def managed_by(self, user_id: int, *, all_events: bool = False) -> list[int]:
        """Ids of events this user created (every event when ``all_events``)."""
        ...

    async def set_status(self, event_id: int, status: EventStatus, *, now: datetime) -> None:
        """Publish, unpublish or cancel."""
        ...

    async def update(self, event_id: int, spec: EventSpec, *, now: datetime) -> None:
        """Overwrite an event's fields and its ticket types by position (the wizard's edit):
        existing types are updated in place, extra ones added; the status is left alone."""
        ...

    async def cancel_everything(self, plan: CancellationPlan, *,
                                now: datetime) -> dict[str, int]:
        """Set-based: carry out ``plan`` (refunds, revoked tickets, released holds, voided
        entries, the payers' notice). Returns ``refunds_queued``, ``tickets_revoked``,
        ``holders_told``."""
        ...

    async def published_starting(self, *, after: datetime, until: datetime) -> list[Event]:
        """Published events starting after ``after`` and by ``until``."""
        ...

    async def queue_reminder(self, plan: ReminderPlan, *, now: datetime) -> int:
        """Set-based: queue ``plan``'s messages and tickets not queued before (once, ever).
        Returns how many holders' messages were queued."""
        ...

    async def stock(self, ticket_type_ids: Sequence[int], *, now: datetime,
                    exclude_user_id: int | None = None) -> dict[int, Stock]:
        """Capacity, sold and live-held seats per ticket type at ``now``.

        ``exclude_user_id`` leaves that user's own live holds out of ``held`` (they are
        replaced when the user picks again).
        """
        ...


class LotteryRepository(Protocol):
    """Lottery state on events, entries, and the draw's bulk bookkeeping."""

    async def due(self, *, now: datetime) -> list[Event]:
        """Lottery events whose close or draw time has come and that are not drawn."""
        ...

    async def set_state(self, event_id: int, state: LotteryState, *, now: datetime) -> None:
        """Move a lottery forward."""
        ...

    async def seed(self, event_id: int) -> bytes:
        """The lottery's secret seed (drawn from ``secrets`` when the event was created)."""
        ...

    async def fairness(self, event_id: int) -> dict[str, Any]:
        """``commitment``, ``list_hash``, ``beacon_round``, ``beacon_value`` (hex or None)."""
        ...

    async def set_fairness(self, event_id: int, **values: Any) -> None:
        """Store ``list_hash`` (at the close), ``beacon_round`` or ``beacon_value``."""
        ...

    async def needing_beacon_round(self) -> list[int]:
        """Open lotteries that mix in a beacon whose round is not fixed yet."""
        ...

    async def public_entries(self, event_id: int) -> list[tuple[int, PublicEntry]]:
        """(entry id, public entry) of every paid entry, for freezing and drawing."""
        ...

    async def public_entry_rows(self, event_id: int) -> list[EntryRow]:
        """The same as :meth:`public_entries` as plain ``(id, ref, quantity, type)`` tuples
        (a draw reads a million of them), ordered by reference."""
        ...

    async def add_pending(self, *, user_id: int, chat_id: int, ticket_type: TicketType,
                          quantity: int, now: datetime) -> Entry:
        """A new unpaid entry; the user's older unpaid entries for the event become void."""
        ...

    async def get(self, entry_id: int, *, lock: bool = False) -> Entry | None:
        """One entry or None."""
        ...

    async def active_for_user(self, *, event_id: int, user_id: int) -> Entry | None:
        """The user's paid entry in this lottery (entered, won or lost), if any."""
        ...

    async def mark_entered(self, entry_id: int, *, now: datetime,
                           phone_hash: str | None = None) -> None:
        """The entry is paid and in the draw (with the entrant's verified phone, if needed)."""
        ...

    async def verified_phone(self, user_id: int) -> str | None:
        """The keyed hash of the phone this user proved to own, if any."""
        ...

    async def set_verified_phone(self, user_id: int, phone_hash: str, *,
                                 now: datetime) -> None:
        """Remember (or replace) the user's verified phone hash."""
        ...

    async def phone_entered(self, event_id: int, phone_hash: str) -> bool:
        """Whether a paid entry of this lottery already uses this phone."""
        ...

    async def void_pending(self, event_id: int) -> int:
        """Unpaid entries can no longer be paid; returns how many were voided."""
        ...

    async def candidates(self, event_id: int) -> list[Candidate]:
        """Every paid entry of the lottery."""
        ...

    async def for_user(self, user_id: int) -> list[Entry]:
        """The user's paid entries, newest first."""
        ...

    async def tally(self, event_id: int) -> dict[str, int]:
        """``entries``, ``tickets_asked``, ``winners``, ``tickets_won``, ``paid_minor``."""
        ...

    async def record_draw(self, plan: DrawSettlement, result: DrawResult, *,
                          now: datetime) -> dict[str, int]:
        """Store the whole order and carry out ``plan``: winners' orders and tickets, losers'
        refunds and every outbox item, in the caller's transaction. Returns counts for
        logging."""
        ...


class OrderRepository(Protocol):
    """Orders and holds."""

    async def add_hold(self, *, user_id: int, ticket_type: TicketType, quantity: int,
                       now: datetime, expires_at: datetime) -> Order:
        """Create an order in ``held`` state."""
        ...

    async def get(self, order_id: int, *, lock: bool = False) -> Order | None:
        """One order or None; ``lock`` holds its row until commit (take type locks first)."""
        ...

    async def release_live_holds(self, *, user_id: int, event_id: int, now: datetime,
                                 except_order_id: int | None = None) -> int:
        """Release the user's live holds for an event (one cart per event); returns how many."""
        ...

    async def release(self, order_id: int) -> None:
        """Release one hold."""
        ...

    async def seats_owned(self, *, user_id: int, ticket_type_id: int) -> int:
        """Seats of a type the user has paid for."""
        ...

    async def renew_hold(self, order_id: int, *, expires_at: datetime) -> None:
        """Put the order (back) in ``held`` until ``expires_at`` (pre-checkout re-acquire)."""
        ...

    async def mark_paid(self, order_id: int, *, now: datetime) -> None:
        """The order is paid."""
        ...

    async def mark_rejected(self, order_id: int) -> None:
        """A payment for this order could not be honoured."""
        ...

    async def set_screen(self, order_id: int, *, chat_id: int, message_id: int,
                         now: datetime) -> None:
        """Record (or move) the message that shows this hold, ``open``; another order's open
        screen on the same message becomes ``superseded`` (it must not be edited any more)."""
        ...

    async def screen(self, order_id: int) -> HoldScreen | None:
        """The message that shows this hold, if one was recorded."""
        ...

    async def close_screen(self, order_id: int, state: ScreenState, *, now: datetime,
                           from_states: Collection[ScreenState]) -> bool:
        """Record what the hold's message says now, if it is in one of ``from_states``
        (decided under the row's lock); True if it changed. The edit itself is queued in the
        outbox by the caller, in the same transaction, only when this returned True."""
        ...

    async def screens_to_close(self, *, now: datetime,
                               limit: int) -> list[tuple[Order, HoldScreen]]:
        """Open hold screens that no longer tell the truth: their order was released or
        rejected, or its hold expired (paid ones are closed when the payment is recorded)."""
        ...


class PaymentRepository(Protocol):
    """Payments, unique per Telegram charge id."""

    async def record(self, payment: IncomingPayment, *, order_id: int | None,
                     now: datetime, entry_id: int | None = None) -> tuple[PaymentRecord, bool]:
        """Store a payment; returns (record, created). ``created`` is False for a repeat."""
        ...

    async def for_order(self, order_id: int) -> list[PaymentRecord]:
        """Payments attached to an order."""
        ...


class RefundRepository(Protocol):
    """Refunds owed and their progress."""

    async def request(self, payment: PaymentRecord, *, amount: Money, reason: RefundReason,
                      now: datetime) -> Refund:
        """Record that ``payment`` must be refunded (once per payment)."""
        ...

    async def get(self, refund_id: int) -> Refund | None:
        """One refund or None."""
        ...

    async def mark_succeeded(self, refund_id: int, *, provider_refund_id: str,
                             now: datetime) -> None:
        """Stripe confirmed the refund."""
        ...

    async def mark_attempt(self, refund_id: int, *, error: str, final: bool,
                           now: datetime) -> None:
        """An attempt failed; ``final`` flags it for the organizer."""
        ...

    async def counts(self, event_id: int | None = None) -> dict[RefundStatus, tuple[int, int]]:
        """(count, amount in minor units) per status."""
        ...


class TicketRepository(Protocol):
    """Issued tickets."""

    async def issue(self, order: Order, *, now: datetime) -> list[Ticket]:
        """One fresh ticket per seat of a paid order."""
        ...

    async def for_order(self, order_id: int) -> list[Ticket]:
        """Tickets of an order."""
        ...

    async def for_owner(self, user_id: int, *, upcoming_after: datetime) -> list[Ticket]:
        """A user's tickets for events that have not ended."""
        ...

    async def get(self, ticket_id: int, *, lock: bool = False) -> Ticket | None:
        """One ticket or None; ``lock`` serializes check-ins of this ticket."""
        ...

    async def by_token(self, token: str) -> Ticket | None:
        """The ticket with this token, or None."""
        ...

    async def by_short_code(self, code: str) -> Ticket | None:
        """The ticket with this short code, or None."""
        ...

    async def export_rows(self, event_id: int) -> list[tuple[object, ...]]:
        """Rows for the organizer's CSV (see ``OrganizerService.export_csv``)."""
        ...


class CheckinRepository(Protocol):
    """The append-only check-in log."""

    async def append(self, *, ticket_id: int, event_id: int, staff_user_id: int,
                     verdict: Verdict, nonce: str, now: datetime) -> CheckinRecord:
        """Add one scan to the log."""
        ...

    async def by_nonce(self, nonce: str) -> CheckinRecord | None:
        """The scan recorded under this nonce (a redelivered scan), if any."""
        ...

    async def first_admission(self, ticket_id: int) -> CheckinRecord | None:
        """The scan that let this ticket in, if any."""
        ...

    async def counts(self, event_id: int) -> tuple[int, int]:
        """(tickets checked in, valid tickets sold) for an event."""
        ...


class RoleRepository(Protocol):
    """Organizer and staff roles, and the invites that grant them."""

    async def has(self, user_id: int, role: Role, event_id: int | None) -> bool:
        """Whether the user holds this role (for this event, for staff)."""
        ...

    async def staff_events(self, user_id: int) -> list[int]:
        """Events the user is door staff for."""
        ...

    async def add_invite(self, *, role: Role, event_id: int | None, created_by: int,
                         now: datetime, expires_at: datetime) -> Invite:
        """A fresh invite with a random token."""
        ...

    async def invite_by_token(self, token: str, *, lock: bool = False) -> Invite | None:
        """The invite with this token, or None."""
        ...

    async def invite(self, invite_id: int) -> Invite | None:
        """One invite or None."""
        ...

    async def use_invite(self, invite_id: int, *, user_id: int, now: datetime) -> None:
        """Mark an invite used."""
        ...

    async def revoke_invite(self, invite_id: int, *, now: datetime) -> None:
        """Withdraw an invite."""
        ...

    async def grant(self, *, user_id: int, role: Role, event_id: int | None,
                    granted_by: int, now: datetime) -> Grant:
        """Give a role (idempotent)."""
        ...

    async def grants(self, role: Role, event_id: int | None) -> list[Grant]:
        """Current holders of a role."""
        ...

    async def revoke(self, *, user_id: int, role: Role, event_id: int | None,
                     now: datetime) -> bool:
        """Take a role away; False if not held."""
        ...


class DraftRepository(Protocol):
    """The event wizard's drafts, one per organizer."""

    async def get(self, user_id: int, *, lock: bool = False) -> Draft | None:
        """The user's open draft; ``lock`` holds its row until commit."""
        ...

    async def put(self, user_id: int, draft: Draft, *, now: datetime) -> None:
        """Store (or replace) the user's draft."""
        ...

    async def delete(self, user_id: int) -> bool:
        """Drop the user's draft; False if there was none."""
        ...


class UserRepository(Protocol):
    """People who talked to the bot."""

    async def seen(self, *, user_id: int, first_name: str, language_code: str | None,
                   now: datetime) -> None:
        """Remember (or refresh) a user."""
        ...

    async def first_name(self, user_id: int) -> str | None:
        """A user's first name as Telegram last told us."""
        ...


class Outbox(Protocol):
    """Side effects recorded in the same transaction as the change that causes them."""

    async def put(self, kind: str, payload: dict[str, Any], *, dedupe_key: str,
                  now: datetime, chat_id: int | None = None) -> None:
        """Queue an effect; a second put with the same ``dedupe_key`` is ignored."""
        ...


class Locks(Protocol):
    """The locks of one transaction, taken in the order of :mod:`core.kernel.locking`."""

    async def take(self, *locks: Lock) -> None:
        """Lock these objects until commit.

        Raises:
            core.locking.LockOrderViolation: the request breaks the lock order.
        """
        ...


class UnitOfWork(Protocol):
    """One database transaction and the repositories bound to it."""

    @property
    def locks(self) -> Locks:
        """The lock gate of this transaction: every explicit lock goes through it."""
        ...

    @property
    def events(self) -> EventRepository:
        """The events repository of this transaction."""
        ...

    @property
    def lottery(self) -> LotteryRepository:
        """The lottery repository of this transaction."""
        ...

    @property
    def checkins(self) -> CheckinRepository:
        """The check-in log of this transaction."""
        ...

    @property
    def roles(self) -> RoleRepository:
        """The roles repository of this transaction."""
        ...

    @property
    def orders(self) -> OrderRepository:
        """The orders repository of this transaction."""
        ...

    @property
    def payments(self) -> PaymentRepository:
        """The payments repository of this transaction."""
        ...

    @property
    def refunds(self) -> RefundRepository:
        """The refunds repository of this transaction."""
        ...

    @property
    def tickets(self) -> TicketRepository:
        """The tickets repository of this transaction."""
        ...

    @property
    def users(self) -> UserRepository:
        """The users repository of this transaction."""
        ...

    @property
    def outbox(self) -> Outbox:
        """The outbox repository of this transaction."""
        ...

    @property
    def drafts(self) -> DraftRepository:
        """The event wizard's drafts in this transaction."""
        ...


class Database(Protocol):
    """Opens units of work. Writes are serialized where the engine needs it."""

    def write(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A read-write transaction, committed when the block ends without error."""
        ...

    def read(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A read-only transaction."""
        ...


class Beacon(Protocol):
    """A public randomness beacon (drand-style: numbered rounds at a fixed period)."""

    async def round_after(self, when: datetime) -> int:
        """The first round published strictly after ``when`` (fixed when a lottery opens)."""
        ...

    async def value(self, round_number: int) -> bytes | None:
        """The round's randomness, or None if it is not published (yet) or unreachable."""
        ...

    @property
    def url(self) -> str:
        """Where the beacon is read (recorded in the audit)."""
        ...


class GatewayError(Exception):
    """A payment provider call failed. ``permanent`` errors must not be retried."""

    def __init__(self, message: str, *, permanent: bool, code: str | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code


@dataclass(frozen=True, slots=True)
class ProviderCharge:
    """A charge as the payment provider lists it.

    Attributes:
        settled: money was taken and kept (succeeded, captured, paid); refunds aside.
        amount_refunded: what was refunded already, by anyone.
    """

    id: str
    amount: Money
    created: datetime
    settled: bool
    amount_refunded: int = 0


class ChargeLedger(Protocol):
    """The payment provider's list of charges (Stripe), for reconciliation."""

    async def charges_since(self, created_gte: datetime) -> list[ProviderCharge]:
        """Every charge created at or after ``created_gte``, newest first.

        Raises:
            GatewayError: the provider could not be asked (transient or not).
        """
        ...


class RefundGateway(Protocol):
    """The payment provider's refund API (Stripe)."""

    async def refund(self, *, charge_id: str, amount: Money, idempotency_key: str,
                     metadata: dict[str, str]) -> str:
        """Refund ``amount`` of a charge exactly once per key; returns the provider refund id.

        Raises:
            GatewayError: on failure, with ``permanent`` telling whether a retry can help.
        """
        ...


class OutboxStore(Protocol):
    """The worker's side of the outbox."""

    async def claim_due(self, *, now: datetime, limit: int) -> list[OutboxItem]:
        """Pending items whose time has come, oldest first."""
        ...

    async def mark_done(self, item_id: int, *, now: datetime) -> None:
        """The effect happened."""
        ...

    async def retry_later(self, item_id: int, *, error: str, at: datetime) -> None:
        """The effect failed for now; try again at ``at``."""
        ...

    async def mark_dead(self, item_id: int, *, error: str, now: datetime) -> None:
        """The effect failed for good; it stays visible for the organizer."""
        ...

    async def pending_count(self) -> int:
        """Items not yet done or dead."""
        ...
