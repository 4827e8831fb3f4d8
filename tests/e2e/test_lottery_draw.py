"""A whole lottery through the real bot: entries, the scheduled draw, settlement — and the
same after a restart before the draw and after a crash in the middle of settlement."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.sandbox import Sandbox, VirtualUser
from bot.sandbox.harness import new_sandbox, running_bot, sqlite_url
from bot.storage import tables
from core.catalog.model import LotteryState
from core.kernel.clock import OffsetClock
from tests.e2e.conftest import ORGANIZER
from tests.e2e.phone import enter_lottery
from tests.factories import lottery_doc

# About draws and crashes, with many entrants: a chat may receive 10 a second after its burst
# (the burst and the bot-wide limit stay Telegram's; see tests/e2e/conftest.py, chat_pace).
CHAT_PACE = 10.0

PRICE = 3000  # minor units per ticket in lottery_doc


@dataclass
class Entrant:
    user: VirtualUser
    quantity: int
    charge_id: str


async def wait_until(predicate, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)


async def lottery_state(runtime, event_id: int) -> LotteryState | None:
    async with runtime.db.read() as uow:
        event = await uow.events.get(event_id)
    return event.lottery_state if event else None


async def enter_many(sandbox: Sandbox, count: int, rng: random.Random) -> list[Entrant]:
    async def one(i: int) -> Entrant:
        user = sandbox.user(user_id=5000 + i, first_name=f"E{i}")
        quantity = rng.choice([1, 1, 2, 2, 3, 4])
        outcome = await enter_lottery(user, quantity)
        assert outcome.ok, outcome
        await user.wait_for_message(contains="You are in the draw")
        return Entrant(user, quantity, outcome.charge_id)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def assert_settled_exactly_once(sandbox: Sandbox, runtime, entrants: list[Entrant],
                                      seats: int) -> None:
    """By the Stripe ledger and the database: losers refunded once, winners ticketed once,
    everyone told."""
    async with runtime.db.read() as uow:
        rows = (await uow.conn.execute(select(tables.entries.c.user_id,
                                              tables.entries.c.status,
                                              tables.entries.c.order_id))).all()
        tickets = dict((await uow.conn.execute(
            select(tables.tickets.c.order_id, func.count()).group_by(
                tables.tickets.c.order_id))).all())
    status = {r.user_id: r for r in rows if r.status in ("won", "lost")}
    stripe = sandbox.stripe
    won_seats = 0
    for e in entrants:
        row = status[e.user.user_id]
        if row.status == "won":
            won_seats += e.quantity
            assert stripe.refund_count(e.charge_id) == 0
            assert tickets[row.order_id] == e.quantity
            await e.user.wait_for_message(contains="You won", since=0, timeout=20)
        else:
            assert stripe.refund_count(e.charge_id) == 1, e.user.dump()
            assert stripe.refunded_total(e.charge_id) == e.quantity * PRICE
            await e.user.wait_for_message(contains="Not selected", since=0, timeout=20)
    assert won_seats <= seats
    assert sum(tickets.values()) == won_seats


async def test_a_full_lottery_draws_once_tickets_winners_and_refunds_the_rest(
        tmp_path) -> None:
    clock, rng = OffsetClock(), random.Random(1)
    async with new_sandbox(rate_limit_per_chat=CHAT_PACE) as sandbox, running_bot(
            sandbox, sqlite_url(tmp_path), admin_ids=frozenset({ORGANIZER}),
            send_rate_per_chat=CHAT_PACE,
            clock=clock) as runtime:
        event = await runtime.services.admin.import_event(
            lottery_doc(clock.now(), seats=10), actor_id=ORGANIZER)
        entrants = await enter_many(sandbox, 15, rng)
        clock.advance(timedelta(hours=1, minutes=2))
        await wait_until(lambda: _is(runtime, event.id, LotteryState.DRAWN))
        await runtime.worker.drain_until_idle()
        await assert_settled_exactly_once(sandbox, runtime, entrants, seats=10)
        assert await runtime.services.lottery.draw(event.id) is False  # never twice
        assert sandbox.bot_errors == []


async def _is(runtime, event_id: int, state: LotteryState) -> bool:
    return await lottery_state(runtime, event_id) is state


async def test_a_draw_missed_while_the_bot_was_down_runs_once_after_restart(
        tmp_path) -> None:
    clock, rng = OffsetClock(), random.Random(2)
    url = sqlite_url(tmp_path)
    async with new_sandbox(rate_limit_per_chat=CHAT_PACE) as sandbox:
        async with running_bot(sandbox, url, admin_ids=frozenset({ORGANIZER}),
            send_rate_per_chat=CHAT_PACE,
                               clock=clock) as runtime:
            event = await runtime.services.admin.import_event(
                lottery_doc(clock.now(), seats=6), actor_id=ORGANIZER)
            entrants = await enter_many(sandbox, 10, rng)
            clock.advance(timedelta(hours=1, seconds=5))  # entries close...
            await wait_until(lambda: _is(runtime, event.id, LotteryState.CLOSED))
        # ...the bot is down when the draw is due...
        clock.advance(timedelta(minutes=10))
        async with running_bot(sandbox, url, admin_ids=frozenset({ORGANIZER}),
            send_rate_per_chat=CHAT_PACE,
                               clock=clock) as runtime:
            # ...and draws as soon as it is back.
            await wait_until(lambda: _is(runtime, event.id, LotteryState.DRAWN))
            await runtime.worker.drain_until_idle()
            await assert_settled_exactly_once(sandbox, runtime, entrants, seats=6)
            async with runtime.db.read() as uow:
                positions = (await uow.conn.execute(select(func.count()).select_from(
                    tables.draw_order))).scalar_one()
            assert positions == len(entrants)


@pytest.mark.parametrize("crash_seed", range(3))
async def test_a_crash_in_the_middle_of_settlement_refunds_and_tickets_exactly_once(
        tmp_path, crash_seed: int) -> None:
    clock, rng = OffsetClock(), random.Random(100 + crash_seed)
    url = sqlite_url(tmp_path)
    async with new_sandbox(rate_limit_per_chat=CHAT_PACE) as sandbox:
        sandbox.stripe.processing_delay = 0.01  # settlement takes a little while
        async with running_bot(sandbox, url, admin_ids=frozenset({ORGANIZER}),
            send_rate_per_chat=CHAT_PACE,
                               clock=clock) as runtime:
            event = await runtime.services.admin.import_event(
                lottery_doc(clock.now(), seats=5), actor_id=ORGANIZER)
            entrants = await enter_many(sandbox, 24, rng)
            clock.advance(timedelta(hours=2))
            await wait_until(lambda: _is(runtime, event.id, LotteryState.DRAWN))
            # Crash at a random point of the settlement: the worker task dies mid-effect.
            await asyncio.sleep(rng.uniform(0.0, 0.25))
            task = runtime.worker._task
            assert task is not None
            task.cancel()
            refunds_before = len(sandbox.stripe.refunds)
        async with running_bot(sandbox, url, admin_ids=frozenset({ORGANIZER}),
            send_rate_per_chat=CHAT_PACE,
                               clock=clock) as runtime:
            await runtime.worker.drain_until_idle()
            await assert_settled_exactly_once(sandbox, runtime, entrants, seats=5)
        assert len(sandbox.stripe.refunds) >= refunds_before
