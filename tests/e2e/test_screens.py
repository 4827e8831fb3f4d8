"""Screens stay true: a hold's message after it is paid, released or expires, and pickers
after a sell-out, through the real bot and the sandbox."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.sandbox import SandboxMessage, VirtualUser
from tests.e2e.phone import buy, create_event, invoice_for, open_event

# Screens are the subject, not flood control (test_sending covers pacing; the one test
# about a paced chat below sets Telegram's own rate).
pytestmark = pytest.mark.chat_pace(10)


async def picker(user: VirtualUser, card: SandboxMessage, type_label: str = "GA"
                 ) -> SandboxMessage:
    mark = user.mark()
    await user.tap(card, text=type_label)
    return await user.wait_for_message(contains="How many", since=mark)


async def screen_job(live) -> None:
    """Run the scheduler's hold-screen job now (it runs every few seconds anyway)."""
    job = live.runtime.scheduler.get_job("holds:screens")
    assert job is not None, "no hold-screen job is scheduled"
    await job.func()
    await live.settle()


async def test_the_hold_message_says_paid_and_offers_no_cancel_after_payment(live) -> None:
    await create_event(live, capacity=5)
    ann = live.sandbox.user(user_id=901, first_name="Ann")
    invoice = await invoice_for(ann, 2)
    held = next(m for m in ann.messages if "reserved" in (m.text or ""))
    assert "Cancel hold" in " ".join(held.button_texts())
    assert (await ann.pay(invoice)).ok
    await ann.wait_for_message(contains="Payment received")
    await live.settle()
    assert "held for" not in held.text and "paid" in held.text.lower(), held.text
    assert not any("Cancel" in b for b in held.button_texts()), held.button_texts()
    assert "2 × GA" in held.text and "Night Market" in held.text


async def test_the_hold_message_says_released_after_cancel(live) -> None:
    await create_event(live, capacity=5)
    bo = live.sandbox.user(user_id=902, first_name="Bo")
    await invoice_for(bo, 1)
    held = next(m for m in bo.messages if "reserved" in (m.text or ""))
    await bo.tap(held, text="Cancel hold")
    await bo.wait_for_message(contains="cancelled")
    assert not any("Cancel" in b for b in held.button_texts())
    await screen_job(live)  # the job does not touch a screen the handler already closed
    edits = held.edits
    await screen_job(live)
    assert held.edits == edits and "cancelled" in held.text


async def test_a_replaced_hold_message_says_it_was_released(live) -> None:
    await create_event(live, capacity=5)
    cy = live.sandbox.user(user_id=903, first_name="Cy")
    await invoice_for(cy, 1)
    first = next(m for m in cy.messages if "reserved" in (m.text or ""))
    await invoice_for(cy, 2)  # a new hold for the same event replaces the first
    await screen_job(live)
    assert "held for" not in first.text and "released" in first.text, first.text
    assert not any("Cancel" in b for b in first.button_texts())
    second = [m for m in cy.messages if "reserved" in (m.text or "")]
    assert len(second) == 1 and "Cancel hold" in " ".join(second[0].button_texts())


async def test_an_expired_hold_message_says_so_once_and_loses_cancel(live, clock) -> None:
    await create_event(live, capacity=5)
    di = live.sandbox.user(user_id=904, first_name="Di")
    await invoice_for(di, 1)
    held = next(m for m in di.messages if "reserved" in (m.text or ""))
    await screen_job(live)
    assert "reserved" in held.text  # still alive: untouched
    clock.advance(timedelta(minutes=11))
    await screen_job(live)
    assert "expired" in held.text and "held for" not in held.text, held.text
    assert not any("Cancel" in b for b in held.button_texts())
    edits = held.edits
    await screen_job(live)
    await asyncio.sleep(0.1)
    assert held.edits == edits  # once


async def test_a_stale_quantity_picker_after_a_sell_out_says_sold_out(live) -> None:
    await create_event(live, capacity=2)
    ann, ben = (live.sandbox.user(user_id=905, first_name="Ann"),
                live.sandbox.user(user_id=906, first_name="Ben"))
    stale = await picker(ann, await open_event(ann))
    assert [b for b in stale.button_texts() if b.isdigit()] == ["1", "2"]
    await buy(live, ben, 2)
    mark = ann.mark()
    await ann.tap(stale, text="1")
    edited = await ann.wait_for_message(since=mark)
    assert edited.message_id == stale.message_id
    assert "sold out" in edited.text.lower(), edited.text
    assert not [b for b in edited.button_texts() if b.isdigit()]
    assert not any(m.invoice for m in ann.messages)


@pytest.mark.chat_pace(1)
async def test_a_stale_picker_refusal_under_flood_control_is_told_once_in_the_picker(
        live) -> None:
    """When the chat is paced, the tap is answered at once (silently) and the picker is
    redrawn a moment later; the refusal it shows is not sent again as a chat message."""
    await create_event(live, capacity=2)
    ann, ben = (live.sandbox.user(user_id=913, first_name="Ann"),
                live.sandbox.user(user_id=914, first_name="Ben"))
    stale = await picker(ann, await open_event(ann))
    await buy(live, ben, 2)
    for _ in range(3):  # use up the chat's burst: the picker's edit must wait its turn
        await ann.send("/help")
    mark = ann.mark()
    await ann.tap(stale, text="1")
    edited = await ann.wait_for_message(edited=True, since=mark, timeout=10)
    assert edited.message_id == stale.message_id and "sold out" in edited.text.lower()
    await asyncio.sleep(2.5)
    told = [m.text for m in ann.messages[-6:] if "sold out" in (m.text or "").lower()
            and m.message_id != stale.message_id]
    assert told == [], told


async def test_tapping_more_than_is_left_says_so_and_offers_what_is_left(live) -> None:
    await create_event(live, capacity=4)
    ann, ben = (live.sandbox.user(user_id=907, first_name="Ann"),
                live.sandbox.user(user_id=908, first_name="Ben"))
    stale = await picker(ann, await open_event(ann))
    await buy(live, ben, 2)
    mark = ann.mark()
    await ann.tap(stale, text="3")
    edited = await ann.wait_for_message(since=mark)
    assert edited.message_id == stale.message_id
    assert "Only 2" in edited.text, edited.text
    assert [b for b in edited.button_texts() if b.isdigit()] == ["1", "2"]
    mark = ann.mark()
    await ann.tap(edited, text="2")
    await ann.wait_for_message(predicate=lambda m: m.invoice is not None, since=mark)


async def test_a_stale_type_button_after_a_sell_out_shows_the_card_sold_out(live) -> None:
    await create_event(live, capacity=1)
    ann, ben = (live.sandbox.user(user_id=909, first_name="Ann"),
                live.sandbox.user(user_id=910, first_name="Ben"))
    card = await open_event(ann)
    assert "GA · €25.00" in card.button_texts()
    await buy(live, ben, 1)
    mark = ann.mark()
    await ann.tap(card, text="GA · €25.00")
    edited = await ann.wait_for_message(since=mark)
    assert edited.message_id == card.message_id
    assert "SOLD OUT" in edited.text and "GA · sold out" in edited.button_texts()


async def test_a_stale_picker_past_the_buyers_own_limit_offers_what_they_may_still_buy(
        live) -> None:
    await create_event(live, capacity=50, per_user_limit=4)
    eve = live.sandbox.user(user_id=912, first_name="Eve")
    stale = await picker(eve, await open_event(eve))
    assert [b for b in stale.button_texts() if b.isdigit()] == ["1", "2", "3", "4"]
    await buy(live, eve, 2)  # from another picker, meanwhile
    mark = eve.mark()
    answer = await eve.tap(stale, text="3")
    edited = await eve.wait_for_message(since=mark)
    assert edited.message_id == stale.message_id
    assert "2 more for you" in edited.text and "left now" not in edited.text, edited.text
    assert [b for b in edited.button_texts() if b.isdigit()] == ["1", "2"]
    # When the chat is paced the tap is answered at once and silently; otherwise the alert
    # says it too.
    assert not answer.text or (answer.show_alert and "2 more for you" in answer.text)
