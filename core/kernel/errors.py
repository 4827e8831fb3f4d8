"""Domain errors: a stable code plus parameters. Text lives in ``handlers/texts.py``."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable error codes; never reuse or rename one (clients and texts key on them)."""

    # catalog
    EVENT_NOT_FOUND = "event_not_found"
    EVENT_NOT_ON_SALE = "event_not_on_sale"
    TICKET_TYPE_NOT_FOUND = "ticket_type_not_found"
    INVALID_CURRENCY = "invalid_currency"
    CURRENCY_MISMATCH = "currency_mismatch"
    INVALID_EVENT_SPEC = "invalid_event_spec"
    # holds and orders
    INVALID_QUANTITY = "invalid_quantity"
    SOLD_OUT = "sold_out"
    NOT_ENOUGH_SEATS = "not_enough_seats"
    USER_LIMIT_REACHED = "user_limit_reached"
    ORDER_NOT_FOUND = "order_not_found"
    ORDER_NOT_PAYABLE = "order_not_payable"
    HOLD_EXPIRED = "hold_expired"
    AMOUNT_MISMATCH = "amount_mismatch"
    INVOICE_NOT_YOURS = "invoice_not_yours"
    # lottery
    ENTRIES_NOT_OPEN = "entries_not_open"
    ENTRIES_CLOSED = "entries_closed"
    ALREADY_ENTERED = "already_entered"
    ENTRY_NOT_FOUND = "entry_not_found"
    NOT_A_LOTTERY = "not_a_lottery"
    DRAW_NOT_DONE = "draw_not_done"
    PHONE_REQUIRED = "phone_required"
    PHONE_NOT_OWN = "phone_not_own"
    PHONE_ALREADY_ENTERED = "phone_already_entered"
    ENTRY_QUANTITY_TOO_HIGH = "entry_quantity_too_high"
    # roles and invites
    INVITE_NOT_FOUND = "invite_not_found"
    INVITE_USED = "invite_used"
    INVITE_EXPIRED = "invite_expired"
    INVITE_REVOKED = "invite_revoked"
    # language
    INVALID_LANGUAGE = "invalid_language"
    # organizer console
    EVENT_ALREADY_CANCELLED = "event_already_cancelled"
    CAPACITY_BELOW_SOLD = "capacity_below_sold"
    LOTTERY_LOCKED = "lottery_locked"
    # tickets
    TICKET_NOT_FOUND = "ticket_not_found"
    # transfers
    TICKET_NOT_VALID = "ticket_not_valid"
    TICKET_ALREADY_USED = "ticket_already_used"
    TRANSFERS_OFF = "transfers_off"
    TRANSFERS_CLOSED = "transfers_closed"
    TRANSFER_LIMIT_REACHED = "transfer_limit_reached"
    CLAIM_NOT_FOUND = "claim_not_found"
    CLAIM_USED = "claim_used"
    CLAIM_EXPIRED = "claim_expired"
    CLAIM_CANCELLED = "claim_cancelled"
    CLAIM_OWN_TICKET = "claim_own_ticket"
    # single refunds
    REFUND_REASON_REQUIRED = "refund_reason_required"
    NOTHING_TO_REFUND = "nothing_to_refund"
    # access
    NOT_ALLOWED = "not_allowed"
    # returns and the waiting list
    NOT_SOLD_OUT = "not_sold_out"
    ALREADY_WAITING = "already_waiting"
    RETURNS_CLOSED = "returns_closed"
    NOT_RETURNABLE = "not_returnable"
    ALREADY_RETURNED = "already_returned"
    # lottery groups
    GROUPS_OFF = "groups_off"
    GROUP_NOT_FOUND = "group_not_found"
    GROUP_FULL = "group_full"
    ALREADY_IN_GROUP = "already_in_group"


class DomainError(Exception):
    """A rule was broken. ``code`` is stable; ``params`` fill the user-facing text."""

    def __init__(self, code: ErrorCode, **params: Any) -> None:
        super().__init__(code.value)
        self.code = code
        self.params = params

    def __repr__(self) -> str:
        return f"DomainError({self.code.value!r}, {self.params!r})"


class ConcurrencyConflict(Exception):
    """The database aborted a transaction because of another one running at the same time
    (a deadlock, a serialization failure, SQLite busy past its timeout). Nothing of it was
    committed; running it again is safe, and :func:`core.transactions.write_attempts` does."""
