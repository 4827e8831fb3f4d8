"""Orders, holds and the availability rule.

A hold reserves seats for a few minutes while the buyer pays. Availability is always derived:
``capacity - sold - live holds``; an expired hold stops counting the moment it expires, so no
job is needed to free seats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.catalog.model import TicketType
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money


class OrderStatus(StrEnum):
    """Where an order stands.

    ``held``: seats reserved until ``hold_expires_at`` (after that it holds nothing).
    ``paid``: payment confirmed, tickets issued.
    ``released``: the buyer gave the seats back or replaced the hold.
    ``rejected``: a payment arrived that could not be honoured; it is refunded.
    ``returned``: the buyer returned it and a person from the waiting list paid for its
    seats: its tickets are revoked and its payment refunded (minus the return fee).
    """

    HELD = "held"
    PAID = "paid"
    RELEASED = "released"
    REJECTED = "rejected"
    RETURNED = "returned"


@dataclass(frozen=True, slots=True)
class Order:
    """One buyer's order for a quantity of one ticket type."""

    id: int
    user_id: int
    event_id: int
    ticket_type_id: int
    quantity: int
    unit_price: Money
    status: OrderStatus
    created_at: datetime
    hold_expires_at: datetime
    paid_at: datetime | None = None
    # A waiting-list offer: the returned order whose seats this one buys (core.returns).
    resale_of: int | None = None
    # Seats of a paid order the organizer refunded: back in stock, no longer sold.
    refunded_quantity: int = 0

    @property
    def total(self) -> Money:
        """What the buyer pays for the whole order."""
        return self.unit_price.times(self.quantity)

    def hold_is_live(self, now: datetime) -> bool:
        """True while the order still reserves its seats."""
        return self.status is OrderStatus.HELD and now < self.hold_expires_at


class ScreenState(StrEnum):
    """What a hold's message ("seats reserved ... [Cancel hold]") says.

    ``open``: the hold as placed, with its Cancel button. Every other state is final for the
    Cancel button: ``paid``, ``expired``, ``released`` (cancelled, or replaced by a newer
    hold), ``rejected`` (a payment came that could not be honoured and is refunded), and
    ``superseded`` (the same message now shows a newer hold: it must not be edited for this
    one).
    """

    OPEN = "open"
    PAID = "paid"
    EXPIRED = "expired"
    RELEASED = "released"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class HoldScreen:
    """The chat message that shows a hold, recorded with its order so that it can be edited
    when the hold is paid, released or expires."""

    order_id: int
    chat_id: int
    message_id: int
    state: ScreenState


# The buttons under a closed hold's message, by what it says (drawn by the bot).
SCREEN_BUTTONS: dict[ScreenState, str] = {
    ScreenState.PAID: "my_tickets",
    ScreenState.EXPIRED: "events",
    ScreenState.RELEASED: "events",
    ScreenState.REJECTED: "events",
}


def screen_state_now(order: Order, now: datetime) -> ScreenState | None:
    """What an open hold screen must say now, or None while "reserved" is still true.

    A paid order says paid even if its hold had expired first (a late payment can still be
    honoured); a hold still alive says nothing new.
    """
    if order.status is OrderStatus.PAID:
        return ScreenState.PAID
    if order.status is OrderStatus.RELEASED:
        return ScreenState.RELEASED
    if order.status is OrderStatus.REJECTED:
        return ScreenState.REJECTED
    if not order.hold_is_live(now):
        return ScreenState.EXPIRED
    return None


@dataclass(frozen=True, slots=True)
class Stock:
    """Seat counts of one ticket type at one instant."""

    capacity: int
    sold: int
    held: int

    @property
    def available(self) -> int:
        """Seats anyone can still hold right now."""
        return max(0, self.capacity - self.sold - self.held)

    @property
    def sold_out(self) -> bool:
        """No seat left to hold."""
        return self.available == 0


def max_selectable(stock: Stock, per_user_limit: int, user_owned: int) -> int:
    """How many seats this user may pick now: bounded by stock and their remaining limit.

    Args:
        stock: current counts for the ticket type (the user's own live hold excluded).
        per_user_limit: maximum tickets of this type one user may own.
        user_owned: tickets of this type the user already bought.
    """
    return max(0, min(stock.available, per_user_limit - user_owned))


def check_hold_request(
    quantity: int, stock: Stock, per_user_limit: int, user_owned: int
) -> None:
    """Validate a request to hold ``quantity`` seats.

    Raises:
        DomainError: ``invalid_quantity``, ``user_limit_reached``, ``sold_out`` or
            ``not_enough_seats`` (with ``available``).
    """
    if quantity < 1:
        raise DomainError(ErrorCode.INVALID_QUANTITY, quantity=quantity)
    remaining_limit = per_user_limit - user_owned
    if remaining_limit <= 0:
        raise DomainError(ErrorCode.USER_LIMIT_REACHED, limit=per_user_limit)
    if quantity > remaining_limit:
        raise DomainError(
            ErrorCode.USER_LIMIT_REACHED, limit=per_user_limit, remaining=remaining_limit
        )
    if stock.sold_out:
        raise DomainError(ErrorCode.SOLD_OUT)
    if quantity > stock.available:
        raise DomainError(ErrorCode.NOT_ENOUGH_SEATS, available=stock.available)


def hold_deadline(now: datetime, hold_minutes: int) -> datetime:
    """When a hold taken at ``now`` stops reserving seats."""
    return now + timedelta(minutes=hold_minutes)


# Invoice payloads identify the order (or lottery entry); Telegram allows 1-128 bytes.
_PAYLOAD_PREFIX = "tq1:o:"
_ENTRY_PREFIX = "tq1:e:"


def invoice_payload(order_id: int) -> str:
    """The opaque invoice payload for ``order_id``."""
    return f"{_PAYLOAD_PREFIX}{order_id}"


def parse_invoice_payload(payload: str) -> int:
    """Order id from an invoice payload.

    Raises:
        DomainError: ``order_not_found`` if the payload is not one of ours.
    """
    if not payload.startswith(_PAYLOAD_PREFIX):
        raise DomainError(ErrorCode.ORDER_NOT_FOUND)
    raw = payload[len(_PAYLOAD_PREFIX):]
    if not raw.isdigit() or len(raw) > 18:
        raise DomainError(ErrorCode.ORDER_NOT_FOUND)
    return int(raw)


def entry_payload(entry_id: int) -> str:
    """The opaque invoice payload for a lottery entry."""
    return f"{_ENTRY_PREFIX}{entry_id}"


def parse_entry_payload(payload: str) -> int | None:
    """Entry id from an invoice payload, or None if it is not a lottery entry's."""
    if not payload.startswith(_ENTRY_PREFIX):
        return None
    raw = payload[len(_ENTRY_PREFIX):]
    if not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw)


@dataclass(frozen=True, slots=True)
class TicketTypeSales:
    """Sales figures of one ticket type."""

    ticket_type: TicketType
    stock: Stock
    revenue: Money
