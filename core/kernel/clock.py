"""Time source. Inside TicketQ every datetime is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current time."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; for tests and simulations."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = ensure_utc(start) if start else datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        """Current (frozen) time."""
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``."""
        self._now += delta

    def set(self, when: datetime) -> None:
        """Jump to ``when``."""
        self._now = ensure_utc(when)


class OffsetClock:
    """The system clock shifted by an adjustable offset (for demos that skip ahead in time)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        """Current time plus the offset."""
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        """Jump forward by ``delta``."""
        self.offset += delta


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` as aware UTC; naive datetimes are rejected.

    Raises:
        ValueError: if ``value`` is naive.
    """
    if value.tzinfo is None:
        raise ValueError("naive datetime: TicketQ only handles timezone-aware times")
    return value.astimezone(UTC)
