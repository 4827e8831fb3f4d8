"""What the catalog needs from storage: events and ticket types."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from core.catalog.model import Event, EventStatus, TicketType
from core.catalog.spec import EventSpec
from core.organizer.plans import CancellationPlan, ReminderPlan
from core.sales.model import Stock


class EventRepository(Protocol):
    """Events and ticket types."""

    async def add(self, spec: EventSpec, *, created_by: int, now: datetime) -> Event:
        """Create an event with its ticket types."""
        ...

    async def get(self, event_id: int) -> Event | None:
        """One event or None."""
        ...

    async def created_by(self, event_id: int) -> int | None:
        """Who created the event (its organizer), or None for an unknown event."""
        ...

    async def list_published(self, *, now: datetime, offset: int, limit: int) -> list[Event]:
        """Published events that have not started, soonest first."""
        ...

    async def count_published(self, *, now: datetime) -> int:
        """How many events :meth:`list_published` would page through."""
        ...

    async def ticket_types(self, event_id: int) -> list[TicketType]:
        """An event's ticket types in display order."""
        ...

    async def get_ticket_type(self, ticket_type_id: int, *,
                              lock: bool = False) -> TicketType | None:
        """One ticket type; ``lock`` serializes seat allocation for it until commit."""
        ...

    async def lock(self, event_id: int, *, shared: bool = False) -> Event | None:
        """The event, read under its lock (:func:`core.locking.event`) until commit."""
        ...

    async def managed_by(self, user_id: int, *, all_events: bool = False) -> list[int]:
        """Ids of events this user created (every event when ``all_events``)."""
        ...

    async def set_status(self, event_id: int, status: EventStatus, *, now: datetime) -> None:
        """Publish, unpublish or cancel."""
        ...

    async def update(self, event_id: int, spec: EventSpec, *, now: datetime) -> None:
        """Overwrite an event's fields and its ticket types by position (the wizard's edit):
        existing types are updated in place, extra ones added; the status is left alone."""
        ...

    async def cancel_everything(self, plan: CancellationPlan, *,
                                now: datetime) -> dict[str, int]:
        """Set-based: carry out ``plan`` (refunds, revoked tickets, released holds, voided
        entries, the payers' notice). Returns ``refunds_queued``, ``tickets_revoked``,
        ``holders_told``."""
        ...

    async def published_starting(self, *, after: datetime, until: datetime) -> list[Event]:
        """Published events starting after ``after`` and by ``until``."""
        ...

    async def queue_reminder(self, plan: ReminderPlan, *, now: datetime) -> int:
        """Set-based: queue ``plan``'s messages and tickets not queued before (once, ever).
        Returns how many holders' messages were queued."""
        ...

    async def stock(self, ticket_type_ids: Sequence[int], *, now: datetime,
                    exclude_user_id: int | None = None) -> dict[int, Stock]:
        """Capacity, sold and live-held seats per ticket type at ``now``.

        ``exclude_user_id`` leaves that user's own live holds out of ``held`` (they are
        replaced when the user picks again).
        """
        ...
