"""Direct purchase: hold seats, validate the pre-checkout, confirm a payment exactly once.

Every payment ends in tickets or in a refund: :meth:`PurchaseService.confirm_payment` never
keeps money it cannot honour.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.catalog.model import Event, TicketType
from core.kernel import locking, outbox
from core.kernel.clock import Clock
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.payments.model import IncomingPayment
from core.payments.outcomes import (
    Confirmation,
    EntryPayments,
    PaymentOutcome,
    Resales,
    queue_refund,
)
from core.payments.plans import RefundReason
from core.payments.reconciliation import tell_late_payer
from core.sales.model import (
    SCREEN_BUTTONS,
    HoldScreen,
    Order,
    OrderStatus,
    ScreenState,
    check_hold_request,
    hold_deadline,
    max_selectable,
    parse_entry_payload,
    parse_invoice_payload,
    screen_state_now,
)
from core.transactions import after_attempts, write_attempts
from core.unit_of_work import Database, UnitOfWork

# A hold validated at pre-checkout stays alive at least this long, covering the few seconds
# between Telegram's pre_checkout_query and its successful_payment.
PRE_CHECKOUT_GRACE = timedelta(minutes=2)
# Hold screens closed per run of the scheduler job (the rest wait for the next run).
SCREENS_PER_RUN = 200


@dataclass(frozen=True, slots=True)
class QuantityChoice:
    """What the quantity picker may offer (``max_quantity`` 0: nothing, see ``available``
    and ``limit_reached`` for why)."""

    event: Event
    ticket_type: TicketType
    max_quantity: int
    available: int
    limit_reached: bool = False


@dataclass(frozen=True, slots=True)
class Hold:
    """A fresh hold, ready to be invoiced."""

    order: Order
    event: Event
    ticket_type: TicketType


class PurchaseService:
    """First come, first served ticket sales with holds."""

    def __init__(self, db: Database, clock: Clock, *, hold_minutes: int = 10,
                 lottery: EntryPayments | None = None,
                 resales: Resales | None = None) -> None:
        self._db = db
        self._clock = clock
        self.hold_minutes = hold_minutes
        # Lottery entries are paid through the same invoice flow; their payloads go there.
        self._lottery = lottery
        # Waiting-list offers (orders with ``resale_of``) are paid like holds; their rules
        # and their settlement are the returns feature's (core.returns).
        self._resales = resales
        self._type_locks: dict[int, asyncio.Lock] = {}

    async def quantity_choice(self, *, user_id: int, ticket_type_id: int) -> QuantityChoice:
        """How many seats of a type this user may pick now.

        Raises:
            DomainError: ``ticket_type_not_found``, ``event_not_on_sale``, ``sold_out`` or
                ``user_limit_reached``.
        """
        choice = await self.offer(user_id=user_id, ticket_type_id=ticket_type_id)
        if choice.limit_reached:
            raise DomainError(ErrorCode.USER_LIMIT_REACHED,
                              limit=choice.ticket_type.per_user_limit)
        if choice.available == 0:
            raise DomainError(ErrorCode.SOLD_OUT)
        return choice

    async def offer(self, *, user_id: int, ticket_type_id: int) -> QuantityChoice:
        """What a quantity picker for this type should show now, even when that is nothing
        (sold out, or the user's limit reached): a stale picker is redrawn from this.

        Raises:
            DomainError: ``ticket_type_not_found`` or ``event_not_on_sale``.
        """
        now = self._clock.now()
        async with self._db.read() as uow:
            ticket_type, event = await _type_and_event(uow, ticket_type_id)
            if not event.is_on_sale(now):
                raise DomainError(ErrorCode.EVENT_NOT_ON_SALE, event_id=event.id)
            stock = (await uow.events.stock([ticket_type_id], now=now,
                                            exclude_user_id=user_id))[ticket_type_id]
            owned = await uow.orders.seats_owned(user_id=user_id, ticket_type_id=ticket_type_id)
        return QuantityChoice(
            event=event, ticket_type=ticket_type,
            max_quantity=max_selectable(stock, ticket_type.per_user_limit, owned),
            available=stock.available, limit_reached=owned >= ticket_type.per_user_limit,
        )

    async def hold(self, *, user_id: int, ticket_type_id: int, quantity: int,
                   screen: tuple[int, int] | None = None) -> Hold:
        """Reserve seats for ``hold_minutes``. Replaces the user's other holds for the event.

        Args:
            user_id: the buyer.
            ticket_type_id: what they hold.
            quantity: how many seats.
            screen: ``(chat id, message id)`` of the message that will show the hold (the
                picker it replaces), recorded with the order in the same transaction so that
                it is edited when the hold is paid, released or expires.

        Raises:
            DomainError: as :func:`core.orders.check_hold_request`, or ``event_not_on_sale``.
        """
        # A read first, with no write lock: when every seat is sold or held by someone else
        # right now the answer is "sold out" at once, so a crowd arriving after the sell-out
        # queues on nothing. (Refusing on a read never oversells; the locked check decides.)
        async with self._db.read() as uow:
            ticket_type, event = await _type_and_event(uow, ticket_type_id)
            if not event.is_on_sale(self._clock.now()):
                raise DomainError(ErrorCode.EVENT_NOT_ON_SALE, event_id=event.id)
            if (await uow.events.stock([ticket_type_id], now=self._clock.now(),
                                       exclude_user_id=user_id))[ticket_type_id].sold_out:
                raise DomainError(ErrorCode.SOLD_OUT)
        # Holds for one type queue here, in the process, instead of each holding a database
        # connection while it waits for the row lock (the database lock still decides).
        async with self._type_lock(ticket_type_id):
            async for attempt in write_attempts(self._db):
                async with attempt as uow:
                    order, event, ticket_type = await self._hold_locked(
                        uow, user_id=user_id, event_id=event.id, ticket_type_id=ticket_type_id,
                        quantity=quantity, screen=screen)
        return Hold(order=order, event=event, ticket_type=ticket_type)

    async def _hold_locked(self, uow: UnitOfWork, *, user_id: int, event_id: int,
                           ticket_type_id: int, quantity: int,
                           screen: tuple[int, int] | None) -> tuple[Order, Event, TicketType]:
        """The write of :meth:`hold`: event (shared), then the ticket type, then the order."""
        event = await uow.events.lock(event_id, shared=True)
        locked = await uow.events.get_ticket_type(ticket_type_id, lock=True)
        if event is None or locked is None or locked.event_id != event_id:
            raise DomainError(ErrorCode.TICKET_TYPE_NOT_FOUND)
        ticket_type = locked  # current capacity and limit (an organizer may have edited)
        now = self._clock.now()  # after the locks: waiting must not make holds look alive
        if not event.is_on_sale(now):
            raise DomainError(ErrorCode.EVENT_NOT_ON_SALE, event_id=event.id)
        owned = await uow.orders.seats_owned(user_id=user_id, ticket_type_id=ticket_type_id)
        await uow.orders.release_live_holds(user_id=user_id, event_id=event.id, now=now)
        stock = (await uow.events.stock([ticket_type_id], now=now))[ticket_type_id]
        check_hold_request(quantity, stock, ticket_type.per_user_limit, owned)
        order = await uow.orders.add_hold(
            user_id=user_id, ticket_type=ticket_type, quantity=quantity, now=now,
            expires_at=hold_deadline(now, self.hold_minutes),
        )
        if screen is not None:
            await uow.orders.set_screen(order.id, chat_id=screen[0], message_id=screen[1],
                                        now=now)
        return order, event, ticket_type

    async def move_hold_screen(self, *, user_id: int, order_id: int, chat_id: int,
                               message_id: int) -> None:
        """The hold is shown in another message than :meth:`hold` was told (the picker
        could not be edited, so a new message was sent): record that one instead.

        Raises:
            DomainError: ``order_not_found`` for someone else's or an unknown order.
        """
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                order = await uow.orders.get(order_id)
                if order is None or order.user_id != user_id:
                    raise DomainError(ErrorCode.ORDER_NOT_FOUND)
                await uow.orders.set_screen(order_id, chat_id=chat_id, message_id=message_id,
                                            now=self._clock.now())

    async def close_stale_screens(self, *, limit: int = SCREENS_PER_RUN) -> int:
        """Queue the edit of every hold screen that no longer tells the truth: expired holds,
        and holds released by a newer one or rejected (a paid hold's screen is edited when
        the payment is recorded). Each screen is edited once: its state changes in the same
        transaction as the edit is queued.

        Returns:
            How many edits were queued (the scheduler wakes the outbox when not 0).
        """
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                queued = 0  # counted afresh if the transaction runs again
                now = self._clock.now()
                stale = await uow.orders.screens_to_close(now=now, limit=limit)
                names: dict[int, tuple[Event, TicketType]] = {}
                for order, screen in stale:
                    state = screen_state_now(order, now)
                    if state is None or state is ScreenState.PAID:
                        continue  # alive again (renewed at pre-checkout), or paid meanwhile
                    if order.ticket_type_id not in names:
                        found_type, found_event = await _type_and_event(uow, order.ticket_type_id)
                        names[order.ticket_type_id] = (found_event, found_type)
                    event, ticket_type = names[order.ticket_type_id]
                    queued += await _close_screen(uow, order, screen, state, event, ticket_type,
                                                  now, from_states=(ScreenState.OPEN,))
        return queued

    def _type_lock(self, ticket_type_id: int) -> asyncio.Lock:
        lock = self._type_locks.get(ticket_type_id)
        if lock is None:
            lock = self._type_locks[ticket_type_id] = asyncio.Lock()
        return lock

    async def release(self, *, user_id: int, order_id: int) -> OrderStatus:
        """Give held seats back (the buyer changed their mind). Idempotent.

        Returns:
            The order's status afterwards: ``released``, or ``paid`` if the payment already
            went through (then nothing is released).

        Raises:
            DomainError: ``order_not_found`` for unknown orders and other people's orders.
        """
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                order = await uow.orders.get(order_id)
                if order is None or order.user_id != user_id:
                    raise DomainError(ErrorCode.ORDER_NOT_FOUND)
                await uow.events.lock(order.event_id, shared=True)
                order = await uow.orders.get(order_id, lock=True)
                assert order is not None
                if order.status is OrderStatus.HELD:
                    await uow.orders.release(order_id)
                    # The caller edits the message the Cancel button was under; no job may edit
                    # it again.
                    await uow.orders.close_screen(order_id, ScreenState.RELEASED,
                                                  now=self._clock.now(),
                                                  from_states=(ScreenState.OPEN,))
                    return OrderStatus.RELEASED
                return order.status
        raise after_attempts()

    async def pre_checkout(self, *, user_id: int, payload: str, amount: Money) -> None:
        """Decide whether Telegram may take the money (answer within 10 s).

        The hold must be alive, or its seats re-acquirable if it expired; the amount and
        currency must match the order; the user's limit must still hold. A valid hold is
        extended by a short grace period so the payment that follows finds it alive.

        Raises:
            DomainError: ``order_not_found``, ``invoice_not_yours`` (someone else's invoice,
                forwarded), ``order_not_payable``, ``amount_mismatch``,
                ``event_not_on_sale``, ``sold_out``, ``not_enough_seats`` or
                ``user_limit_reached``.
        """
        entry_id = parse_entry_payload(payload)
        if entry_id is not None and self._lottery is not None:
            await self._lottery.pre_checkout(user_id=user_id, entry_id=entry_id, amount=amount)
            return
        order_id = parse_invoice_payload(payload)
        # The usual case needs no write: the hold is alive for longer than the grace period
        # (so renewing it would change nothing), the amount matches and the event is on sale.
        # Anything else goes through the locked path below, which decides and renews.
        async with self._db.read() as uow:
            order = await uow.orders.get(order_id)
            if order is None:
                raise DomainError(ErrorCode.ORDER_NOT_FOUND)
            if order.user_id != user_id:  # a forwarded invoice: only its buyer may pay it
                raise DomainError(ErrorCode.INVOICE_NOT_YOURS)
            now = self._clock.now()
            if (order.resale_of is None and order.hold_is_live(now + PRE_CHECKOUT_GRACE)
                    and amount == order.total
                    and (await _type_and_event(uow, order.ticket_type_id))[1].is_on_sale(now)):
                return
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                order = await uow.orders.get(order_id)
                if order is None or order.user_id != user_id:
                    raise DomainError(ErrorCode.ORDER_NOT_FOUND)
                await uow.events.lock(order.event_id, shared=True)
                await uow.events.get_ticket_type(order.ticket_type_id, lock=True)
                order = await uow.orders.get(order_id, lock=True)
                assert order is not None
                now = self._clock.now()  # after the locks
                if order.status not in (OrderStatus.HELD, OrderStatus.RELEASED):
                    raise DomainError(ErrorCode.ORDER_NOT_PAYABLE, status=order.status.value)
                if amount != order.total:
                    raise DomainError(ErrorCode.AMOUNT_MISMATCH)
                ticket_type, event = await _type_and_event(uow, order.ticket_type_id, lock=True)
                if await self._is_offer(uow, order, event, now):
                    # A waiting-list or second-chance offer: payable while it stands, never
                    # re-acquired (its seats went to the next person).
                    assert self._resales is not None
                    if await self._resales.refusal(uow, order, now) is not None:
                        raise DomainError(ErrorCode.HOLD_EXPIRED)
                    deadline = max(order.hold_expires_at, now + PRE_CHECKOUT_GRACE)
                elif not event.is_on_sale(now):
                    raise DomainError(ErrorCode.EVENT_NOT_ON_SALE, event_id=event.id)
                elif order.resale_of is not None:
                    raise DomainError(ErrorCode.HOLD_EXPIRED)
                elif order.hold_is_live(now):
                    deadline = max(order.hold_expires_at, now + PRE_CHECKOUT_GRACE)
                else:
                    await _check_reacquire(uow, order, ticket_type, now)
                    deadline = now + PRE_CHECKOUT_GRACE
                await uow.orders.renew_hold(order_id, expires_at=deadline)

    async def confirm_payment(self, payment: IncomingPayment) -> Confirmation:
        """Turn a successful payment into tickets, exactly once per Telegram charge id.

        If the order cannot be honoured (seats resold after the hold expired, order already
        paid, event off sale, amount or owner mismatch) the payment is queued for an automatic
        refund and the buyer is told. A repeat delivery of the same charge changes nothing.
        """
        entry_id = parse_entry_payload(payment.payload)
        if entry_id is not None and self._lottery is not None:
            return await self._lottery.confirm_payment(payment, entry_id)
        try:
            order_id: int | None = parse_invoice_payload(payment.payload)
        except DomainError:
            order_id = None
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                order = await uow.orders.get(order_id) if order_id is not None else None
                locked: tuple[TicketType, Event] | None = None
                if order is not None:
                    # In the lock order (core.kernel.locking): the event shared, its ticket type,
                    # then the order row, re-read under the lock so two payments for one
                    # order cannot both see it unpaid. The event and type read under their
                    # locks serve the whole transaction (no second read).
                    event = await uow.events.lock(order.event_id, shared=True)
                    ticket_type = await uow.events.get_ticket_type(order.ticket_type_id,
                                                                   lock=True)
                    if order.resale_of is not None:  # the returned order first: lower id
                        await uow.locks.take(locking.order(order.resale_of),
                                             locking.order(order.id))
                    order = await uow.orders.get(order.id, lock=True)
                    if event is None or ticket_type is None:
                        raise DomainError(ErrorCode.TICKET_TYPE_NOT_FOUND)
                    locked = (ticket_type, event)
                now = self._clock.now()  # after the locks: a hold must not outlive its deadline
                record, created = await uow.payments.record(
                    payment, order_id=order.id if order else None, now=now
                )
                if created and payment.first_name:
                    await uow.users.seen(user_id=payment.user_id, first_name=payment.first_name,
                                         language_code=None, now=now)
                if not created:
                    await tell_late_payer(uow, record, payment, now)
                    tickets = (await uow.tickets.for_order(record.order_id)
                               if record.order_id else [])
                    return Confirmation(PaymentOutcome.ALREADY_PROCESSED, record.id,
                                        record.order_id, tickets)
                reason = await self._refund_reason(uow, order, payment, now, locked)
                if reason is not None:
                    if order is not None and order.status is OrderStatus.HELD:
                        await uow.orders.mark_rejected(order.id)
                        await self._close_screen_of(uow, order, ScreenState.REJECTED, now,
                                                    from_states=(ScreenState.OPEN,))
                    await queue_refund(uow, record, reason, now)
                    return Confirmation(PaymentOutcome.REFUNDING, record.id,
                                        order.id if order else None, [], reason)
                assert order is not None and locked is not None
                ticket_type, event = locked
                await uow.orders.mark_paid(order.id, now=now)
                tickets = await uow.tickets.issue(order, now=now)
                await uow.outbox.put(
                    outbox.MESSAGE,
                    {"key": "payment_confirmed", "params": {
                        "event": event.title_text(), "ticket_type": ticket_type.name,
                        "quantity": order.quantity, "total": order.total,
                        "starts": event.local_start(), "venue": event.venue}},
                    dedupe_key=f"paid:{record.id}", now=now, chat_id=payment.chat_id,
                )
                for ticket in tickets:
                    await uow.outbox.put(outbox.TICKET, {"ticket_id": ticket.id},
                                         dedupe_key=f"ticket:{ticket.id}", now=now,
                                         chat_id=payment.chat_id)
                if await self._is_offer(uow, order, event, now):
                    assert self._resales is not None
                    await self._resales.settle(uow, order, now)
                # Last: the tickets go out first, and the hold's message then says "paid" and
                # loses its Cancel button (a screen already showing a newer hold is left alone).
                screen = await uow.orders.screen(order.id)
                if screen is not None:
                    await _close_screen(uow, order, screen, ScreenState.PAID, event, ticket_type,
                                        now, from_states=_PAYABLE_SCREENS)
                return Confirmation(PaymentOutcome.TICKETED, record.id, order.id, tickets)
        raise after_attempts()

    async def _close_screen_of(self, uow: UnitOfWork, order: Order, state: ScreenState,
                               now: datetime, *, from_states: tuple[ScreenState, ...]) -> None:
        screen = await uow.orders.screen(order.id)
        if screen is None:
            return
        ticket_type, event = await _type_and_event(uow, order.ticket_type_id)
        await _close_screen(uow, order, screen, state, event, ticket_type, now,
                            from_states=from_states)

    async def _is_offer(self, uow: UnitOfWork, order: Order, event: Event,
                        now: datetime) -> bool:
        """A waiting-list offer (``resale_of``) or a drawn lottery's second-chance offer;
        asked of the returns feature only off the direct-sale hot path."""
        if self._resales is None:
            return False
        if order.resale_of is None and event.is_on_sale(now):
            return False
        return await self._resales.is_offer(uow, order)

    async def _refund_reason(self, uow: UnitOfWork, order: Order | None,
                             payment: IncomingPayment, now: datetime,
                             locked: tuple[TicketType, Event] | None) -> RefundReason | None:
        """None if the order can be honoured now, else why the payment goes back
        (``locked``: the order's ticket type and event, read under their locks)."""
        if order is None or order.user_id != payment.user_id or payment.amount != order.total:
            return RefundReason.UNMATCHED_PAYMENT
        if order.status in (OrderStatus.PAID, OrderStatus.REJECTED):
            return RefundReason.DUPLICATE_PAYMENT
        assert locked is not None
        ticket_type, event = locked
        offer = await self._is_offer(uow, order, event, now)
        if not offer and not event.is_on_sale(now):
            return RefundReason.EVENT_CANCELLED
        owned = await uow.orders.seats_owned(user_id=order.user_id,
                                             ticket_type_id=ticket_type.id)
        if owned + order.quantity > ticket_type.per_user_limit:
            return RefundReason.LIMIT_EXCEEDED
        if offer:  # an offer is paid while it stands, or not at all
            assert self._resales is not None
            return await self._resales.refusal(uow, order, now)
        if order.resale_of is not None:
            return RefundReason.SEATS_GONE
        if order.hold_is_live(now):
            return None
        try:
            await _check_reacquire(uow, order, ticket_type, now)
        except DomainError:
            return RefundReason.SEATS_GONE
        return None


async def _type_and_event(uow: UnitOfWork, ticket_type_id: int,
                          *, lock: bool = False) -> tuple[TicketType, Event]:
    ticket_type = await uow.events.get_ticket_type(ticket_type_id, lock=lock)
    if ticket_type is None:
        raise DomainError(ErrorCode.TICKET_TYPE_NOT_FOUND)
    event = await uow.events.get(ticket_type.event_id)
    if event is None:
        raise DomainError(ErrorCode.EVENT_NOT_FOUND)
    return ticket_type, event


# A payment edits the hold's message whatever it said before (a late payment for an expired
# or replaced hold can still be honoured), unless that message now shows a newer hold.
_PAYABLE_SCREENS = (ScreenState.OPEN, ScreenState.EXPIRED, ScreenState.RELEASED,
                    ScreenState.REJECTED)


async def _close_screen(uow: UnitOfWork, order: Order, screen: HoldScreen, state: ScreenState,
                        event: Event, ticket_type: TicketType, now: datetime, *,
                        from_states: tuple[ScreenState, ...]) -> int:
    """Move a hold screen to ``state`` and queue its edit in the same transaction; 1 if it
    moved, 0 if it was no longer in one of ``from_states`` (someone else closed it)."""
    if not await uow.orders.close_screen(order.id, state, now=now, from_states=from_states):
        return 0
    await uow.outbox.put(
        outbox.EDIT,
        {"message_id": screen.message_id, "key": f"hold_screen.{state.value}",
         "params": {"event": event.title_text(), "ticket_type": ticket_type.name,
                    "quantity": order.quantity, "total": order.total},
         "buttons": SCREEN_BUTTONS.get(state)},
        dedupe_key=f"screen:{order.id}:{state.value}", now=now, chat_id=screen.chat_id)
    return 1


async def _check_reacquire(uow: UnitOfWork, order: Order, ticket_type: TicketType,
                           now: datetime) -> None:
    """Raise unless an expired (or released) hold's seats can be taken again right now.

    The order itself holds nothing any more, and the user's other live holds still count:
    re-acquiring never takes seats someone (the same user included) is holding.
    """
    stock = (await uow.events.stock([ticket_type.id], now=now))[ticket_type.id]
    owned = await uow.orders.seats_owned(user_id=order.user_id, ticket_type_id=ticket_type.id)
    check_hold_request(order.quantity, stock, ticket_type.per_user_limit, owned)
