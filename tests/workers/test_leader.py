"""One scheduler leader among three worker processes: killed during a draw or during the
settlement, another worker finishes the job, exactly once."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
from sqlalchemy import func, select

from bot.leader import plain_dsn
from bot.sandbox import Sandbox
from bot.storage import tables as t
from core.catalog.model import LotteryState
from core.kernel.clock import SystemClock
from tests.workers.lottery_setup import Lottery, paid_lottery
from tests.workers.pool import WorkerPool, leader_pid, wait_for

ENTRANTS = range(7001, 7025)  # 24 entrants asking for 1 or 2 seats
SEATS = 8
SETTINGS = {"TICKETQ_OUTBOX_LEASE_SECONDS": "5", "TICKETQ_LEADER_RETRY_SECONDS": "1",
            "TICKETQ_SEND_RATE_PER_CHAT": "1"}


async def lottery_state(db: Any, event_id: int) -> str | None:
    async with db.read() as uow:
        return (await uow.conn.execute(select(t.events.c.lottery_state).where(
            t.events.c.id == event_id))).scalar_one()


async def settled(db: Any, sandbox: Sandbox, lottery: Lottery) -> bool:
    """Every entrant told (won: the message; lost: refunded, then told)."""
    async with db.read() as uow:
        pending = (await uow.conn.execute(select(func.count()).select_from(t.outbox).where(
            t.outbox.c.status == "pending"))).scalar_one()
    if pending:
        return False
    return all(told(sandbox, user) for user in lottery.charges)


def told(sandbox: Sandbox, user: int) -> int:
    return sum(1 for m in sandbox.users[user].messages
               if "won the lottery" in m.text or "Not selected" in m.text)


async def check_settled_exactly_once(db: Any, sandbox: Sandbox, lottery: Lottery,
                                     pool: WorkerPool) -> None:
    """The draw ran once; every loser refunded exactly once, winners never; all told."""
    assert await lottery_state(db, lottery.event_id) == LotteryState.DRAWN.value
    logs = pool.logs()
    assert logs.count(f"lottery {lottery.event_id} drawn") == 1, "the draw ran once"
    async with db.read() as uow:
        won = set((await uow.conn.execute(select(t.entries.c.user_id).where(
            t.entries.c.event_id == lottery.event_id, t.entries.c.status == "won"))).scalars())
        lost = set((await uow.conn.execute(select(t.entries.c.user_id).where(
            t.entries.c.event_id == lottery.event_id, t.entries.c.status == "lost"))).scalars())
    assert won and lost and won | lost == set(lottery.charges)
    for user, charge in lottery.charges.items():
        assert sandbox.stripe.refund_count(charge) == (1 if user in lost else 0), user
        assert told(sandbox, user) >= 1, user


async def test_leader_killed_during_a_draw_another_worker_draws_it_once(
        pg_url, pg, sandbox, tmp_path) -> None:
    lottery = await paid_lottery(pg, sandbox, entrants=ENTRANTS, seats=SEATS)
    # Hold the event's row: the leader's draw transaction starts and waits for it.
    blocker = await asyncpg.connect(plain_dsn(pg_url))
    await blocker.execute("BEGIN")
    await blocker.execute("SELECT id FROM events WHERE id = $1 FOR UPDATE", lottery.event_id)
    pool = WorkerPool(sandbox, pg_url, tmp_path, size=3, settings=SETTINGS)
    try:
        await pool.start()
        first = await wait_for(lambda: leader_pid(pg_url), 20, "a leader")
        await wait_for(lambda: blocker.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"), 20, "the draw waiting for the event")
        killed = pool.by_pid(first)
        await killed.kill()  # in the middle of the draw's transaction
        await blocker.execute("ROLLBACK")
        gone = time.monotonic()
        second = await wait_for(lambda: leader_pid(pg_url), 15, "a new leader")
        assert second != first and pool.by_pid(second) is not killed
        takeover = time.monotonic() - gone
        await wait_for(lambda: settled(pg, sandbox, lottery), 60, "the settlement")
        await check_settled_exactly_once(pg, sandbox, lottery, pool)
        assert takeover < 10, f"took {takeover:.1f}s to elect a new leader"
    finally:
        await blocker.close()
        await pool.stop()


async def test_leader_killed_during_settlement_another_worker_refunds_each_loser_once(
        pg_url, pg, sandbox, tmp_path) -> None:
    lottery = await paid_lottery(pg, sandbox, entrants=ENTRANTS, seats=SEATS)
    # Stripe executes the first refunds but its answers are late: the worker that sent them
    # dies before it hears back, with the money already returned.
    sandbox.stripe.timeout_delay = 8.0
    sandbox.stripe.fail_next(4, "timeout")
    pool = WorkerPool(sandbox, pg_url, tmp_path, size=3, settings=SETTINGS)
    try:
        await pool.start()
        leader = await wait_for(lambda: leader_pid(pg_url), 20, "a leader")

        async def refunding() -> set[int]:
            if not any(e.kind == "refund" for e in sandbox.stripe.ledger):
                return set()
            now = SystemClock().now()
            async with pg.read() as uow:
                holders = (await uow.conn.execute(select(t.outbox.c.claimed_by).where(
                    t.outbox.c.kind == "refund", t.outbox.c.status == "pending",
                    t.outbox.c.lease_until > now))).scalars()
                return {int(h.split(":")[1]) for h in holders if h}

        holders = await wait_for(refunding, 40, "refunds in flight")
        victims = {pool.by_pid(pid) for pid in holders} | {pool.by_pid(leader)}
        for worker in victims:
            await worker.kill()
        refunded_at_kill = sum(1 for e in sandbox.stripe.ledger if e.kind == "refund")
        await wait_for(lambda: settled(pg, sandbox, lottery), 90, "the settlement")
        await check_settled_exactly_once(pg, sandbox, lottery, pool)
        assert 0 < refunded_at_kill < len(lottery.charges) - SEATS // 2
    finally:
        await pool.stop()
