"""Several workers on one database handle the shared inbox (bot.inbox_worker).

Each worker has its own connection pool (as separate processes would) and its own scripted
Application, which records when it starts and ends each update. The multi-worker tests run
on PostgreSQL (``FOR UPDATE SKIP LOCKED``); the single-worker semantics on both engines.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from telegram import Update

from bot.inbox_worker import InboxWorker
from bot.polling import RetryPolicy
from bot.storage.database import SqlDatabase
from bot.storage.inbox_store import SqlInbox
from bot.storage.migrate import upgrade_to_head
from core.kernel.clock import SystemClock
from handlers import delivery
from handlers.delivery import delivering
from tests.conftest import empty_database_url
from tests.integration.test_inbox_retries import message, payment, pre_checkout
from tests.reliability.crash_harness import wait_until

QUICK = RetryPolicy(tap_delays=(0.05, 0.1, 0.2), tap_window=10.0, payment_base=0.05,
                    payment_max_delay=0.2, payment_window=5.0)


def db_down() -> OperationalError:
    return OperationalError("SELECT 1", None, sqlite3.OperationalError("database is locked"))


@dataclass
class Journal:
    """What every worker's Application did, in one timeline."""

    runs: list[tuple[str, int, float, float, bool]] = field(default_factory=list)
    # (worker, update_id, started, ended, succeeded)

    def handled(self) -> list[int]:
        return [r[1] for r in self.runs if r[4]]


class _NoBot:
    rate_limiter = None


class ScriptedApp:
    """Runs an update for a random few milliseconds; fails it as ``script`` says."""

    def __init__(self, name: str, journal: Journal,
                 script: dict[int, list[BaseException]] | None = None,
                 pause: tuple[float, float] = (0.0, 0.01),
                 hang: set[int] | None = None) -> None:
        self.name = name
        self.bot = _NoBot()
        self.journal = journal
        self.script = script if script is not None else {}
        self.pause = pause
        self.hang = hang or set()

    async def process_update(self, update: Update) -> None:
        started = time.monotonic()
        if update.update_id in self.hang:
            await asyncio.Event().wait()  # stuck for good (a worker that froze)
        await asyncio.sleep(random.uniform(*self.pause))
        failures = self.script.get(update.update_id, [])
        if failures:
            error = failures.pop(0)
            self.journal.runs.append((self.name, update.update_id, started,
                                      time.monotonic(), False))
            delivery.record_failure(error)
            return
        self.journal.runs.append((self.name, update.update_id, started, time.monotonic(),
                                  True))

    async def process_error(self, update: Update, error: BaseException) -> None:
        delivery.record_failure(error)


def worker(db: SqlDatabase, app: ScriptedApp, *, lease: float = 5.0,
           **kwargs: Any) -> InboxWorker:
    return InboxWorker(app, SqlInbox(db), SystemClock(),  # type: ignore[arg-type]
                       worker_id=app.name, delivering=delivering,
                       policy=kwargs.pop("policy", QUICK), lease=lease,
                       poll_every=0.05, **kwargs)


async def open_count(db: SqlDatabase) -> int:
    return (await SqlInbox(db).stats()).waiting


@pytest.fixture
async def pg_url(tmp_path: Path):
    async with empty_database_url("postgres", tmp_path) as url:
        setup = SqlDatabase(url)
        await upgrade_to_head(setup)
        await setup.dispose()
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
async def any_url(request: pytest.FixtureRequest, tmp_path: Path):
    async with empty_database_url(request.param, tmp_path) as url:
        setup = SqlDatabase(url)
        await upgrade_to_head(setup)
        await setup.dispose()
        yield url


def chat_updates(chats: int, per_chat: int, *, first_id: int = 1) -> list[dict[str, Any]]:
    """Interleaved updates of many chats (messages, and now and then a payment)."""
    updates = []
    uid = first_id
    for round_ in range(per_chat):
        for chat in range(1, chats + 1):
            make = payment if (round_ + chat) % 7 == 0 else message
            updates.append(make(uid, chat=chat))
            uid += 1
    return updates


def lanes(updates: list[dict[str, Any]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for u in updates:
        paid = "successful_payment" in u["message"]
        out[f"{'pay' if paid else 'chat'}:{u['message']['chat']['id']}"].append(u["update_id"])
    return out


async def test_worker_three_workers_handle_each_update_exactly_once_in_chat_order(
        pg_url: str) -> None:
    """600 updates of 40 chats, stored in batches while three workers claim: each is handled
    once, a lane's updates one after the other in update_id order, and all three work."""
    journal = Journal()
    dbs = [SqlDatabase(pg_url) for _ in range(3)]
    # Few places each: the machine's PostgreSQL is shared with other test runs.
    workers = [worker(db, ScriptedApp(f"w{n}", journal, pause=(0.0, 0.02)), concurrency=8,
                      payment_concurrency=4) for n, db in enumerate(dbs)]
    updates = chat_updates(chats=40, per_chat=15)
    try:
        for w in workers:
            await w.start()
        inbox = SqlInbox(dbs[0])
        for start in range(0, len(updates), 50):  # arriving while the workers claim
            await inbox.store(updates[start:start + 50], now=datetime.now(UTC))
            for w in workers:
                w.wake()
            await asyncio.sleep(0.05)
        await wait_until(lambda: _zero(open_count(dbs[0])), timeout=60,
                         what="every update handled")
    finally:
        for w in workers:
            await w.stop()
        for db in dbs:
            await db.dispose()
    handled = journal.handled()
    assert sorted(handled) == [u["update_id"] for u in updates]  # each exactly once
    runs = {r[1]: r for r in journal.runs}
    for lane, ids in lanes(updates).items():
        for earlier, later in itertools.pairwise(ids):
            assert runs[earlier][3] <= runs[later][2], f"{lane}: {later} overtook {earlier}"
    by_worker = {name: sum(1 for r in journal.runs if r[0] == name) for name in
                 ("w0", "w1", "w2")}
    assert all(count > 0 for count in by_worker.values()), by_worker


async def test_worker_a_dead_workers_claim_expires_and_another_handles_it(
        pg_url: str) -> None:
    """Worker A claims chat 1's first update and freezes (as a SIGKILLed process would leave
    it: claimed, never finished). Worker B does not touch it, nor chat 1's next update,
    until A's lease runs out; then B handles both, in order, and chat 2 meanwhile at once."""
    journal = Journal()
    db_a, db_b = SqlDatabase(pg_url), SqlDatabase(pg_url)
    a = worker(db_a, ScriptedApp("A", journal, hang={1}), lease=1.5)
    b = worker(db_b, ScriptedApp("B", journal), lease=1.5)
    try:
        await SqlInbox(db_a).store([message(1, chat=1)], now=datetime.now(UTC))
        await a.start()
        await wait_until(lambda: _true(a.in_hand == 1), timeout=5, what="A claimed it")
        await a.stop(timeout=0.1)  # it would never finish: abandon it, claim and all
        await SqlInbox(db_a).store([message(1, chat=1)], now=datetime.now(UTC))  # replay
        # A's stop handed the claim back; a SIGKILL would not: claim it again as A did.
        claimed = await SqlInbox(db_a).claim("A", now=datetime.now(UTC), lease=1.5, limit=5,
                                             payments=False)
        assert [e.update_id for e in claimed] == [1]
        killed_at = time.monotonic()
        await SqlInbox(db_b).store([message(2, chat=1), message(3, chat=2)],
                                   now=datetime.now(UTC))
        await b.start()
        await wait_until(lambda: _true(3 in journal.handled()), timeout=5, what="chat 2")
        assert 1 not in journal.handled() and 2 not in journal.handled()
        await wait_until(lambda: _true(2 in journal.handled()), timeout=10,
                         what="chat 1 after the lease")
    finally:
        await a.stop(timeout=0.1)
        await b.stop()
        await db_a.dispose()
        await db_b.dispose()
    runs = {r[1]: r for r in journal.runs if r[0] == "B"}
    assert runs[1][2] - killed_at >= 1.0  # not before the lease ran out
    assert runs[1][3] <= runs[2][2]  # chat 1 still in order
    assert journal.handled().count(1) == 1


async def test_worker_payments_are_not_delayed_behind_a_crowd_of_taps(any_url: str) -> None:
    """300 slow taps fill every tap place; a pre-checkout query and a payment stored after
    them are handled at once."""
    journal = Journal()
    db = SqlDatabase(any_url)
    w = worker(db, ScriptedApp("w", journal, pause=(0.2, 0.2)), concurrency=8, batch=8)
    try:
        now = datetime.now(UTC)
        await SqlInbox(db).store([message(i, chat=i) for i in range(1, 301)], now=now)
        await w.start()
        await asyncio.sleep(0.3)
        await SqlInbox(db).store([pre_checkout(1001, chat=5000), payment(1002, chat=5001)],
                                 now=datetime.now(UTC))
        stored = time.monotonic()
        w.wake()
        await wait_until(lambda: _true({1001, 1002} <= set(journal.handled())), timeout=5,
                         what="the payments")
        waited = time.monotonic() - stored
        taps_done = len([u for u in journal.handled() if u <= 300])
    finally:
        await w.stop(timeout=0.1)
        await db.dispose()
    assert waited < 1.5, waited
    assert taps_done < 100  # the crowd was still there


async def test_worker_a_failing_update_is_retried_and_its_chat_waits_but_others_do_not(
        any_url: str) -> None:
    """Chat 1's message fails twice on a locked database: its later message runs after it;
    chat 2 and chat 1's payment (its own lane) do not wait; a bug parks an update."""
    journal = Journal()
    db = SqlDatabase(any_url)
    app = ScriptedApp("w", journal, script={1: [db_down(), db_down()], 6: [KeyError("bug")]})
    w = worker(db, app, concurrency=8, payment_concurrency=4)
    try:
        await SqlInbox(db).store([message(1, chat=1), message(2, chat=2), message(3, chat=1),
                                  payment(4, chat=1), message(6, chat=3),
                                  message(7, chat=3)], now=datetime.now(UTC))
        await w.start()
        await wait_until(lambda: _zero(open_count(db)), timeout=10, what="all done")
        entries = await SqlInbox(db).entries()
    finally:
        await w.stop()
        await db.dispose()
    order = [(u, ok) for _, u, _, _, ok in journal.runs]
    assert [r for r in order if r[0] in (1, 3)] == [(1, False), (1, False), (1, True),
                                                   (3, True)]
    handled = journal.handled()
    assert handled.index(2) < handled.index(1) and handled.index(4) < handled.index(1)
    assert [(e.update_id, e.parked) for e in entries] == [(6, True)]
    assert 7 in handled  # a parked update frees its lane


async def test_worker_an_update_ptb_cannot_parse_is_parked(any_url: str) -> None:
    journal = Journal()
    db = SqlDatabase(any_url)
    w = worker(db, ScriptedApp("w", journal))
    broken = {"update_id": 2, "callback_query": {"id": "1"}}  # no chat_instance, no from
    try:
        await SqlInbox(db).store([message(1, chat=1), broken, message(3, chat=1)],
                                 now=datetime.now(UTC))
        await w.start()
        await wait_until(lambda: _zero(open_count(db)), timeout=10, what="all done")
        entries = await SqlInbox(db).entries()
    finally:
        await w.stop()
        await db.dispose()
    assert sorted(journal.handled()) == [1, 3]
    assert [e.update_id for e in entries if e.parked] == [2]
    assert entries[0].last_error is not None and "cannot be parsed" in entries[0].last_error


async def _zero(awaitable: Any) -> bool:
    return await awaitable == 0


async def _true(value: bool) -> bool:
    return value
