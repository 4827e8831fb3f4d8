"""End-to-end fixtures: the real Application polling the loopback sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.harness import SandboxedBot, sandboxed_bot, sqlite_url
from core.clock import OffsetClock

ORGANIZER = 9000


@pytest.fixture
def clock() -> OffsetClock:
    """Real time that a test can push forward (holds expire without sleeping)."""
    return OffsetClock()


@pytest.fixture
async def live(tmp_path, clock: OffsetClock) -> AsyncIterator[SandboxedBot]:
    """The bot running against the sandbox, with one organizer."""
    async with sandboxed_bot(sqlite_url(tmp_path), admin_ids=frozenset({ORGANIZER}),
                             clock=clock, hold_minutes=10) as bot:
        yield bot
        assert bot.sandbox.bot_errors == [], "the bot made Bot API calls Telegram would refuse"
