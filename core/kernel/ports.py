"""Ports every feature shares: the outbox, the lock gate, users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from core.kernel.locking import Lock


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A side effect waiting to leave the building."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    chat_id: int | None


class UserRepository(Protocol):
    """People who talked to the bot."""

    async def seen(self, *, user_id: int, first_name: str, language_code: str | None,
                   now: datetime) -> None:
        """Remember (or refresh) a user."""
        ...

    async def first_name(self, user_id: int) -> str | None:
        """A user's first name as Telegram last told us."""
        ...

    async def language(self, user_id: int) -> str | None:
        """The language a user reads (None: unknown user or none stored)."""
        ...

    async def remember_language(self, *, user_id: int, first_name: str, language: str,
                                language_code: str | None, now: datetime) -> str:
        """First contact: store ``language`` as the user's unless one is stored already
        (creating the user if needed); returns the user's language."""
        ...

    async def choose_language(self, *, user_id: int, first_name: str, language: str,
                              now: datetime) -> None:
        """The user chose ``language`` (creating the user if needed)."""
        ...


class Outbox(Protocol):
    """Side effects recorded in the same transaction as the change that causes them."""

    async def put(self, kind: str, payload: dict[str, Any], *, dedupe_key: str,
                  now: datetime, chat_id: int | None = None) -> None:
        """Queue an effect; a second put with the same ``dedupe_key`` is ignored."""
        ...


class Locks(Protocol):
    """The locks of one transaction, taken in the order of :mod:`core.kernel.locking`."""

    async def take(self, *locks: Lock) -> None:
        """Lock these objects until commit.

        Raises:
            core.locking.LockOrderViolation: the request breaks the lock order.
        """
        ...


class OutboxStore(Protocol):
    """The worker's side of the outbox."""

    async def claim_due(self, *, now: datetime, limit: int) -> list[OutboxItem]:
        """Pending items whose time has come, oldest first; never a later item of a chat
        whose earlier item waits for its retry or is in flight on another worker."""
        ...

    async def renew_leases(self, *, now: datetime) -> int:
        """Extend the claims this worker still holds (several workers share the outbox);
        returns how many. A store with one worker returns 0."""
        ...

    async def mark_done(self, item_id: int, *, now: datetime) -> None:
        """The effect happened."""
        ...

    async def retry_later(self, item_id: int, *, error: str, at: datetime) -> None:
        """The effect failed for now; try again at ``at``."""
        ...

    async def mark_dead(self, item_id: int, *, error: str, now: datetime) -> None:
        """The effect failed for good; it stays visible for the organizer."""
        ...

    async def pending_count(self) -> int:
        """Items not yet done or dead."""
        ...
