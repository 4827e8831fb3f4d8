"""The organizer console's use cases: figures, CSV export, cancelling an event, reminders."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from core.access.service import AccessService
from core.catalog.model import Event, EventStatus
from core.kernel.clock import Clock
from core.kernel.errors import DomainError, ErrorCode
from core.lottery.model import LotteryFigures
from core.lottery.service import LotteryService
from core.organizer.dashboard import DuplicateAdmission, Series, cumulative, sales_series
from core.organizer.plans import REMINDERS, cancellation_plan, reminder_plan, reminder_window
from core.payments.model import RefundStatus
from core.sales.model import TicketTypeSales
from core.transactions import after_attempts, write_attempts
from core.unit_of_work import Database


@dataclass(frozen=True, slots=True)
class EventFigures:
    """Everything ``/stats`` shows."""

    event: Event
    types: list[TicketTypeSales]
    refunds: dict[RefundStatus, tuple[int, int]]
    checked_in: int
    lottery: LotteryFigures | None

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
        lottery = await self._lottery.figures(event_id) if event.is_lottery else None
        return EventFigures(event, rows, refunds, checked_in, lottery)

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
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["ticket_id", "short_code", "ticket_type", "status", "holder_user_id",
                         "holder_first_name", "order_id", "paid_at", "amount_minor",
                         "currency", "checked_in_at", "checked_in_by"])
        for row in rows:
            writer.writerow([_csv_safe(v) for v in row])
        return out.getvalue().encode("utf-8")

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
