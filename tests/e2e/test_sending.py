"""Never lose a reply: bursts, flood control and failures against a sandbox as strict as
Telegram (about one message a second per chat after a burst of three, 30 a second overall,
429 ``retry after N`` beyond that)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest
import yaml

from bot.sandbox import SandboxMessage, VirtualUser
from tests.e2e.conftest import ORGANIZER
from tests.e2e.phone import create_event, photos
from tests.factories import event_doc

# What each command's reply starts with (after entity parsing).
REPLY_OF = {
    "/events": "Upcoming events",
    "/help": "How it works",
    "/mytickets": "You have no upcoming tickets",
    "/start": "👋 Hi",
}


def what(message: SandboxMessage) -> str:
    """The command a reply answers, recognised by its first words."""
    text = message.text or ""
    for command, start in REPLY_OF.items():
        if text.startswith(start):
            return command
    return f"? {text[:40]!r}"


async def until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until ``check()`` holds or ``timeout`` passes (the assertions then tell)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


async def replies(user: VirtualUser, since: int, count: int, timeout: float) -> list[str]:
    """The commands answered by the next ``count`` new messages (waits for them)."""
    await until(lambda: len(user.inbox_since(since)) >= count, timeout)
    return [what(m) for m in user.inbox_since(since)]


async def test_a_burst_of_commands_gets_every_reply_in_the_order_asked(live) -> None:
    await create_event(live, capacity=5)
    ann = live.sandbox.user(user_id=7101, first_name="Ann")
    mark = ann.mark()
    asked = ["/events"] * 8 + ["/help", "/mytickets", "/start"]
    for text in asked:
        await ann.send(text)  # as fast as a thumb on a laggy phone: all at once
    got = await replies(ann, mark, len(asked), timeout=30)
    assert got == asked, ann.dump(15)
    assert live.sandbox.rate_limited_count == 0, "the bot should pace itself, not be refused"

    # Then the person taps the event in every one of the eight listings, quickly: every tap
    # is answered at once (Telegram drops answers after 15 s), every listing becomes the card.
    listings = [m for m in ann.messages if (m.text or "").startswith("Upcoming events")]
    assert len(listings) == 8
    mark = ann.mark()
    answers = await asyncio.gather(*(ann.tap(m, text="Night Market", timeout=5)
                                     for m in listings))
    assert len(answers) == 8

    def all_cards() -> bool:
        return all("📍" in (m.text or "") for m in listings)

    await until(all_cards)
    assert all_cards(), ann.dump(15)


async def test_an_organizer_importing_two_files_a_second_apart_gets_both_cards(live) -> None:
    olga = live.sandbox.user(user_id=ORGANIZER, first_name="Olga")
    mark = olga.mark()
    for title in ("Harbour Lights", "Winter Jazz"):
        doc = yaml.safe_dump(event_doc(title=title), allow_unicode=True).encode()
        await olga.send_document(doc, filename="event.yaml", mime_type="application/x-yaml")
        await asyncio.sleep(1.0)
    await until(lambda: len(olga.inbox_since(mark)) >= 4)
    texts = [m.text or "" for m in olga.inbox_since(mark)]
    assert len(texts) == 4, olga.dump()
    assert "Harbour Lights" in texts[0] and "created" in texts[0]
    assert texts[1].startswith("Harbour Lights") and "📍" in texts[1]
    assert "Winter Jazz" in texts[2] and "created" in texts[2]
    assert texts[3].startswith("Winter Jazz") and "📍" in texts[3]


async def test_the_apology_for_a_failed_handler_arrives_under_flood_control(live) -> None:
    ann = live.sandbox.user(user_id=7102, first_name="Ann")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away")

    live.runtime.services.catalog.list_events = broken  # type: ignore[method-assign]
    mark = ann.mark()
    for text in ("/help", "/help", "/help", "/help", "/events"):
        await ann.send(text)
    await until(lambda: len(ann.inbox_since(mark)) >= 5)
    texts = [m.text or "" for m in ann.inbox_since(mark)]
    assert len(texts) == 5, ann.dump()
    assert all(t.startswith("How it works") for t in texts[:4])
    assert "Something went wrong" in texts[4]


async def test_a_reply_that_cannot_be_delivered_is_logged_with_its_chat(
        live, caplog: pytest.LogCaptureFixture) -> None:
    ann = live.sandbox.user(user_id=7103, first_name="Ann")
    ann.block()
    with caplog.at_level(logging.INFO):
        await ann.send("/help")
        await until(lambda: any(e.status == 403 for e in live.sandbox.bot_errors), 10)
        await asyncio.sleep(0.3)
    lost = [r for r in caplog.records if r.levelno >= logging.WARNING
            and "7103" in r.getMessage() and "sendMessage" in r.getMessage()]
    assert lost, [r.getMessage() for r in caplog.records]
    assert "How it works" in lost[0].getMessage()
    assert {e.status for e in live.sandbox.bot_errors} == {403}
    live.sandbox.bot_errors.clear()  # the refusals were the point of this test


async def test_tickets_bought_in_a_burst_arrive_each_once_and_in_order(live) -> None:
    """Payment confirmation and four QR codes at once exceed the chat's burst: paced, all
    delivered, the confirmation first."""
    from tests.e2e.phone import buy

    await create_event(live, capacity=8)
    kai = live.sandbox.user(user_id=7104, first_name="Kai")
    await buy(live, kai, 4)
    shown = [m for m in kai.messages
             if m.photo is not None or "Payment received" in (m.text or "")]
    assert "Payment received" in (shown[0].text or "")
    assert len(photos(kai)) == 4
    assert live.sandbox.rate_limited_count == 0


async def test_a_reply_does_not_wait_behind_a_fan_out_in_progress(live) -> None:
    """150 reminders leave at the bot's 25 a second (6 s); a /help asked meanwhile is
    answered at once: replies go before bulk notifications."""
    from datetime import UTC, datetime

    from bench.fanout import reminder_rows
    from bot.storage import tables as t

    fans = [live.sandbox.user(user_id=5_000_000 + i, first_name="Fan") for i in range(150)]
    async with live.runtime.db.write() as uow:
        await uow.conn.execute(t.outbox.insert(), reminder_rows(150, datetime.now(UTC)))
    live.runtime.worker.wake()
    await until(lambda: sum(len(f.messages) for f in fans) >= 25, 10)
    ann = live.sandbox.user(user_id=7105, first_name="Ann")
    asked = time.monotonic()
    await ann.send("/help")
    await ann.wait_for_message(contains="How it works", timeout=10)
    waited = time.monotonic() - asked
    delivered = sum(len(f.messages) for f in fans)
    assert waited < 0.8 and delivered < 120, (waited, delivered)  # not behind ~32 queued
    await until(lambda: sum(len(f.messages) for f in fans) == 150, 30)
    assert sum(len(f.messages) for f in fans) == 150, waited
    assert live.sandbox.rate_limited_count == 0
