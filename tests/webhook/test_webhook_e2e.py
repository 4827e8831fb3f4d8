"""Webhook mode end to end: the sandbox delivers updates by webhook as Telegram does, through
its load balancer, to the real bot's HTTP server, which stores them in the inbox before 200."""

from __future__ import annotations

import aiohttp
import pytest
from telegram.error import Conflict

from bot.sandbox.harness import WEBHOOK_SECRET, WEBHOOK_URL, sandboxed_bot, sqlite_url
from bot.web.webhook import SECRET_HEADER
from tests.e2e.phone import create_event, invoice_for, photos

ORGANIZER = 9000


async def test_webhook_a_buyer_pays_and_gets_tickets_through_webhook_delivery(
        tmp_path, database_url: str) -> None:
    async with sandboxed_bot(database_url, admin_ids=frozenset({ORGANIZER}), webhook=True,
                             rate_limit_per_chat=10, send_rate_per_chat=10) as live:
        bot = live.runtime.application.bot
        info = await bot.get_webhook_info()
        assert info.url == WEBHOOK_URL and info.max_connections == 40
        with pytest.raises(Conflict):  # as Telegram: no getUpdates while a webhook is set
            await bot.get_updates(timeout=0)
        await create_event(live, capacity=10)
        ann = live.sandbox.user(user_id=101, first_name="Ann")
        invoice = await invoice_for(ann, quantity=2)
        outcome = await ann.pay(invoice)
        assert outcome.ok
        await ann.wait_for_message(contains="Payment received")
        await live.settle()
        assert len(photos(ann)) == 2
        assert live.sandbox.webhook.delivered > 0
        info = await bot.get_webhook_info()
        assert info.pending_update_count == 0 and info.last_error_message is None
        assert live.sandbox.pending_updates() == 0
        assert [e.method for e in live.sandbox.bot_errors] == ["getupdates"]  # ours, above


async def test_webhook_forged_requests_store_nothing_and_a_replay_is_handled_once(
        tmp_path) -> None:
    async with sandboxed_bot(sqlite_url(tmp_path), webhook=True) as live:
        runtime = live.runtime
        user = live.sandbox.user(555, first_name="Mallory")
        assert runtime.web is not None and runtime.inbox_worker is not None
        url = runtime.web.base_url + "/telegram/webhook"
        start = {"update_id": 1, "message": {
            "message_id": 1, "date": 0, "chat": {"id": 555, "type": "private"},
            "from": {"id": 555, "is_bot": False, "first_name": "Mallory"}, "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}
        good = {SECRET_HEADER: WEBHOOK_SECRET}
        async with aiohttp.ClientSession() as http:
            async def post(body: bytes | str, headers: dict[str, str]) -> int:
                async with http.post(url, data=body, headers={
                        "Content-Type": "application/json", **headers}) as resp:
                    return resp.status

            import json
            body = json.dumps(start)
            assert await post(body, {}) == 401
            assert await post(body, {SECRET_HEADER: "wrong"}) == 403
            assert await post(body, {SECRET_HEADER: WEBHOOK_SECRET + "x"}) == 403
            assert await post("{not json", good) == 400
            assert await post("[1, 2]", good) == 400
            assert await post('{"message": {}}', good) == 400
            assert await post('{"update_id": "1"}', good) == 400
            huge = json.dumps({**start, "padding": "x" * (2 * 1024 * 1024)})
            assert await post(huge, good) == 413
            assert await runtime_inbox_count(runtime) == 0
            assert runtime.inbox_worker.handled == 0
            # Now the real one, then the same update id replayed three times.
            for _ in range(4):
                assert await post(body, good) == 200
        await user.wait_for_message()
        import asyncio
        await asyncio.sleep(1.0)
        assert runtime.inbox_worker.handled == 1
        assert len(user.messages) == 1, user.dump()  # one welcome, not four
        assert await runtime_inbox_count(runtime) == 0


async def runtime_inbox_count(runtime) -> int:
    from bot.storage.inbox_store import SqlInbox

    return len(await SqlInbox(runtime.db).entries())


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path):
    from tests.conftest import empty_database_url

    async with empty_database_url(request.param, tmp_path) as url:
        yield url
