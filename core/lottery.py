"""Lottery rules: entry windows, the random order, and seat allocation.

The draw is a pure function of a secret 256-bit seed and the entry list, so it can be stored,
replayed and (later) verified by anyone once the seed is revealed:

1. Entries are put in canonical order (ascending entry id).
2. A byte stream is produced in counter mode: block ``i`` is
   ``HMAC-SHA256(key=seed, msg=b"ticketq-draw-v1" || i as 8-byte big-endian)``.
3. The stream is read as 8-byte big-endian unsigned integers. A uniform integer in ``[0, n)``
   uses rejection sampling: values ``>= 2**64 - (2**64 % n)`` are discarded, so there is no
   modulo bias; the accepted value ``x`` gives ``x % n``.
4. A Fisher-Yates shuffle (``i`` from ``n-1`` down to ``1``, swap ``i`` with ``j = U[0, i]``)
   gives the draw order.
5. Seats are allocated down that order: an entry wins all its tickets or none. An entry that
   does not fit the seats left for its ticket type is skipped and the next one is tried, so
   every seat that can be filled is filled and a big group never blocks smaller ones after it.

The seed comes from :mod:`secrets`; nobody (the organizer included) can pick the outcome.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from core.catalog import LotteryState, LotteryWindow
from core.money import Money

__all__ = ["LotteryState"]  # re-exported for callers that think in lottery terms

SEED_BYTES = 32
_DOMAIN = b"ticketq-draw-v1"
T = TypeVar("T")


class EntryStatus(StrEnum):
    """An entry's life.

    ``pending``: invoice sent, not paid. ``entered``: paid, in the draw. ``won`` / ``lost``:
    after the draw. ``void``: a pending entry replaced by a newer one or never paid.
    """

    PENDING = "pending"
    ENTERED = "entered"
    WON = "won"
    LOST = "lost"
    VOID = "void"


class WindowPhase(StrEnum):
    """Where ``now`` falls relative to the entry window."""

    NOT_YET_OPEN = "not_yet_open"
    OPEN = "open"
    CLOSED = "closed"


def window_phase(window: LotteryWindow, now: datetime) -> WindowPhase:
    """Entries are accepted from ``entries_open_at`` (inclusive) to ``entries_close_at``."""
    if now < window.entries_open_at:
        return WindowPhase.NOT_YET_OPEN
    if now < window.entries_close_at:
        return WindowPhase.OPEN
    return WindowPhase.CLOSED


@dataclass(frozen=True, slots=True)
class Entry:
    """One account's entry in one lottery."""

    id: int
    event_id: int
    ticket_type_id: int
    user_id: int
    chat_id: int
    quantity: int
    unit_price: Money
    status: EntryStatus
    created_at: datetime
    paid_at: datetime | None = None
    draw_position: int | None = None
    order_id: int | None = None

    @property
    def total(self) -> Money:
        """What the entrant pays (the full price of every ticket asked for)."""
        return self.unit_price.times(self.quantity)


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the draw needs to know about a paid entry."""

    entry_id: int
    ticket_type_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class DrawResult:
    """The full random order and who won."""

    order: list[Candidate]
    winners: frozenset[int]

    def position_of(self) -> dict[int, int]:
        """Entry id -> 1-based position in the draw order."""
        return {c.entry_id: i for i, c in enumerate(self.order, start=1)}


def new_seed() -> bytes:
    """A fresh 256-bit secret seed."""
    return secrets.token_bytes(SEED_BYTES)


def _stream(seed: bytes) -> Iterator[int]:
    counter = 0
    while True:
        block = hmac.new(seed, _DOMAIN + counter.to_bytes(8, "big"), hashlib.sha256).digest()
        for i in range(0, 32, 8):
            yield int.from_bytes(block[i:i + 8], "big")
        counter += 1


def _uniform(stream: Iterator[int], n: int) -> int:
    """Unbiased integer in ``[0, n)`` by rejection sampling."""
    limit = 2**64 - (2**64 % n)
    while True:
        value = next(stream)
        if value < limit:
            return value % n


def shuffled(items: Sequence[T], seed: bytes) -> list[T]:
    """Fisher-Yates shuffle of ``items`` driven by the seed's HMAC-SHA256 stream."""
    out = list(items)
    stream = _stream(seed)
    for i in range(len(out) - 1, 0, -1):
        j = _uniform(stream, i + 1)
        out[i], out[j] = out[j], out[i]
    return out


def allocate(order: Sequence[Candidate], seats: Mapping[int, int]) -> frozenset[int]:
    """Winners, going down ``order``: all of an entry's tickets or none; skip what won't fit.

    Args:
        order: entries in draw order.
        seats: seats offered per ticket type id.
    """
    left = dict(seats)
    winners = set()
    for candidate in order:
        free = left.get(candidate.ticket_type_id, 0)
        if 0 < candidate.quantity <= free:
            left[candidate.ticket_type_id] = free - candidate.quantity
            winners.add(candidate.entry_id)
    return frozenset(winners)


def draw(candidates: Sequence[Candidate], seats: Mapping[int, int], seed: bytes) -> DrawResult:
    """The complete draw: canonical order, shuffle, allocation."""
    canonical = sorted(candidates, key=lambda c: c.entry_id)
    order = shuffled(canonical, seed)
    return DrawResult(order=order, winners=allocate(order, seats))


@dataclass(frozen=True, slots=True)
class LotteryFigures:
    """What an organizer watches during a lottery."""

    state: LotteryState
    entries: int
    tickets_asked: int
    seats: int
    winners: int
    tickets_won: int
    paid: Money | None
    refunds_done: tuple[int, int]
    refunds_pending: tuple[int, int]
    refunds_failed: tuple[int, int]

    @property
    def oversubscription(self) -> float:
        """Tickets asked per seat offered (display only; never used for money)."""
        return self.tickets_asked / self.seats if self.seats else 0.0

    @property
    def money_held(self) -> int:
        """Minor units taken and not (yet) refunded."""
        paid = self.paid.amount if self.paid else 0
        return paid - self.refunds_done[1]
