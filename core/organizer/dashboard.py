"""The organizer's live dashboard (the Mini App from ``/myevents``): ``/stats``'s figures plus
how they grew: seats sold over time per ticket type, admissions at the door over time, and the
tickets admitted more than once (offline scanners; see :mod:`core.door.offline`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Series:
    """A cumulative count over time: ``points`` are (time, total so far), ascending."""

    label: str
    points: list[tuple[datetime, int]]

    @property
    def total(self) -> int:
        """The last value (0 for an empty series)."""
        return self.points[-1][1] if self.points else 0


@dataclass(frozen=True, slots=True)
class DuplicateAdmission:
    """A ticket let in more than once: the first admission and each extra one."""

    ticket_id: int
    short_code: str
    admissions: list[tuple[datetime, str | None]]  # (scan time, staff first name), first first


def cumulative(label: str, steps: Iterable[tuple[datetime, int]]) -> Series:
    """A running total of ``(time, amount)`` steps (any order), one point per step."""
    total = 0
    points: list[tuple[datetime, int]] = []
    for at, amount in sorted(steps, key=lambda step: step[0]):
        total += amount
        points.append((at, total))
    return Series(label, points)


def sales_series(names: dict[int, str],
                 paid: Iterable[tuple[datetime, int, int]]) -> list[Series]:
    """Seats sold over time, one series per ticket type (in ``names``' order)."""
    steps: dict[int, list[tuple[datetime, int]]] = {type_id: [] for type_id in names}
    for at, type_id, quantity in paid:
        steps.setdefault(type_id, []).append((at, quantity))
    return [cumulative(names.get(type_id, f"#{type_id}"), rows)
            for type_id, rows in steps.items()]
