"""Engine set-up and units of work, one code path for SQLite (aiosqlite) and PostgreSQL.

Write safety:

* SQLite allows one writer at a time. Write transactions take an in-process ``asyncio.Lock``
  and start with ``BEGIN IMMEDIATE`` (which also excludes other processes, e.g. a CLI import
  while the bot runs). WAL lets reads run meanwhile, on aiosqlite's threads.
* SQLite transactions (reads and writes) run on the event loop's own thread, on plain
  ``sqlite3`` connections (:class:`_LoopConnection`): an indexed statement takes microseconds
  in SQLite, while a round trip to aiosqlite's thread waits for a turn of a busy event loop
  and costs ~5x the CPU (a purchase's ~30 statements used to hold the write lock for
  20-40 ms, and every buyer queued behind it). The write lock is now held only for the CPU
  time of the transaction: nothing awaits inside it. Bulk statements (an ``executemany`` of
  many rows, one marked ``tq_bulk``, ``run_sync`` work) still leave the loop for a worker
  thread, so a lottery draw does not freeze the bot. Another process holding the database is
  waited for without blocking the loop (``BEGIN IMMEDIATE`` is retried).
  ``raw()`` and migrations keep using aiosqlite.
* PostgreSQL runs writers concurrently at READ COMMITTED; every write path takes its row
  locks in the one order of :mod:`core.kernel.locking` (through :mod:`bot.storage.locks`). A
  deadlock or serialization failure that still happens is raised as
  :class:`core.errors.ConcurrencyConflict`, which :func:`core.transactions.write_attempts`
  retries.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
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


def _install_sqlite_hooks(sync_engine: Engine, *, busy_timeout_ms: int = 10_000) -> None:
    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit transactions are broken).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("tq_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# An executemany of more rows than this leaves the event loop (see the module doc).
BULK_ROWS = 500
# How long a write waits for another process to release the database (as busy_timeout did).
BUSY_WAIT_SECONDS = 10.0


def _is_locked(exc: DBAPIError) -> bool:
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


class _LoopConnection:
    """What the repositories use of an :class:`AsyncConnection`, over a sync connection that
    runs on the event loop's thread (SQLite writes; see the module doc)."""

    def __init__(self, conn: Connection) -> None:
        self.sync_connection = conn
        self.dialect = conn.dialect
        self.bulk = False  # some work left the loop: so does the commit (it may be large)

    async def execute(self, statement: Any, parameters: Any = None, *,
                      execution_options: Any = None) -> Any:
        conn = self.sync_connection
        options: Any = getattr(statement, "get_execution_options", dict)()
        bulk = (isinstance(parameters, list) and len(parameters) > BULK_ROWS) or bool(
            options.get("tq_bulk"))
        if bulk:
            self.bulk = True
            return await asyncio.to_thread(conn.execute, statement, parameters,
                                           execution_options=execution_options)
        return conn.execute(statement, parameters, execution_options=execution_options)

    async def exec_driver_sql(self, statement: str, parameters: Any = None,
                              execution_options: Any = None) -> Any:
        self.bulk = True
        return await asyncio.to_thread(self.sync_connection.exec_driver_sql, statement,
                                       parameters, execution_options)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    async def get_raw_connection(self) -> Any:
        return self.sync_connection.connection

    async def run_sync(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``fn(sync_connection, ...)`` on a worker thread (bulk work)."""
        self.bulk = True
        return await asyncio.to_thread(fn, self.sync_connection, *args, **kwargs)


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
        self._loop: Engine | None = None
        if self.dialect == "sqlite":
            _install_sqlite_hooks(self.engine.sync_engine)
            self._write_lock = asyncio.Lock()
            database = make_url(self.url).database
            if database and database != ":memory:" and not database.startswith("file:"):
                # Connections used on the loop's thread. The pool never makes a caller wait
                # (that would block the loop): writers are one at a time anyway, readers get
                # a fresh connection when all are in use. busy_timeout 0: a database busy
                # with another process is waited for in write(), with the loop free.
                self._loop = create_engine(
                    make_url(self.url).set(drivername="sqlite+pysqlite"), echo=echo,
                    pool_size=8, max_overflow=-1,
                    connect_args={"check_same_thread": False})
                _install_sqlite_hooks(self._loop, busy_timeout_ms=0)

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded default."""
        return self.dialect == "sqlite"

    @property
    def sync_engines(self) -> list[Engine]:
        """Every sync engine that runs this database's statements (for listeners: statement
        counters, fault injection)."""
        engines = [self.engine.sync_engine]
        if self._loop is not None:
            engines.append(self._loop)
        return engines

    @asynccontextmanager
    async def write(self) -> AsyncIterator[SqlUnitOfWork]:
        """A read-write transaction; committed if the block ends without an exception."""
        if self._loop is not None:
            assert self._write_lock is not None
            async with self._write_lock, self._loop_transaction(write=True) as uow:
                yield uow
        elif self._write_lock is not None:
            async with self._write_lock, self._transaction(write=True) as uow:
                yield uow
        else:
            async with self._transaction(write=True) as uow:
                yield uow

    @asynccontextmanager
    async def _loop_transaction(self, *, write: bool) -> AsyncIterator[SqlUnitOfWork]:
        """A SQLite transaction on the loop's thread (see the module doc)."""
        assert self._loop is not None
        conn = self._loop.connect()
        try:
            if write:
                conn = conn.execution_options(tq_write=True)
                await self._begin_immediate(conn)
            else:
                conn.begin()
            loop_conn = _LoopConnection(conn)
            try:
                yield SqlUnitOfWork(cast(AsyncConnection, loop_conn), self.dialect)
            except BaseException:
                conn.rollback()
                raise
            if loop_conn.bulk:
                await asyncio.to_thread(conn.commit)
            else:
                conn.commit()
        except DBAPIError as exc:
            if is_concurrency_conflict(exc):
                raise ConcurrencyConflict(str(exc.orig)) from exc
            raise
        finally:
            conn.close()

    @staticmethod
    async def _begin_immediate(conn: Connection) -> None:
        """BEGIN IMMEDIATE, waiting (with the loop free) while another process writes."""
        deadline = time.monotonic() + BUSY_WAIT_SECONDS
        pause = 0.001
        while True:
            try:
                conn.begin()
                return
            except DBAPIError as exc:
                if not _is_locked(exc) or time.monotonic() > deadline:
                    raise
                conn.rollback()
            await asyncio.sleep(random.uniform(0.5, 1.0) * pause)
            pause = min(pause * 2, 0.05)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqlUnitOfWork]:
        """A read-only transaction (consistent snapshot on both engines)."""
        if self._loop is not None:
            async with self._loop_transaction(write=False) as uow:
                yield uow
        else:
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
        if self._loop is not None:
            self._loop.dispose()
        await self.engine.dispose()
