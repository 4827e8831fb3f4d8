"""Roles: admins (configured), organizers (invited by an admin), door staff (invited by an
organizer, for one event). Invites are single-use deep links that expire."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

INVITE_PREFIX = "i_"
INVITE_TTL = timedelta(hours=48)


class Role(StrEnum):
    """What someone may do beyond buying tickets."""

    ORGANIZER = "organizer"
    STAFF = "staff"


@dataclass(frozen=True, slots=True)
class Invite:
    """A pending invitation."""

    id: int
    token: str
    role: Role
    event_id: int | None
    created_by: int
    created_at: datetime
    expires_at: datetime
    used_by: int | None = None
    used_at: datetime | None = None
    revoked_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        """Not used, not revoked, not expired."""
        return self.used_by is None and self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True, slots=True)
class Grant:
    """A role someone holds."""

    user_id: int
    role: Role
    event_id: int | None
    granted_by: int
    granted_at: datetime
    first_name: str | None = None


def new_invite_token() -> str:
    """128 random bits, url-safe: the ``/start i_<token>`` payload stays under 64 chars."""
    return secrets.token_urlsafe(16)


def invite_token_from_payload(payload: str) -> str | None:
    """The invite token in a ``/start`` payload, or None."""
    if not payload.startswith(INVITE_PREFIX):
        return None
    token = payload[len(INVITE_PREFIX):]
    if len(token) != 22 or not all(c.isalnum() or c in "-_" for c in token):
        return None
    return token
