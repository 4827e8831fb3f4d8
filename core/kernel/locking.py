"""The one lock order of every write path (what pretix calls ``lock_objects``).

Two transactions deadlock when each holds a lock the other waits for. They cannot if every
transaction takes its locks in one global order. The order is stated here, once:

    draft -> event -> ticket type -> order | lottery entry -> ticket -> invite

and within a level by ascending key. A transaction may take locks later in the order than
the last one it took, take again a lock it already holds, or take nothing; anything else is a
:class:`LockOrderViolation`, a programming error raised before the database is asked, so a
path that breaks the order fails every test that runs it, on SQLite as well.

Modes. The event lock is a reader/writer lock:

* **shared** by the paths that sell or admit against an event without changing the event
  itself (hold, release, pre-checkout, payment, check-in); they run side by side and are
  serialized where it matters by the ticket type, order or ticket lock below;
* **exclusive** by the paths that change the event or act on all of its rows at once (cancel,
  edit, publish, lottery close and draw) and by the lottery's entry paths (one entry per
  person is decided under it).

A shared lock is never upgraded to an exclusive one in the same transaction (two holders
upgrading deadlock each other): asking for it is a violation too. Rows a transaction writes
implicitly (an UPDATE of orders, an INSERT of tickets) are covered by the explicit lock of
their level or of a level above it.

The storage adapter turns each :class:`Lock` into a row lock (PostgreSQL:
``FOR SHARE`` / ``FOR NO KEY UPDATE``, which leaves foreign-key checks of inserted rows
unblocked); SQLite has a single writer, so it only checks the order. A deadlock or
serialization failure that still happens (the database's own row locks, a path outside the
order) is raised as :class:`core.errors.ConcurrencyConflict` and the unit of work retries it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, IntEnum


class Level(IntEnum):
    """Where a lock stands in the order; a transaction only ever moves down this list."""

    DRAFT = 10          # an organizer's wizard draft (edits it, then the event it edits)
    EVENT = 20
    TICKET_TYPE = 30
    ORDER = 40          # orders of direct sales and their hold screens
    ENTRY = 41          # lottery entries (a path locks orders or entries, never both)
    TICKET = 50
    INVITE = 60         # organizer and staff invites


class Mode(Enum):
    """Shared locks coexist; an exclusive lock excludes both."""

    SHARED = "shared"
    EXCLUSIVE = "exclusive"


@dataclass(frozen=True)
class Lock:
    """One object to lock: its level, its key (an id) and the mode."""

    level: Level
    key: int
    mode: Mode = Mode.EXCLUSIVE

    @property
    def place(self) -> tuple[int, int]:
        """Its position in the global order."""
        return (int(self.level), self.key)


def event(event_id: int, *, shared: bool = False) -> Lock:
    """The event: shared to sell or admit against it, exclusive to change it."""
    return Lock(Level.EVENT, event_id, Mode.SHARED if shared else Mode.EXCLUSIVE)


def ticket_type(ticket_type_id: int) -> Lock:
    """A ticket type: its seats are counted and taken under this lock."""
    return Lock(Level.TICKET_TYPE, ticket_type_id)


def order(order_id: int) -> Lock:
    """An order (a hold until it is paid)."""
    return Lock(Level.ORDER, order_id)


def entry(entry_id: int) -> Lock:
    """A lottery entry."""
    return Lock(Level.ENTRY, entry_id)


def ticket(ticket_id: int) -> Lock:
    """A ticket (the door admits it once under this lock)."""
    return Lock(Level.TICKET, ticket_id)


def draft(user_id: int) -> Lock:
    """An organizer's wizard draft (one per user)."""
    return Lock(Level.DRAFT, user_id)


def invite(invite_id: int) -> Lock:
    """An invite link (used once under this lock)."""
    return Lock(Level.INVITE, invite_id)


class LockOrderViolation(RuntimeError):
    """A write path asked for a lock out of order: a bug in that path, never the user's."""


class LockLedger:
    """The locks one transaction holds, in the order it took them.

    :meth:`admit` is the gate every lock request of a transaction passes through; the storage
    adapter calls it before it locks anything.
    """

    def __init__(self) -> None:
        self._held: dict[tuple[int, int], Mode] = {}
        self._last: tuple[int, int] | None = None

    @property
    def held(self) -> list[Lock]:
        """What this transaction holds, in acquisition order."""
        return [Lock(Level(level), key, mode) for (level, key), mode in self._held.items()]

    def admit(self, locks: Iterable[Lock]) -> list[Lock]:
        """Check a request against the order; return the locks still to take, in order.

        One request may name several objects of several levels: they are sorted into the
        order first (a batch never violates it by itself). Locks already held in the same or
        a stronger mode are skipped.

        Raises:
            LockOrderViolation: a lock before the last one taken, or an upgrade of a shared
                lock to exclusive.
        """
        wanted: dict[tuple[int, int], Lock] = {}
        for lock in locks:
            known = wanted.get(lock.place)
            if known is None or lock.mode is Mode.EXCLUSIVE:
                wanted[lock.place] = lock
        to_take: list[Lock] = []
        for place in sorted(wanted):
            lock = wanted[place]
            held = self._held.get(place)
            if held is not None:
                if held is Mode.SHARED and lock.mode is Mode.EXCLUSIVE:
                    raise LockOrderViolation(
                        f"{_name(lock)} is held shared and cannot be upgraded to exclusive "
                        "(two holders upgrading deadlock): take it exclusive from the start")
                continue
            if self._last is not None and place < self._last:
                raise LockOrderViolation(
                    f"{_name(lock)} asked for after {_name_of(self._last)}: the lock order is "
                    "draft -> event -> ticket type -> order/entry -> ticket -> invite, "
                    "keys ascending within a level")
            self._held[place] = lock.mode
            self._last = place
            to_take.append(lock)
        return to_take

    def holds(self, lock: Lock) -> bool:
        """True if ``lock`` is held in its mode or a stronger one."""
        held = self._held.get(lock.place)
        return held is not None and (held is Mode.EXCLUSIVE or lock.mode is Mode.SHARED)


def _name(lock: Lock) -> str:
    return f"{lock.level.name.lower()} {lock.key} ({lock.mode.value})"


def _name_of(place: tuple[int, int]) -> str:
    return f"{Level(place[0]).name.lower()} {place[1]}"
