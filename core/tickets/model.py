"""Tickets: unguessable tokens, short human codes, deep-link payloads."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# 16 random bytes = 128 bits, url-safe base64 without padding -> 22 chars of [A-Za-z0-9_-].
TOKEN_BYTES = 16
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
# No 0/O, 1/I/L: a code read aloud or typed from a screen survives.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
DEEP_LINK_PREFIX = "t_"


class TicketStatus(StrEnum):
    """A ticket is valid until revoked (refund, cancelled event)."""

    VALID = "valid"
    REVOKED = "revoked"


class RevokeReason(StrEnum):
    """Why a ticket stopped being valid (the door says it; ``None`` on older tickets)."""

    TRANSFERRED = "transferred"   # its holder gave it away: a new ticket replaced it
    REFUNDED = "refunded"         # the organizer refunded it
    CANCELLED = "cancelled"       # the event was cancelled
    RETURNED = "returned"         # returned, and its seat resold to the waiting list


@dataclass(frozen=True, slots=True)
class Ticket:
    """One admission."""

    id: int
    order_id: int
    event_id: int
    ticket_type_id: int
    owner_user_id: int
    token: str
    short_code: str
    status: TicketStatus
    issued_at: datetime
    revoked_reason: RevokeReason | None = None
    # How many times this seat changed hands before this ticket (0: the buyer's own).
    transfer_count: int = 0
    # The ticket this one replaced when it was transferred, if any.
    transferred_from: int | None = None


def new_token() -> str:
    """A fresh 128-bit ticket token from :mod:`secrets`."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_short_code() -> str:
    """A fresh human-typable code, e.g. ``K7QH3MZP`` (displayed as ``K7QH-3MZP``)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def format_short_code(code: str) -> str:
    """Group a short code for reading: ``K7QH-3MZP``."""
    return f"{code[:4]}-{code[4:]}"


def normalize_short_code(typed: str) -> str | None:
    """Turn what a person typed into a canonical short code, or None if it cannot be one."""
    cleaned = typed.strip().upper().replace("-", "").replace(" ", "")
    if len(cleaned) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in cleaned):
        return None
    return cleaned


def looks_like_token(value: str) -> bool:
    """Cheap shape check before any lookup."""
    return bool(_TOKEN_RE.match(value))


def tokens_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens."""
    return hmac.compare_digest(a.encode(), b.encode())


def deep_link_payload(token: str) -> str:
    """``/start`` payload carried by a ticket's QR link (<= 64 chars of A-Za-z0-9_-)."""
    return f"{DEEP_LINK_PREFIX}{token}"


_TICKET_LINK = re.compile(r"https://t\.me/([A-Za-z0-9_]{1,64})\?start=(t_[A-Za-z0-9_-]{22})")


def ticket_link_payload(text: str, bot_username: str) -> str | None:
    """The ``t_<token>`` payload of a ticket QR's text if it is *this* bot's ticket link."""
    match = _TICKET_LINK.fullmatch(text.strip())
    if match and bot_username and match.group(1).lower() == bot_username.lower():
        return match.group(2)
    return None


def token_from_payload(payload: str) -> str | None:
    """The ticket token in a ``/start`` payload, or None if it is not a ticket link."""
    if not payload.startswith(DEEP_LINK_PREFIX):
        return None
    token = payload[len(DEEP_LINK_PREFIX):]
    return token if looks_like_token(token) else None
