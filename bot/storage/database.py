"""Engine set-up and units of work, one code path for SQLite (aiosqlite) and PostgreSQL.

Write safety:

* SQLite allows one writer at a time. Write transactions take an in-process ``asyncio.Lock``
  and start with ``BEGIN IMMEDIATE`` (which also excludes other processes, e.g. a CLI import
  while the bot runs); every transaction runs on its own pooled connection, never a shared
  one, so one task's rollback can never undo another's commit. WAL lets reads run meanwhile.
* PostgreSQL runs writers concurrently at READ COMMITTED; every write path takes its row
  locks in the one order of :mod:`core.kernel.locking` (through :mod:`bot.storage.locks`). A
  deadlock or serialization failure that still happens is raised as
  :class:`core.errors.ConcurrencyConflict`, which :func:`core.transactions.write_attempts`
  retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.storage.repositories import SqlUnitOfWork
from core.kernel.errors import ConcurrencyConflict


def normalize_url(url: str) -> str:
    """Pick the async driver: ``sqlite:///x.db`` -> aiosqlite, ``postgresql://`` -> asyncpg."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.drivername != "sqlite+aiosqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql" and parsed.drivername != "postgresql+asyncpg":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


# PostgreSQL: serialization_failure, deadlock_detected, lock_not_available.
_CONFLICT_STATES = {"40001", "40P01", "55P03"}


def is_concurrency_conflict(exc: DBAPIError) -> bool:
    """True if the database aborted the transaction only because of a concurrent one (safe
    to run again): a PostgreSQL deadlock or serialization failure, or SQLite busy (another
    process held the write lock past ``busy_timeout``)."""
    if getattr(exc.orig, "sqlstate", None) in _CONFLICT_STATES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit transactions are broken).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("tq_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class SqlDatabase:
    """Implements :class:`core.unit_of_work.Database` over an SQLAlchemy async engine."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int | None = None) -> None:
        self.url = normalize_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "postgresql":
            # No pre-ping: it costs a round trip per transaction; asyncpg reports a dead
            # connection on use and the pool replaces it.
            # Several workers share the server's max_connections (100 by default): each
            # opens up to twice ``pool_size`` (TICKETQ_DATABASE_POOL_SIZE).
            size = pool_size or 20
            kwargs.update(pool_size=size, max_overflow=size)
        elif self.dialect == "sqlite":
            kwargs.update(pool_size=8, max_overflow=8)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self._write_lock: asyncio.Lock | None = None
        if self.dialect == "sqlite":
            _install_sqlite_hooks(self.engine)
            self._write_lock = asyncio.Lock()

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded default."""
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[SqlUnitOfWork]:
        """A read-write transaction; committed if the block ends without an exception."""
        if self._write_lock is not None:
            async with self._write_lock, self._transaction(write=True) as uow:
                yield uow
        else:
            async with self._transaction(write=True) as uow:
                yield uow

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqlUnitOfWork]:
        """A read-only transaction (consistent snapshot on both engines)."""
        async with self._transaction(write=False) as uow:
            yield uow

    @asynccontextmanager
    async def _transaction(self, *, write: bool) -> AsyncIterator[SqlUnitOfWork]:
        try:
            async with self.engine.connect() as conn:
                if write:
                    conn = await conn.execution_options(tq_write=True)
                async with conn.begin():
                    yield SqlUnitOfWork(conn, self.dialect)
        except DBAPIError as exc:
            if is_concurrency_conflict(exc):
                raise ConcurrencyConflict(str(exc.orig)) from exc
            raise

    @asynccontextmanager
    async def raw(self) -> AsyncIterator[AsyncConnection]:
        """A plain connection in a write transaction, for maintenance and benchmarks."""
        if self._write_lock is not None:
            await self._write_lock.acquire()
        try:
            async with self.engine.connect() as conn:
                conn = await conn.execution_options(tq_write=True)
                async with conn.begin():
                    yield conn
        finally:
            if self._write_lock is not None:
                self._write_lock.release()

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
