"""The organizer console's use cases: figures, CSV export, cancelling an event, reminders."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from core.access.service import AccessService
from core.catalog.model import Event, EventStatus
from core.kernel import locking, outbox
from core.kernel.clock import Clock
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.kernel.outbox import Message
from core.lottery.model import LotteryFigures
from core.lottery.service import LotteryService
from core.organizer.dashboard import DuplicateAdmission, Series, cumulative, sales_series
from core.organizer.plans import REMINDERS, cancellation_plan, reminder_plan, reminder_window
from core.payments.model import RefundStatus
from core.payments.plans import REFUND_ITEM, REFUND_NOTICE, RefundPlan, RefundReason
from core.returns.ports import AfterSaleCounts
from core.sales.model import OrderStatus, TicketTypeSales
from core.tickets.model import (
    RevokeReason,
    Ticket,
    TicketStatus,
    format_short_code,
    normalize_short_code,
)
from core.transactions import after_attempts, write_attempts
from core.unit_of_work import Database, UnitOfWork

# The organizer's reason travels to the buyer: a sentence, not an essay.
REFUND_NOTE_MAX = 200
# The holder of a refunded ticket who did not pay for it (it was given to them) hears it too.
HOLDER_TOLD_KEY = "ticket_refunded_holder:"


@dataclass(frozen=True, slots=True)
class EventFigures:
    """Everything ``/stats`` shows."""

    event: Event
    types: list[TicketTypeSales]
    refunds: dict[RefundStatus, tuple[int, int]]
    checked_in: int
    lottery: LotteryFigures | None
    transfers: int = 0
    # Returns and the waiting list (core.returns).
    after_sale: AfterSaleCounts = field(default_factory=AfterSaleCounts)

    @property
    def sold(self) -> int:
        """Tickets sold across types."""
        return sum(t.stock.sold for t in self.types)


@dataclass(frozen=True, slots=True)
class Dashboard:
    """What the organizer's dashboard shows (``/stats`` plus how it got there)."""

    figures: EventFigures
    sales: list[Series]
    admissions: Series
    duplicates: list[DuplicateAdmission]
    as_of: datetime


@dataclass(frozen=True, slots=True)
class CancellationStarted:
    """What cancelling queued."""

    event: Event
    refunds_queued: int
    tickets_revoked: int
    holders_told: int


class OrganizerService:
    """Figures, export, cancellation and reminders (the scheduler calls reminders)."""

    def __init__(self, db: Database, clock: Clock, access: AccessService,
                 lottery: LotteryService) -> None:
        self._db = db
        self._clock = clock
        self._access = access
        self._lottery = lottery

    async def my_events(self, actor_id: int) -> list[Event]:
        """Events this person manages, soonest first.

        Raises:
            DomainError: ``not_allowed`` for anyone without the organizer role.
        """
        await self._access.require_organizer(actor_id)
        async with self._db.read() as uow:
            ids = await uow.events.managed_by(actor_id,
                                              all_events=self._access.is_admin(actor_id))
            events = [e for e in [await uow.events.get(i) for i in ids] if e is not None]
        return sorted(events, key=lambda e: (e.starts_at, e.id))

    async def event(self, *, actor_id: int, event_id: int) -> Event:
        """One event this person manages (its console card, its staff list).

        Raises:
            DomainError: ``not_allowed`` (also for other organizers' events).
        """
        await self._access.require_manager(actor_id, event_id)
        async with self._db.read() as uow:
            event = await uow.events.get(event_id)
        if event is None:
            raise DomainError(ErrorCode.NOT_ALLOWED)
        return event

    async def figures(self, *, actor_id: int, event_id: int) -> EventFigures:
        """Sold / held / available and revenue per type, refunds, check-ins, lottery figures.

        Raises:
            DomainError: ``not_allowed`` (also for other organizers' events).
        """
        await self._access.require_manager(actor_id, event_id)
        now = self._clock.now()
        async with self._db.read() as uow:
            event = await uow.events.get(event_id)
            assert event is not None
            types = await uow.events.ticket_types(event_id)
            stock = await uow.events.stock([t.id for t in types], now=now)
            rows = [TicketTypeSales(t, stock[t.id], t.price.times(stock[t.id].sold))
                    for t in types]
            refunds = await uow.refunds.counts(event_id)
            checked_in, _ = await uow.checkins.counts(event_id)
            transfers = await uow.transfers.claimed_count(event_id)
            after_sale = await uow.returns.counts(event_id)
        lottery = await self._lottery.figures(event_id) if event.is_lottery else None
        return EventFigures(event, rows, refunds, checked_in, lottery, transfers, after_sale)

    async def dashboard(self, *, actor_id: int, event_id: int) -> Dashboard:
        """The dashboard's figures and series, under the same access rule as ``/stats``.

        Raises:
            DomainError: ``not_allowed`` (also for other organizers' events).
        """
        figures = await self.figures(actor_id=actor_id, event_id=event_id)
        async with self._db.read() as uow:
            paid = await uow.orders.paid_timeline(event_id)
            admitted = await uow.checkins.admission_times(event_id)
            rows = await uow.checkins.duplicates(event_id)
            duplicates: dict[int, DuplicateAdmission] = {}
            for row in rows:
                if row.ticket_id not in duplicates:
                    ticket = await uow.tickets.get(row.ticket_id)
                    duplicates[row.ticket_id] = DuplicateAdmission(
                        row.ticket_id, ticket.short_code if ticket else "?", [])
                duplicates[row.ticket_id].admissions.append(
                    (row.scanned_at.astimezone(figures.event.tz),
                     await uow.users.first_name(row.staff_user_id)))
        names = {row.ticket_type.id: row.ticket_type.name for row in figures.types}
        return Dashboard(figures=figures, sales=sales_series(names, paid),
                         admissions=cumulative("admitted", ((at, 1) for at in admitted)),
                         duplicates=list(duplicates.values()), as_of=self._clock.now())

    async def export_csv(self, *, actor_id: int, event_id: int) -> bytes:
        """One CSV of the event's tickets with their order, payment and check-in.

        Raises:
            DomainError: ``not_allowed``.
        """
        await self._access.require_manager(actor_id, event_id)
        async with self._db.read() as uow:
            rows = await uow.tickets.export_rows(event_id)
            returned = {order_id: await uow.returns.return_of(int(str(order_id)))
                        for order_id in {row[6] for row in rows if row[6] is not None}}
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["ticket_id", "short_code", "ticket_type", "status", "holder_user_id",
                         "holder_first_name", "order_id", "paid_at", "amount_minor",
                         "currency", "checked_in_at", "checked_in_by", "revoked_reason",
                         "transferred_from", "transfer_count", "returned"])
        for row in rows:
            ret = returned.get(row[6])
            writer.writerow([_csv_safe(v) for v in row]
                            + [ret.status.value if ret is not None else ""])
        return out.getvalue().encode("utf-8")

    async def refund_ticket(self, *, actor_id: int, code: str, reason: str) -> RefundStarted:
        """Refund one ticket (found by its short code) in full: its price goes back to the
        payer through the outbox (one Stripe refund, its own idempotency key), the ticket is
        revoked (the door says "refunded"), its seat returns to stock, and the payer (and a
        holder it was given to) is told why.

        Raises:
            DomainError: ``refund_reason_required``, ``ticket_not_found``, ``not_allowed``
                (someone else's event), ``nothing_to_refund`` (revoked or refunded already).
        """
        note = _note(reason)
        canonical = normalize_short_code(code)
        async with self._db.read() as uow:
            ticket = await uow.tickets.by_short_code(canonical) if canonical else None
        if ticket is None:
            raise DomainError(ErrorCode.TICKET_NOT_FOUND)
        await self._access.require_manager(actor_id, ticket.event_id)
        return await self._refund(order_id=ticket.order_id, ticket_ids={ticket.id}, note=note)

    async def refund_order(self, *, actor_id: int, order_id: int,
                           reason: str) -> RefundStarted:
        """Refund what is still valid of one paid order, as :meth:`refund_ticket` does for
        each of its tickets, in one refund of the payment (what its tickets' own refunds
        left of it).

        Raises:
            DomainError: ``refund_reason_required``, ``order_not_found``, ``not_allowed``,
                ``nothing_to_refund``.
        """
        note = _note(reason)
        async with self._db.read() as uow:
            order = await uow.orders.get(order_id)
        if order is None or order.status is not OrderStatus.PAID:
            raise DomainError(ErrorCode.ORDER_NOT_FOUND)
        await self._access.require_manager(actor_id, order.event_id)
        return await self._refund(order_id=order_id, ticket_ids=None, note=note)

    async def _refund(self, *, order_id: int, ticket_ids: set[int] | None,
                      note: str) -> RefundStarted:
        """The refund under its locks: the event shared, the ticket type (its stock), the
        order, then its tickets (ascending)."""
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                order = await uow.orders.get(order_id)
                assert order is not None
                event = await uow.events.lock(order.event_id, shared=True)
                ticket_type = await uow.events.get_ticket_type(order.ticket_type_id, lock=True)
                order = await uow.orders.get(order_id, lock=True)
                assert event is not None and ticket_type is not None and order is not None
                mine = [tk for tk in await uow.tickets.for_order(order_id)
                        if ticket_ids is None or tk.id in ticket_ids]
                await uow.locks.take(*(locking.ticket(tk.id) for tk in mine))
                valid = [tk for tk in mine if tk.status is TicketStatus.VALID]
                payment = await uow.payments.paying_for_order(order_id)
                if not valid or payment is None:
                    raise DomainError(ErrorCode.NOTHING_TO_REFUND)
                left = payment.amount.amount - await uow.refunds.refunded_minor(payment.id)
                amount = Money(min(order.unit_price.amount * len(valid), left),
                               order.unit_price.currency)
                if amount.amount <= 0:
                    raise DomainError(ErrorCode.NOTHING_TO_REFUND)
                now = self._clock.now()
                refund = await uow.refunds.request(
                    payment, amount=amount, reason=RefundReason.ORGANIZER_REFUND, now=now,
                    ticket_id=valid[0].id if ticket_ids is not None else None, note=note)
                for ticket in valid:
                    await uow.tickets.revoke(ticket.id, reason=RevokeReason.REFUNDED)
                await uow.orders.return_seats(order_id, len(valid))
                params = {"event": event.title, "ticket_type": ticket_type.name,
                          "quantity": len(valid), "amount": amount, "reason": note,
                          "codes": ", ".join(format_short_code(tk.short_code) for tk in valid)}
                await uow.outbox.put(outbox.MESSAGE, Message("ticket_refunded", params).payload(),
                                     dedupe_key=REFUND_NOTICE.of(refund.id), now=now,
                                     chat_id=payment.chat_id)
                await _tell_other_holders(uow, valid, payment.user_id, params, now)
                await uow.outbox.put(outbox.REFUND, RefundPlan.work(refund.id),
                                     dedupe_key=REFUND_ITEM.of(refund.id), now=now)
                return RefundStarted(event=event, amount=amount, tickets=len(valid),
                                     refund_id=refund.id)
        raise after_attempts()

    async def cancel_event(self, *, actor_id: int, event_id: int) -> CancellationStarted:
        """Cancel: every payment is refunded through the outbox, tickets are revoked and every
        holder and entrant is told. Idempotent: a second call changes nothing.

        Raises:
            DomainError: ``not_allowed`` or ``event_already_cancelled``.
        """
        await self._access.require_manager(actor_id, event_id)
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                event = await uow.events.lock(event_id)
                now = self._clock.now()
                assert event is not None
                if event.status is EventStatus.CANCELLED:
                    raise DomainError(ErrorCode.EVENT_ALREADY_CANCELLED)
                await uow.events.set_status(event_id, EventStatus.CANCELLED, now=now)
                counts = await uow.events.cancel_everything(cancellation_plan(event), now=now)
                return CancellationStarted(event=event, **counts)
        raise after_attempts()

    async def send_due_reminders(self) -> int:
        """Queue the 24 h and 2 h reminders that are due; each goes to a holder once, ever.

        Returns:
            How many reminder messages were queued.
        """
        now = self._clock.now()
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                queued = 0  # counted afresh if the transaction runs again
                for before in REMINDERS:
                    after, until = reminder_window(before, now=now)
                    for event in await uow.events.published_starting(after=after, until=until):
                        queued += await uow.events.queue_reminder(
                            reminder_plan(event, before), now=now)
        return queued


@dataclass(frozen=True, slots=True)
class RefundStarted:
    """What a single refund queued."""

    event: Event
    amount: Money
    tickets: int
    refund_id: int


def _note(reason: str) -> str:
    note = " ".join(reason.split())
    if not note:
        raise DomainError(ErrorCode.REFUND_REASON_REQUIRED)
    return note[:REFUND_NOTE_MAX]


async def _tell_other_holders(uow: UnitOfWork, tickets: list[Ticket], payer: int,
                              params: dict[str, object], now: datetime) -> None:
    """A refunded ticket someone was given: its holder learns it no longer admits them."""
    for ticket in tickets:
        if ticket.owner_user_id != payer:
            await uow.outbox.put(
                outbox.MESSAGE,
                Message("ticket_refunded_holder",
                        {**params, "codes": format_short_code(ticket.short_code)}).payload(),
                dedupe_key=f"{HOLDER_TOLD_KEY}{ticket.id}", now=now,
                chat_id=ticket.owner_user_id)


def _csv_safe(value: object) -> str:
    """Neutralize spreadsheet formulas (CSV injection) in user-controlled cells."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
