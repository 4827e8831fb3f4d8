"""Who reads which language (use cases over ``UserRepository``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from core.kernel.clock import Clock
from core.kernel.errors import DomainError, ErrorCode
from core.language.model import negotiate
from core.unit_of_work import Database

log = logging.getLogger(__name__)

# Languages remembered in memory (one process serves the bot): a reader's language is looked
# up once, then every update and every message to them uses the remembered one.
CACHE_SIZE = 100_000
# First contacts are stored together, in one write a moment later: a crowd of new readers
# (a sale opening) must not cost a write transaction each before their first reply.
FLUSH_DELAY = 0.2


class LanguageService:
    """Stores and answers the language of each user.

    A user who never chose one reads the language Telegram reports for them at their first
    contact (``language_code``), which is stored then, so that notices sent later without
    an update (tickets, refunds, lottery results, reminders) use it too; ``/language``
    changes it for good.
    """

    def __init__(self, db: Database, clock: Clock, supported: Sequence[str],
                 default: str) -> None:
        self._db = db
        self._clock = clock
        self.supported = tuple(supported)
        self.default = default
        self._known: dict[int, str] = {}
        self._pending: dict[int, tuple[str, str, str | None]] = {}
        self._flushing: asyncio.Task[None] | None = None

    def negotiate(self, language_code: str | None) -> str:
        """The supported language for a Telegram ``language_code``."""
        return negotiate(language_code, self.supported, self.default)

    async def for_reader(self, user_id: int, first_name: str,
                         language_code: str | None) -> str:
        """The language to answer an update of ``user_id`` in; at first contact their
        Telegram language is stored as theirs."""
        known = self._known.get(user_id)
        if known is not None:
            return known
        async with self._db.read() as uow:
            stored = await uow.users.language(user_id)
        if stored is not None:
            return self._remember(user_id, stored)
        language = self._remember(user_id, self.negotiate(language_code))
        self._pending[user_id] = (first_name or "", language, language_code)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush_later())
        return language

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_DELAY)
        await self.flush()

    async def flush(self) -> None:
        """Store the first contacts seen since the last flush (one write transaction); a
        language chosen meanwhile with /language is kept."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            async with self._db.write() as uow:
                for user_id, (first_name, language, code) in sorted(pending.items()):
                    await uow.users.remember_language(
                        user_id=user_id, first_name=first_name, language=language,
                        language_code=code, now=self._clock.now())
        except Exception:
            log.warning("could not store %d first-contact languages", len(pending),
                        exc_info=True)
            for user_id in pending:
                self._known.pop(user_id, None)

    async def choose(self, user_id: int, first_name: str, language: str) -> str:
        """``/language``: ``user_id`` reads ``language`` from now on.

        Raises:
            DomainError: ``invalid_language`` for a language the product does not speak.
        """
        if language not in self.supported:
            raise DomainError(ErrorCode.INVALID_LANGUAGE, language=language)
        self._pending.pop(user_id, None)
        async with self._db.write() as uow:
            await uow.users.choose_language(user_id=user_id, first_name=first_name or "",
                                            language=language, now=self._clock.now())
        return self._remember(user_id, language)

    async def of(self, user_id: int) -> str:
        """The language of a recipient (outbox messages); the default for someone unknown."""
        known = self._known.get(user_id)
        if known is not None:
            return known
        async with self._db.read() as uow:
            stored = await uow.users.language(user_id)
        if stored is None:
            return self.default
        return self._remember(user_id, stored)

    def _remember(self, user_id: int, language: str | None) -> str:
        language = language if language in self.supported else self.default
        if len(self._known) >= CACHE_SIZE:
            self._known.clear()
        self._known[user_id] = language
        return language
