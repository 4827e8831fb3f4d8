"""Lottery rules: entry windows, the random order, and seat allocation.

The draw is a pure function of public inputs plus a secret seed that is committed to before
entries open and revealed after the draw, so anyone can recompute it (see ``docs/draw.md``):

1. Every paid entry has a random public reference. At the close the entry list
   ``[[reference, quantity, ticket type], ...]`` sorted by reference is frozen; its SHA-256
   over the canonical JSON is the *list hash*.
2. The draw key is ``HMAC-SHA256(key=seed, msg="ticketq-draw-v2" || list hash (32 bytes) ||
   beacon value (bytes, or nothing))``.
3. A byte stream in counter mode: block ``i`` is ``HMAC-SHA256(draw key, "ticketq-draw-v2"
   || i as 8-byte big-endian)``, read as 8-byte big-endian unsigned integers.
4. A uniform integer in ``[0, n)`` by rejection sampling (values ``>= 2**64 - 2**64 % n`` are
   discarded: no modulo bias); a Fisher-Yates shuffle of the frozen list gives the order.
5. Seats are allocated down that order: an entry wins all its tickets or none; one that does
   not fit the seats left for its type is skipped and the next one is tried.

The seed comes from :mod:`secrets`; with a beacon round fixed in advance, not even the
organizer can know the outcome before the close.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import struct
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from core.catalog.model import Event, LotteryState, LotteryWindow
from core.kernel.money import Money
from core.kernel.outbox import KeyPattern, Message
from core.payments.plans import LOTTERY_NOT_SELECTED, RefundPlan

SEED_BYTES = 32
_DOMAIN = b"ticketq-draw-v2"
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
    ref: str | None = None

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
    ref: str = ""


@dataclass(frozen=True, slots=True)
class DrawResult:
    """The full random order (entry ids) and who won."""

    order: Sequence[int]
    winners: frozenset[int]

    def position_of(self) -> dict[int, int]:
        """Entry id -> 1-based position in the draw order."""
        return {entry_id: i for i, entry_id in enumerate(self.order, start=1)}


def new_seed() -> bytes:
    """A fresh 256-bit secret seed."""
    return secrets.token_bytes(SEED_BYTES)


# Public entry references: no look-alike characters, 10 symbols (~49 bits) per lottery.
REF_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_reference() -> str:
    """A fresh public entry reference like ``R7KQ2-M9XHA``."""
    body = "".join(secrets.choice(REF_ALPHABET) for _ in range(10))
    return f"{body[:5]}-{body[5:]}"


_BLOCK = struct.Struct(">4Q")  # a 32-byte HMAC block as four 8-byte big-endian integers


def _stream(key: bytes) -> Iterator[int]:
    counter = 0
    digest, unpack = hmac.digest, _BLOCK.unpack
    while True:
        yield from unpack(digest(key, _DOMAIN + counter.to_bytes(8, "big"), "sha256"))
        counter += 1


def _uniform(stream: Iterator[int], n: int) -> int:
    """Unbiased integer in ``[0, n)`` by rejection sampling."""
    limit = 2**64 - (2**64 % n)
    while True:
        value = next(stream)
        if value < limit:
            return value % n


def shuffled(items: Sequence[T], key: bytes) -> list[T]:
    """Fisher-Yates shuffle of ``items`` driven by the key's HMAC-SHA256 stream."""
    out = list(items)
    draw = _stream(key).__next__
    span = 2**64
    for i in range(len(out) - 1, 0, -1):  # the same steps as _uniform, inlined (1M entries)
        n = i + 1
        limit = span - span % n
        value = draw()
        while value >= limit:
            value = draw()
        j = value % n
        out[i], out[j] = out[j], out[i]
    return out


K = TypeVar("K", bound=Hashable)


def allocate(order: Sequence[tuple[K, Hashable, int]], seats: Mapping[Any, int]) -> set[K]:
    """Winners, going down ``order`` of ``(id, ticket type, quantity)``: all of an entry's
    tickets or none; an entry that does not fit its type's seats left is skipped.

    Args:
        order: entries in draw order.
        seats: seats offered per ticket type.
    """
    left = dict(seats)
    winners: set[K] = set()
    for key, ticket_type, quantity in order:
        free = left.get(ticket_type, 0)
        if 0 < quantity <= free:
            left[ticket_type] = free - quantity
            winners.add(key)
    return winners


# A winner's message, once per entry.
WON_KEY = KeyPattern("won:")
# A ticket's QR code, once per ticket (as for a ticket bought directly).
TICKET_KEY = KeyPattern("ticket:")
# Refunding a draw's losers: the first batch's item (+ event id), then one per further batch
# (+ event id, ":", the smallest entry id of the batch before it; batches are disjoint).
LOSERS_KEY = KeyPattern("losers:")


@dataclass(frozen=True, slots=True)
class DrawSettlement:
    """What a draw produces once its order is stored.

    Each winning entry becomes a paid order with its tickets; its chat gets
    :meth:`winner_message` once (:attr:`winner_key` + entry id) and every ticket's QR code
    (:attr:`ticket_key` + ticket id, the key of any ticket's delivery). Every losing entry's
    payment is owed back by :attr:`loser_refund`, in batches after the draw (one
    ``REFUND_LOSERS`` item, :attr:`losers_key`); until its batch is settled a loser is still
    stored as entered, and read as lost (its place in the stored order says it did not win).
    """

    event: Event
    winner_key: KeyPattern = WON_KEY
    ticket_key: KeyPattern = TICKET_KEY
    loser_refund: RefundPlan = LOTTERY_NOT_SELECTED
    losers_key: KeyPattern = LOSERS_KEY

    def winner_message(self, *, ticket_type: str, quantity: int, total: Money) -> Message:
        """What one winner reads."""
        event = self.event
        return Message("lottery_won", {
            "event": event.title_text(), "ticket_type": ticket_type, "quantity": quantity,
            "total": total, "starts": event.local_start(), "venue": event.venue})


@dataclass(frozen=True, slots=True)
class PublicEntry:
    """An entry as published: no names, no Telegram ids."""

    ref: str
    quantity: int
    ticket_type: str


def canonical(entries: Sequence[PublicEntry]) -> list[PublicEntry]:
    """The frozen order: sorted by public reference."""
    return sorted(entries, key=lambda e: e.ref)


def entry_list_json(entries: Sequence[PublicEntry]) -> bytes:
    """JSON of a list *as given* (pass the canonical list): ``[["REF",2,"GA"],...]``, no
    spaces, ASCII escapes."""
    return _list_json([[e.ref, e.quantity, e.ticket_type] for e in entries])


def _list_json(rows: Sequence[Sequence[object]]) -> bytes:
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def entry_list_hash(entries: Sequence[PublicEntry]) -> str:
    """SHA-256 (hex) of :func:`entry_list_json` of the list as given."""
    return hashlib.sha256(entry_list_json(entries)).hexdigest()


EntryRow = tuple[int, str, int, str]
"""An entry as the draw reads it: ``(entry id, public reference, quantity, ticket type)``."""


def rows_list_hash(rows: Sequence[EntryRow]) -> str:
    """:func:`entry_list_hash` of the same entries given as :data:`EntryRow` tuples."""
    return hashlib.sha256(_list_json([r[1:] for r in rows])).hexdigest()


def commitment(seed: bytes) -> str:
    """SHA-256 (hex) of the seed, published before entries open."""
    return hashlib.sha256(seed).hexdigest()


def draw_key(seed: bytes, list_hash: str, beacon: bytes | None) -> bytes:
    """The key of the draw's random stream, from the seed and the public inputs."""
    message = _DOMAIN + bytes.fromhex(list_hash) + (beacon or b"")
    return hmac.new(seed, message, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class PublicDraw:
    """A draw as anyone can recompute it."""

    list_hash: str
    order: list[PublicEntry]
    winners: frozenset[str]


def public_draw(entries: Sequence[PublicEntry], seats: Mapping[str, int], seed: bytes,
                beacon: bytes | None = None) -> PublicDraw:
    """The complete draw from public inputs and the seed."""
    frozen = canonical(entries)
    list_hash = entry_list_hash(frozen)
    order = shuffled(frozen, draw_key(seed, list_hash, beacon))
    winners = allocate([(e.ref, e.ticket_type, e.quantity) for e in order], seats)
    return PublicDraw(list_hash, order, frozenset(winners))


@dataclass(frozen=True, slots=True)
class RowDraw:
    """:func:`public_draw` over :data:`EntryRow` tuples: the same order and winners, by id."""

    list_hash: str
    order: list[EntryRow]
    winners: frozenset[int]


def draw_rows(rows: Sequence[EntryRow], seats: Mapping[str, int], seed: bytes,
              beacon: bytes | None = None, *, list_hash: str | None = None) -> RowDraw:
    """Exactly :func:`public_draw`, on plain tuples (no object per entry for a big draw).

    Args:
        rows: the paid entries, in any order (they are put in the canonical order here).
        list_hash: the list hash if it was just computed from these very rows (it is then
            not computed again); None computes it.
    """
    frozen = sorted(rows, key=_ref_of)  # linear when already sorted by reference
    if list_hash is None:
        list_hash = rows_list_hash(frozen)
    order = shuffled(frozen, draw_key(seed, list_hash, beacon))
    winners = allocate([(r[0], r[3], r[2]) for r in order], seats)
    return RowDraw(list_hash, order, frozenset(winners))


def _ref_of(row: EntryRow) -> str:
    return row[1]


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


@dataclass(frozen=True, slots=True)
class Fairness:
    """What a lottery publishes so that anyone can check its draw: the seed's commitment
    (from the open), the hash of the frozen entry list (from the close) and the beacon round
    and value, if it mixes one in."""

    commitment: str | None
    list_hash: str | None
    uses_beacon: bool
    beacon_round: int | None
    beacon_value: str | None


@dataclass(frozen=True, slots=True)
class EntryTally:
    """A lottery's paid entries, counted."""

    entries: int
    tickets_asked: int
    winners: int
    tickets_won: int
    paid_minor: int

