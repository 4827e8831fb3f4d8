"""Never lose a payment: a successful payment whose handler cannot reach the database for
longer than its own retries stays in the inbox and is retried until it is ticketed; one whose
update never reaches the bot at all is refunded by reconciliation against Stripe's charges.
Either way the charge ends ticketed or refunded, exactly once, by the Stripe ledger."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import func, select

from bot.sandbox import VirtualUser
from bot.sandbox.harness import SandboxedBot, sandboxed_bot
from bot.storage import tables as t
from core.kernel.clock import OffsetClock
from tests.e2e.phone import create_event, invoice_for, photos
from tests.reliability.crash_harness import REPO, wait_until
from tests.reliability.faults import DatabaseOutage, inbox_insert
from tests.reliability.invariants import assert_nothing_oversold, settle_charges

ORGANIZER = 9000
DELAYED = "could not process it just now"


@asynccontextmanager
async def bot_with(database_url: str, monkeypatch, **env: str) -> AsyncIterator[SandboxedBot]:
    """The bot in-process against the sandbox, with ``TICKETQ_<NAME>`` settings."""
    for name, value in env.items():
        monkeypatch.setenv(f"TICKETQ_{name.upper()}", value)
    async with sandboxed_bot(database_url, admin_ids=frozenset({ORGANIZER}),
                             clock=OffsetClock()) as bot:
        bot.runtime.worker.base_delay = 0.05
        bot.runtime.worker.max_delay = 0.5
        yield bot


@pytest.fixture
async def live(database_url: str, monkeypatch) -> AsyncIterator[SandboxedBot]:
    """Payments retried for an hour, reconciliation's grace two hours (the defaults)."""
    async with bot_with(database_url, monkeypatch, reconcile_every_seconds="0.5") as bot:
        yield bot


@pytest.fixture
async def quick_grace(database_url: str, monkeypatch) -> AsyncIterator[SandboxedBot]:
    """Reconciliation every half second with a grace period of three seconds (payments
    retried for at most one and a half)."""
    async with bot_with(database_url, monkeypatch, payment_retry_minutes="0.025",
                        reconcile_grace_minutes="0.05", reconcile_every_seconds="0.5") as bot:
        yield bot


async def paid_but_not_delivered(live: SandboxedBot, user: VirtualUser):
    """Invoice and Stripe charge done; the successful_payment update held back."""
    await create_event(live, capacity=4)
    outcome = await user.pay(await invoice_for(user, 2), deliver_success=False)
    assert outcome.ok, outcome
    return outcome


async def inbox_rows(live: SandboxedBot) -> int:
    async with live.runtime.db.read() as uow:
        return int((await uow.conn.execute(
            select(func.count()).select_from(t.inbox))).scalar_one())


def texts(user: VirtualUser) -> list[str]:
    return [m.text or "" for m in user.messages]


async def test_a_payment_is_ticketed_once_after_the_database_was_away_longer_than_its_retries(
        live) -> None:
    """The database goes away right after the poller stored the successful_payment and stays
    away for 5 s: far longer than the handler's own three attempts (~1.5 s). The buyer is
    told once that it is delayed; the update stays in the inbox and is retried; once the
    database is back the payment is ticketed exactly once and the tickets arrive."""
    ann = live.sandbox.user(user_id=101, first_name="Ann")
    outcome = await paid_but_not_delivered(live, ann)
    outage = DatabaseOutage(live.runtime.db)
    try:
        outage.after(inbox_insert, seconds=5.0)
        await ann.deliver_successful_payment(outcome)
        await wait_until(lambda: _true(outage.down), timeout=5, what="the outage began")
        await ann.wait_for_message(contains=DELAYED, timeout=10)
        await wait_until(lambda: _true(not outage.down), timeout=10, what="the outage ended")
        assert outage.failed > 3, "the handler never ran into the outage"
    finally:
        outage.close()
    await ann.wait_for_message(contains="Payment received", since=0, timeout=30)
    await wait_until(lambda: _true(len(photos(ann)) == 2), timeout=15, what="two QR tickets")
    await live.settle()
    assert await settle_charges(live.runtime.db, live.sandbox) == {
        outcome.charge_id: "ticketed"}
    await assert_nothing_oversold(live.runtime.db)
    assert sum(DELAYED in x for x in texts(ann)) == 1, ann.dump()
    assert sum("Payment received" in x for x in texts(ann)) == 1, ann.dump()
    await wait_until(lambda: _is_zero(inbox_rows(live)), timeout=15, what="the inbox emptied")


async def test_a_payment_is_ticketed_once_after_postgres_refused_connections_for_a_while(
        live, database_url) -> None:
    """A real PostgreSQL outage: right after the poller stored the successful_payment, the
    server terminates the bot's connections and refuses new ones for 6 s (``ALLOW_CONNECTIONS
    false``), so the handler and the inbox meet asyncpg's own errors. The payment is retried
    and ticketed exactly once when the server accepts connections again."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL server outage")
    import asyncpg

    from tests.conftest import POSTGRES_ADMIN_URL

    name = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    ann = live.sandbox.user(user_id=104, first_name="Ann")
    outcome = await paid_but_not_delivered(live, ann)
    outage = DatabaseOutage(live.runtime.db)
    try:
        # The statement-level fault bridges the moment between the store and the server
        # going away; from then on the errors are the server's.
        outage.after(inbox_insert, seconds=30.0)
        await ann.deliver_successful_payment(outcome)
        await wait_until(lambda: _true(outage.down), timeout=5, what="the payment stored")
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = $1", name)
        outage.end()
        await ann.wait_for_message(contains=DELAYED, timeout=10)
        await asyncio.sleep(6.0)
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await admin.close()
        outage.close()
    await ann.wait_for_message(contains="Payment received", since=0, timeout=60)
    await live.settle()
    assert await settle_charges(live.runtime.db, live.sandbox) == {
        outcome.charge_id: "ticketed"}
    assert sum(DELAYED in x for x in texts(ann)) == 1, ann.dump()
    async with live.runtime.db.read() as uow:
        parked = (await uow.conn.execute(select(func.count()).select_from(t.inbox).where(
            t.inbox.c.parked_at.is_not(None)))).scalar_one()
    assert parked == 0


async def test_a_charge_whose_update_never_arrived_is_refunded_once_by_reconciliation(
        quick_grace) -> None:
    """The successful_payment update is lost entirely (it never reaches the bot): only
    Stripe knows of the charge. After the grace period reconciliation refunds it in full,
    once, with an Idempotency-Key derived from the charge; the admins are told; nothing else
    changes (no ticket, no paid order, no seat taken). If the update turns up after all, it
    is not ticketed and the refund stays the only one."""
    live = quick_grace
    ann = live.sandbox.user(user_id=102, first_name="Ann")
    admin = live.sandbox.user(user_id=ORGANIZER, first_name="Org")
    outcome = await paid_but_not_delivered(live, ann)
    stripe = live.sandbox.stripe

    async def refunded() -> bool:
        return stripe.refund_count(outcome.charge_id) > 0

    await wait_until(refunded, timeout=30, what="the unexplained charge refunded")
    await live.settle()
    assert stripe.refund_count(outcome.charge_id) == 1
    assert stripe.refunded_total(outcome.charge_id) == outcome.amount
    keys = [e.idempotency_key for e in stripe.ledger if e.kind == "refund"]
    assert keys == [f"tq-refund-charge-{outcome.charge_id}"]
    assert await settle_charges(live.runtime.db, live.sandbox) == {
        outcome.charge_id: "refunded"}
    async with live.runtime.db.read() as uow:
        tickets = (await uow.conn.execute(select(func.count()).select_from(t.tickets))
                   ).scalar_one()
        paid = (await uow.conn.execute(select(func.count()).select_from(t.orders).where(
            t.orders.c.status == "paid"))).scalar_one()
    assert (tickets, paid) == (0, 0)
    await admin.wait_for_message(contains=outcome.charge_id, since=0, timeout=5)
    assert not any("refund" in x.lower() for x in texts(ann)), ann.dump()  # chat unknown

    # More passes change nothing; neither does the update turning up after all.
    await asyncio.sleep(1.5)
    await ann.deliver_successful_payment(outcome)
    await ann.wait_for_message(contains="refunding it in full", timeout=10)
    await asyncio.sleep(1.0)
    await live.settle()
    assert stripe.refund_count(outcome.charge_id) == 1
    assert await settle_charges(live.runtime.db, live.sandbox) == {
        outcome.charge_id: "refunded"}
    assert not photos(ann) and not any("Payment received" in x for x in texts(ann))


async def test_a_payment_that_fails_for_good_is_parked_listed_and_run_again_by_hand(
        live, database_url) -> None:
    """A successful payment whose handling fails with an error that is not a passing fault
    (here: recording payments raises a bug-like error) is parked at once: kept in the inbox,
    not retried, listed by ``ticketq inbox``. ``ticketq inbox retry`` runs it again (the
    running bot picks it up), and it is ticketed once."""
    ann = live.sandbox.user(user_id=103, first_name="Ann")
    outcome = await paid_but_not_delivered(live, ann)
    live.runtime.poller._rescan_every = 0.5  # the operator's retry is picked up at once
    outage = DatabaseOutage(live.runtime.db)
    outage.refuse(lambda sql: "INSERT INTO payments" in sql,
                  lambda sql: ValueError("payments table rejected the row (a bug)"))
    try:
        outage.start(3600)
        await ann.deliver_successful_payment(outcome)
        await ann.wait_for_message(contains=DELAYED, timeout=10)

        async def parked() -> bool:
            async with live.runtime.db.read() as uow:
                return (await uow.conn.execute(select(t.inbox.c.parked_at))).scalar() \
                    is not None

        await wait_until(parked, timeout=10, what="the payment parked")
        failed = outage.failed
        await asyncio.sleep(2.0)
        assert outage.failed == failed, "a parked update was run again by itself"
    finally:
        outage.end()
        outage.close()
    code, listing = await ticketq(database_url, "inbox")
    assert code == 0 and "PARKED" in listing and "payment" in listing, listing
    assert outcome.charge_id in listing, listing
    code, said = await ticketq(database_url, "inbox", "retry", "--all")
    assert code == 0 and "1 parked update(s) will run again" in said, said
    await ann.wait_for_message(contains="Payment received", since=0, timeout=15)
    await live.settle()
    assert await settle_charges(live.runtime.db, live.sandbox) == {
        outcome.charge_id: "ticketed"}
    assert sum(DELAYED in x for x in texts(ann)) == 1, ann.dump()


async def ticketq(database_url: str, *args: str) -> tuple[int, str]:
    """The operator's ``ticketq`` command, as its own process on the bot's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETQ_")}
    env.update(TICKETQ_DATABASE_URL=database_url, PYTHONPATH=str(REPO))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return int(proc.returncode or 0), out.decode()


async def _true(value: bool) -> bool:
    return value


async def _is_zero(awaitable) -> bool:
    return await awaitable == 0
