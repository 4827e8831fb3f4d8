"""What a person sees when the database hiccups under their tap or command: a short outage
is ridden out by the inbox's retries (the answer just comes a little later, with no error in
between); a long one ends in one apology, and the old command is not run minutes later."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.sandbox.harness import SandboxedBot, sandboxed_bot
from bot.storage import tables as t
from core.kernel.clock import OffsetClock
from tests.e2e.phone import create_event
from tests.reliability.crash_harness import wait_until
from tests.reliability.faults import DatabaseOutage, inbox_insert
from tests.reliability.test_lost_payments import ticketq

ORGANIZER = 9000
SORRY = "Something went wrong on our side"


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[SandboxedBot]:
    async with sandboxed_bot(database_url, admin_ids=frozenset({ORGANIZER}),
                             clock=OffsetClock()) as bot:
        await create_event(bot, capacity=4)
        yield bot


async def test_a_command_during_a_short_outage_is_answered_late_without_an_error(
        live) -> None:
    ann = live.sandbox.user(user_id=201, first_name="Ann")
    outage = DatabaseOutage(live.runtime.db)
    try:
        outage.after(inbox_insert, seconds=1.0)
        await ann.send("/events")
        listing = await ann.wait_for_message(contains="Upcoming events", timeout=15)
        assert outage.failed > 0, "the command never ran into the outage"
    finally:
        outage.close()
    assert "Night Market" in (listing.text or "")
    assert not any(SORRY in (m.text or "") for m in ann.messages), ann.dump()


async def test_a_command_during_a_long_outage_gets_one_apology_and_is_not_run_later(
        live) -> None:
    ann = live.sandbox.user(user_id=202, first_name="Ann")
    outage = DatabaseOutage(live.runtime.db)
    try:
        outage.after(inbox_insert, seconds=8.0)
        await ann.send("/events")
        await ann.wait_for_message(contains=SORRY, timeout=15)

        async def over() -> bool:
            return not outage.down

        await wait_until(over, timeout=15, what="the outage ended")
    finally:
        outage.close()
    await asyncio.sleep(2.5)
    assert sum(SORRY in (m.text or "") for m in ann.messages) == 1, ann.dump()
    assert not any("Upcoming events" in (m.text or "") for m in ann.messages), ann.dump()

    async def parked() -> bool:  # written once the database is back (its flush backs off)
        async with live.runtime.db.read() as uow:
            kinds = (await uow.conn.execute(select(t.inbox.c.kind).where(
                t.inbox.c.parked_at.is_not(None)))).scalars().all()
        return kinds == ["message"]

    await wait_until(parked, timeout=15, what="the command parked")
    code, listing = await ticketq(live.runtime.settings.database_url, "inbox")
    assert code == 0 and "PARKED" in listing and "message" in listing, listing
    code, said = await ticketq(live.runtime.settings.database_url, "inbox", "forget", "--taps")
    assert code == 0 and "1 parked update(s) forgotten" in said, said
    # The chat is not stuck behind it: the next command is answered at once.
    mark = ann.mark()
    await ann.send("/events")
    await ann.wait_for_message(contains="Upcoming events", since=mark, timeout=10)
