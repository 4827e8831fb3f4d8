"""What the door needs from storage: the append-only check-in log."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from core.door.model import CheckinRecord, Verdict
from core.door.offline import PackTicket


class CheckinRepository(Protocol):
    """The append-only check-in log."""

    async def append(self, *, ticket_id: int, event_id: int, staff_user_id: int,
                     verdict: Verdict, nonce: str, now: datetime,
                     synced_at: datetime | None = None) -> CheckinRecord:
        """Add one scan to the log (``now``: when it was scanned; ``synced_at``: when an
        offline scan reached the server)."""
        ...

    async def by_nonce(self, nonce: str) -> CheckinRecord | None:
        """The scan recorded under this nonce (a redelivered scan), if any."""
        ...

    async def first_admission(self, ticket_id: int) -> CheckinRecord | None:
        """The scan that let this ticket in first (earliest scan time, then id), if any."""
        ...

    async def admissions(self, ticket_id: int) -> list[CheckinRecord]:
        """Every VALID scan of a ticket, earliest scan time first (then id)."""
        ...

    async def pack_tickets(self, event_ids: Collection[int]) -> list[PackTicket]:
        """Every ticket of these events with its state, for an offline door pack."""
        ...

    async def admission_times(self, event_id: int) -> list[datetime]:
        """The first admission time of every admitted ticket of an event, ascending."""
        ...

    async def duplicates(self, event_id: int) -> list[CheckinRecord]:
        """The VALID rows of tickets admitted more than once, by ticket then scan time."""
        ...

    async def counts(self, event_id: int) -> tuple[int, int]:
        """(tickets checked in, valid tickets sold) for an event."""
        ...
