"""The one sending path on a virtual clock: order within a chat, per-chat burst then pacing,
the bot-wide ceiling in every sliding second, RetryAfter waited out, replies before bulk,
answers never queued, retries, give-up and its log line, the order of updates."""

from __future__ import annotations

import asyncio
import bisect
import heapq
import logging
import random
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.sending import Lane, SendingPath, preview, spawn_in_turn
from handlers.delivery import before_waiting, waiting_hook


class VirtualTime:
    """Concurrent sleepers on a virtual clock: when every task waits, jump to the next timer."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._timers, (self.now + max(seconds, 0.0), self._seq, future))
        await future

    async def run(self, *aws: Awaitable[Any]) -> list[Any]:
        tasks = [asyncio.ensure_future(a) for a in aws]
        while not all(t.done() for t in tasks):
            for _ in range(30):
                await asyncio.sleep(0)
            while self._timers and self._timers[0][2].done():
                heapq.heappop(self._timers)
            if self._timers and not all(t.done() for t in tasks):
                self.now, _, future = heapq.heappop(self._timers)
                future.set_result(None)
        return await asyncio.gather(*tasks)


def path(vt: VirtualTime, **kwargs: Any) -> SendingPath:
    options: dict[str, Any] = {"rate_global": 1000.0, "rate_per_chat": 1.0,
                               "burst_per_chat": 3}
    options.update(kwargs)
    return SendingPath(clock=vt.clock, sleep=vt.sleep, **options)


class Telegram:
    """A fake Bot API behind the path: records when each request starts and ends."""

    def __init__(self, vt: VirtualTime) -> None:
        self.vt = vt
        self.started: list[tuple[float, str]] = []
        self.ended: list[tuple[float, str]] = []
        self.failures: dict[str, list[Exception]] = {}
        self.takes: dict[str, float] = {}

    def request(self, label: str) -> Callable[[], Awaitable[Any]]:
        async def call() -> Any:
            self.started.append((self.vt.now, label))
            if self.takes.get(label):
                await self.vt.sleep(self.takes[label])
            failures = self.failures.get(label)
            if failures:
                raise failures.pop(0)
            self.ended.append((self.vt.now, label))
            return {"ok": label}
        return call

    def start_of(self, label: str) -> float:
        """When the last attempt of ``label`` started."""
        return max(t for t, name in self.started if name == label)


async def send(sp: SendingPath, tg: Telegram, chat: int, label: str, *,
               endpoint: str = "sendMessage", lane: Lane | None = None,
               text: str | None = None) -> Any:
    data: dict[str, Any] = {"chat_id": chat, "text": text or label}
    if endpoint.lower().startswith("answer"):
        data = {"callback_query_id": label}
    return await sp.process_request(callback=tg.request(label), args=(), kwargs={},
                                    endpoint=endpoint, data=data, rate_limit_args=lane)


async def test_a_chat_gets_its_burst_then_one_message_a_second() -> None:
    vt = VirtualTime()
    sp, tg = path(vt), Telegram(vt)

    async def six() -> None:
        for i in range(6):
            await send(sp, tg, 42, f"m{i}")

    await vt.run(six())
    assert [t for t, _ in tg.started] == pytest.approx([0, 0, 0, 1, 2, 3], abs=0.01)


async def test_a_quiet_chat_gets_its_burst_again() -> None:
    vt = VirtualTime()
    sp, tg = path(vt), Telegram(vt)

    async def talk() -> None:
        for i in range(3):
            await send(sp, tg, 1, f"a{i}")
        await vt.sleep(10)
        for i in range(3):
            await send(sp, tg, 1, f"b{i}")

    await vt.run(talk())
    assert [t for t, _ in tg.started[3:]] == pytest.approx([10.002] * 3, abs=0.01)


async def test_concurrent_replies_to_one_chat_leave_one_after_the_other_in_call_order() -> None:
    vt, rng = VirtualTime(), random.Random(3)
    sp, tg = path(vt, burst_per_chat=10), Telegram(vt)
    labels = [f"m{i}" for i in range(10)]
    for label in labels:
        tg.takes[label] = rng.choice([0.0, 0.02, 0.4])  # some requests are slow
    await vt.run(*(send(sp, tg, 7, label) for label in labels))
    assert [name for _, name in tg.started] == labels
    assert [name for _, name in tg.ended] == labels
    for (_, _), (end, _), (start, _) in zip(tg.started, tg.ended, tg.started[1:], strict=False):
        assert start >= end  # the next one starts only once the previous has arrived


async def test_no_sliding_second_holds_more_than_the_rate_even_when_requests_stall() -> None:
    # 200 concurrent sends to 200 chats at 10/s; each request is in flight for a random time
    # (0-1.5 s: HTTP, a stalled loop) and reaches Telegram at a random moment in flight.
    rng = random.Random(7)
    vt = VirtualTime()
    sp = path(vt, rate_global=10.0)
    arrivals: list[float] = []

    def request() -> Callable[[], Awaitable[Any]]:
        async def call() -> Any:
            started = vt.now
            await vt.sleep(rng.choice([0.0, 0.05, 1.5]))
            arrivals.append(rng.uniform(started, vt.now))
            return True
        return call

    async def one(chat: int) -> None:
        await sp.process_request(callback=request(), args=(), kwargs={},
                                 endpoint="sendMessage", data={"chat_id": chat, "text": "x"},
                                 rate_limit_args=Lane.BULK)

    await vt.run(*(one(chat) for chat in range(200)))
    arrivals.sort()
    assert len(arrivals) == 200
    busiest = max(bisect.bisect_left(arrivals, t + 1.0) - i for i, t in enumerate(arrivals))
    assert busiest <= 10
    assert 200 / arrivals[-1] > 6, 200 / arrivals[-1]  # and the rate is not crippled


async def test_the_bot_wide_rate_holds_across_chats_without_a_first_second_burst() -> None:
    vt = VirtualTime()
    sp, tg = path(vt, rate_global=25.0), Telegram(vt)
    await vt.run(*(send(sp, tg, chat, f"c{chat}") for chat in range(100)))
    starts = sorted(t for t, _ in tg.started)
    busiest = max(bisect.bisect_left(starts, t + 1.0) - i for i, t in enumerate(starts))
    assert busiest <= 25
    assert starts[-1] == pytest.approx(99 / 25, abs=0.05)


async def test_retry_after_pauses_that_chat_only_and_keeps_its_order() -> None:
    vt = VirtualTime()
    sp, tg = path(vt), Telegram(vt)
    tg.failures["a"] = [RetryAfter(5)]
    results = await vt.run(send(sp, tg, 1, "a"), send(sp, tg, 1, "b"), send(sp, tg, 2, "x"))
    assert results == [{"ok": "a"}, {"ok": "b"}, {"ok": "x"}]
    assert tg.start_of("x") == pytest.approx(0, abs=0.01)
    assert tg.start_of("a") == pytest.approx(5, abs=0.01)
    assert tg.start_of("b") >= tg.start_of("a")
    assert [name for _, name in tg.ended if name != "x"] == ["a", "b"]


async def test_a_reply_overtakes_queued_bulk_notifications() -> None:
    vt = VirtualTime()
    sp, tg = path(vt, rate_global=10.0), Telegram(vt)

    async def reply_later() -> None:
        await vt.sleep(0.05)
        await send(sp, tg, 999, "reply")

    await vt.run(*(send(sp, tg, chat, f"n{chat}", lane=Lane.BULK) for chat in range(50)),
                 reply_later())
    assert tg.start_of("reply") <= 0.2  # the next free slot, not after 50 notifications
    assert max(t for t, _ in tg.ended) == pytest.approx(5.0, abs=0.15)


async def test_answers_are_never_queued_behind_messages() -> None:
    vt = VirtualTime()
    sp, tg = path(vt, rate_global=2.0), Telegram(vt)

    async def answer_later() -> None:
        await vt.sleep(0.1)
        await send(sp, tg, 1, "q1", endpoint="answerCallbackQuery")

    await vt.run(*(send(sp, tg, 1, f"m{i}") for i in range(6)), answer_later())
    assert tg.start_of("q1") == pytest.approx(0.1)
    assert max(t for t, name in tg.ended if name.startswith("m")) >= 2.0


async def test_flood_control_longer_than_an_answer_can_wait_fails_the_answer_at_once() -> None:
    vt = VirtualTime()
    sp, tg = path(vt), Telegram(vt)
    tg.failures["q"] = [RetryAfter(20)]
    with pytest.raises(RetryAfter):
        await vt.run(send(sp, tg, 1, "q", endpoint="answerCallbackQuery"))
    assert vt.now < 1


async def test_transient_errors_of_a_reply_are_retried_with_backoff() -> None:
    vt = VirtualTime()
    sp, tg = path(vt), Telegram(vt)
    tg.failures["hi"] = [NetworkError("Bad Gateway"), NetworkError("Internal Server Error")]
    assert await vt.run(send(sp, tg, 1, "hi")) == [{"ok": "hi"}]
    assert [t for t, _ in tg.started] == pytest.approx([0.0, 0.5, 1.5])


async def test_an_outbox_send_that_fails_goes_back_to_the_outbox_at_once() -> None:
    vt = VirtualTime()
    sp, tg = path(vt), Telegram(vt)
    tg.failures["n"] = [NetworkError("Bad Gateway")]
    with pytest.raises(NetworkError):
        await vt.run(send(sp, tg, 1, "n", lane=Lane.BULK))
    tg.failures["long"] = [RetryAfter(90)]
    with pytest.raises(RetryAfter):  # longer than bulk_max_wait: the outbox reschedules it
        await vt.run(send(sp, tg, 2, "long", lane=Lane.BULK))
    assert vt.now < 1


async def test_a_permanent_refusal_is_not_retried() -> None:
    vt = VirtualTime()
    sp, tg = path(vt), Telegram(vt)
    tg.failures["x"] = [BadRequest("Bad Request: message is too long")]
    with pytest.raises(BadRequest):
        await vt.run(send(sp, tg, 1, "x"))
    assert len(tg.started) == 1


async def test_a_reply_telegram_keeps_refusing_is_given_up_and_logged_with_its_chat(
        caplog: pytest.LogCaptureFixture) -> None:
    vt = VirtualTime()
    sp, tg = path(vt, reply_give_up=60.0), Telegram(vt)
    tg.failures["code"] = [RetryAfter(30), RetryAfter(40)]
    with caplog.at_level(logging.INFO, logger="bot.sending"), pytest.raises(RetryAfter):
        await vt.run(send(sp, tg, 4242, "code",
                          text="🎟 <b>Harbour Lights</b> · VIP · Code: <code>K7QH-3MZP</code>"))
    assert vt.now == pytest.approx(30)  # waited once; the second wait would pass 60 s
    lost = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(lost) == 1 and sp.lost == 1
    line = lost[0].getMessage()
    assert "4242" in line and "sendMessage" in line and "Harbour Lights" in line
    assert "K7QH-3MZP" not in line  # ticket codes never reach the logs


async def test_a_blocked_chat_is_logged_as_a_warning() -> None:
    vt = VirtualTime()
    sp, tg = path(vt), Telegram(vt)
    tg.failures["hi"] = [Forbidden("Forbidden: bot was blocked by the user")]
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("bot.sending").addHandler(handler)
    try:
        with pytest.raises(Forbidden):
            await vt.run(send(sp, tg, 77, "hi"))
    finally:
        logging.getLogger("bot.sending").removeHandler(handler)
    assert [r.levelno for r in records] == [logging.WARNING]
    assert "77" in records[0].getMessage()


async def test_a_cancelled_send_frees_its_place() -> None:
    vt = VirtualTime()
    sp, tg = path(vt, rate_global=1.0), Telegram(vt)

    async def cancelled_one() -> None:
        task = asyncio.ensure_future(send(sp, tg, 2, "never"))
        await vt.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    await vt.run(send(sp, tg, 1, "first"), cancelled_one())
    await vt.run(send(sp, tg, 3, "third"))
    assert [name for _, name in tg.started] == ["first", "third"]
    assert tg.start_of("third") == pytest.approx(1.0)


async def test_replies_keep_the_order_of_the_updates_that_caused_them() -> None:
    # Two updates of one chat handled concurrently: the second is quick, the first slow. The
    # second's reply waits until the first update has been handled.
    vt = VirtualTime()
    sp, tg = path(vt), Telegram(vt)
    bot: Any = SimpleNamespace(rate_limiter=sp)

    def update(chat: int) -> Any:
        return SimpleNamespace(effective_chat=SimpleNamespace(id=chat))

    async def slow_first() -> None:
        await vt.sleep(2.0)  # a slow database
        await send(sp, tg, 5, "first")

    async def quick_second() -> None:
        await send(sp, tg, 5, "second")

    async def other_chat() -> None:
        await send(sp, tg, 6, "other")

    first = spawn_in_turn(bot, update(5), slow_first())
    second = spawn_in_turn(bot, update(5), quick_second())
    third = spawn_in_turn(bot, update(6), other_chat())
    await vt.run(first, second, third)
    assert [name for _, name in tg.ended] == ["other", "first", "second"]
    assert tg.start_of("other") == pytest.approx(0, abs=0.01)


def test_log_previews_are_short_plain_and_free_of_secrets() -> None:
    text = ("<b>Your ticket</b> 123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh token "
            "tq_AAAAAAAAAAAAAAAAAAAAAA code K7QH-3MZP and much more text after that")
    shown = preview({"chat_id": 1, "text": text})
    assert shown.startswith("Your ticket") and len(shown) <= 40
    assert "ABCDEFGH" not in shown and "<b>" not in shown
    assert preview({"chat_id": 1, "photo": b"..."}) == "<photo>"


async def test_a_reply_about_to_wait_in_line_first_runs_the_before_waiting_hook() -> None:
    # The router answers the callback query there: the spinner stops before the paced edit.
    vt = VirtualTime()
    sp, tg = path(vt, burst_per_chat=1, before_waiting=waiting_hook), Telegram(vt)
    hooked: list[float] = []

    async def answer_query() -> None:
        hooked.append(vt.now)
        await send(sp, tg, 1, "answer", endpoint="answerCallbackQuery")

    async def flow(label: str) -> None:
        with before_waiting(answer_query):
            await send(sp, tg, 1, label)

    await vt.run(flow("first"))
    assert hooked == []  # room in the chat's budget: sent at once, nothing to do early
    await vt.run(flow("second"))
    assert hooked == [pytest.approx(0)]  # the chat must wait a second: answer first
    assert [name for _, name in tg.started] == ["first", "answer", "second"]
    assert tg.start_of("second") == pytest.approx(1.0, abs=0.01)


async def test_one_chat_has_at_most_four_updates_in_hand_and_others_are_not_held_up() -> None:
    # One person tapping a hundred times (replies paced at about one a second) must not take
    # every place the poller has: their updates wait outside, other chats go on.
    vt = VirtualTime()
    sp = path(vt)
    bot: Any = SimpleNamespace(rate_limiter=sp)
    busy = {5: 0, 6: 0}
    most = {5: 0, 6: 0}
    finished: list[tuple[int, float]] = []

    async def handle(chat: int) -> None:
        busy[chat] += 1
        most[chat] = max(most[chat], busy[chat])
        await vt.sleep(1.0)
        busy[chat] -= 1
        finished.append((chat, vt.now))

    def update(chat: int) -> Any:
        return SimpleNamespace(effective_chat=SimpleNamespace(id=chat))

    tasks = [spawn_in_turn(bot, update(5), handle(5)) for _ in range(12)]
    tasks.append(spawn_in_turn(bot, update(6), handle(6)))
    await vt.run(*tasks)
    assert most == {5: 4, 6: 1}
    assert (6, 1.0) in finished  # not behind chat 5's queue
    assert max(t for chat, t in finished if chat == 5) == pytest.approx(3.0)
