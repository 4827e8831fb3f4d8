"""Returns and the waiting list: join, return, offer, lapse, resell, each exactly once.

Every step runs in one transaction with the messages it causes (outbox, deduplicated by keys
derived from our ids), under the event (shared), the ticket type and the orders' locks in the
one lock order, so a crash anywhere leaves either the whole step or nothing, and a step run
twice changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.catalog.model import Event, SaleMode, TicketType
from core.kernel import locking, outbox
from core.kernel.clock import Clock
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.payments.plans import RefundReason
from core.returns.model import (
    ReturnPolicy,
    ReturnStatus,
    TicketReturn,
    WaitlistEntry,
    WaitStatus,
    check_join,
    matches,
    offers_open,
    unclaimed_offers,
)
from core.returns.ports import AfterSaleCounts
from core.sales.model import Order, OrderStatus, invoice_payload
from core.tickets.model import RevokeReason, TicketStatus
from core.transactions import after_attempts, write_attempts
from core.unit_of_work import Database, UnitOfWork

# Lapsed offers handled per run of the scheduler job (the rest wait for the next run).
LAPSES_PER_RUN = 100


@dataclass(frozen=True, slots=True)
class Joined:
    """A place on a waiting list."""

    entry: WaitlistEntry
    event: Event
    ticket_type: TicketType
    ahead: int  # people waiting before this one


@dataclass(frozen=True, slots=True)
class Returned:
    """A return made: what the returner will get back once the seats are resold."""

    ret: TicketReturn
    event: Event
    ticket_type: TicketType
    refund: Money
    fee: Money
    offered: bool  # offered to someone on the waiting list at once


@dataclass(frozen=True, slots=True)
class ReturnOption:
    """One of a holder's paid orders and what returning it means now."""

    order: Order
    event: Event
    ticket_type: TicketType
    refund: Money
    fee: Money
    ret: TicketReturn | None  # already returned (waiting for a taker, or offered)


class ReturnsService:
    """Returns of paid orders and the waiting lists of sold-out ticket types."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    # --- The waiting list. --------------------------------------------------------------

    async def join_waitlist(self, *, user_id: int, chat_id: int, ticket_type_id: int,
                            quantity: int) -> Joined:
        """Join a sold-out type's waiting list (once per person and type).

        Raises:
            DomainError: ``ticket_type_not_found``, ``event_not_on_sale``, ``not_sold_out``,
                ``invalid_quantity``, ``user_limit_reached`` or ``already_waiting``.
        """
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                event, ticket_type = await _lock_type(uow, ticket_type_id)
                now = self._clock.now()
                if event.sale_mode is not SaleMode.DIRECT or not event.is_on_sale(now):
                    raise DomainError(ErrorCode.EVENT_NOT_ON_SALE, event_id=event.id)
                if await uow.returns.entry_for(user_id=user_id,
                                               ticket_type_id=ticket_type_id) is not None:
                    raise DomainError(ErrorCode.ALREADY_WAITING)
                stock = (await uow.events.stock([ticket_type_id], now=now))[ticket_type_id]
                owned = await uow.orders.seats_owned(user_id=user_id,
                                                     ticket_type_id=ticket_type_id)
                check_join(quantity, sold_out=stock.sold_out,
                           per_user_limit=ticket_type.per_user_limit, owned=owned)
                ahead = len(await uow.returns.waiting(ticket_type_id))
                entry = await uow.returns.join(ticket_type=ticket_type, user_id=user_id,
                                               chat_id=chat_id, quantity=quantity, now=now)
                if entry is None:
                    raise DomainError(ErrorCode.ALREADY_WAITING)
                await self._match(uow, event, ticket_type, now)
                return Joined(entry, event, ticket_type, ahead)
        raise after_attempts()

    async def waitlist_choice(self, *, user_id: int,
                              ticket_type_id: int) -> tuple[Event, TicketType, int]:
        """The event, the type and how many seats this person may wait for (their limit
        minus what they own).

        Raises:
            DomainError: ``ticket_type_not_found``, ``event_not_on_sale``, ``not_sold_out``,
                ``user_limit_reached`` or ``already_waiting``.
        """
        now = self._clock.now()
        async with self._db.read() as uow:
            ticket_type = await uow.events.get_ticket_type(ticket_type_id)
            event = await uow.events.get(ticket_type.event_id) if ticket_type else None
            if ticket_type is None or event is None:
                raise DomainError(ErrorCode.TICKET_TYPE_NOT_FOUND)
            if event.sale_mode is not SaleMode.DIRECT or not event.is_on_sale(now):
                raise DomainError(ErrorCode.EVENT_NOT_ON_SALE, event_id=event.id)
            if await uow.returns.entry_for(user_id=user_id,
                                           ticket_type_id=ticket_type_id) is not None:
                raise DomainError(ErrorCode.ALREADY_WAITING)
            stock = (await uow.events.stock([ticket_type_id], now=now))[ticket_type_id]
            owned = await uow.orders.seats_owned(user_id=user_id, ticket_type_id=ticket_type_id)
        check_join(1, sold_out=stock.sold_out, per_user_limit=ticket_type.per_user_limit,
                   owned=owned)
        return event, ticket_type, ticket_type.per_user_limit - owned

    # --- Returns. -----------------------------------------------------------------------

    async def return_order(self, *, user_id: int, chat_id: int, order_id: int) -> Returned:
        """Return a whole paid order while the organizer's policy allows. The tickets stay
        valid until someone from the waiting list pays for them; only then is the returner
        refunded (minus the fee). Idempotent per order.

        Raises:
            DomainError: ``order_not_found``, ``returns_closed``, ``not_returnable`` (used,
                transferred, revoked or not paid) or ``already_returned``.
        """
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                order = await uow.orders.get(order_id)
                if order is None or order.user_id != user_id:
                    raise DomainError(ErrorCode.ORDER_NOT_FOUND)
                event, ticket_type = await _lock_type(uow, order.ticket_type_id)
                order = await uow.orders.get(order_id, lock=True)
                assert order is not None
                now = self._clock.now()
                policy = await uow.returns.policy(event.id)
                if (policy is None or not offers_open(event, now)
                        or not policy.open_at(now, event.starts_at)):
                    raise DomainError(ErrorCode.RETURNS_CLOSED)
                if await uow.returns.return_of(order_id) is not None:
                    raise DomainError(ErrorCode.ALREADY_RETURNED)
                if order.status is not OrderStatus.PAID or not await _intact(uow, order):
                    raise DomainError(ErrorCode.NOT_RETURNABLE)
                ret = await uow.returns.add_return(order, chat_id=chat_id, now=now)
                if ret is None:
                    raise DomainError(ErrorCode.ALREADY_RETURNED)
                refund = policy.refund_for(order.unit_price, order.quantity)
                offered = await self._match(uow, event, ticket_type, now)
                return Returned(ret, event, ticket_type, refund, order.total - refund,
                                any(m == ret.id for m in offered))
        raise after_attempts()

    async def returnable(self, *, user_id: int) -> list[ReturnOption]:
        """The holder's paid orders that the organizer's policy lets them return now, and
        those already returned and not yet resold (their tickets still valid), soonest
        event first."""
        now = self._clock.now()
        out: list[ReturnOption] = []
        async with self._db.read() as uow:
            tickets = await uow.tickets.for_owner(user_id, upcoming_after=now)
            seen: set[int] = set()
            for ticket in tickets:
                if ticket.order_id in seen or ticket.status is not TicketStatus.VALID:
                    continue
                seen.add(ticket.order_id)
                order = await uow.orders.get(ticket.order_id)
                if order is None or order.status is not OrderStatus.PAID \
                        or order.user_id != user_id:
                    continue
                event = await uow.events.get(order.event_id)
                ticket_type = await uow.events.get_ticket_type(order.ticket_type_id)
                policy = await uow.returns.policy(order.event_id)
                if event is None or ticket_type is None or policy is None:
                    continue
                ret = await uow.returns.return_of(order.id)
                if ret is None and (not offers_open(event, now)
                                    or not policy.open_at(now, event.starts_at)
                                    or not await _intact(uow, order)):
                    continue
                refund = policy.refund_for(order.unit_price, order.quantity)
                out.append(ReturnOption(order, event, ticket_type, refund,
                                        order.total - refund, ret))
        return sorted(out, key=lambda o: (o.event.starts_at, o.order.id))

    async def return_option(self, *, user_id: int, order_id: int) -> ReturnOption:
        """One returnable order (for the confirmation screen).

        Raises:
            DomainError: ``order_not_found`` (also someone else's) or ``returns_closed``.
        """
        for option in await self.returnable(user_id=user_id):
            if option.order.id == order_id:
                return option
        async with self._db.read() as uow:
            order = await uow.orders.get(order_id)
        if order is None or order.user_id != user_id:
            raise DomainError(ErrorCode.ORDER_NOT_FOUND)
        raise DomainError(ErrorCode.RETURNS_CLOSED)

    # --- The sweep: lapsed offers go to the next in line. -------------------------------

    async def sweep(self, *, limit: int = LAPSES_PER_RUN) -> int:
        """Lapse every offer not paid in time and offer its seats to the next person; offer
        open returns to people who joined meanwhile. Idempotent: a lapse is decided under
        the offer order's lock and recorded with its messages.

        Returns:
            How many lapses and offers were made (the scheduler wakes the outbox when not 0).
        """
        done = 0
        async with self._db.read() as uow:
            to_seed = await uow.returns.lotteries_to_seed()
        for event_id in to_seed:
            done += await self._seed(event_id)
        async with self._db.read() as uow:
            lapsed = await uow.returns.lapsed_entries(now=self._clock.now(), limit=limit)
            to_match = await uow.returns.types_to_match()
        for entry in lapsed:
            done += await self._lapse(entry)
        for ticket_type_id in to_match:
            async for attempt in write_attempts(self._db):
                async with attempt as uow:
                    event, ticket_type = await _lock_type(uow, ticket_type_id)
                    offered = len(await self._match(uow, event, ticket_type,
                                                    self._clock.now()))
            done += offered
        return done

    async def _seed(self, event_id: int) -> int:
        """Queue a drawn lottery's non-winners in the published draw order (once) and offer
        its unclaimed seats and open returns down that order."""
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                event = await uow.events.lock(event_id, shared=True)
                types = await uow.events.ticket_types(event_id)
                await uow.locks.take(*(locking.ticket_type(t.id) for t in types))
                if event is None:
                    return 0
                now = self._clock.now()
                done = await uow.returns.seed_second_chance(event_id, now=now)
                for ticket_type in types:
                    done += len(await self._match(uow, event, ticket_type, now))
                return done
        raise after_attempts()

    async def _lapse(self, stale: WaitlistEntry) -> int:
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                assert stale.offer_order_id is not None
                event, ticket_type = await _lock_type(uow, stale.ticket_type_id)
                found = await uow.returns.offer_of(stale.offer_order_id)
                offer = await uow.orders.get(stale.offer_order_id)
                if offer is None:
                    return 0
                locks = [locking.order(offer.id)]
                if offer.resale_of is not None:
                    locks.append(locking.order(offer.resale_of))
                await uow.locks.take(*locks)
                now = self._clock.now()
                offer = await uow.orders.get(stale.offer_order_id)
                entry = await uow.returns.offer_entry(stale.offer_order_id)
                if (offer is None or entry is None or entry.status is not WaitStatus.OFFERED
                        or offer.status is OrderStatus.PAID or offer.hold_is_live(now)):
                    return 0  # paid, renewed at pre-checkout, or lapsed already
                await uow.returns.lapse(entry, now=now)
                params = {"event": event.title, "ticket_type": ticket_type.name,
                          "quantity": offer.quantity}
                await uow.outbox.put(outbox.MESSAGE, {"key": "waitlist.lapsed", "params": params},
                                     dedupe_key=f"offer_lapsed:{offer.id}", now=now,
                                     chat_id=entry.chat_id)
                offered = await self._match(uow, event, ticket_type, now)
                if found is not None and found[0].id not in offered:
                    await uow.outbox.put(
                        outbox.MESSAGE, {"key": "return.lapsed_kept", "params": params},
                        dedupe_key=f"return_lapsed:{offer.id}", now=now,
                        chat_id=found[0].chat_id)
                return 1 + len(offered)
        raise after_attempts()

    async def _match(self, uow: UnitOfWork, event: Event, ticket_type: TicketType,
                     now: datetime) -> list[int]:
        """Offer the type's open returns to the waiting list (under the type's lock).

        Returns:
            The ids of the returns offered.
        """
        if not offers_open(event, now):
            return []
        policy = await uow.returns.policy(event.id)
        if policy is None:
            return []
        lottery = event.sale_mode is SaleMode.LOTTERY
        returns = [r for r in await uow.returns.open_returns(ticket_type.id)
                   if await _intact_return(uow, r)]
        waiting = await uow.returns.waiting(ticket_type.id)
        offered: list[int] = []
        taken: set[int] = set()
        for match in matches(returns, waiting):
            ret, entry = match.ret, match.entry
            owned = await uow.orders.seats_owned(user_id=entry.user_id,
                                                 ticket_type_id=ticket_type.id)
            if not lottery and owned + ret.quantity > ticket_type.per_user_limit:
                continue  # bought meanwhile; stays waiting for a return that fits
            order = await uow.returns.add_offer(
                ret, entry, unit_price_minor=ticket_type.price.amount,
                currency=ticket_type.price.currency, now=now,
                expires_at=policy.offer_deadline(now))
            await _tell_offer(uow, event, ticket_type, policy, order, entry, now)
            await uow.outbox.put(outbox.MESSAGE, {"key": "return.offered", "params": {
                "event": event.title, "ticket_type": ticket_type.name,
                "quantity": order.quantity, "minutes": policy.offer_minutes}},
                dedupe_key=f"return_offered:{order.id}", now=now, chat_id=ret.chat_id)
            offered.append(ret.id)
            taken.add(entry.id)
        if lottery:  # a drawn lottery's unclaimed seats, down the draw order
            free = (await uow.events.stock([ticket_type.id], now=now))[ticket_type.id].available
            for entry, seats in unclaimed_offers(free, waiting, taken):
                order = await uow.returns.add_seat_offer(
                    entry, quantity=seats, unit_price_minor=ticket_type.price.amount,
                    currency=ticket_type.price.currency, now=now,
                    expires_at=policy.offer_deadline(now))
                await _tell_offer(uow, event, ticket_type, policy, order, entry, now)
        return offered

    # --- Figures. -----------------------------------------------------------------------

    async def counts(self, event_id: int | None = None) -> AfterSaleCounts:
        """Returns, resales, waiting-list length, offers and lapses (for /stats and CSV)."""
        async with self._db.read() as uow:
            return await uow.returns.counts(event_id)

    async def policy(self, event_id: int) -> ReturnPolicy | None:
        """An event's return policy (None: no returns)."""
        async with self._db.read() as uow:
            return await uow.returns.policy(event_id)


class ResaleSettlement:
    """What a payment for an offer order does (:class:`core.payments.outcomes.Resales`):
    it is refused unless the offer still stands, and once it is honoured the return is
    settled in the same transaction."""

    async def is_offer(self, uow: UnitOfWork, order: Order) -> bool:
        """True if the order is a waiting-list or second-chance offer."""
        return order.resale_of is not None or \
            await uow.returns.offer_entry(order.id) is not None

    async def refusal(self, uow: UnitOfWork, order: Order, now: datetime) -> RefundReason | None:
        """None if this offer order may be paid now, else why its payment goes back."""
        event = await uow.events.get(order.event_id)
        if event is None or not offers_open(event, now):
            return RefundReason.EVENT_CANCELLED
        entry = await uow.returns.offer_entry(order.id)
        if entry is None or entry.status is not WaitStatus.OFFERED \
                or not order.hold_is_live(now):
            return RefundReason.SEATS_GONE
        if order.resale_of is None:
            return None  # unclaimed seats: the live hold holds them
        found = await uow.returns.offer_of(order.id)
        if found is None:
            return RefundReason.SEATS_GONE
        ret, _entry = found
        returned = await uow.orders.get(ret.order_id)
        if (ret.status is not ReturnStatus.OFFERED or ret.offer_order_id != order.id
                or returned is None or returned.status is not OrderStatus.PAID
                or not await _intact(uow, returned)):
            return RefundReason.SEATS_GONE
        return None

    async def settle(self, uow: UnitOfWork, order: Order, now: datetime) -> None:
        """The offer order was paid (its tickets issued): the entry took it; for a return,
        resell it, revoke the old tickets (the door says REVOKED), refund the returner minus
        the fee, tell them."""
        await uow.returns.mark_offer_paid(order.id, now=now)
        if order.resale_of is None:
            return
        found = await uow.returns.offer_of(order.id)
        assert found is not None
        ret, _entry = found
        returned = await uow.orders.get(ret.order_id)
        assert returned is not None
        old = await uow.tickets.for_order(returned.id)
        await uow.locks.take(*(locking.ticket(t.id) for t in old))
        await uow.returns.resell(ret, now=now)
        for ticket in old:
            await uow.tickets.revoke(ticket.id, reason=RevokeReason.RETURNED)
        policy = await uow.returns.policy(returned.event_id)
        refund_amount = (policy.refund_for(returned.unit_price, returned.quantity)
                         if policy is not None else returned.total)
        event = await uow.events.get(returned.event_id)
        ticket_type = await uow.events.get_ticket_type(returned.ticket_type_id)
        assert event is not None and ticket_type is not None
        await uow.outbox.put(outbox.MESSAGE, {"key": "return.resold", "params": {
            "event": event.title, "ticket_type": ticket_type.name, "quantity": ret.quantity,
            "refund": refund_amount, "fee": returned.total - refund_amount}},
            dedupe_key=f"return_resold:{ret.id}", now=now, chat_id=ret.chat_id)
        payment = await uow.payments.paying_for_order(returned.id)
        if payment is None or refund_amount.amount == 0:
            return
        refund = await uow.refunds.request(payment, amount=refund_amount,
                                           reason=RefundReason.RETURNED, now=now)
        await uow.outbox.put(outbox.REFUND, {"refund_id": refund.id},
                             dedupe_key=f"refund:{refund.id}", now=now)


async def _tell_offer(uow: UnitOfWork, event: Event, ticket_type: TicketType,
                      policy: ReturnPolicy, order: Order, entry: WaitlistEntry,
                      now: datetime) -> None:
    """The offer's message and its invoice to the waiting person (each once)."""
    params = {"event": event.title, "ticket_type": ticket_type.name,
              "quantity": order.quantity, "total": order.total,
              "minutes": policy.offer_minutes}
    key = "waitlist.offer" if entry.draw_position is None else "waitlist.second_chance"
    await uow.outbox.put(outbox.MESSAGE, {"key": key, "params": params},
                         dedupe_key=f"offer:{order.id}", now=now, chat_id=entry.chat_id)
    await uow.outbox.put(outbox.INVOICE, {
        "title": {"key": "invoice.title", "params": {"event": event.title}},
        "description": {"key": "invoice.offer_description", "params": {
            "quantity": order.quantity, "ticket_type": ticket_type.name,
            "when": event.local_start(), "venue": event.venue,
            "minutes": policy.offer_minutes}},
        "label": {"key": "invoice.label", "params": {
            "quantity": order.quantity, "ticket_type": ticket_type.name}},
        "payload": invoice_payload(order.id), "total": order.total,
    }, dedupe_key=f"offer_invoice:{order.id}", now=now, chat_id=entry.chat_id)


async def _lock_type(uow: UnitOfWork, ticket_type_id: int) -> tuple[Event, TicketType]:
    """The event (shared) and the ticket type, locked in the order."""
    found = await uow.events.get_ticket_type(ticket_type_id)
    if found is None:
        raise DomainError(ErrorCode.TICKET_TYPE_NOT_FOUND)
    event = await uow.events.lock(found.event_id, shared=True)
    ticket_type = await uow.events.get_ticket_type(ticket_type_id, lock=True)
    if event is None or ticket_type is None:
        raise DomainError(ErrorCode.TICKET_TYPE_NOT_FOUND)
    return event, ticket_type


async def _intact(uow: UnitOfWork, order: Order) -> bool:
    """Every ticket of the order is still valid, its buyer's, and unused at the door."""
    tickets = await uow.tickets.for_order(order.id)
    if len(tickets) != order.quantity:
        return False
    for ticket in tickets:
        if ticket.status is not TicketStatus.VALID or ticket.owner_user_id != order.user_id:
            return False
        if await uow.checkins.first_admission(ticket.id) is not None:
            return False
    return True


async def _intact_return(uow: UnitOfWork, ret: TicketReturn) -> bool:
    order = await uow.orders.get(ret.order_id)
    return order is not None and order.status is OrderStatus.PAID and await _intact(uow, order)
