"""Lottery mode: enter by paying the full price; a secure draw picks winners; the rest are
refunded automatically.

State only moves forward (open -> closed -> drawn) and every transition happens under the
event's row lock, so a second trigger of the close or the draw (a restart, a duplicate job,
two processes) is a no-op.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.catalog.model import Event, EventStatus, LotteryState, TicketType
from core.kernel import outbox
from core.kernel.clock import Clock
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.lottery.audit import build_audit
from core.lottery.group_model import MemberStatus
from core.lottery.groups import settle_groups
from core.lottery.identity import phone_hash
from core.lottery.model import (
    DrawResult,
    DrawSettlement,
    Entry,
    EntryRow,
    EntryStatus,
    LotteryFigures,
    WindowPhase,
    commitment,
    draw_rows,
    public_draw,
    rows_list_hash,
    window_phase,
)
from core.lottery.ports import Beacon
from core.payments.model import IncomingPayment, RefundStatus
from core.payments.outcomes import Confirmation, PaymentOutcome, queue_refund
from core.payments.plans import RefundReason
from core.payments.reconciliation import tell_late_payer
from core.transactions import write_attempts
from core.unit_of_work import Database, UnitOfWork

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
    commitment: str | None = None
    list_hash: str | None = None


# Losers settled per transaction after a draw (see LotteryService.settle_losers).
LOSER_BATCH = 2_000


class LotteryService:
    """Entries, the scheduled close and draw, and the organizer's figures."""

    def __init__(self, db: Database, clock: Clock, beacon: Beacon | None = None,
                 phone_key: bytes = b"", *, loser_batch: int = LOSER_BATCH) -> None:
        self._db = db
        self._clock = clock
        self._beacon = beacon
        self._phone_key = phone_key
        self.loser_batch = loser_batch

    # ------------------------------------------------------------------ one per person
    async def verify_phone(self, *, user_id: int, contact_user_id: int | None,
                           phone_number: str) -> None:
        """Accept the user's own Telegram contact as proof of their phone number.

        Only a keyed hash is stored. A contact that belongs to someone else (or has no
        Telegram user id) is refused.

        Raises:
            DomainError: ``phone_not_own``.
        """
        if contact_user_id != user_id or not phone_number.strip():
            raise DomainError(ErrorCode.PHONE_NOT_OWN)
        digest = phone_hash(phone_number, self._phone_key)
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                await uow.lottery.set_verified_phone(user_id, digest, now=self._clock.now())

    async def _phone_for_entry(self, uow: UnitOfWork, event: Event,
                               user_id: int) -> str | None:
        """The phone hash an entry in ``event`` must carry (None when not required).

        Raises:
            DomainError: ``phone_required`` or ``phone_already_entered``.
        """
        if event.lottery is None or not event.lottery.require_phone:
            return None
        digest = await uow.lottery.verified_phone(user_id)
        if digest is None:
            raise DomainError(ErrorCode.PHONE_REQUIRED)
        if await uow.lottery.phone_entered(event.id, digest) or \
                await uow.groups.phone_in_group(event.id, digest):
            raise DomainError(ErrorCode.PHONE_ALREADY_ENTERED)
        return digest

    # ------------------------------------------------------------------ entering
    async def info(self, event: Event, user_id: int) -> LotteryInfo:
        """Entry window phase, counts and the user's own entry, for the event card."""
        if not event.is_lottery or event.lottery is None:
            raise DomainError(ErrorCode.NOT_A_LOTTERY)
        now = self._clock.now()
        async with self._db.read() as uow:
            tally = await uow.lottery.tally(event.id)
            mine = await uow.lottery.active_for_user(event_id=event.id, user_id=user_id)
            if mine is not None:  # with its draw position, once drawn
                mine = next((e for e in await uow.lottery.for_user(user_id)
                             if e.id == mine.id), mine)
            types = await uow.events.ticket_types(event.id)
            fairness = await uow.lottery.fairness(event.id)
        return LotteryInfo(
            phase=window_phase(event.lottery, now),
            state=event.lottery_state or LotteryState.OPEN,
            entries=tally.entries, tickets_asked=tally.tickets_asked,
            seats=sum(t.capacity for t in types), my_entry=mine,
            commitment=fairness.commitment, list_hash=fairness.list_hash,
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
            if await _in_a_group(uow, event.id, user_id):
                raise DomainError(ErrorCode.ALREADY_IN_GROUP)
            await self._phone_for_entry(uow, event, user_id)
        assert event.lottery is not None
        return EntryChoice(event, ticket_type,
                           min(event.lottery.max_per_entry, ticket_type.capacity))

    async def start_entry(self, *, user_id: int, chat_id: int, ticket_type_id: int,
                          quantity: int) -> PendingEntry:
        """Create an unpaid entry; the invoice for its full price follows.

        Raises:
            DomainError: as :meth:`entry_choice`, ``invalid_quantity`` (below one) or
                ``entry_quantity_too_high`` (above the most one entry may ask for).
        """
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                ticket_type, event = await _type_and_lottery(uow, ticket_type_id)
                await uow.events.lock(event.id)
                now = self._clock.now()
                _require_open(event, now)
                assert event.lottery is not None
                most = min(event.lottery.max_per_entry, ticket_type.capacity)
                if quantity < 1:
                    raise DomainError(ErrorCode.INVALID_QUANTITY, quantity=quantity)
                if quantity > most:
                    raise DomainError(ErrorCode.ENTRY_QUANTITY_TOO_HIGH, limit=most)
                if await uow.lottery.active_for_user(event_id=event.id, user_id=user_id):
                    raise DomainError(ErrorCode.ALREADY_ENTERED)
                if await _in_a_group(uow, event.id, user_id):
                    raise DomainError(ErrorCode.ALREADY_IN_GROUP)
                await self._phone_for_entry(uow, event, user_id)
                entry = await uow.lottery.add_pending(user_id=user_id, chat_id=chat_id,
                                                      ticket_type=ticket_type, quantity=quantity,
                                                      now=now)
        return PendingEntry(entry, event, ticket_type)

    async def pre_checkout(self, *, user_id: int, entry_id: int, amount: Money) -> None:
        """Telegram asks whether to take the money for an entry.

        Raises:
            DomainError: ``entry_not_found``, ``invoice_not_yours``, ``amount_mismatch``,
                ``entries_closed``, ``entries_not_open`` or ``already_entered``.
        """
        async with self._db.read() as uow:
            entry = await uow.lottery.get(entry_id)
            if entry is None:
                raise DomainError(ErrorCode.ENTRY_NOT_FOUND)
            if entry.user_id != user_id:  # a forwarded invoice: only its entrant may pay it
                raise DomainError(ErrorCode.INVOICE_NOT_YOURS)
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
            await self._phone_for_entry(uow, event, user_id)

    async def confirm_payment(self, payment: IncomingPayment, entry_id: int) -> Confirmation:
        """Put a paid entry into the draw, exactly once per Telegram charge id.

        A payment that lands after the close (a race with the close), a second payment for
        the same entry, or one for a second entry of the same account is refunded in full
        and the entrant told why.
        """
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                entry = await uow.lottery.get(entry_id)
                event = await uow.events.lock(entry.event_id) if entry else None
                entry = await uow.lottery.get(entry_id, lock=True) if entry else None
                now = self._clock.now()
                record, created = await uow.payments.record(
                    payment, order_id=None, entry_id=entry.id if entry else None, now=now)
                if created and payment.first_name:
                    await uow.users.seen(user_id=payment.user_id, first_name=payment.first_name,
                                         language_code=None, now=now)
                if not created:
                    await tell_late_payer(uow, record, payment, now)
                    return Confirmation(PaymentOutcome.ALREADY_PROCESSED, record.id, None, [])
                reason = await _entry_refund_reason(uow, entry, event, payment, now)
                phone: str | None = None
                if reason is None and event is not None:
                    try:
                        phone = await self._phone_for_entry(uow, event, payment.user_id)
                    except DomainError:
                        reason = RefundReason.DUPLICATE_PAYMENT  # one entry per person
                if reason is not None:
                    await queue_refund(uow, record, reason, now)
                    return Confirmation(PaymentOutcome.REFUNDING, record.id, None, [], reason)
                assert entry is not None and event is not None and event.lottery is not None
                await uow.lottery.mark_entered(entry.id, now=now, phone_hash=phone)
                ticket_type = await uow.events.get_ticket_type(entry.ticket_type_id)
                assert ticket_type is not None
                await uow.outbox.put(
                    outbox.MESSAGE,
                    {"key": "lottery_entered", "params": {
                        "event": event.title_text(), "ticket_type": ticket_type.name,
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
            needing_round = await uow.lottery.needing_beacon_round()
        for event_id in needing_round:
            try:
                await self.fix_beacon_round(event_id)
            except Exception:  # the beacon may be briefly unreachable: next tick retries
                log.warning("could not fix the beacon round of lottery %s yet", event_id,
                            exc_info=True)
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
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                event = await uow.events.lock(event_id)
                now = self._clock.now()
                if event is None or event.lottery is None or \
                        event.lottery_state not in (None, LotteryState.OPEN) or \
                        now < event.lottery.entries_close_at:
                    return False
                voided = await uow.lottery.void_pending(event_id)
                list_hash, _ = await _freeze(uow, event_id)
                await uow.lottery.set_state(event_id, LotteryState.CLOSED, now=now)
        log.info("lottery %s closed (%s unpaid entries voided), list hash %s", event_id, voided,
                 list_hash)
        return True

    async def draw(self, event_id: int) -> bool:
        """Run the draw once: order, winners, losers and every follow-up in one transaction.

        The order is :func:`core.lottery.public_draw` of the frozen entry list, the seed and
        the beacon round fixed at open (if any); when that round is not published yet the
        draw waits for the next tick.

        Returns:
            True if this call drew; False if it was already drawn or is not due (yet).
        """
        fairness = None
        async with self._db.read() as uow:
            fairness = await uow.lottery.fairness(event_id)
        beacon_value: bytes | None = None
        if fairness.beacon_round is not None:
            if self._beacon is None:
                log.error("lottery %s needs beacon round %s but no beacon is configured",
                          event_id, fairness.beacon_round)
                return False
            beacon_value = await self._beacon.value(int(fairness.beacon_round))
            if beacon_value is None:
                log.info("lottery %s waits for beacon round %s", event_id,
                         fairness.beacon_round)
                return False
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                event = await uow.events.lock(event_id)
                now = self._clock.now()
                if event is None or event.lottery is None or \
                        event.lottery_state is LotteryState.DRAWN or now < event.lottery.draw_at:
                    return False
                just_frozen: str | None = None
                if event.lottery_state in (None, LotteryState.OPEN):
                    await uow.lottery.void_pending(event_id)
                    just_frozen, rows = await _freeze(uow, event_id)
                else:
                    rows = await uow.lottery.public_entry_rows(event_id)
                frozen = (await uow.lottery.fairness(event_id)).list_hash
                types = await uow.events.ticket_types(event_id)
                seats = {t.name: t.capacity for t in types}
                if event.status is not EventStatus.PUBLISHED:
                    seats = {}  # a cancelled event has no seats: everyone is refunded
                # Frozen just now from these very rows: its hash is not computed twice. Frozen
                # at an earlier close: recomputed, so entries changed since are caught.
                result = draw_rows(rows, seats, await uow.lottery.seed(event_id), beacon_value,
                                   list_hash=just_frozen)
                if result.list_hash != frozen:
                    log.critical("lottery %s: entries changed after the close (%s != %s); "
                                 "not drawing", event_id, result.list_hash, frozen)
                    return False
                outcome = DrawResult([r[0] for r in result.order], result.winners)
                plan = DrawSettlement(event)
                counts = await uow.lottery.record_draw(plan, outcome, now=now)
                if counts["losers"]:
                    # One item for every loser: the worker settles them in batches.
                    await uow.outbox.put(outbox.REFUND_LOSERS, {"event_id": event_id},
                                         dedupe_key=plan.losers_key.of(event_id), now=now)
                await settle_groups(uow, event, now=now)
                if beacon_value is not None:
                    await uow.lottery.record_beacon_value(event_id, beacon_value.hex())
                await uow.lottery.set_state(event_id, LotteryState.DRAWN, now=now)
        log.info("lottery %s drawn: %s", event_id, counts)
        return True

    async def settle_losers(self, event_id: int) -> int:
        """One batch of a drawn lottery's losers (the ``REFUND_LOSERS`` item's work): up to
        ``loser_batch`` of them marked lost, their payments owed back (refund + REFUND item
        each) and, when the batch was full, the item for the next batch, all in one
        transaction. Exactly once and resumable: a loser is settled in the transaction that
        marks it lost, and a batch run again (after a crash) finds only the unsettled ones.

        Returns:
            How many losers this batch settled (0: none were left).
        """
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                event = await uow.events.lock(event_id)
                if event is None or event.lottery_state is not LotteryState.DRAWN:
                    return 0
                now = self._clock.now()
                settled, first = await uow.lottery.settle_losers(
                    DrawSettlement(event), limit=self.loser_batch, now=now)
                if settled == self.loser_batch and first is not None:
                    await uow.outbox.put(
                        outbox.REFUND_LOSERS, {"event_id": event_id},
                        dedupe_key=f"{DrawSettlement(event).losers_key.of(event_id)}:{first}",
                        now=now)
        log.info("lottery %s: %s losers settled", event_id, settled)
        return settled

    async def fix_beacon_round(self, event_id: int) -> int | None:
        """Fix the beacon round of a lottery that mixes one in: the first round after the
        close, chosen while entries are open so nobody can know its value in advance."""
        if self._beacon is None:
            return None
        async with self._db.read() as uow:
            event = await uow.events.get(event_id)
        if event is None or event.lottery is None:
            return None
        round_number = await self._beacon.round_after(event.lottery.entries_close_at)
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                await uow.events.lock(event_id)
                await uow.lottery.fix_beacon_round(event_id, round_number)
        return round_number

    async def fairness_info(self, event_id: int) -> dict[str, Any]:
        """What ``/fairness`` shows: commitment, list hash once closed, beacon round/value,
        state. The seed itself only after the draw (see :meth:`audit`).

        Raises:
            DomainError: ``event_not_found`` or ``not_a_lottery``.
        """
        async with self._db.read() as uow:
            event = await uow.events.get(event_id)
            if event is None or event.status is EventStatus.DRAFT:
                raise DomainError(ErrorCode.EVENT_NOT_FOUND, event_id=event_id)
            if not event.is_lottery:
                raise DomainError(ErrorCode.NOT_A_LOTTERY)
            info = await uow.lottery.fairness(event_id)
        return {**dataclasses.asdict(info), "event": event,
                "state": event.lottery_state or LotteryState.OPEN,
                "beacon_url": self._beacon.url if self._beacon and info.beacon_round
                is not None else None}

    async def audit(self, event_id: int) -> dict[str, Any]:
        """The public audit file of a drawn lottery (reveals the seed).

        Raises:
            DomainError: ``event_not_found``, ``not_a_lottery`` or ``draw_not_done``.
        """
        async with self._db.read() as uow:
            event = await uow.events.get(event_id)
            if event is None or event.status is EventStatus.DRAFT:
                raise DomainError(ErrorCode.EVENT_NOT_FOUND, event_id=event_id)
            if not event.is_lottery or event.lottery is None:
                raise DomainError(ErrorCode.NOT_A_LOTTERY)
            if event.lottery_state is not LotteryState.DRAWN:
                raise DomainError(ErrorCode.DRAW_NOT_DONE)
            info = await uow.lottery.fairness(event_id)
            rows = await uow.lottery.public_entries(event_id)
            seed = await uow.lottery.seed(event_id)
            types = await uow.events.ticket_types(event_id)
            second_chance = await uow.returns.second_chance(event_id)
        beacon_value = bytes.fromhex(info.beacon_value) if info.beacon_value else None
        seats = {t.name: t.capacity for t in types} \
            if event.status is EventStatus.PUBLISHED else {}
        entries = [p for _, p in rows]
        result = public_draw(entries, seats, seed, beacon_value)
        beacon = None if info.beacon_round is None else {
            "url": self._beacon.url if self._beacon else None,
            "round": info.beacon_round, "value": info.beacon_value}
        return build_audit(
            event={"id": event.id, "title": event.title, "venue": event.venue,
                   "starts_at": event.starts_at.isoformat(), "timezone": event.timezone,
                   "entries_close_at": event.lottery.entries_close_at.isoformat(),
                   "draw_at": event.lottery.draw_at.isoformat()},
            seats=seats, max_per_entry=event.lottery.max_per_entry,
            commitment_hex=info.commitment or commitment(seed), seed=seed, beacon=beacon,
            entries=sorted(entries, key=lambda e: e.ref), list_hash=result.list_hash,
            order=result.order, winners=result.winners,
            drawn_at=self._clock.now().isoformat(), second_chance=second_chance)

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
            entries=tally.entries, tickets_asked=tally.tickets_asked,
            seats=sum(t.capacity for t in types), winners=tally.winners,
            tickets_won=tally.tickets_won, paid=Money(tally.paid_minor, currency),
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


async def _freeze(uow: UnitOfWork, event_id: int) -> tuple[str, list[EntryRow]]:
    """Freeze the entry list at the close: its hash is published before the draw.

    Returns:
        The list hash and the entries it was computed from, in the canonical order.
    """
    rows = sorted(await uow.lottery.public_entry_rows(event_id), key=lambda r: r[1])
    list_hash = rows_list_hash(rows)
    await uow.lottery.record_list_hash(event_id, list_hash)
    return list_hash, rows


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


async def _in_a_group(uow: UnitOfWork, event_id: int, user_id: int) -> bool:
    """A confirmed companion in someone's group entry of this lottery (one entry each)."""
    member = await uow.groups.member_of(event_id, user_id)
    return member is not None and member.status is MemberStatus.CONFIRMED
