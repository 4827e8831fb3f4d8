"""Offline door scanning: what a scanner may keep, and how its scans join the log.

A scanner that may lose the network downloads a *door pack* for the events its staff member
works at: for every ticket a keyed hash of its token (HMAC-SHA256 under a key made for this
download, truncated to 128 bits), its ticket type and its state (valid, admitted with when and
by whom, revoked, cancelled). Never the tokens themselves: the pack cannot be turned back into
tickets, and a hash from one download is useless against another download's key.

While offline the scanner hashes what it scans with the pack's key, decides from the pack and
its own log, and queues each scan with its scan time and a nonce. When the network is back it
sends the queue; the server appends each scan to the same append-only log the chat uses
(marked as offline, with the time it was synced). The first admission of a ticket is the
earliest *scan time* among its VALID rows, so an offline admission at 20:01 synced at 20:30
is first before an online admission at 20:10. A ticket admitted twice (two devices offline, or
one offline and one online) has two VALID rows: both people are inside; the organizer is told
once per extra admission (a duplicate), as pretixSCAN reports it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.door.model import CheckinRecord, Verdict
from core.kernel import outbox
from core.tickets.model import format_short_code

DIGEST_HEX = 32  # 128 bits of HMAC-SHA256: as hard to guess as the token itself
PACK_KEY_BYTES = 32
# Client nonces: the scanner makes them (device id + counter); they are namespaced per user.
_CLIENT_NONCE = re.compile(r"^[A-Za-z0-9_-]{6,40}$")
# Scans older than this when they reach the server are refused (a stale phone's queue).
MAX_OFFLINE_AGE = timedelta(days=3)
# What an offline scanner may report having shown: it only decides on tickets it knows.
RECORDED_OFFLINE = frozenset({Verdict.VALID, Verdict.ALREADY_USED, Verdict.REVOKED,
                              Verdict.CANCELLED})
DUPLICATE_KEY = outbox.KeyPattern("door-dup:")
DUPLICATE_MESSAGE = "door.offline_duplicate"


class PackState(StrEnum):
    """A ticket's state as the pack tells the scanner."""

    VALID = "valid"
    ADMITTED = "admitted"
    REVOKED = "revoked"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class PackTicket:
    """What storage hands over for one ticket of a pack (core hashes the token away)."""

    ticket_id: int
    event_id: int
    token: str
    ticket_type: str
    revoked: bool
    cancelled: bool
    admitted_at: datetime | None
    admitted_by: str | None


@dataclass(frozen=True, slots=True)
class PackEntry:
    """One ticket in a door pack: a keyed hash, never the token."""

    digest: str
    event_id: int
    ticket_type: str
    state: PackState
    admitted_at: datetime | None
    admitted_by: str | None


@dataclass(frozen=True, slots=True)
class PackEvent:
    """An event the pack covers, with the door's running figures when it was made."""

    event_id: int
    title: str
    checked_in: int
    sold: int


@dataclass(frozen=True, slots=True)
class DoorPack:
    """Everything a scanner needs to decide offline."""

    key: str  # hex; made for this download only
    made_at: datetime
    events: list[PackEvent]
    entries: list[PackEntry]


@dataclass(frozen=True, slots=True)
class OfflineScan:
    """One queued scan as the scanner sends it back."""

    client_nonce: str
    token: str
    scanned_at: datetime
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class SyncedScan:
    """What the server made of one queued scan."""

    client_nonce: str
    recorded: bool  # False: not a ticket of the staff member's events, or refused
    verdict: Verdict | None = None
    duplicate: bool = False  # this admission is not the ticket's first


def new_pack_key() -> bytes:
    """A fresh key for one download."""
    return secrets.token_bytes(PACK_KEY_BYTES)


def token_digest(key: bytes, token: str) -> str:
    """The keyed hash a pack stores for a token (the scanner computes the same in the page)."""
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()[:DIGEST_HEX]


def pack_entry(key: bytes, ticket: PackTicket) -> PackEntry:
    """One ticket as the scanner may keep it."""
    if ticket.cancelled:
        state = PackState.CANCELLED
    elif ticket.revoked:
        state = PackState.REVOKED
    elif ticket.admitted_at is not None:
        state = PackState.ADMITTED
    else:
        state = PackState.VALID
    return PackEntry(token_digest(key, ticket.token), ticket.event_id, ticket.ticket_type,
                     state, ticket.admitted_at, ticket.admitted_by)


def valid_client_nonce(nonce: str) -> bool:
    """The shape a scanner's nonce must have."""
    return bool(_CLIENT_NONCE.match(nonce))


def log_nonce(staff_id: int, client_nonce: str) -> str:
    """The log's nonce of a Mini App scan, online or queued offline: one user cannot replay
    or block another's. The scanner keeps the nonce of an online attempt that timed out for
    the offline decision, so a scan that reached the server anyway is not logged twice."""
    return f"app:{staff_id}:{client_nonce}"


def accepted_scan_time(scanned_at: datetime, now: datetime) -> datetime | None:
    """The scan time the log keeps: never in the future; None if too old to accept."""
    if scanned_at > now:
        return now
    if now - scanned_at > MAX_OFFLINE_AGE:
        return None
    return scanned_at


def is_duplicate(admissions: list[CheckinRecord], record: CheckinRecord) -> bool:
    """Whether ``record`` (a VALID row) is an extra admission of its ticket."""
    return record.verdict is Verdict.VALID and len(admissions) > 1


def duplicate_notice(*, event_title: str, short_code: str, first: CheckinRecord,
                     first_staff: str | None, extra: CheckinRecord,
                     extra_staff: str | None) -> outbox.Message:
    """The organizer's message about a ticket admitted twice."""
    return outbox.Message(DUPLICATE_MESSAGE, {
        "event": event_title, "code": format_short_code(short_code), "first_at": first.scanned_at,
        "first_staff": first_staff or "?", "second_at": extra.scanned_at,
        "second_staff": extra_staff or "?"})
