"""What access control needs from storage: roles and invites."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.access.model import Grant, Invite, Role


class RoleRepository(Protocol):
    """Organizer and staff roles, and the invites that grant them."""

    async def has(self, user_id: int, role: Role, event_id: int | None) -> bool:
        """Whether the user holds this role (for this event, for staff)."""
        ...

    async def staff_events(self, user_id: int) -> list[int]:
        """Events the user is door staff for."""
        ...

    async def add_invite(self, *, role: Role, event_id: int | None, created_by: int,
                         now: datetime, expires_at: datetime) -> Invite:
        """A fresh invite with a random token."""
        ...

    async def invite_by_token(self, token: str, *, lock: bool = False) -> Invite | None:
        """The invite with this token, or None."""
        ...

    async def invite(self, invite_id: int) -> Invite | None:
        """One invite or None."""
        ...

    async def use_invite(self, invite_id: int, *, user_id: int, now: datetime) -> None:
        """Mark an invite used."""
        ...

    async def revoke_invite(self, invite_id: int, *, now: datetime) -> None:
        """Withdraw an invite."""
        ...

    async def grant(self, *, user_id: int, role: Role, event_id: int | None,
                    granted_by: int, now: datetime) -> Grant:
        """Give a role (idempotent)."""
        ...

    async def grants(self, role: Role, event_id: int | None) -> list[Grant]:
        """Current holders of a role."""
        ...

    async def revoke(self, *, user_id: int, role: Role, event_id: int | None,
                     now: datetime) -> bool:
        """Take a role away; False if not held."""
        ...
