"""Returns and the waiting list: values and the rules that decide who is offered what.

A holder returns a whole paid order. The order stays theirs, its tickets valid, until a person
from the waiting list of its ticket type pays for the seats: only then is the order marked
``returned``, its tickets revoked and its payment refunded (minus the organizer's fee). If
nobody takes it, the holder simply keeps the tickets: a return never loses anyone money and
never frees a seat twice.

The waiting list is served in join order: a return goes to the first person still waiting who
asked for at least as many seats as the return holds (a person who wants one seat is not
offered two). The offer is a hold (an order with ``resale_of`` set) and an invoice valid for
the organizer's ``offer_minutes``; a lapse gives the return to the next person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.catalog.model import Event, EventStatus, LotteryState, SaleMode
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.sales.model import Order, OrderStatus
from core.tickets.model import Ticket, TicketStatus

DEFAULT_OFFER_MINUTES = 30


@dataclass(frozen=True, slots=True)
class ReturnPolicy:
    """What an organizer allows after the sale (the ``returns:`` block of an event file).

    ``until``: the last moment a return may be made (None: until the event starts).
    ``fee``: kept per returned ticket (zero: none), in the ticket type's currency.
    ``offer_minutes``: how long a waiting-list offer (hold + invoice) is valid.
    """

    until: datetime | None
    fee_minor: int
    offer_minutes: int = DEFAULT_OFFER_MINUTES

    def open_at(self, now: datetime, starts_at: datetime) -> bool:
        """True while a return may be made."""
        deadline = starts_at if self.until is None else min(self.until, starts_at)
        return now < deadline

    def refund_for(self, unit_price: Money, quantity: int) -> Money:
        """What the returner gets back once the seats are resold: the price minus the fee
        per ticket (never below zero)."""
        fee = min(self.fee_minor, unit_price.amount)
        return Money((unit_price.amount - fee) * quantity, unit_price.currency)

    def offer_deadline(self, now: datetime) -> datetime:
        """When an offer made at ``now`` lapses."""
        return now + timedelta(minutes=self.offer_minutes)


class ReturnStatus(StrEnum):
    """``open``: waiting for a taker; ``offered``: held for one person on the waiting list;
    ``resold``: paid by its new holder (the returner is refunded, the old tickets revoked)."""

    OPEN = "open"
    OFFERED = "offered"
    RESOLD = "resold"


@dataclass(frozen=True, slots=True)
class TicketReturn:
    """One returned order."""

    id: int
    order_id: int
    event_id: int
    ticket_type_id: int
    user_id: int
    chat_id: int
    quantity: int
    status: ReturnStatus
    created_at: datetime
    offer_order_id: int | None = None


class WaitStatus(StrEnum):
    """``waiting``: in the queue; ``offered``: holds an offer now; ``paid``: took it;
    ``lapsed``: let an offer lapse (they leave the queue: the next one gets a chance)."""

    WAITING = "waiting"
    OFFERED = "offered"
    PAID = "paid"
    LAPSED = "lapsed"


@dataclass(frozen=True, slots=True)
class WaitlistEntry:
    """One person waiting for seats of one ticket type (once per person and type)."""

    id: int
    event_id: int
    ticket_type_id: int
    user_id: int
    chat_id: int
    quantity: int
    status: WaitStatus
    joined_at: datetime
    offer_order_id: int | None = None
    # Lottery second chance: the non-winning entry's place in the published draw order and
    # its public reference (None on a direct sale's waiting list).
    draw_position: int | None = None
    entry_ref: str | None = None

    @property
    def place(self) -> tuple[int, datetime, int]:
        """Where it stands in the queue: draw order first (a lottery), then join order."""
        return (self.draw_position or 0, self.joined_at, self.id)


@dataclass(frozen=True, slots=True)
class Match:
    """A return to offer to a waiting person."""

    ret: TicketReturn
    entry: WaitlistEntry


def matches(returns: Sequence[TicketReturn],
            waiting: Sequence[WaitlistEntry]) -> list[Match]:
    """Who is offered which open return now: returns oldest first, each to the first person
    in the queue (join order; a lottery's published draw order) who is still waiting, asked
    for at least its seats and is not its returner.

    Args:
        returns: the open returns of one ticket type.
        waiting: its waiting-list entries in ``waiting`` state.
    """
    free = sorted(waiting, key=lambda e: e.place)
    out: list[Match] = []
    for ret in sorted(returns, key=lambda r: r.id):
        taker = next((e for e in free if e.quantity >= ret.quantity
                      and e.user_id != ret.user_id), None)
        if taker is None:
            continue
        free.remove(taker)
        out.append(Match(ret, taker))
    return out


def offers_open(event: Event, now: datetime) -> bool:
    """Returns and offers run while a published event has not started: a direct sale, or a
    lottery once drawn (its second chance)."""
    return (event.status is EventStatus.PUBLISHED and now < event.starts_at
            and (event.sale_mode is SaleMode.DIRECT
                 or event.lottery_state is LotteryState.DRAWN))


def unclaimed_offers(free: int, waiting: Sequence[WaitlistEntry],
                     taken: set[int]) -> list[tuple[WaitlistEntry, int]]:
    """A drawn lottery's unclaimed seats (never won, or given back by a lapsed offer): down
    the draw order, each non-winner not offered yet is offered what is left of their entry's
    seats, until no seat is left.

    Returns:
        ``(entry, seats)`` pairs, in draw order.
    """
    out: list[tuple[WaitlistEntry, int]] = []
    for entry in sorted(waiting, key=lambda e: e.place):
        if free <= 0:
            break
        if entry.id in taken:
            continue
        seats = min(entry.quantity, free)
        out.append((entry, seats))
        free -= seats
    return out


def return_refusal(event: Event, policy: ReturnPolicy | None, ticket: Ticket,
                   order: Order | None, *, admitted: bool, returned: bool,
                   now: datetime) -> ErrorCode | None:
    """Why the holder may not return ``ticket``'s order now, or None if they may.

    The organizer's policy decides (returns on, until when); only a direct sale's paid order
    still held whole by its buyer, unused at the door, can be returned, once.
    """
    if policy is None or not offers_open(event, now) or not policy.open_at(now, event.starts_at):
        return ErrorCode.RETURNS_CLOSED
    if returned:
        return ErrorCode.ALREADY_RETURNED
    if (ticket.status is not TicketStatus.VALID or admitted or order is None
            or order.status is not OrderStatus.PAID or ticket.owner_user_id != order.user_id
            or order.refunded_quantity):
        return ErrorCode.NOT_RETURNABLE
    return None


def check_join(quantity: int, *, sold_out: bool, per_user_limit: int, owned: int) -> None:
    """May someone join a ticket type's waiting list for ``quantity`` seats?

    Raises:
        DomainError: ``invalid_quantity``, ``not_sold_out`` (buy instead) or
            ``user_limit_reached``.
    """
    if quantity < 1:
        raise DomainError(ErrorCode.INVALID_QUANTITY, quantity=quantity)
    if not sold_out:
        raise DomainError(ErrorCode.NOT_SOLD_OUT)
    if owned + quantity > per_user_limit:
        raise DomainError(ErrorCode.USER_LIMIT_REACHED, limit=per_user_limit,
                          remaining=max(0, per_user_limit - owned))
