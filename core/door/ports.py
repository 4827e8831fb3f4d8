"""What the door needs from storage: the append-only check-in log."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.door.model import CheckinRecord, Verdict


class CheckinRepository(Protocol):
    """The append-only check-in log."""

    async def append(self, *, ticket_id: int, event_id: int, staff_user_id: int,
                     verdict: Verdict, nonce: str, now: datetime) -> CheckinRecord:
        """Add one scan to the log."""
        ...

    async def by_nonce(self, nonce: str) -> CheckinRecord | None:
        """The scan recorded under this nonce (a redelivered scan), if any."""
        ...

    async def first_admission(self, ticket_id: int) -> CheckinRecord | None:
        """The scan that let this ticket in, if any."""
        ...

    async def counts(self, event_id: int) -> tuple[int, int]:
        """(tickets checked in, valid tickets sold) for an event."""
        ...
