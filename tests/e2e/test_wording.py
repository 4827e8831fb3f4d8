"""Honest wording: plurals, who an invoice belongs to, and the limits a forged button hits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.sandbox.harness import SandboxedBot, sandboxed_bot, sqlite_url
from core.kernel.clock import OffsetClock
from handlers import callbacks as cb
from tests.e2e.conftest import ORGANIZER
from tests.e2e.console_steps import forge_tap
from tests.e2e.phone import create_event, invoice_for, open_event
from tests.factories import lottery_doc


@pytest.fixture
async def one_minute_holds(tmp_path, clock: OffsetClock) -> AsyncIterator[SandboxedBot]:
    async with sandboxed_bot(sqlite_url(tmp_path), admin_ids=frozenset({ORGANIZER}),
                             clock=clock, hold_minutes=1) as bot:
        yield bot
        assert bot.sandbox.bot_errors == []


async def test_a_one_minute_hold_says_1_minute(one_minute_holds) -> None:
    live = one_minute_holds
    await create_event(live, capacity=5)
    ann = live.sandbox.user(user_id=931, first_name="Ann")
    await invoice_for(ann, 1)
    held = next(m for m in ann.messages if "reserved" in (m.text or ""))
    assert "held for 1 minute" in held.text and "1 minutes" not in held.text, held.text


async def test_a_ten_minute_hold_says_10_minutes(live) -> None:
    await create_event(live, capacity=5)
    ann = live.sandbox.user(user_id=932, first_name="Ann")
    await invoice_for(ann, 1)
    held = next(m for m in ann.messages if "reserved" in (m.text or ""))
    assert "held for 10 minutes" in held.text, held.text


async def test_a_friend_paying_a_forwarded_invoice_is_told_it_is_someone_elses(live) -> None:
    await create_event(live, capacity=5)
    ann, ben = (live.sandbox.user(user_id=933, first_name="Ann"),
                live.sandbox.user(user_id=934, first_name="Ben"))
    invoice = await invoice_for(ann, 1)
    outcome = await ben.pay(invoice)  # Ann forwarded it; Ben taps Pay
    assert not outcome.ok
    assert outcome.error_message == (
        "This invoice belongs to someone else; no money was taken."), outcome
    assert live.sandbox.stripe.total_refunded() == 0
    assert (await ann.pay(invoice)).ok  # Ann herself still can


async def test_a_forged_lottery_quantity_above_the_maximum_names_the_maximum(live) -> None:
    event = await live.runtime.services.admin.import_event(
        lottery_doc(live.runtime.clock.now(), max_per_entry=4), actor_id=ORGANIZER)
    async with live.runtime.db.read() as uow:
        type_id = (await uow.events.ticket_types(event.id))[0].id
    cleo = live.sandbox.user(user_id=935, first_name="Cleo")
    await open_event(cleo, "Sold-Out Show")
    answer = await forge_tap(live, cleo, cb.encode(cb.EntryQuantity(type_id, 50)))
    assert answer.show_alert
    assert answer.text == "You can enter for at most 4 tickets.", answer
    answer = await forge_tap(live, cleo, cb.encode(cb.EntryQuantity(type_id, 5)))
    assert answer.text == "You can enter for at most 4 tickets.", answer
