"""The outbox messenger: rate limits on a fake clock, retries and error classification."""

from __future__ import annotations

import asyncio
import bisect
import heapq
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.messenger import DeliveryError, RateLimiter, TelegramMessenger
from core.catalog import Event, EventStatus, SaleMode, TicketType
from core.errors import DomainError, ErrorCode
from core.money import Money
from core.ports import GatewayError
from core.services.tickets import TicketView
from core.tickets import Ticket, TicketStatus


class FakeTime:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FrozenTime(FakeTime):
    """Sleeping records the delay but time stands still (concurrent reservations)."""

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)


async def test_one_chat_gets_its_burst_then_one_message_per_second() -> None:
    fake = FakeTime()
    limiter = RateLimiter(rate_global=25, burst_global=25, rate_per_chat=1, burst_per_chat=3,
                          clock=fake.clock, sleep=fake.sleep)
    sent_at = []
    for _ in range(6):
        await limiter.acquire(42)
        sent_at.append(fake.now - 1000.0)
    assert sent_at == pytest.approx([0, 0, 0, 1, 2, 3])


async def test_many_chats_share_the_global_rate() -> None:
    fake = FakeTime()
    limiter = RateLimiter(rate_global=25, burst_global=25, rate_per_chat=1, burst_per_chat=3,
                          clock=fake.clock, sleep=fake.sleep)
    for chat in range(100):
        await limiter.acquire(chat)
    # 25 go at once (burst), the other 75 at 25/s.
    assert fake.now - 1000.0 == pytest.approx(75 / 25)


async def test_by_default_no_sliding_second_exceeds_the_global_rate() -> None:
    fake = FakeTime()
    limiter = RateLimiter(rate_global=25, rate_per_chat=1, burst_per_chat=3,
                          clock=fake.clock, sleep=fake.sleep)
    sent_at = []
    for chat in range(200):
        await limiter.acquire(chat)
        sent_at.append(fake.now)
    busiest = max(sum(1 for t in sent_at if start <= t < start + 1.0) for start in sent_at)
    assert busiest <= 26  # Telegram's ~30/s is never approached, even at the start


async def test_concurrent_senders_to_one_chat_are_spaced_in_arrival_order() -> None:
    fake = FrozenTime()
    limiter = RateLimiter(rate_global=1000, burst_global=1000, rate_per_chat=2, burst_per_chat=1,
                          clock=fake.clock, sleep=fake.sleep)
    await asyncio.gather(*(limiter.acquire(7) for _ in range(4)))
    assert fake.sleeps == pytest.approx([0.5, 1.0, 1.5])


async def test_quiet_chat_refills_its_burst() -> None:
    fake = FakeTime()
    limiter = RateLimiter(burst_global=25, rate_per_chat=1, burst_per_chat=3, clock=fake.clock,
                          sleep=fake.sleep)
    for _ in range(3):
        await limiter.acquire(1)
    fake.now += 10
    fake.sleeps.clear()
    for _ in range(3):
        await limiter.acquire(1)
    assert fake.sleeps == []


async def test_send_waits_for_the_send_rate_before_it_to_complete_plus_one_second() -> None:
    # Send k may start only once send k - rate has completed and one more second passed, so
    # slow requests (a stalled loop releasing them together) never put more than `rate`
    # arrivals into one sliding second; the per-chat buckets are unaffected.
    fake = FakeTime()
    limiter = RateLimiter(rate_global=3, burst_global=3, rate_per_chat=1, burst_per_chat=1,
                          clock=fake.clock, sleep=fake.sleep)
    started: list[float] = []
    finished: list[float] = []

    async def send(chat: int, takes: float) -> None:
        async with limiter.slot(chat):
            started.append(fake.now - 1000.0)
            await fake.sleep(takes)  # the request is in flight for `takes` seconds
            finished.append(fake.now - 1000.0)

    await send(1, 0.5)   # starts at 0, completes at 0.5
    await send(2, 0.0)   # 0.5 (burst)
    await send(3, 0.0)   # 0.5
    await send(4, 0.0)   # 3 back is send 1, completed at 0.5: not before 1.5
    await send(5, 0.0)   # send 2 completed at 0.5: 1.5 as well
    assert started == pytest.approx([0, 0.5, 0.5, 1.5, 1.5])
    assert finished[0] == pytest.approx(0.5)


async def test_a_failed_or_cancelled_send_still_frees_its_place_in_the_window() -> None:
    fake = FakeTime()
    limiter = RateLimiter(rate_global=1, burst_global=1, rate_per_chat=1, burst_per_chat=1,
                          clock=fake.clock, sleep=fake.sleep)
    with pytest.raises(RuntimeError):
        async with limiter.slot(1):
            raise RuntimeError("network")
    await limiter.acquire(2)  # not stuck behind the failed send: one second after it ended
    assert fake.now - 1000.0 == pytest.approx(1.0)

    frozen = FrozenTime()
    limiter = RateLimiter(rate_global=1, burst_global=1, rate_per_chat=1, burst_per_chat=1,
                          clock=frozen.clock, sleep=frozen.sleep)
    gate = asyncio.Event()

    async def slow() -> None:
        async with limiter.slot(1):
            await gate.wait()

    first = asyncio.create_task(slow())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(limiter.acquire(2))  # waits for `first` to complete
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.set()
    await first
    await asyncio.wait_for(limiter.acquire(3), 1)  # the cancelled waiter blocks nobody


class VirtualTime:
    """Concurrent sleepers on a virtual clock: when every task waits, jump to the next timer."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(seconds, 0.0), id(future), future))
        await future

    async def run(self, *coros: Any) -> None:
        tasks = [asyncio.create_task(c) for c in coros]
        while not all(t.done() for t in tasks):
            for _ in range(20):
                await asyncio.sleep(0)
            if self._timers:
                self.now, _, future = heapq.heappop(self._timers)
                future.set_result(None)
        await asyncio.gather(*tasks)


async def test_no_sliding_second_holds_more_than_the_rate_even_when_sends_are_slow() -> None:
    # 200 concurrent senders at rate 10/s; each request is in flight for a random time
    # (0-1.5 s: HTTP, a stalled loop) and reaches Telegram at a random moment in flight.
    # The buckets alone would let requests started apart arrive together; with the
    # completion window no sliding second ever sees more than 10.
    rng = random.Random(7)
    vt = VirtualTime()
    limiter = RateLimiter(rate_global=10, rate_per_chat=1, burst_per_chat=1,
                          clock=vt.clock, sleep=vt.sleep)
    arrivals: list[float] = []

    async def send(chat: int) -> None:
        async with limiter.slot(chat):
            started = vt.now
            await vt.sleep(rng.choice([0.0, 0.05, 1.5]))
            arrivals.append(rng.uniform(started, vt.now))

    await vt.run(*(send(chat) for chat in range(200)))
    arrivals.sort()
    assert len(arrivals) == 200
    busiest = max(bisect.bisect_left(arrivals, t + 1.0) - i for i, t in enumerate(arrivals))
    assert busiest <= 10
    assert 200 / arrivals[-1] > 5  # and the rate is not crippled


# --- the messenger ------------------------------------------------------------------------

class FakeBot:
    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.failures = list(failures or [])
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def _maybe_fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    async def send_message(self, **kwargs: Any) -> None:
        await self._maybe_fail()
        self.sent.append(("message", kwargs))

    async def send_photo(self, **kwargs: Any) -> None:
        await self._maybe_fail()
        self.sent.append(("photo", kwargs))


class FakeTickets:
    def __init__(self, status: TicketStatus = TicketStatus.VALID) -> None:
        self.status = status

    async def ticket_view(self, ticket_id: int) -> TicketView:
        if ticket_id != 5:
            raise DomainError(ErrorCode.TICKET_NOT_FOUND)
        event = Event(7, "Gala & Co", "", "Hall", datetime(2026, 12, 12, 20, tzinfo=UTC),
                      "Europe/Berlin", EventStatus.PUBLISHED, SaleMode.DIRECT)
        ttype = TicketType(3, 7, "GA", Money(2500, "EUR"), 10, 4)
        ticket = Ticket(5, 1, 7, 3, 99, "A" * 22, "K7QH3MZP", self.status,
                        datetime(2026, 1, 1, tzinfo=UTC))
        return TicketView(ticket, event, ttype)


def _messenger(bot: FakeBot, fake: FakeTime, tickets: FakeTickets | None = None
               ) -> TelegramMessenger:
    return TelegramMessenger(bot, tickets or FakeTickets(), "TicketQBot",  # type: ignore[arg-type]
                             clock=fake.clock, sleep=fake.sleep)


async def test_message_is_rendered_as_html() -> None:
    bot, fake = FakeBot(), FakeTime()
    await _messenger(bot, fake).send_message(1, "refund_done", {"amount": Money(2500, "EUR")})
    kind, kwargs = bot.sent[0]
    assert kind == "message" and kwargs["chat_id"] == 1 and kwargs["parse_mode"] == "HTML"
    assert "€25.00" in kwargs["text"]


async def test_ticket_goes_out_as_a_qr_photo_with_caption() -> None:
    bot, fake = FakeBot(), FakeTime()
    await _messenger(bot, fake).send_ticket(1, 5)
    kind, kwargs = bot.sent[0]
    assert kind == "photo" and kwargs["photo"].startswith(b"\x89PNG")
    assert "K7QH-3MZP" in kwargs["caption"] and "Gala &amp; Co" in kwargs["caption"]


async def test_revoked_ticket_is_not_sent() -> None:
    bot, fake = FakeBot(), FakeTime()
    await _messenger(bot, fake, FakeTickets(TicketStatus.REVOKED)).send_ticket(1, 5)
    assert bot.sent == []


async def test_flood_control_waits_and_retries() -> None:
    bot, fake = FakeBot([RetryAfter(7)]), FakeTime()
    await _messenger(bot, fake).send_message(1, "refund_done", {"amount": Money(1, "EUR")})
    assert len(bot.sent) == 1 and 7 in fake.sleeps


async def test_endless_flood_control_becomes_a_transient_error() -> None:
    bot, fake = FakeBot([RetryAfter(1)] * 10), FakeTime()
    with pytest.raises(DeliveryError) as caught:
        await _messenger(bot, fake).send_message(1, "refund_done", {"amount": Money(1, "EUR")})
    assert not caught.value.permanent and bot.sent == []


@pytest.mark.parametrize(("error", "permanent"), [
    (Forbidden("Forbidden: bot was blocked by the user"), True),
    (BadRequest("Bad Request: chat not found"), True),
    (TimedOut(), False),
    (NetworkError("connection reset"), False),
])
async def test_failures_are_classified(error: Exception, permanent: bool) -> None:
    bot, fake = FakeBot([error]), FakeTime()
    with pytest.raises(GatewayError) as caught:
        await _messenger(bot, fake).send_message(1, "refund_done", {"amount": Money(1, "EUR")})
    assert caught.value.permanent is permanent


async def test_unknown_key_or_ticket_is_permanent() -> None:
    bot, fake = FakeBot(), FakeTime()
    with pytest.raises(DeliveryError) as caught:
        await _messenger(bot, fake).send_message(1, "no_such_key", {})
    assert caught.value.permanent
    with pytest.raises(DeliveryError) as caught:
        await _messenger(bot, fake).send_ticket(1, 404)
    assert caught.value.permanent
