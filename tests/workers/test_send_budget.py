"""The send budget shared through PostgreSQL, asked directly by two "workers" (two engines,
two connection pools): the bot-wide places, the reply reserve, a chat's bucket and hold."""

from __future__ import annotations

import asyncio
import time

from bot.storage.database import SqlDatabase
from bot.storage.send_budget import SharedSendBudget


def busiest(times: list[float]) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_worker_budgets_on_two_pools_never_pass_the_rate_in_a_sliding_second(
        pg_url, pg) -> None:
    other = SqlDatabase(pg_url, pool_size=5)
    try:
        budgets = [SharedSendBudget(db.engine, rate_global=10, burst_per_chat=100,
                                    rate_per_chat=100) for db in (pg, other)]
        arrivals: list[float] = []

        async def send(budget: SharedSendBudget, chat: int) -> None:
            place = await budget.acquire(chat, bulk=False)
            assert place is not None
            arrivals.append(time.monotonic())  # the request "arrives" while the place is held
            await asyncio.sleep(0.01)
            await budget.release(place)

        started = time.monotonic()
        await asyncio.gather(*(send(budgets[n % 2], 100 + n) for n in range(35)))
        took = time.monotonic() - started
    finally:
        await other.dispose()
    assert busiest(arrivals) <= 10
    assert took >= 3.0  # 35 sends at 10 a second, whichever worker asks


async def test_worker_notifications_leave_the_reserved_places_to_replies(pg) -> None:
    budget = SharedSendBudget(pg.engine, rate_global=5, reply_reserve=2)
    held = [await budget.acquire(None, bulk=True) for _ in range(3)]
    assert all(p is not None for p in held)
    # Notifications have used their three places; a reply still goes at once.
    started = time.monotonic()
    reply = await budget.acquire(None, bulk=False)
    assert reply is not None and time.monotonic() - started < 0.5
    waiting = asyncio.create_task(budget.acquire(None, bulk=True))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # the fourth notification waits for a place to come free
    await budget.release(held[0])
    assert await asyncio.wait_for(waiting, 3) is not None


async def test_worker_a_chat_held_after_a_429_waits_on_every_worker(pg_url, pg) -> None:
    other = SqlDatabase(pg_url, pool_size=2)
    try:
        mine = SharedSendBudget(pg.engine, rate_global=25)
        theirs = SharedSendBudget(other.engine, rate_global=25)
        await mine.hold_chat(42, 1.5)
        started = time.monotonic()
        place = await theirs.acquire(42, bulk=True)
        assert place is not None and time.monotonic() - started >= 1.3
        # A chat's burst (3) then about one a second, across both workers.
        for budget in (mine, theirs, mine):
            await budget.release(await budget.acquire(7, bulk=True))
        started = time.monotonic()
        await theirs.release(await theirs.acquire(7, bulk=True))
        assert time.monotonic() - started >= 0.7
    finally:
        await other.dispose()


async def test_worker_budget_gives_a_fast_chat_its_whole_burst_at_once(pg) -> None:
    """A chat allowed many messages a second (a test rate, a group's bucket of one) still gets
    its tokens: the jitter slack never asks for more than the bucket can hold (it once asked
    for 1 + 5 tokens of a bucket of 3, and every send waited forever)."""
    for rate, burst in ((100.0, 3), (1.0, 1)):
        budget = SharedSendBudget(pg.engine, rate_global=100, rate_per_chat=rate,
                                  burst_per_chat=burst)
        chat = 9000 + burst
        started = time.monotonic()
        for _ in range(burst):
            place = await asyncio.wait_for(budget.acquire(chat, bulk=False), 5)
            assert place is not None
            await budget.release(place)
        assert time.monotonic() - started < 1.0, (rate, burst)
