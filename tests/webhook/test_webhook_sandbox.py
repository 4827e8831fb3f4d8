"""The sandbox delivers updates by webhook as Telegram does (bot.sandbox.webhook), driven by
the real python-telegram-bot, to small aiohttp servers standing in for workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import BadRequest, Conflict

from bot.sandbox import Sandbox

TOKEN = "123456:TEST"
ORIGIN = "https://bot.example.test"
URL = f"{ORIGIN}/hook"


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(bot_token=TOKEN) as sb:
        sb.webhook.retry_base = 0.05
        sb.webhook.retry_max = 0.2
        sb.webhook.timeout = 0.5
        yield sb


def make_bot(sb: Sandbox) -> Bot:
    return Bot(TOKEN, base_url=sb.bot_api_base_url, base_file_url=sb.bot_file_base_url)


@dataclass
class FakeWorker:
    """A worker's webhook: answers what ``answer`` says, records what it got."""

    answer: Callable[[dict[str, Any]], Any] = lambda _u: 200
    received: list[tuple[int, str | None]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    delay: float = 0.0
    runner: web.AppRunner | None = None
    base: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            update = await request.json()
            self.received.append((update["update_id"],
                                  request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
            if self.delay:
                await asyncio.sleep(self.delay)
            status = self.answer(update)
            if status == "hang":
                await asyncio.sleep(30)
            return web.Response(status=int(status))
        finally:
            self.in_flight -= 1

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def ids(self) -> list[int]:
        return [uid for uid, _ in self.received]


def emit(sb: Sandbox, chat: int, text: str = "hi") -> int:
    return sb.telegram.emit_update("message", {
        "message_id": 1, "date": int(time.time()), "chat": {"id": chat, "type": "private"},
        "from": {"id": chat, "is_bot": False, "first_name": "U"}, "text": text})


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


async def test_webhook_set_webhook_refuses_what_telegram_refuses(sandbox: Sandbox) -> None:
    async with make_bot(sandbox) as bot:
        for kwargs in ({"url": "http://bot.example.test/hook"},
                       {"url": "https://bot.example.test:8080/hook"},
                       {"url": URL, "secret_token": "has space"},
                       {"url": URL, "secret_token": "x" * 257},
                       {"url": URL, "max_connections": 101}):
            with pytest.raises(BadRequest):
                await bot.set_webhook(**kwargs)
        info = await bot.get_webhook_info()
        assert info.url == ""


async def test_webhook_delivers_json_with_the_secret_and_getupdates_conflicts(
        sandbox: Sandbox) -> None:
    worker = FakeWorker()
    await worker.start()
    try:
        sandbox.balance(ORIGIN, [worker.base])
        async with make_bot(sandbox) as bot:
            assert await bot.set_webhook(URL, secret_token="s3cret-_X", max_connections=5,
                                         allowed_updates=["message"])
            first = emit(sandbox, chat=1)
            await until(lambda: worker.ids() == [first])
            assert worker.received == [(first, "s3cret-_X")]
            with pytest.raises(Conflict):
                await bot.get_updates(timeout=0)
            info = await bot.get_webhook_info()
            assert (info.url, info.max_connections, info.allowed_updates,
                    info.pending_update_count, info.has_custom_certificate) == (
                URL, 5, ("message",), 0, False)
            # Deleted: updates wait for getUpdates again.
            assert await bot.delete_webhook()
            later = emit(sandbox, chat=1)
            updates = await bot.get_updates(timeout=0)
            assert [u.update_id for u in updates] == [later]
            assert worker.ids() == [first]
    finally:
        await worker.stop()


async def test_webhook_a_failing_answer_is_redelivered_and_shown_in_webhook_info(
        sandbox: Sandbox) -> None:
    failures = {"left": 2}

    def answer(_update: dict[str, Any]) -> int:
        if failures["left"]:
            failures["left"] -= 1
            return 500
        return 200

    worker = FakeWorker(answer=answer)
    await worker.start()
    try:
        sandbox.balance(ORIGIN, [worker.base])
        async with make_bot(sandbox) as bot:
            await bot.set_webhook(URL)
            uid = emit(sandbox, chat=1)
            await until(lambda: len(worker.received) == 1)
            info = await bot.get_webhook_info()
            assert info.pending_update_count == 1
            assert info.last_error_message == (
                "Wrong response from the webhook: 500 Internal Server Error")
            assert info.last_error_date is not None
            await until(lambda: sandbox.pending_updates() == 0)
            assert worker.ids() == [uid, uid, uid]  # two failures, then acknowledged
    finally:
        await worker.stop()


async def test_webhook_a_timeout_counts_as_a_failure_and_is_redelivered(
        sandbox: Sandbox) -> None:
    calls = {"n": 0}

    def answer(_update: dict[str, Any]) -> Any:
        calls["n"] += 1
        return "hang" if calls["n"] == 1 else 200

    worker = FakeWorker(answer=answer)
    await worker.start()
    try:
        sandbox.balance(ORIGIN, [worker.base])
        async with make_bot(sandbox) as bot:
            await bot.set_webhook(URL)
            uid = emit(sandbox, chat=1)
            await until(lambda: sandbox.pending_updates() == 0)
            info = await bot.get_webhook_info()
            assert info.last_error_message == "Read timeout expired"
            assert worker.ids() == [uid, uid]
    finally:
        await worker.stop()


async def test_webhook_never_more_than_max_connections_in_flight(sandbox: Sandbox) -> None:
    worker = FakeWorker(delay=0.1)
    await worker.start()
    try:
        sandbox.balance(ORIGIN, [worker.base])
        async with make_bot(sandbox) as bot:
            await bot.set_webhook(URL, max_connections=3)
            for chat in range(20):
                emit(sandbox, chat=chat + 1)
            await until(lambda: sandbox.pending_updates() == 0)
    finally:
        await worker.stop()
    assert len(worker.received) == 20
    assert worker.most_in_flight == 3


async def test_webhook_a_chats_updates_are_delivered_in_order_even_across_a_failure(
        sandbox: Sandbox) -> None:
    failed: set[int] = set()

    def answer(update: dict[str, Any]) -> int:
        uid = update["update_id"]
        if update["message"]["chat"]["id"] == 1 and uid not in failed:
            failed.add(uid)
            return 502
        return 200

    worker = FakeWorker(answer=answer)
    await worker.start()
    try:
        sandbox.balance(ORIGIN, [worker.base])
        async with make_bot(sandbox) as bot:
            await bot.set_webhook(URL, max_connections=10)
            ids = [emit(sandbox, chat=1 + (n % 2)) for n in range(10)]
            await until(lambda: sandbox.pending_updates() == 0)
    finally:
        await worker.stop()
    chat1 = [i for i in ids if (i - ids[0]) % 2 == 0]
    acknowledged = [uid for uid in worker.ids() if uid in failed]
    # Each of chat 1's updates failed once and was acknowledged on its second try, and the
    # next one was not sent before the previous one was acknowledged.
    assert [uid for uid in worker.ids() if uid in chat1] == [u for u in chat1 for _ in (1, 2)]
    assert sorted(set(acknowledged)) == chat1


async def test_webhook_the_balancer_spreads_deliveries_and_skips_a_worker_that_is_down(
        sandbox: Sandbox) -> None:
    workers = [FakeWorker() for _ in range(3)]
    for w in workers:
        await w.start()
    try:
        sandbox.balance(ORIGIN, [w.base for w in workers])
        async with make_bot(sandbox) as bot:
            await bot.set_webhook(URL, max_connections=4)
            first = [emit(sandbox, chat=n) for n in range(1, 31)]
            await until(lambda: sandbox.pending_updates() == 0)
            assert all(len(w.received) >= 5 for w in workers), [len(w.received)
                                                                 for w in workers]
            await workers[1].stop()  # a worker goes away: its connections are refused
            second = [emit(sandbox, chat=n) for n in range(1, 31)]
            await until(lambda: sandbox.pending_updates() == 0)
            info = await bot.get_webhook_info()
        got = [uid for w in workers for uid in w.ids()]
        assert sorted(got) == sorted(first + second)  # each once, none lost
        assert not set(second) & set(workers[1].ids())
        assert info.last_error_message is None  # the proxy hid it from Telegram
    finally:
        for w in workers:
            await w.stop()


async def test_webhook_an_unknown_host_fails_like_dns_and_nothing_leaves_the_machine(
        sandbox: Sandbox) -> None:
    async with make_bot(sandbox) as bot:
        await bot.set_webhook("https://nowhere.example.test/hook")
        emit(sandbox, chat=1)
        await until(lambda: sandbox.webhook.failed > 0)
        info = await bot.get_webhook_info()
        assert info.pending_update_count == 1
        assert info.last_error_message == "Failed to resolve host: Name or service not known"


async def test_webhook_the_balancer_can_be_set_over_http_for_a_sandbox_in_its_own_process(
        sandbox: Sandbox) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.post(
            sandbox.base_url + "/sandbox/webhook-backends",
            json={"origin": ORIGIN, "backends": ["http://127.0.0.1:9001",
                                                 "http://127.0.0.1:9002/"]}) as resp:
        assert resp.status == 200
    assert sandbox.balancer.backends(URL) == ["http://127.0.0.1:9001", "http://127.0.0.1:9002"]
