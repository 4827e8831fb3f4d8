"""Group entries through the real bot, on SQLite and PostgreSQL: the lead enters and pays for
the group, shares the link from /group; a friend opens it and confirms in their own chat and
can no longer enter alone; the group is drawn as one and each member's QR code arrives in
their own chat."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.sandbox.harness import SandboxedBot, sandboxed_bot
from core.kernel.clock import OffsetClock
from tests.conftest import empty_database_url
from tests.e2e.conftest import ORGANIZER
from tests.e2e.phone import enter_lottery, open_event, photos
from tests.factories import lottery_doc


@pytest.fixture(params=["sqlite", "postgres"])
async def live(request: pytest.FixtureRequest, tmp_path: Path,
               clock: OffsetClock) -> AsyncIterator[SandboxedBot]:
    async with empty_database_url(request.param, tmp_path) as url, \
            sandboxed_bot(url, admin_ids=frozenset({ORGANIZER}), clock=clock,
                          rate_limit_per_chat=10, send_rate_per_chat=10) as bot:
        yield bot
        assert bot.sandbox.bot_errors == [], "the bot made Bot API calls Telegram would refuse"


async def test_a_group_enters_on_the_leads_payment_and_each_member_gets_their_own_qr(
        live: SandboxedBot, clock: OffsetClock) -> None:
    doc = lottery_doc(clock.now(), seats=3, max_per_entry=3)
    doc["lottery"]["group_size"] = 3
    event = await live.runtime.services.admin.import_event(doc, actor_id=ORGANIZER)
    gina = live.sandbox.user(user_id=801, first_name="Gina")
    hal = live.sandbox.user(user_id=802, first_name="Hal")
    assert (await enter_lottery(gina, 3)).ok
    await gina.wait_for_message(contains="You are in the draw")

    mark = gina.mark()
    await gina.send(f"/group {event.id}")
    invite = await gina.wait_for_message(contains="Send this link", since=mark)
    payload = re.search(r"start=(g_[A-Za-z0-9_-]+)", invite.text or "")
    assert payload, invite.text
    mark = hal.mark()
    await hal.send(f"/start {payload.group(1)}")
    ask = await hal.wait_for_message(contains="Join a group entry", since=mark)
    mark = hal.mark()
    await hal.tap(ask, text="Join the group")
    await hal.wait_for_message(contains="You are in the group", since=mark)
    await live.settle()
    await gina.wait_for_message(contains="joined your group")

    card = await open_event(hal, "Sold-Out Show")  # no entering alone any more
    mark = hal.mark()
    answer = await hal.tap(card, text=next(b for b in card.button_texts()
                                           if b.startswith("Enter · GA")))
    said = answer.text or (await hal.wait_for_message(since=mark)).text or ""
    assert "already in a group" in said

    clock.advance(timedelta(hours=1, minutes=2))
    await live.runtime.services.lottery.run_due()
    await live.settle()
    await hal.wait_for_message(contains="Your group was drawn")
    assert len(photos(hal)) == 1 and len(photos(gina)) == 2  # one QR each, own chats
