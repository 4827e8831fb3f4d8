"""Three worker processes drain one outbox: the send budget holds for all of them together
and every chat reads its messages in order."""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from bot.sandbox import Sandbox
from bot.storage import tables as t
from core.kernel import outbox
from core.kernel.clock import SystemClock
from tests.workers.pool import WorkerPool, wait_for

CHATS, PER_CHAT = 40, 5
SEQ = re.compile(r"n(\d+)\b")


async def queue_reminders(db: Any, sandbox: Sandbox, chats: range, per_chat: int) -> None:
    """``per_chat`` numbered messages to each chat, interleaved as a fan-out queues them."""
    now = SystemClock().now()
    for chat in chats:
        sandbox.user(chat)
    async with db.write() as uow:
        for seq in range(per_chat):
            for chat in chats:
                await uow.outbox.put(outbox.MESSAGE, {"key": "reminder", "params": {
                    "event": f"n{seq}", "hours": 2, "starts": "soon", "venue": "here"}},
                    dedupe_key=f"test:{chat}:{seq}", now=now, chat_id=chat)


async def test_worker_processes_share_one_send_budget_and_keep_each_chats_order(
        pg_url, pg, sandbox, tmp_path) -> None:
    pool = WorkerPool(sandbox, pg_url, tmp_path, size=3,
                      settings={"TICKETQ_OUTBOX_LEASE_SECONDS": "10"})
    await pool.start()
    started = time.monotonic()
    try:
        chats = range(5001, 5001 + CHATS)
        await queue_reminders(pg, sandbox, chats, PER_CHAT)

        def delivered() -> int:
            return sum(len(sandbox.users[c].messages) for c in chats)

        await wait_for(lambda: delivered() >= CHATS * PER_CHAT, 90, "every message")
        took = time.monotonic() - started
        async with pg.read() as uow:
            senders = (await uow.conn.execute(select(func.count(func.distinct(
                t.outbox.c.claimed_by))).where(t.outbox.c.status == "done"))).scalar_one()
    finally:
        await pool.stop()
    logs = pool.logs()
    assert sandbox.rate_limited_count == 0, logs[-4000:]
    busiest = sandbox.busiest_second()
    assert busiest <= 25, f"{busiest} sends in one sliding second"
    for chat in chats:
        seqs = [int(SEQ.search(m.text).group(1)) for m in sandbox.users[chat].messages]
        assert seqs == list(range(PER_CHAT)), (chat, seqs)
    assert senders == 3, "every worker sent part of the fan-out"
    # Notifications may use 20 of the 25 places a second (5 are kept for replies).
    assert took >= CHATS * PER_CHAT / 20 - 1
    per_second = Counter(int(at) for at, _ in sandbox.send_times)
    assert max(per_second.values()) <= 25
