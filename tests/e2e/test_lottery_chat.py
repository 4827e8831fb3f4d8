"""A lottery as entrants and the organizer see it in the chat: the card, entering, refusals,
/mytickets and /stats. (The draw, restarts and crashes are in test_lottery_draw.py.)"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.sandbox import CallbackAnswer, SandboxMessage, VirtualUser
from core.catalog.model import Event
from handlers.texts import format_local
from tests.e2e.conftest import ORGANIZER
from tests.e2e.phone import open_event
from tests.factories import lottery_doc

# Long conversations typed far faster than a person types: the per-chat rate is loosened
# (the burst and the bot-wide limit stay Telegram's; see tests/e2e/conftest.py).
pytestmark = pytest.mark.chat_pace(10)

TITLE = "Sold-Out Show"
ENTER_GA = "Enter · GA · €30.00"


async def create_lottery(live, clock, **kwargs) -> Event:
    """The organizer's lottery event, its window placed relative to the test clock."""
    return await live.runtime.services.admin.import_event(lottery_doc(clock.now(), **kwargs),
                                                          actor_id=ORGANIZER)


async def forge_tap(live, user: VirtualUser, data: str) -> CallbackAnswer:
    """A callback query with arbitrary data on the user's last message (a forged button)."""
    api = live.sandbox.telegram
    qid, query = api.new_callback_query()
    api.emit_update("callback_query", {
        "id": qid, "from": user.user_json, "message": api.message_json(user.last_message),
        "chat_instance": "1", "data": data})
    answer: CallbackAnswer = await asyncio.wait_for(asyncio.shield(query.future), 5)
    return answer


def enter_buttons(card: SandboxMessage) -> list[str]:
    return [b for b in card.button_texts() if b.startswith("Enter ·")]


async def enter(live, user: VirtualUser, quantity: int,
                card: SandboxMessage | None = None) -> SandboxMessage:
    """Enter · GA -> quantity -> invoice -> pay; returns the "in the draw" message."""
    card = card or await open_event(user, TITLE)
    mark = user.mark()
    await user.tap(card, text=ENTER_GA)
    picker = await user.wait_for_message(contains="How many", since=mark)
    mark = user.mark()
    await user.tap(picker, text=str(quantity))
    invoice = await user.wait_for_message(predicate=lambda m: m.invoice is not None, since=mark)
    outcome = await user.pay(invoice)
    assert outcome.ok, outcome
    await live.settle()
    return await user.wait_for_message(contains="You are in the draw", since=mark)


async def test_the_card_shows_the_window_the_draw_the_seats_and_the_refund_promise(
        live, clock) -> None:
    event = await create_lottery(live, clock, seats=5, vip_seats=2)
    card = await open_event(live.sandbox.user(user_id=701, first_name="Ann"), TITLE)
    window = event.lottery
    assert window is not None
    for moment in (window.entries_open_at, window.entries_close_at, window.draw_at):
        assert format_local(moment, "Europe/Berlin") in card.text
    assert "Lottery: entries open" in card.text and "; draw " in card.text
    assert "GA — €30.00 · 5 seats" in card.text and "VIP — €80.00 · 2 seats" in card.text
    assert "0 entries so far (0 tickets asked)" in card.text
    assert "every cent back automatically" in card.text
    assert "same chance, whenever they enter" in card.text
    assert enter_buttons(card) == [ENTER_GA, "Enter · VIP · €80.00"]
    assert "⬅️ All events" in card.button_texts()


async def test_an_entrant_enters_through_the_buttons_pays_and_is_in_the_draw(
        live, clock) -> None:
    await create_lottery(live, clock, seats=5, max_per_entry=4)
    bea = live.sandbox.user(user_id=702, first_name="Bea")
    card = await open_event(bea, TITLE)
    mark = bea.mark()
    await bea.tap(card, text=ENTER_GA)
    picker = await bea.wait_for_message(contains="How many", since=mark)
    assert "One entry per account; you win all N tickets or none" in picker.text
    assert [b for b in picker.button_texts() if b.isdigit()] == ["1", "2", "3", "4"]
    mark = bea.mark()
    await bea.tap(picker, text="2")
    await bea.wait_for_message(contains="Entry started", since=mark)
    invoice = await bea.wait_for_message(predicate=lambda m: m.invoice is not None, since=mark)
    assert invoice.invoice["total_amount"] == 6000 and invoice.invoice["currency"] == "EUR"
    assert invoice.invoice["description"].startswith("Full refund if not selected")
    assert (await bea.pay(invoice)).ok
    await live.settle()
    entered = await bea.wait_for_message(contains="You are in the draw", since=mark)
    assert "2 × GA" in entered.text and "€60.00" in entered.text
    card = await open_event(bea, TITLE)
    assert "1 entry so far (2 tickets asked)" in card.text
    assert "Your entry: 2 × GA (€60.00) — in the draw" in card.text
    assert enter_buttons(card) == []


async def test_a_second_entry_from_the_same_account_is_refused(live, clock) -> None:
    await create_lottery(live, clock)
    cal = live.sandbox.user(user_id=703, first_name="Cal")
    stale_card = await open_event(cal, TITLE)
    await enter(live, cal, 1)
    answer = await cal.tap(stale_card, text=ENTER_GA)
    assert answer.show_alert and "already" in (answer.text or "")
    forged = await forge_tap(live, cal, "v1:lq:1:1")
    assert forged.show_alert and "already" in (forged.text or "")
    assert sum(1 for m in cal.messages if m.invoice is not None) == 1


async def test_before_entries_open_the_card_says_when_and_offers_no_enter_button(
        live, clock) -> None:
    event = await create_lottery(live, clock, opens_in=3600, closes_in=7200, draw_in=7260)
    assert event.lottery is not None
    dan = live.sandbox.user(user_id=704, first_name="Dan")
    card = await open_event(dan, TITLE)
    opens = format_local(event.lottery.entries_open_at, "Europe/Berlin")
    assert f"Entries open on {opens}" in card.text
    assert enter_buttons(card) == []
    early = await forge_tap(live, dan, "v1:le:1")
    assert early.show_alert and "open on" in (early.text or "")
    clock.advance(timedelta(seconds=3601))
    assert enter_buttons(await open_event(dan, TITLE)) == [ENTER_GA]


async def test_after_the_window_closes_nobody_can_enter(live, clock) -> None:
    await create_lottery(live, clock, closes_in=600, draw_in=7200)
    eli = live.sandbox.user(user_id=705, first_name="Eli")
    stale_card = await open_event(eli, TITLE)
    clock.advance(timedelta(seconds=601))
    card = await open_event(eli, TITLE)
    assert "Entries are closed" in card.text
    assert enter_buttons(card) == []
    late = await eli.tap(stale_card, text=ENTER_GA)
    assert late.show_alert and "closed" in (late.text or "")
    assert not any(m.invoice for m in eli.messages)


async def test_my_tickets_lists_the_lottery_entry_with_its_draw_time(live, clock) -> None:
    event = await create_lottery(live, clock)
    assert event.lottery is not None
    fay = live.sandbox.user(user_id=706, first_name="Fay")
    await enter(live, fay, 3)
    mark = fay.mark()
    await fay.send("/mytickets")
    listing = await fay.wait_for_message(contains="Your lottery entries", since=mark)
    draw = format_local(event.lottery.draw_at, "Europe/Berlin")
    assert f"{TITLE} — 3 × GA: in the draw on {draw}" in listing.text
    assert f"🎲 {TITLE}" in listing.button_texts()


async def test_stats_show_the_organizer_entries_and_oversubscription(live, clock) -> None:
    await create_lottery(live, clock, seats=3)
    await enter(live, live.sandbox.user(user_id=707, first_name="Gus"), 2)
    await enter(live, live.sandbox.user(user_id=708, first_name="Hal"), 3)
    olga = live.sandbox.user(user_id=ORGANIZER, first_name="Olga")
    mark = olga.mark()
    await olga.send("/stats 1")
    stats = await olga.wait_for_message(contains="Lottery", since=mark)
    assert "Entries: 2, 5 tickets asked for 3 seats — 1.7× oversubscribed" in stats.text
    assert "Paid in: €150.00 · still held: €150.00" in stats.text


async def test_stats_of_a_lottery_are_refused_to_anyone_but_organizers(live, clock) -> None:
    await create_lottery(live, clock)
    ivy = live.sandbox.user(user_id=709, first_name="Ivy")
    await ivy.send("/stats 1")
    refusal = await ivy.wait_for_message(contains="only organizers")
    assert "Entries" not in refusal.text
