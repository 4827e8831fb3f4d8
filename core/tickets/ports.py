"""What tickets need from storage."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.sales.model import Order
from core.tickets.model import RevokeReason, Ticket


class TicketRepository(Protocol):
    """Issued tickets."""

    async def issue(self, order: Order, *, now: datetime) -> list[Ticket]:
        """One fresh ticket per seat of a paid order."""
        ...

    async def for_order(self, order_id: int) -> list[Ticket]:
        """Tickets of an order."""
        ...

    async def for_owner(self, user_id: int, *, upcoming_after: datetime) -> list[Ticket]:
        """A user's tickets for events that have not ended."""
        ...

    async def get(self, ticket_id: int, *, lock: bool = False) -> Ticket | None:
        """One ticket or None; ``lock`` serializes check-ins of this ticket."""
        ...

    async def by_token(self, token: str) -> Ticket | None:
        """The ticket with this token, or None."""
        ...

    async def by_short_code(self, code: str) -> Ticket | None:
        """The ticket with this short code, or None."""
        ...

    async def export_rows(self, event_id: int) -> list[tuple[object, ...]]:
        """Rows for the organizer's CSV (see ``OrganizerService.export_csv``)."""
        ...

    async def revoke(self, ticket_id: int, *, reason: RevokeReason) -> None:
        """The ticket is no longer valid, for ``reason`` (its ticket lock is held)."""
        ...

    async def reissue(self, ticket: Ticket, *, owner_user_id: int, now: datetime) -> Ticket:
        """A new ticket for the same seat, with a new secret and short code, owned by
        ``owner_user_id``: one more transfer than ``ticket``, which it replaces."""
        ...
