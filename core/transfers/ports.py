"""What transfers need from storage: the claim links. (Tickets are revoked and reissued
through :class:`core.tickets.ports.TicketRepository`.)"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.transfers.model import Transfer


class TransferRepository(Protocol):
    """Claim links. A link's changes are made under its ticket's lock (the lock order's
    ticket level): it has no lock of its own."""

    async def add(self, *, ticket_id: int, event_id: int, from_user_id: int, token: str,
                  confirm_code: int, now: datetime, expires_at: datetime) -> Transfer:
        """A new pending link for a ticket."""
        ...

    async def get(self, transfer_id: int) -> Transfer | None:
        """One link, or None."""
        ...

    async def by_token(self, token: str) -> Transfer | None:
        """The link with this token, or None."""
        ...

    async def pending_for_ticket(self, ticket_id: int, *, now: datetime) -> Transfer | None:
        """The ticket's link that can still be claimed, if any."""
        ...

    async def mark_claimed(self, transfer_id: int, *, claimed_by: int, new_ticket_id: int,
                           now: datetime) -> None:
        """The link was used: by whom, and the ticket it produced."""
        ...

    async def mark_cancelled(self, transfer_id: int, *, now: datetime) -> None:
        """The giver withdrew the link before anyone used it."""
        ...

    async def claimed_count(self, event_id: int) -> int:
        """How many tickets of an event changed hands."""
        ...
