"""Three webhook workers on one PostgreSQL database behind the sandbox's load balancer:
buyers race for seats through real Telegram-style webhook delivery; the operator's
endpoints report on each worker."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import aiohttp

from bot.sandbox import VirtualUser
from bot.sandbox.harness import new_sandbox, running_bot
from bot.storage.inbox_store import SqlInbox
from tests.conftest import empty_database_url
from tests.e2e.conftest import ORGANIZER
from tests.e2e.phone import create_event, photos

WAIT = 30.0


async def test_worker_three_webhook_workers_sell_exactly_the_seats_once_each(
        tmp_path) -> None:
    sandbox = new_sandbox(rate_limit_global=None, rate_limit_per_chat=None)
    await sandbox.start()
    sandbox.webhook.retry_base = 0.1
    try:
        async with empty_database_url("postgres", tmp_path) as url, AsyncExitStack() as stack:
            runtimes = [await stack.enter_async_context(running_bot(
                sandbox, url, webhook=True, worker_id=f"w{n}", send_rate=200.0,
                admin_ids=frozenset({ORGANIZER}),
                send_rate_per_chat=50.0, send_burst_per_chat=50)) for n in range(3)]
            # All three drain the one outbox (claims with leases, one send budget).
            main = runtimes[0]

            class Live:  # what tests.e2e.phone needs
                runtime = main

            await create_event(Live, capacity=6, per_user_limit=1)  # type: ignore[arg-type]

            async def attempt(user: VirtualUser, delay: float) -> str:
                # Staggered, generous waits: this runs on a shared, busy machine (the
                # sandbox wants a tap answered within 5 s, like Telegram's spinner).
                await asyncio.sleep(delay)
                mark = user.mark()
                await user.send("/events")
                listing = await user.wait_for_message(contains="Upcoming", since=mark,
                                                      timeout=WAIT)
                mark = user.mark()
                await user.tap(listing, text=listing.button_texts()[0], timeout=WAIT)
                card = await user.wait_for_message(contains="📍", since=mark, timeout=WAIT)
                if any("sold out" in b for b in card.button_texts()):
                    return "sold out"
                mark = user.mark()
                answer = await user.tap(card, text="GA", timeout=WAIT)
                try:
                    picker = await user.wait_for_message(contains="How many", since=mark,
                                                         timeout=WAIT)
                except TimeoutError:
                    return f"no picker: {answer.text}"
                mark = user.mark()
                answer = await user.tap(picker, text="1", timeout=WAIT)
                try:
                    invoice = await user.wait_for_message(
                        predicate=lambda m: m.invoice is not None, since=mark, timeout=WAIT)
                except TimeoutError:
                    return f"no invoice: {answer.text}"
                outcome = await user.pay(invoice)
                if not outcome.ok:
                    return f"payment refused: {outcome}"
                await user.wait_for_message(contains="Payment received", timeout=WAIT)
                return "paid"

            buyers = [sandbox.user(user_id=500 + n, first_name=f"B{n}") for n in range(12)]
            results = await asyncio.gather(*(attempt(u, n * 0.3) for n, u in enumerate(buyers)))
            await main.worker.drain_until_idle(timeout=30)
            tickets = sum(len(photos(u)) for u in buyers)
            handled = [r.inbox_worker.handled for r in runtimes if r.inbox_worker]
            waiting = (await SqlInbox(main.db).stats()).waiting
            leaders = [r.leader() for r in runtimes]
            async with aiohttp.ClientSession() as http:
                assert runtimes[1].web is not None
                async with http.get(runtimes[1].web.base_url + "/healthz") as resp:
                    health = await resp.json()
                    assert resp.status == 200
                async with http.get(runtimes[1].web.base_url + "/metrics") as resp:
                    metrics_text = await resp.text()
    finally:
        await sandbox.stop()
    assert results.count("paid") == 6 and tickets == 6, results
  # exactly the seats, one QR each
    assert all(n > 0 for n in handled), handled  # every worker took a share
    assert waiting == 0 and sandbox.pending_updates() == 0
    assert health["ok"] is True and health["database"] == "ok" and health["worker"] == "w1"
    assert health["mode"] == "webhook" and health["inbox_waiting"] == 0
    assert health["inbox_lag_seconds"] == 0 and health["leader"] is leaders[1]
    assert leaders.count(True) == 1, leaders  # one scheduler among the workers
    assert "ticketq_updates_handled_total{" in metrics_text
    assert "ticketq_inbox_depth{state=\"waiting\"} 0.0" in metrics_text
    assert "ticketq_update_latency_seconds_bucket" in metrics_text
    assert sandbox.bot_errors == []
