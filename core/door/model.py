"""Door check-in: an append-only log of scans; the verdict is derived from it.

The first accepted scan of a ticket admits it; every later scan reports ALREADY_USED with the
first scan's time and gate. Two gates scanning at the same instant are serialized on the
ticket, so exactly one of them gets VALID.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Verdict(StrEnum):
    """What the door sees, large and unmistakable."""

    VALID = "valid"
    ALREADY_USED = "already_used"
    REVOKED = "revoked"
    CANCELLED = "cancelled"
    WRONG_EVENT = "wrong_event"
    NOT_A_TICKET = "not_a_ticket"


@dataclass(frozen=True, slots=True)
class CheckinRecord:
    """One row of the log."""

    id: int
    ticket_id: int
    event_id: int
    staff_user_id: int
    verdict: Verdict
    scanned_at: datetime
    nonce: str


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The verdict and what the door person needs to act on it."""

    verdict: Verdict
    event_title: str | None = None
    ticket_type: str | None = None
    holder_first_name: str | None = None
    first_scan_at: datetime | None = None
    first_scan_staff: str | None = None
    checked_in: int = 0
    sold: int = 0
    # Why a REVOKED ticket is no longer valid (``core.tickets.model.RevokeReason``), if known.
    revoked_reason: str | None = None
