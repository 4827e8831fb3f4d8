"""Shared fixtures: databases on SQLite and PostgreSQL, a manual clock."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.kernel.clock import ManualClock

POSTGRES_ADMIN_URL = os.environ.get(
    "TICKETQ_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("TICKETQ_REQUIRE_POSTGRES") == "1"

_pg_state: dict[str, str | None] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave ``@pytest.mark.slow`` tests out unless the marker expression asks for them.

    The full-size crash trials and fuzzing runs: ``pytest -m slow`` (README, "Evidence").
    """
    if "slow" in (config.getoption("markexpr") or ""):
        return
    slow = [item for item in items if "slow" in item.keywords]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if "slow" not in item.keywords]


async def postgres_unavailable_reason() -> str | None:
    """None if PostgreSQL answers, else why not (checked once per run)."""
    if "reason" not in _pg_state:
        import asyncpg

        try:
            conn = await asyncio.wait_for(asyncpg.connect(POSTGRES_ADMIN_URL), 3)
        except Exception as exc:  # any failure means "not here"
            _pg_state["reason"] = f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc!r}"
        else:
            await conn.close()
            _pg_state["reason"] = None
    return _pg_state["reason"]


async def require_postgres() -> None:
    """Skip (or, in CI, fail) when PostgreSQL is missing."""
    reason = await postgres_unavailable_reason()
    if reason is None:
        return
    if REQUIRE_POSTGRES:
        pytest.fail(f"TICKETQ_REQUIRE_POSTGRES=1 but {reason}")
    pytest.skip(reason)


async def _create_pg_database() -> str:
    import asyncpg

    name = f"tq_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def _drop_pg_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when the test says so."""
    return ManualClock(datetime(2030, 6, 1, 12, 0, tzinfo=UTC))


@asynccontextmanager
async def empty_database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database URL on ``backend`` ("sqlite" or "postgres"), dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'ticketq.sqlite3'}"
        return
    await require_postgres()
    url = await _create_pg_database()
    try:
        yield url
    finally:
        await _drop_pg_database(url)


@asynccontextmanager
async def migrated_database(url: str) -> AsyncIterator[Any]:
    """A ``SqlDatabase`` on ``url`` brought to the head revision, disposed afterwards."""
    from bot.storage.database import SqlDatabase
    from bot.storage.migrate import upgrade_to_head

    database = SqlDatabase(url)
    await upgrade_to_head(database)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database URL on each backend."""
    async with empty_database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def db(database_url: str):
    """A migrated database on each backend."""
    async with migrated_database(database_url) as database:
        yield database
