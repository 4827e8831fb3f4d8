"""Contract tests: service specs that run unchanged on the in-memory fake (tests/fakes.py),
SQLite and PostgreSQL, so that the fake cannot drift from the real storage.

A spec here talks to services and ports only (never to SQL): ``db`` is an
``InMemoryDatabase`` or a migrated ``SqlDatabase``, and ``outbox_store`` is the worker's view
of the same database's outbox. Run the fast part alone with ``pytest tests/contract -k memory``.
A spec that fails on the fake is fixed in the fake, never skipped there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.kernel.ports import OutboxStore
from tests.conftest import empty_database_url, migrated_database
from tests.fakes import InMemoryDatabase

BACKENDS = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """An empty, ready database: the in-memory fake, SQLite or PostgreSQL."""
    if request.param == "memory":
        yield InMemoryDatabase()
        return
    async with empty_database_url(request.param, tmp_path) as url, \
            migrated_database(url) as database:
        yield database


@pytest.fixture
def outbox_store(db: Any) -> OutboxStore:
    """The outbox worker's side of ``db``."""
    if isinstance(db, InMemoryDatabase):
        return db.outbox_store
    from bot.storage.outbox_store import SqlOutboxStore

    return SqlOutboxStore(db)
