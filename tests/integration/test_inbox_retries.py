"""The inbox poller's retries, parking and per-chat order, with a scripted Application (the
real one is exercised end to end in tests/reliability/test_lost_payments.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from telegram import Update

from bot.polling import InboxPoller, RetryPolicy, is_transient
from bot.storage import tables as t
from bot.storage.inbox_store import SqlInbox
from core.kernel.clock import SystemClock
from handlers import delivery
from handlers.delivery import delivering
from tests.reliability.crash_harness import wait_until

QUICK = RetryPolicy(tap_delays=(0.05, 0.1, 0.2), tap_window=10.0, payment_base=0.05,
                    payment_max_delay=0.2, payment_window=5.0)


def db_down() -> OperationalError:
    return OperationalError("SELECT 1", None, sqlite3.OperationalError("database is locked"))


def message(update_id: int, chat: int, text: str = "hi") -> dict[str, Any]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 0, "chat": {"id": chat, "type": "private"},
        "from": {"id": chat, "is_bot": False, "first_name": "U"}, "text": text}}


def payment(update_id: int, chat: int) -> dict[str, Any]:
    data = message(update_id, chat)
    del data["message"]["text"]
    data["message"]["successful_payment"] = {
        "currency": "EUR", "total_amount": 100, "invoice_payload": "o:1",
        "telegram_payment_charge_id": f"tg{update_id}",
        "provider_payment_charge_id": f"ch_{update_id}"}
    return data


def pre_checkout(update_id: int, chat: int) -> dict[str, Any]:
    return {"update_id": update_id, "pre_checkout_query": {
        "id": str(update_id), "from": {"id": chat, "is_bot": False, "first_name": "U"},
        "currency": "EUR", "total_amount": 100, "invoice_payload": "o:1"}}


class ScriptedBot:
    """getUpdates hands out the batches the test queues."""

    def __init__(self) -> None:
        self.batches: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()

    async def delete_webhook(self, **_kwargs: Any) -> bool:
        return True

    async def get_updates(self, **kwargs: Any) -> list[Update]:
        return []  # only the poller's acknowledgement at stop calls it (timeout=0)

    async def _post(self, endpoint: str, data: dict[str, Any], **_kwargs: Any) -> Any:
        """getUpdates as raw JSON, as the Bot API sends it (the poller parses each one)."""
        assert endpoint == "getUpdates"
        if data.get("timeout") == 0:
            return []
        try:
            return await asyncio.wait_for(self.batches.get(), timeout=0.2)
        except TimeoutError:
            return []


class ScriptedApp:
    """Runs updates the way PTB does for TicketQ: a handler's failure goes to the error
    handler, which reports it to the inbox (and apologises when it will not be retried)."""

    def __init__(self, script: dict[int, list[BaseException]]) -> None:
        self.bot = ScriptedBot()
        self.script = script
        self.ran: list[tuple[int, bool]] = []  # (update_id, succeeded)
        self.apologised: list[int] = []

    async def process_update(self, update: Update) -> None:
        failures = self.script.get(update.update_id, [])
        if failures:
            error = failures.pop(0)
            self.ran.append((update.update_id, False))
            await self.process_error(update, error)
            return
        self.ran.append((update.update_id, True))

    async def process_error(self, update: Update, error: BaseException) -> None:
        if not delivery.record_failure(error):
            self.apologised.append(update.update_id)

    def order(self, *ids: int) -> list[tuple[int, bool]]:
        return [r for r in self.ran if r[0] in ids]


async def start(db, app: ScriptedApp, **kwargs: Any) -> InboxPoller:
    poller = InboxPoller(app, SqlInbox(db), SystemClock(), timeout=1,  # type: ignore[arg-type]
                         flush_every=0.02, policy=kwargs.pop("policy", QUICK),
                         delivering=delivering, **kwargs)
    await poller.start()
    return poller


async def rows(db) -> dict[int, tuple[int, bool]]:
    """update_id -> (attempts, parked)."""
    async with db.read() as uow:
        result = await uow.conn.execute(
            select(t.inbox.c.update_id, t.inbox.c.attempts, t.inbox.c.parked_at))
        return {r.update_id: (r.attempts, r.parked_at is not None) for r in result}


async def test_later_updates_of_a_chat_wait_behind_one_that_is_retried(db) -> None:
    """Chat 1's message fails twice on a locked database. Chat 1's later messages run after
    it, in order; chat 2 and chat 1's payment (its own lane) do not wait."""
    app = ScriptedApp({1: [db_down(), db_down()]})
    poller = await start(db, app)
    try:
        await app.bot.batches.put([message(1, chat=1), message(2, chat=2)])
        await wait_until(lambda: _true((1, False) in app.ran), timeout=5, what="first failure")
        await app.bot.batches.put([message(3, chat=1), payment(4, chat=1),
                                   message(5, chat=1)])
        await wait_until(lambda: _true(len([r for r in app.ran if r[1]]) == 5), timeout=5,
                         what="everything handled")
        await wait_until(lambda: _empty(rows(db)), timeout=5, what="inbox emptied")
    finally:
        await poller.stop()
    assert app.order(1, 3, 5) == [(1, False), (1, False), (1, True), (3, True), (5, True)]
    handled = [u for u, ok in app.ran if ok]
    assert handled.index(2) < handled.index(1) and handled.index(4) < handled.index(1)
    assert app.apologised == []  # retried in time: nobody was told it failed


async def test_a_tap_that_keeps_failing_is_parked_once_and_the_user_told_once(db) -> None:
    app = ScriptedApp({1: [db_down() for _ in range(10)]})
    poller = await start(db, app)
    try:
        await app.bot.batches.put([message(1, chat=1)])
        await wait_until(lambda: _true(app.apologised == [1]), timeout=5, what="apology")
        await app.bot.batches.put([message(2, chat=1)])  # the lane is free again
        await wait_until(lambda: _true((2, True) in app.ran), timeout=5, what="next message")
        await wait_until(lambda: _equal(rows(db), {1: (4, True)}), timeout=5,
                         what="parked after four tries")
        await asyncio.sleep(0.5)
    finally:
        await poller.stop()
    assert app.order(1) == [(1, False)] * 4  # 1 + the three retries, then never again


async def test_a_payment_that_fails_for_good_is_parked_at_once_and_a_pre_checkout_dropped(
        db) -> None:
    app = ScriptedApp({1: [KeyError("bug")], 2: [db_down()]})
    poller = await start(db, app)
    try:
        await app.bot.batches.put([payment(1, chat=1), pre_checkout(2, chat=1)])
        await wait_until(lambda: _equal(rows(db), {1: (1, True)}), timeout=5,
                         what="payment parked, pre-checkout gone")
    finally:
        await poller.stop()
    assert app.ran == [(1, False), (2, False)] or app.ran == [(2, False), (1, False)]
    assert sorted(app.apologised) == [1, 2]


async def test_after_a_restart_a_stale_retried_tap_is_parked_and_a_payment_retried(db) -> None:
    """What a crash left: a tap that had failed once, 20 s ago (its moment has passed), and
    a payment that had failed once. The tap is parked without running (the user is told);
    the payment runs again."""
    inbox = SqlInbox(db)
    then = datetime.now(UTC) - timedelta(seconds=20)
    await inbox.store([message(1, chat=1), payment(2, chat=1)], now=then)
    await inbox.settle(done=[], deferred=[(1, 1, then, "OperationalError"),
                                          (2, 1, then, "OperationalError")], parked=[])
    app = ScriptedApp({})
    poller = await start(db, app)
    try:
        await wait_until(lambda: _true((2, True) in app.ran), timeout=5, what="payment ran")
        await wait_until(lambda: _equal(rows(db), {1: (1, True)}), timeout=5,
                         what="stale tap parked")
    finally:
        await poller.stop()
    assert app.order(1) == [] and app.apologised == [1]


async def test_a_payment_retried_by_the_operator_gets_a_fresh_retry_window(db) -> None:
    """Parked hours ago and retried by hand: a passing fault on its first run again is
    retried (its window starts at the operator's retry, not at its arrival)."""
    inbox = SqlInbox(db)
    then = datetime.now(UTC) - timedelta(hours=2)
    await inbox.store([payment(1, chat=1)], now=then)
    await inbox.settle(done=[], deferred=[], parked=[(1, 5, then, "KeyError: bug")])
    assert await inbox.retry([1]) == 1
    app = ScriptedApp({1: [db_down()]})
    poller = await start(db, app)
    try:
        await wait_until(lambda: _true((1, True) in app.ran), timeout=5, what="ticketed")
        await wait_until(lambda: _empty(rows(db)), timeout=5, what="forgotten")
    finally:
        await poller.stop()
    assert app.ran == [(1, False), (1, True)] and app.apologised == []


async def test_an_update_ptb_cannot_parse_is_parked_and_the_rest_of_its_batch_handled(
        db) -> None:
    """A message without a date (PTB raises on it) in the middle of a batch: before, PTB's
    get_updates failed the whole batch and the poller fetched it again forever."""
    app = ScriptedApp({})
    broken = {"update_id": 2, "message": {"message_id": 9, "chat": {"id": 1,
                                                                     "type": "private"}}}
    poller = await start(db, app)
    try:
        await app.bot.batches.put([message(1, chat=1), broken, message(3, chat=2)])
        await wait_until(lambda: _equal(rows(db), {2: (0, True)}), timeout=5,
                         what="the unparsable update parked, the others handled")
    finally:
        await poller.stop()
    assert sorted(app.ran) == [(1, True), (3, True)]
    parked = [e for e in await SqlInbox(db).entries() if e.parked]
    assert [e.update_id for e in parked] == [2]
    assert parked[0].last_error is not None and "cannot be parsed" in parked[0].last_error


async def test_a_payment_is_retried_while_the_fault_is_transient_then_parked() -> None:
    policy = RetryPolicy(payment_base=1.0, payment_max_delay=60.0, payment_window=3600.0)
    delays = [policy.decide("payment", n, age=0.0, error=db_down()).delay
              for n in range(1, 9)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]
    assert policy.decide("payment", 70, age=3590.0, error=db_down()).action == "park"
    assert policy.decide("payment", 1, age=0.0, error=ValueError()).action == "park"
    assert policy.decide("tap", 1, age=0.0, error=TimeoutError()).retry
    assert policy.decide("tap", 4, age=5.0, error=TimeoutError()).action == "park"
    assert policy.decide("pre_checkout", 1, age=0.0, error=db_down()).action == "drop"
    assert is_transient(RuntimeError("wrapped")) is False
    closed = RuntimeError('database "tq" is not currently accepting connections')
    closed.sqlstate = "55000"  # type: ignore[attr-defined]  # as asyncpg's errors carry it
    assert is_transient(closed) is True
    other = RuntimeError("cannot refresh materialized view concurrently")
    other.sqlstate = "55000"  # type: ignore[attr-defined]
    assert is_transient(other) is False
    wrapped = RuntimeError("handler")
    wrapped.__cause__ = ConnectionResetError()
    assert is_transient(wrapped) is True


async def _true(value: bool) -> bool:
    return value


async def _empty(awaitable) -> bool:
    return not await awaitable


async def _equal(awaitable, expected) -> bool:
    return await awaitable == expected
