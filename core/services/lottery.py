"""Lottery mode: enter by paying the full price; a secure draw picks winners; the rest are
refunded automatically.

State only moves forward (open -> closed -> drawn) and every transition happens under the
event's row lock, so a second trigger of the close or the draw (a restart, a duplicate job,
two processes) is a no-op.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from core import outbox
from core.catalog import Event, EventStatus, LotteryState, TicketType
from core.clock import Clock
from core.errors import DomainError, ErrorCode
from core.lottery import Entry, EntryStatus, LotteryFigures, WindowPhase, draw, window_phase
from core.money import Money
from core.ports import Database, IncomingPayment, RefundReason, RefundStatus, UnitOfWork
from core.services.purchase import Confirmation, PaymentOutcome, queue_refund

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EntryChoice:
    """What the entry picker may offer."""

    event: Event
    ticket_type: TicketType
    max_quantity: int


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """An entry waiting for its payment (the invoice is about to be sent)."""

    entry: Entry
    event: Event
    ticket_type: TicketType


@dataclass(frozen=True, slots=True)
class EntryView:
    """An entry with what is needed to show it."""

    entry: Entry
    event: Event
    ticket_type: TicketType


@dataclass(frozen=True, slots=True)
class LotteryInfo:
    """The lottery part of an event card."""

    phase: WindowPhase
    state: LotteryState
    entries: int
    tickets_asked: int
    seats: int
    my_entry: Entry | None


class LotteryService:
    """Entries, the scheduled close and draw, and the organizer's figures."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    # ------------------------------------------------------------------ entering
    async def info(self, event: Event, user_id: int) -> LotteryInfo:
        """Entry window phase, counts and the user's own entry, for the event card."""
        if not event.is_lottery or event.lottery is None:
            raise DomainError(ErrorCode.NOT_A_LOTTERY)
        now = self._clock.now()
        async with self._db.read() as uow:
            tally = await uow.lottery.tally(event.id)
            mine = await uow.lottery.active_for_user(event_id=event.id, user_id=user_id)
            types = await uow.events.ticket_types(event.id)
        return LotteryInfo(
            phase=window_phase(event.lottery, now),
            state=event.lottery_state or LotteryState.OPEN,
            entries=tally["entries"], tickets_asked=tally["tickets_asked"],
            seats=sum(t.capacity for t in types), my_entry=mine,
        )

    async def entry_choice(self, *, user_id: int, ticket_type_id: int) -> EntryChoice:
        """How many tickets this user may ask for in one entry.

        Raises:
            DomainError: ``ticket_type_not_found``, ``not_a_lottery``, ``entries_not_open``,
                ``entries_closed`` or ``already_entered``.
        """
        now = self._clock.now()
        async with self._db.read() as uow:
            ticket_type, event = await _type_and_lottery(uow, ticket_type_id)
            _require_open(event, now)
            if await uow.lottery.active_for_user(event_id=event.id, user_id=user_id):
                raise DomainError(ErrorCode.ALREADY_ENTERED)
        assert event.lottery is not None
        return EntryChoice(event, ticket_type,
                           min(event.lottery.max_per_entry, ticket_type.capacity))

    async def start_entry(self, *, user_id: int, chat_id: int, ticket_type_id: int,
                          quantity: int) -> PendingEntry:
        """Create an unpaid entry; the invoice for its full price follows.

        Raises:
            DomainError: as :meth:`entry_choice`, or ``invalid_quantity``.
        """
        async with self._db.write() as uow:
            ticket_type, event = await _type_and_lottery(uow, ticket_type_id)
            await uow.lottery.lock_event(event.id)
            now = self._clock.now()
            _require_open(event, now)
            assert event.lottery is not None
            if not 1 <= quantity <= min(event.lottery.max_per_entry, ticket_type.capacity):
                raise DomainError(ErrorCode.INVALID_QUANTITY, quantity=quantity)
            if await uow.lottery.active_for_user(event_id=event.id, user_id=user_id):
                raise DomainError(ErrorCode.ALREADY_ENTERED)
            entry = await uow.lottery.add_pending(user_id=user_id, chat_id=chat_id,
                                                  ticket_type=ticket_type, quantity=quantity,
                                                  now=now)
        return PendingEntry(entry, event, ticket_type)

    async def pre_checkout(self, *, user_id: int, entry_id: int, amount: Money) -> None:
        """Telegram asks whether to take the money for an entry.

        Raises:
            DomainError: ``entry_not_found``, ``amount_mismatch``, ``entries_closed``,
                ``entries_not_open`` or ``already_entered``.
        """
        async with self._db.read() as uow:
            entry = await uow.lottery.get(entry_id)
            if entry is None or entry.user_id != user_id:
                raise DomainError(ErrorCode.ENTRY_NOT_FOUND)
            event = await uow.events.get(entry.event_id)
            assert event is not None
            now = self._clock.now()
            _require_open(event, now)
            if entry.status not in (EntryStatus.PENDING, EntryStatus.VOID):
                raise DomainError(ErrorCode.ALREADY_ENTERED)
            if amount != entry.total:
                raise DomainError(ErrorCode.AMOUNT_MISMATCH)
            if await uow.lottery.active_for_user(event_id=event.id, user_id=user_id):
                raise DomainError(ErrorCode.ALREADY_ENTERED)

    async def confirm_payment(self, payment: IncomingPayment, entry_id: int) -> Confirmation:
        """Put a paid entry into the draw, exactly once per Telegram charge id.

        A payment that lands after the close (a race with the close), a second payment for
        the same entry, or one for a second entry of the same account is refunded in full
        and the entrant told why.
        """
        async with self._db.write() as uow:
            entry = await uow.lottery.get(entry_id)
            event = await uow.lottery.lock_event(entry.event_id) if entry else None
            entry = await uow.lottery.get(entry_id, lock=True) if entry else None
            now = self._clock.now()
            record, created = await uow.payments.record(
                payment, order_id=None, entry_id=entry.id if entry else None, now=now)
            if created and payment.first_name:
                await uow.users.seen(user_id=payment.user_id, first_name=payment.first_name,
                                     language_code=None, now=now)
            if not created:
                return Confirmation(PaymentOutcome.ALREADY_PROCESSED, record.id, None, [])
            reason = await _entry_refund_reason(uow, entry, event, payment, now)
            if reason is not None:
                await queue_refund(uow, record, reason, now)
                return Confirmation(PaymentOutcome.REFUNDING, record.id, None, [], reason)
            assert entry is not None and event is not None and event.lottery is not None
            await uow.lottery.mark_entered(entry.id, now=now)
            ticket_type = await uow.events.get_ticket_type(entry.ticket_type_id)
            assert ticket_type is not None
            await uow.outbox.put(
                outbox.MESSAGE,
                {"key": "lottery_entered", "params": {
                    "event": event.title, "ticket_type": ticket_type.name,
                    "quantity": entry.quantity, "total": entry.total,
                    "draw_at": event.lottery.draw_at.astimezone(event.tz),
                    "entry_id": entry.id}},
                dedupe_key=f"entered:{entry.id}", now=now, chat_id=payment.chat_id)
        return Confirmation(PaymentOutcome.ENTERED, record.id, None, [])

    async def my_entries(self, user_id: int) -> list[EntryView]:
        """The user's paid entries in lotteries of upcoming events."""
        now = self._clock.now()
        async with self._db.read() as uow:
            views = []
            for entry in await uow.lottery.for_user(user_id):
                event = await uow.events.get(entry.event_id)
                ticket_type = await uow.events.get_ticket_type(entry.ticket_type_id)
                if event is None or ticket_type is None or event.starts_at < now:
                    continue
                views.append(EntryView(entry, event, ticket_type))
        return views

    # ------------------------------------------------------------------ schedule
    async def run_due(self) -> list[int]:
        """Close and draw every lottery whose time has come; returns the events drawn.

        Called by the scheduler every few seconds and at start-up, so a draw missed while
        the bot was down runs as soon as it is back.
        """
        now = self._clock.now()
        async with self._db.read() as uow:
            due = await uow.lottery.due(now=now)
        drawn = []
        for event in due:
            assert event.lottery is not None
            if now >= event.lottery.draw_at:
                if await self.draw(event.id):
                    drawn.append(event.id)
            elif now >= event.lottery.entries_close_at:
                await self.close(event.id)
        return drawn

    async def close(self, event_id: int) -> bool:
        """Stop taking entries (idempotent). Returns True if this call closed it."""
        async with self._db.write() as uow:
            event = await uow.lottery.lock_event(event_id)
            now = self._clock.now()
            if event is None or event.lottery is None or \
                    event.lottery_state not in (None, LotteryState.OPEN) or \
                    now < event.lottery.entries_close_at:
                return False
            voided = await uow.lottery.void_pending(event_id)
            await uow.lottery.set_state(event_id, LotteryState.CLOSED, now=now)
        log.info("lottery %s closed (%s unpaid entries voided)", event_id, voided)
        return True

    async def draw(self, event_id: int) -> bool:
        """Run the draw once: order, winners, losers and every follow-up in one transaction.

        Returns:
            True if this call drew; False if it was already drawn or is not due.
        """
        async with self._db.write() as uow:
            event = await uow.lottery.lock_event(event_id)
            now = self._clock.now()
            if event is None or event.lottery is None or \
                    event.lottery_state is LotteryState.DRAWN or now < event.lottery.draw_at:
                return False
            if event.lottery_state in (None, LotteryState.OPEN):
                await uow.lottery.void_pending(event_id)
            types = await uow.events.ticket_types(event_id)
            seats = {t.id: t.capacity for t in types}
            if event.status is not EventStatus.PUBLISHED:
                seats = {}  # a cancelled event has no seats: everyone is refunded
            candidates = await uow.lottery.candidates(event_id)
            result = draw(candidates, seats, await uow.lottery.seed(event_id))
            counts = await uow.lottery.record_draw(event, result, now=now)
            await uow.lottery.set_state(event_id, LotteryState.DRAWN, now=now)
        log.info("lottery %s drawn: %s", event_id, counts)
        return True

    # ------------------------------------------------------------------ figures
    async def figures(self, event_id: int) -> LotteryFigures:
        """Entries, oversubscription, winners, refunds and money for the organizer.

        Raises:
            DomainError: ``event_not_found`` or ``not_a_lottery``.
        """
        async with self._db.read() as uow:
            event = await uow.events.get(event_id)
            if event is None:
                raise DomainError(ErrorCode.EVENT_NOT_FOUND, event_id=event_id)
            if not event.is_lottery:
                raise DomainError(ErrorCode.NOT_A_LOTTERY)
            tally = await uow.lottery.tally(event_id)
            types = await uow.events.ticket_types(event_id)
            refunds = await uow.refunds.counts(event_id)
        currency = types[0].price.currency if types else "EUR"
        return LotteryFigures(
            state=event.lottery_state or LotteryState.OPEN,
            entries=tally["entries"], tickets_asked=tally["tickets_asked"],
            seats=sum(t.capacity for t in types), winners=tally["winners"],
            tickets_won=tally["tickets_won"], paid=Money(tally["paid_minor"], currency),
            refunds_done=refunds[RefundStatus.SUCCEEDED],
            refunds_pending=refunds[RefundStatus.PENDING],
            refunds_failed=refunds[RefundStatus.FAILED],
        )


def _require_open(event: Event, now: datetime) -> None:
    assert event.lottery is not None
    if event.status is not EventStatus.PUBLISHED:
        raise DomainError(ErrorCode.EVENT_NOT_ON_SALE, event_id=event.id)
    phase = window_phase(event.lottery, now)
    if phase is WindowPhase.NOT_YET_OPEN:
        raise DomainError(ErrorCode.ENTRIES_NOT_OPEN,
                          opens=event.lottery.entries_open_at.astimezone(event.tz))
    if phase is WindowPhase.CLOSED or event.lottery_state not in (None, LotteryState.OPEN):
        raise DomainError(ErrorCode.ENTRIES_CLOSED)


async def _type_and_lottery(uow: UnitOfWork, ticket_type_id: int) -> tuple[TicketType, Event]:
    ticket_type = await uow.events.get_ticket_type(ticket_type_id)
    if ticket_type is None:
        raise DomainError(ErrorCode.TICKET_TYPE_NOT_FOUND)
    event = await uow.events.get(ticket_type.event_id)
    if event is None:
        raise DomainError(ErrorCode.EVENT_NOT_FOUND)
    if not event.is_lottery:
        raise DomainError(ErrorCode.NOT_A_LOTTERY)
    return ticket_type, event


async def _entry_refund_reason(uow: UnitOfWork, entry: Entry | None, event: Event | None,
                               payment: IncomingPayment, now: datetime) -> RefundReason | None:
    if entry is None or event is None or entry.user_id != payment.user_id \
            or payment.amount != entry.total:
        return RefundReason.UNMATCHED_PAYMENT
    if entry.status not in (EntryStatus.PENDING, EntryStatus.VOID):
        return RefundReason.DUPLICATE_PAYMENT
    try:
        _require_open(event, now)
    except DomainError:
        return RefundReason.ENTRY_TOO_LATE
    # A replaced (void) entry paid while entries are open is honoured like a pending one,
    # unless the account is already in the draw.
    if await uow.lottery.active_for_user(event_id=event.id, user_id=entry.user_id):
        return RefundReason.DUPLICATE_PAYMENT
    return None
