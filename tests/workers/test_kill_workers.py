"""Three ``ticketq run --webhook`` worker processes behind the sandbox's webhook delivery and
load balancer: buyers race for seats while a lottery settles, and a random worker is
SIGKILLed every few seconds and restarted. Afterwards nothing is oversold, every payment is
ticketed or refunded exactly once, every update was handled (once in effect), every entrant
was told, each chat read its messages in order, and the draw ran once.

The default suite runs a small crowd (``TICKETQ_KILL_BUYERS``, 30 buyers for 5 seats and a
lottery of 12). The full run is behind ``-m slow``::

    TICKETQ_REQUIRE_POSTGRES=1 .venv/bin/pytest -p no:randomly -m slow \\
        tests/workers/test_kill_workers.py -q

1,000 buyers for 100 seats and a lottery of 200 entrants, a worker killed every 2-5 seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import build_services
from bot.reconcile import money_report
from bot.sandbox import Sandbox
from bot.sandbox.harness import new_sandbox
from bot.storage import tables as t
from bot.storage.inbox_store import SqlInbox
from core.kernel.clock import SystemClock
from tests.e2e.test_thousand_buyers import person
from tests.factories import event_doc
from tests.workers.lottery_setup import ADMIN, paid_lottery
from tests.workers.pool import WorkerPool, wait_for
from tests.workers.test_leader import check_settled_exactly_once, told

RATE = 150  # TicketQ's send budget (all workers); the sandbox refuses more than 200 a second
SETTINGS = {"TICKETQ_SEND_RATE": str(RATE), "TICKETQ_SEND_RATE_PER_CHAT": "10",
            "TICKETQ_SEND_BURST_PER_CHAT": "10", "TICKETQ_OUTBOX_LEASE_SECONDS": "15",
            "TICKETQ_INBOX_LEASE_SECONDS": "15", "TICKETQ_DATABASE_POOL_SIZE": "8",
            "TICKETQ_LEADER_RETRY_SECONDS": "1",
            "TICKETQ_ADMIN_IDS": str(ADMIN)}


async def chaos(pool: WorkerPool, rng: random.Random, stop: asyncio.Event,
                every: tuple[float, float], *, at_least: int = 2) -> int:
    """SIGKILL a random worker every few seconds and start it again at once; returns the
    kills. Only a worker that finished starting is killed, and two always stay up (a
    restart takes seconds on a loaded machine: killing faster would test nothing but
    start-up). When the crowd is done early (a quiet machine), the killing goes on while the
    lottery settles and the outbox drains until ``at_least`` workers were killed."""
    kills = 0
    while not (stop.is_set() and kills >= at_least):
        if stop.is_set():
            await asyncio.sleep(rng.uniform(*every))
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), rng.uniform(*every))
        ready = [w for w in pool.workers if w.ready]
        if (stop.is_set() and kills >= at_least) or len(ready) < len(pool.workers):
            continue
        victim = rng.choice(ready)
        await victim.kill()
        kills += 1
        await victim.start()
    return kills


def in_order(sandbox: Sandbox, user: int, first: str) -> bool:
    """The message containing ``first`` came before the user's QR codes."""
    messages = sandbox.users[user].messages
    head = next((i for i, m in enumerate(messages) if first in m.text), None)
    qr = next((i for i, m in enumerate(messages) if m.photo is not None), None)
    return qr is None or (head is not None and head < qr)


async def run_crowd(pg_url: str, pg: Any, tmp_path: Any, *, buyers: int, seats: int,
                    entrants: int, every: tuple[float, float]) -> None:
    rng = random.Random(11)
    sandbox = new_sandbox(rate_limit_global=200, rate_limit_per_chat=10.0, burst_per_chat=10)
    await sandbox.start()
    sandbox.webhook.retry_base = 0.2
    pool = WorkerPool(sandbox, pg_url, tmp_path, size=3, settings=SETTINGS, webhook=True,
                      admin_ids=frozenset({ADMIN}))
    try:
        services = build_services(pg, SystemClock(), admin_ids=frozenset({ADMIN}))
        event = await services.admin.import_event(
            event_doc(capacity=seats, per_user_limit=1), actor_id=ADMIN)
        lottery = await paid_lottery(pg, sandbox, entrants=range(20_001, 20_001 + entrants),
                                     seats=max(2, entrants // 4))
        await pool.start()
        users = [sandbox.user(user_id=100_000 + i, first_name=f"B{i}") for i in range(buyers)]
        stop = asyncio.Event()
        killing = asyncio.create_task(chaos(pool, rng, stop, every))
        began = time.monotonic()
        results = await asyncio.gather(*(person(u, event.id, rng) for u in users))
        phases = {"crowd": time.monotonic() - began}
        stop.set()
        kills = await killing
        for worker in pool.workers:
            await worker.start()
        inbox = SqlInbox(pg)

        async def quiet() -> bool:
            stats = await inbox.stats()
            async with pg.read() as uow:
                pending = (await uow.conn.execute(select(func.count()).select_from(
                    t.outbox).where(t.outbox.c.status == "pending"))).scalar_one()
            return stats.waiting == 0 and pending == 0 and sandbox.pending_updates() == 0 \
                and all(told(sandbox, u) for u in lottery.charges)

        await wait_for(quiet, 180, "every update handled and every message sent", poll=0.5)
        phases["settle"] = time.monotonic() - began - phases["crowd"]
        print(f"crowd {phases['crowd']:.1f}s, then quiet after {phases['settle']:.1f}s; "
              f"results {Counter(results)}")
        report = await money_report(pg)
        stats = await inbox.stats()
        sales = await services.admin.sales(event.id, actor_id=ADMIN)
        async with pg.read() as uow:
            sold = (await uow.conn.execute(select(func.count()).select_from(t.tickets).where(
                t.tickets.c.event_id == event.id))).scalar_one()
        await check_settled_exactly_once(pg, sandbox, lottery, pool)
    finally:
        await pool.stop()
        await sandbox.stop()
    logs = pool.logs()
    assert kills >= 2, "the workers were killed while they worked"
    # 0 oversold; every seat sold or held by someone who got an invoice (six people each).
    stock = sales.types[0].stock
    assert sold == stock.sold <= seats and stock.sold + stock.held == seats, (stock, results)
    # Every payment ticketed or refunded, once: one payment per Stripe charge, no charge
    # refunded twice, nothing left unsettled.
    charges = [e for e in sandbox.stripe.ledger if e.kind == "charge"]
    assert report.payments == len(charges)
    assert report.unsettled == 0
    assert report.ticketed_payments + report.refunded_payments == report.payments
    assert all(sandbox.stripe.refund_count(c.charge_id) <= 1 for c in charges)
    assert results.count("paid") <= seats
    # Every update handled, none parked, Telegram has nothing left to deliver.
    assert stats.waiting == 0 and stats.parked == 0 and sandbox.pending_updates() == 0
    # Each chat's order: the payment's confirmation (or the win) before the QR codes.
    for user in users:
        assert in_order(sandbox, user.user_id, "Payment received"), user.dump(10)
    for user in lottery.charges:
        assert in_order(sandbox, user, "won the lottery"), sandbox.users[user].dump(10)
    # The shared budget held across workers and restarts.
    assert sandbox.rate_limited_count == 0, logs[-3000:]
    assert sandbox.busiest_second() <= RATE


async def test_worker_kills_during_a_sale_and_a_lottery_lose_nothing_and_double_nothing(
        pg_url, pg, tmp_path) -> None:
    buyers = int(os.environ.get("TICKETQ_KILL_BUYERS", "30"))
    await run_crowd(pg_url, pg, tmp_path, buyers=buyers, seats=max(1, buyers // 6),
                    entrants=12, every=(1.0, 3.0))


@pytest.mark.slow
async def test_worker_kills_with_a_thousand_buyers_and_a_lottery_of_two_hundred(
        pg_url, pg, tmp_path) -> None:
    await run_crowd(pg_url, pg, tmp_path, buyers=1000, seats=100, entrants=200,
                    every=(2.0, 5.0))
