"""End-to-end fixtures: the real Application polling the loopback sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.sandbox.harness import SandboxedBot, sandboxed_bot, sqlite_url
from core.kernel.clock import OffsetClock

ORGANIZER = 9000


@pytest.fixture
def clock() -> OffsetClock:
    """Real time that a test can push forward (holds expire without sleeping)."""
    return OffsetClock()


@pytest.fixture
async def live(request: pytest.FixtureRequest, tmp_path,
               clock: OffsetClock) -> AsyncIterator[SandboxedBot]:
    """The bot running against the sandbox, with one organizer.

    Flood control is as strict as Telegram's (bot.sandbox.harness). A module whose subject is not
    delivery, and whose conversations run far faster than a person types, may loosen the
    per-chat rate with ``pytest.mark.chat_pace(rate)``: the sandbox and the bot then allow
    ``rate`` a second per chat, while the burst (3) and the bot-wide limit stay Telegram's,
    so a reply that is not paced at all is still refused.
    """
    marker = request.node.get_closest_marker("chat_pace")
    per_chat = float(marker.args[0]) if marker is not None else 1.0
    async with sandboxed_bot(sqlite_url(tmp_path), admin_ids=frozenset({ORGANIZER}),
                             clock=clock, hold_minutes=10, rate_limit_per_chat=per_chat,
                             send_rate_per_chat=per_chat) as bot:
        yield bot
        assert bot.sandbox.bot_errors == [], "the bot made Bot API calls Telegram would refuse"
