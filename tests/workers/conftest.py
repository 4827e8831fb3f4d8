"""Fixtures of the multi-worker tests: a migrated PostgreSQL database and a sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import Sandbox
from bot.sandbox.harness import new_sandbox
from tests.conftest import empty_database_url, migrated_database


@pytest.fixture
async def pg_url(tmp_path: Path) -> AsyncIterator[str]:
    """An empty PostgreSQL database (several workers need it; SQLite has one process)."""
    async with empty_database_url("postgres", tmp_path) as url:
        yield url


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[Any]:
    """The same database, migrated, as the test's own ``SqlDatabase``."""
    async with migrated_database(pg_url) as database:
        yield database


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """The sandbox with Telegram's flood limits as strict as TicketQ's own budget: 25 a
    second for the bot (TicketQ's default ``send_rate``), 1 a second per chat after a burst
    of 3. Any second the workers together overspend is a 429 here."""
    box = new_sandbox(rate_limit_global=25.0, rate_limit_per_chat=1.0, burst_per_chat=3)
    await box.start()
    try:
        yield box
    finally:
        await box.stop()
