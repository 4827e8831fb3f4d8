"""Transfers: what a claim link is, when a ticket may change hands, and what the door and
the two people are told.

A holder asks for a claim link (``/start tr_<token>``): 128 random bits, single use, valid
for :data:`LINK_TTL` and never past the event's transfer deadline. The friend who opens it
sees who gives what and confirms with a button that carries the link's second secret
(:attr:`Transfer.confirm_code`), so a forged button cannot claim a link its sender never
opened. Claiming revokes the old ticket (door verdict REVOKED, "transferred") and issues a
new one with a new secret, in one transaction under the ticket's lock: the door, which scans
under the same lock, admits either the old ticket before the claim (and the claim is then
refused: the ticket was used) or the new one after it, never both.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.catalog.model import Event, EventStatus
from core.kernel.errors import ErrorCode
from core.tickets.model import Ticket, TicketStatus

CLAIM_PREFIX = "tr_"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")
# A claim link lives this long (and never past the event's transfer deadline).
LINK_TTL = timedelta(hours=48)
# The confirm button's code: a positive 62-bit number (the button codec's ids go to 2^63-1).
CONFIRM_CODE_BITS = 62


class TransferStatus(StrEnum):
    """A claim link is pending until it is claimed or its giver cancels it; a pending link
    past its expiry is expired (derived, never stored)."""

    PENDING = "pending"
    CLAIMED = "claimed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Transfer:
    """One claim link for one ticket."""

    id: int
    ticket_id: int
    event_id: int
    from_user_id: int
    token: str
    confirm_code: int
    status: TransferStatus
    created_at: datetime
    expires_at: datetime
    claimed_by: int | None = None
    claimed_at: datetime | None = None
    new_ticket_id: int | None = None
    cancelled_at: datetime | None = None

    @property
    def payload(self) -> str:
        """The ``/start`` payload of the link (25 chars of ``A-Za-z0-9_-``)."""
        return claim_payload(self.token)

    def is_pending(self, now: datetime) -> bool:
        """Still claimable: neither claimed, cancelled nor expired."""
        return self.status is TransferStatus.PENDING and now < self.expires_at

    def confirms(self, code: int) -> bool:
        """Whether a confirm button's code is this link's (constant time)."""
        return hmac.compare_digest(str(self.confirm_code).encode(), str(code).encode())


def new_claim_token() -> str:
    """128 random bits from :mod:`secrets`, url-safe (22 chars)."""
    return secrets.token_urlsafe(16)


def new_confirm_code() -> int:
    """The confirm button's secret: 1 .. 2^62."""
    return secrets.randbits(CONFIRM_CODE_BITS) + 1


def claim_payload(token: str) -> str:
    """``tr_<token>``: a deep-link payload (<= 64 chars of ``A-Za-z0-9_-``)."""
    return f"{CLAIM_PREFIX}{token}"


def token_from_claim_payload(payload: str) -> str | None:
    """The claim token in a ``/start`` payload, or None if it is not a claim link."""
    if not payload.startswith(CLAIM_PREFIX):
        return None
    token = payload[len(CLAIM_PREFIX):]
    return token if _TOKEN.fullmatch(token) else None


def link_expiry(event: Event, now: datetime) -> datetime:
    """When a link made now stops working: after :data:`LINK_TTL`, or at the transfer
    deadline if that comes first."""
    return min(now + LINK_TTL, event.transfers.deadline(event.starts_at))


def transfer_refusal(event: Event, ticket: Ticket, *, admitted: bool,
                     now: datetime) -> ErrorCode | None:
    """Why ``ticket`` may not change hands now, or None if it may.

    The organizer's policy decides (on, until when, how many times per seat); a ticket that
    was revoked, belongs to a cancelled event or has been admitted at the door never moves;
    a lottery that verifies phones keeps its tickets with the winners whatever the policy.
    """
    if ticket.status is not TicketStatus.VALID or event.status is EventStatus.CANCELLED:
        return ErrorCode.TICKET_NOT_VALID
    if admitted:
        return ErrorCode.TICKET_ALREADY_USED
    policy = event.transfers
    if not policy.allowed or (event.lottery is not None and event.lottery.require_phone):
        return ErrorCode.TRANSFERS_OFF
    if now >= policy.deadline(event.starts_at):
        return ErrorCode.TRANSFERS_CLOSED
    if ticket.transfer_count >= policy.max_per_ticket:
        return ErrorCode.TRANSFER_LIMIT_REACHED
    return None


def link_refusal(transfer: Transfer, *, user_id: int, now: datetime) -> ErrorCode | None:
    """Why ``user_id`` may not claim through this link now, or None."""
    if transfer.status is TransferStatus.CLAIMED:
        return ErrorCode.CLAIM_USED
    if transfer.status is TransferStatus.CANCELLED:
        return ErrorCode.CLAIM_CANCELLED
    if now >= transfer.expires_at:
        return ErrorCode.CLAIM_EXPIRED
    if user_id == transfer.from_user_id:
        return ErrorCode.CLAIM_OWN_TICKET
    return None
