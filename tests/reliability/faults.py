"""A database that goes away: every statement of the bot's engine fails the way a lost server
or a locked file fails, until the outage ends. Works the same on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine


class DatabaseOutage:
    """Makes the engine's statements fail while the outage lasts.

    The fault is raised where a driver's own would be (just before the statement reaches
    the server), as SQLAlchemy's ``OperationalError`` wrapping the driver's error: what a
    server that went away, or a SQLite file that cannot be opened, looks like to the code.

    Attributes:
        failed: statements refused so far.
    """

    def __init__(self, engine: AsyncEngine | Any) -> None:
        # A SqlDatabase runs statements on more than one engine (SQLite: aiosqlite and the
        # loop's own connections); every one of them goes down.
        self._engines = list(getattr(engine, "sync_engines", None) or [engine.sync_engine])
        self._until = 0.0
        self._trigger: Callable[[str], bool] | None = None
        self._duration = 0.0
        self._only: Callable[[str], bool] | None = None
        self._error: Callable[[str], BaseException] | None = None
        self.failed = 0
        for sync_engine in self._engines:
            event.listen(sync_engine, "before_cursor_execute", self._before)
            event.listen(sync_engine, "after_cursor_execute", self._after)

    def close(self) -> None:
        """Remove the hooks."""
        for sync_engine in self._engines:
            event.remove(sync_engine, "before_cursor_execute", self._before)
            event.remove(sync_engine, "after_cursor_execute", self._after)

    @property
    def down(self) -> bool:
        """The outage is on now."""
        return time.monotonic() < self._until

    def start(self, seconds: float) -> None:
        """Go down now, for ``seconds``."""
        self._until = time.monotonic() + seconds

    def end(self) -> None:
        """Come back now."""
        self._until = 0.0
        self._trigger = None

    def after(self, trigger: Callable[[str], bool], seconds: float) -> None:
        """Go down for ``seconds`` right after the first statement ``trigger`` accepts has
        run (so that statement itself, and its commit, still succeed)."""
        self._trigger, self._duration = trigger, seconds

    def refuse(self, only: Callable[[str], bool] | None,
               error: Callable[[str], BaseException] | None = None) -> None:
        """While down, refuse only the statements ``only`` accepts (None: all), raising
        ``error(statement)`` instead of the outage's OperationalError."""
        self._only, self._error = only, error

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not self.down or (self._only is not None and not self._only(statement)):
            return
        self.failed += 1
        if self._error is not None:
            raise self._error(statement)
        raise OperationalError(statement, None,
                               sqlite3.OperationalError("unable to open database file"))

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self._trigger is not None and self._trigger(statement):
            self._trigger = None
            self.start(self._duration)


def inbox_insert(statement: str) -> bool:
    """The poller storing a fetched batch."""
    return statement.lstrip().upper().startswith("INSERT INTO INBOX")
