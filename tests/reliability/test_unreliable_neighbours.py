"""Unreliable neighbours: Telegram answering 429 with retry_after, 5xx, slowly or not at all,
delivering an update twice; Stripe failing with 5xx, rate limits and timeouts, or refusing a
refund for good. Nothing is lost, nothing happens twice, and a refund that cannot be made is
flagged to the organizer and told to the buyer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.payments.stripe_refunds import StripeRefundGateway
from bot.sandbox import VirtualUser
from bot.sandbox.harness import SANDBOX_STRIPE_KEY, SandboxedBot, sandboxed_bot
from bot.storage import tables as t
from core.catalog.model import LotteryState
from core.kernel import outbox
from core.kernel.clock import OffsetClock
from core.kernel.money import Money
from core.payments.model import RefundStatus
from tests.e2e.phone import buy, create_event, enter_lottery, invoice_for
from tests.factories import lottery_doc
from tests.reliability.crash_harness import wait_until
from tests.reliability.invariants import assert_nothing_oversold, settle_charges

ORGANIZER = 9000


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[SandboxedBot]:
    """The bot in-process against the sandbox, with a short outbox backoff. Telegram's flood
    limits, except that a chat may receive 10 a second after its burst (these conversations
    run far faster than people type; see tests/e2e/conftest.py, chat_pace)."""
    async with sandboxed_bot(database_url, admin_ids=frozenset({ORGANIZER}),
                             clock=OffsetClock(), rate_limit_per_chat=10.0,
                             send_rate_per_chat=10.0) as bot:
        bot.runtime.worker.base_delay = 0.05
        bot.runtime.worker.max_delay = 0.5
        yield bot


async def queue_messages(live: SandboxedBot, users: list[VirtualUser], per_user: int) -> None:
    """``per_user`` numbered messages to each user, through the outbox."""
    runtime = live.runtime
    now = runtime.clock.now()
    async with runtime.db.write() as uow:
        for user in users:
            for i in range(per_user):
                await uow.outbox.put(outbox.MESSAGE, {"key": "refund_done", "params": {
                    "amount": Money(100 + i, "EUR")}}, dedupe_key=f"rel:{user.user_id}:{i}",
                    now=now, chat_id=user.user_id)
    runtime.worker.wake()


def numbered(user: VirtualUser) -> list[str]:
    """The amounts in a user's numbered messages, in the order they arrived."""
    return [m.text.split("refund of ")[1].split(" ")[0] for m in user.messages
            if m.text and "refund of" in m.text]


async def delivered(live: SandboxedBot, users: list[VirtualUser], per_user: int,
                    timeout: float = 30) -> None:
    async def done() -> bool:
        return all(len(set(numbered(u))) == per_user for u in users)
    await wait_until(done, timeout=timeout, what="every queued message delivered")
    await live.settle()


def expected(per_user: int) -> list[str]:
    return [f"€{(100 + i) / 100:.2f}" for i in range(per_user)]


# --------------------------------------------------------------------------- Telegram
async def test_a_429_burst_delays_messages_but_loses_none(live) -> None:
    """The sandbox allows 8 sends/s while the bot is configured for 1000/s: Telegram answers
    429 with retry_after, and every message still arrives, in order, per chat. (8, not 20:
    on PostgreSQL every send also takes its place in the shared budget, which alone keeps
    one process near 20/s here.)"""
    users = [live.sandbox.user(user_id=100 + i, first_name=f"U{i}") for i in range(30)]
    live.sandbox.set_rate_limit(8)
    await queue_messages(live, users, 3)
    await delivered(live, users, 3)
    assert live.sandbox.rate_limited_count > 0, "the burst never hit the limit"
    for user in users:
        assert numbered(user) == expected(3), user.dump()


async def test_5xx_and_dropped_sends_are_delivered_after_retry(live) -> None:
    """sendMessage answered 502/500, dropped before and after Telegram processed it."""
    ann = live.sandbox.user(user_id=201, first_name="Ann")
    faults = live.sandbox.faults
    faults.telegram_fail_next(2, status=502, method="sendMessage")
    faults.telegram_drop_next(1, method="sendMessage")
    faults.telegram_fail_next(1, status=500, method="sendMessage")
    faults.telegram_drop_next(1, method="sendMessage", after_processing=True)
    await queue_messages(live, [ann], 4)
    await delivered(live, [ann], 4)
    # At least once, in order: a send whose answer was lost may show up twice, never zero.
    got = numbered(ann)
    assert sorted(set(got)) == expected(4)
    assert [a for i, a in enumerate(got) if a not in got[:i]] == expected(4)
    assert len(got) <= 5
    assert live.runtime.worker.stats.retried >= 4


async def test_slow_telegram_answers_delay_but_lose_nothing(live) -> None:
    """Every sendMessage takes 0.3 s to answer (a slow Bot API): the sale still completes."""
    api = live.sandbox.telegram
    original = api._handlers["sendmessage"]

    async def slow(params):
        await asyncio.sleep(0.3)
        return await original(params)

    api._handlers["sendmessage"] = slow
    await create_event(live, capacity=4)
    ann = live.sandbox.user(user_id=301, first_name="Ann")
    outcome = await buy(live, ann, 2)
    assert sum(1 for m in ann.messages if m.photo is not None) == 2
    assert await settle_charges(live.runtime.db, live.sandbox) == {outcome.charge_id: "ticketed"}


async def test_a_successful_payment_delivered_twice_tickets_once(live) -> None:
    await create_event(live, capacity=4)
    ann = live.sandbox.user(user_id=401, first_name="Ann")
    outcome = await ann.pay(await invoice_for(ann, 2), deliver_success=False)
    live.sandbox.faults.duplicate_next_update(1)
    await ann.deliver_successful_payment(outcome)
    await ann.wait_for_message(contains="Payment received")
    await asyncio.sleep(0.5)  # the duplicate arrives in the next getUpdates
    await live.settle()
    live.sandbox.redeliver()  # and once more, after it was handled and confirmed
    await asyncio.sleep(0.5)
    await live.settle()
    assert await settle_charges(live.runtime.db, live.sandbox) == {outcome.charge_id: "ticketed"}
    async with live.runtime.db.read() as uow:
        tickets = (await uow.conn.execute(select(t.tickets.c.id))).all()
    assert len(tickets) == 2
    await assert_nothing_oversold(live.runtime.db)


# --------------------------------------------------------------------------- Stripe
async def paid_buyers(live: SandboxedBot, count: int, base: int) -> list[VirtualUser]:
    await create_event(live, capacity=count * 2)
    users = [live.sandbox.user(user_id=base + i, first_name=f"B{i}") for i in range(count)]
    for user in users:
        await buy(live, user, 1)
    return users


async def cancel(live: SandboxedBot) -> None:
    await live.runtime.services.organizer.cancel_event(actor_id=ORGANIZER, event_id=1)
    live.runtime.worker.wake()


async def test_stripe_outages_retry_refunds_with_the_same_key_and_refund_once(live) -> None:
    """5xx, 429 and timeouts (executed by Stripe, answer lost) before refunds succeed."""
    users = await paid_buyers(live, 3, 500)
    stripe = live.sandbox.stripe
    live.runtime.refunds._gateway = StripeRefundGateway(  # answers slower than this time out
        SANDBOX_STRIPE_KEY, api_base=live.sandbox.stripe_api_base, timeout=0.5)
    stripe.timeout_delay = 1.5
    stripe.fail_next(2, status=500)
    stripe.fail_next(2, status=429)
    stripe.fail_next(2, status="timeout")
    await cancel(live)

    async def refunded() -> bool:
        async with live.runtime.db.read() as uow:
            rows = (await uow.conn.execute(select(t.refunds.c.status))).scalars().all()
        return len(rows) == 3 and set(rows) == {"succeeded"}

    await wait_until(refunded, timeout=30, what="all refunds succeeded")
    await live.settle()
    fate = await settle_charges(live.runtime.db, live.sandbox)
    assert set(fate.values()) == {"refunded"} and len(fate) == 3
    keys = {}
    for entry in stripe.ledger:
        if entry.kind == "refund":
            keys.setdefault(entry.charge_id, []).append(entry.idempotency_key)
    assert all(len(k) == 1 and k[0].startswith("tq-refund-") for k in keys.values()), keys
    for user in users:
        texts = [m.text or "" for m in user.messages]
        assert sum("has been issued" in x for x in texts) >= 1, user.dump()


async def test_a_refund_stripe_refuses_for_good_is_flagged_and_told(live) -> None:
    users = await paid_buyers(live, 2, 600)
    refused = users[0].payments[-1].charge_id
    live.sandbox.stripe.refuse_refunds_for(refused)
    await cancel(live)

    async def finished() -> bool:
        async with live.runtime.db.read() as uow:
            rows = (await uow.conn.execute(select(t.refunds.c.status))).scalars().all()
        return sorted(rows) == ["failed", "succeeded"]

    await wait_until(finished, timeout=20, what="one refund failed, one succeeded")
    await live.settle()
    figures = await live.runtime.services.organizer.figures(actor_id=ORGANIZER, event_id=1)
    assert figures.refunds[RefundStatus.FAILED] == (1, 2500)
    assert live.sandbox.stripe.refund_count(refused) == 0
    await users[0].wait_for_message(contains="could not complete your refund", since=0)
    await users[1].wait_for_message(contains="has been issued", since=0)


async def test_a_lottery_loser_whose_refund_is_refused_still_learns_the_result(
        live) -> None:
    """Every entrant is told their result, even when Stripe refuses the loser's refund."""
    clock = live.runtime.clock
    await live.runtime.services.admin.import_event(lottery_doc(clock.now(), seats=1),
                                                   actor_id=ORGANIZER)
    entrants = [live.sandbox.user(user_id=700 + i, first_name=f"E{i}") for i in range(3)]
    for user in entrants:
        outcome = await enter_lottery(user, 1)
        assert outcome.ok
        live.sandbox.stripe.refuse_refunds_for(outcome.charge_id)
        await user.wait_for_message(contains="You are in the draw")
    clock.advance(timedelta(hours=2))

    async def drawn() -> bool:
        async with live.runtime.db.read() as uow:
            event = await uow.events.get(1)
        return event is not None and event.lottery_state is LotteryState.DRAWN

    await wait_until(drawn, timeout=20, what="drawn")
    await live.settle()
    figures = await live.runtime.services.lottery.figures(1)
    assert figures.refunds_failed == (2, 6000)
    losers = [u for u in entrants if not any("You won" in (m.text or "") for m in u.messages)]
    assert len(losers) == 2
    for user in losers:
        texts = " ".join(m.text or "" for m in user.messages)
        assert "not drawn" in texts or "Not selected" in texts, user.dump()
        assert "could not complete your refund" in texts, user.dump()
