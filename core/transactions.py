"""Write transactions that are retried when the database aborts them for concurrency.

A deadlock or serialization failure is not the user's business: the transaction rolled back
completely, so it is run again from the start (a fresh read of everything), a few times with
a short random backoff, before the conflict is let through. Usage::

    async for attempt in write_attempts(db):
        async with attempt as uow:
            ...  # the whole transaction; `return` inside commits and ends the loop

Only the database work belongs inside the block: it may run more than once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Protocol

from core.kernel.errors import ConcurrencyConflict
from core.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_SECONDS = 0.02  # doubled per attempt, with jitter: 20 ms .. ~0.6 s


class _Writes(Protocol):
    """What retrying needs of a database (:class:`core.unit_of_work.Database` has it)."""

    def write(self) -> AbstractAsyncContextManager[UnitOfWork]: ...


class WriteAttempt:
    """One try of a write transaction; a conflict inside it is swallowed and retried."""

    def __init__(self, db: _Writes, number: int) -> None:
        self._db = db
        self.number = number
        self.conflict: ConcurrencyConflict | None = None
        self._tx: AbstractAsyncContextManager[UnitOfWork] | None = None

    async def __aenter__(self) -> UnitOfWork:
        self._tx = self._db.write()
        return await self._tx.__aenter__()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> bool:
        assert self._tx is not None
        try:
            suppressed = await self._tx.__aexit__(exc_type, exc, tb)
        except ConcurrencyConflict as conflict:  # the rollback translated it, or the commit
            if self.number < MAX_ATTEMPTS:
                self.conflict = conflict
                return True
            raise
        if isinstance(exc, ConcurrencyConflict) and self.number < MAX_ATTEMPTS:
            self.conflict = exc
            return True
        return bool(suppressed)


async def write_attempts(db: _Writes) -> AsyncIterator[WriteAttempt]:
    """Yield attempts until one ends without a concurrency conflict (see module doc)."""
    for number in range(1, MAX_ATTEMPTS + 1):
        attempt = WriteAttempt(db, number)
        yield attempt
        if attempt.conflict is None:
            return
        log.warning("write transaction retried after a concurrency conflict (attempt %d): %s",
                    number, attempt.conflict)
        await asyncio.sleep(random.uniform(0.5, 1.0) * BACKOFF_SECONDS * 2 ** (number - 1))


def after_attempts() -> AssertionError:
    """For the line after a ``write_attempts`` loop whose block always returns: the loop ends
    only by a committed ``return`` or an exception (type checkers cannot know that)."""
    return AssertionError("write_attempts ends in a commit or an exception")
