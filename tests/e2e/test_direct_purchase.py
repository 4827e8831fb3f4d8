"""Direct purchase through the real bot, as buyers' phones would do it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import PIL.Image
import pytest
import zxingcpp

from bot.sandbox import VirtualUser
from handlers import callbacks as cb
from tests.e2e.console_steps import forge_tap
from tests.e2e.phone import buy, create_event, invoice_for, open_event, photos

# Long conversations typed far faster than a person types: the per-chat rate is loosened
# (the burst and the bot-wide limit stay Telegram's; see tests/e2e/conftest.py).
pytestmark = pytest.mark.chat_pace(10)


async def test_a_buyer_pays_and_gets_one_qr_ticket_per_seat(live) -> None:
    await create_event(live, capacity=10)
    ann = live.sandbox.user(user_id=101, first_name="Ann")
    invoice = await invoice_for(ann, quantity=2)
    assert invoice.invoice["total_amount"] == 5000 and invoice.invoice["currency"] == "EUR"
    outcome = await ann.pay(invoice)
    assert outcome.ok
    await ann.wait_for_message(contains="Payment received")
    await live.settle()
    tickets = photos(ann)
    assert len(tickets) == 2
    decoded = zxingcpp.read_barcodes(PIL.Image.open(__import__("io").BytesIO(tickets[0].photo)))
    assert decoded[0].text.startswith(f"https://t.me/{live.sandbox.bot_username}?start=t_")
    assert all("Code:" in m.text for m in tickets)


async def test_the_event_card_shows_price_local_time_and_seats_left(live) -> None:
    await create_event(live, capacity=10, vip_capacity=3)
    card = await open_event(live.sandbox.user(user_id=102, first_name="Ben"))
    assert "€25.00" in card.text and "€80.00" in card.text
    assert "21:00" in card.text  # 21:00 Berlin time, as the organizer wrote it
    assert "10 left" in card.text and "3 left" in card.text


async def test_a_sold_out_type_cannot_be_chosen(live) -> None:
    await create_event(live, capacity=1)
    first = live.sandbox.user(user_id=103, first_name="Cleo")
    await buy(live, first)
    late = live.sandbox.user(user_id=104, first_name="Dev")
    card = await open_event(late)
    assert "SOLD OUT" in card.text
    answer = await late.tap(card, text="GA · sold out")
    assert answer.text  # a friendly word, not silence
    assert not any(m.invoice for m in late.messages)


async def test_the_quantity_picker_stops_at_the_per_user_limit(live) -> None:
    await create_event(live, capacity=50, per_user_limit=3)
    eve = live.sandbox.user(user_id=105, first_name="Eve")
    await buy(live, eve, 2)
    card = await open_event(eve)
    mark = eve.mark()
    await eve.tap(card, text="GA")
    picker = await eve.wait_for_message(contains="How many", since=mark)
    assert [b for b in picker.button_texts() if b.isdigit()] == ["1"]


async def test_twenty_phones_racing_for_five_seats_get_exactly_five_tickets(live) -> None:
    await create_event(live, capacity=5, per_user_limit=1)

    async def attempt(user: VirtualUser) -> str:
        card = await open_event(user)
        labels = card.button_texts()
        if any("sold out" in b for b in labels):
            return "sold out"
        mark = user.mark()
        answer = await user.tap(card, text="GA")
        if answer.text:
            return answer.text
        # Under Telegram's pacing the tap may be answered silently at once; a refusal is then
        # written into the message itself (the card or picker redrawn as sold out).
        picker = await user.wait_for_message(
            predicate=lambda m: "How many" in (m.text or "") or "sold out" in (m.text or ""),
            since=mark)
        if "How many" not in (picker.text or ""):
            return picker.text or ""
        mark = user.mark()
        answer = await user.tap(picker, text="1")
        if answer.text:
            return answer.text
        invoice = await user.wait_for_message(
            predicate=lambda m: m.invoice is not None or "sold out" in (m.text or ""),
            since=mark)
        if invoice.invoice is None:
            return invoice.text or ""
        outcome = await user.pay(invoice)
        if not outcome.ok:
            return f"refused: {outcome.error_message}"
        await user.wait_for_message(contains="Payment received")
        return "paid"

    users = [live.sandbox.user(user_id=200 + i, first_name=f"R{i}") for i in range(20)]
    results = await asyncio.gather(*(attempt(u) for u in users))
    assert results.count("paid") == 5
    assert all("sold out" in r.lower() for r in results if r != "paid"), results
    await live.settle()
    sales = await live.runtime.services.admin.sales(1, actor_id=9000)
    assert sales.types[0].stock.sold == 5
    assert sum(len(photos(u)) for u in users) == 5
    assert live.sandbox.stripe.total_refunded() == 0


async def test_a_payment_for_an_expired_and_resold_hold_is_refunded_and_explained(
        live, clock) -> None:
    await create_event(live, capacity=1)
    slow = live.sandbox.user(user_id=106, first_name="Finn")
    outcome = await slow.pay(await invoice_for(slow, 1), deliver_success=False)
    assert outcome.ok
    clock.advance(timedelta(minutes=15))
    quick = live.sandbox.user(user_id=107, first_name="Gus")
    await buy(live, quick)
    await slow.deliver_successful_payment(outcome)
    await slow.wait_for_message(contains="sold before your payment arrived")
    await live.settle()
    await slow.wait_for_message(contains="Your refund of €25.00 has been issued")
    stripe = live.sandbox.stripe
    assert stripe.refund_count(outcome.charge_id) == 1
    assert stripe.refunded_total(outcome.charge_id) == 2500
    assert photos(slow) == []


async def test_a_redelivered_payment_update_issues_no_second_ticket(live) -> None:
    await create_event(live, capacity=5)
    hana = live.sandbox.user(user_id=108, first_name="Hana")
    await buy(live, hana)
    live.sandbox.redeliver()  # Telegram delivers the successful_payment update again
    while live.sandbox.pending_updates():  # noqa: ASYNC110 (polling a test double)
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    await live.settle()
    assert len(photos(hana)) == 1
    assert sum("Payment received" in (m.text or "") for m in hana.messages) == 1
    assert live.sandbox.stripe.total_refunded() == 0


async def test_cancelling_a_hold_gives_the_seats_back(live) -> None:
    await create_event(live, capacity=2)
    ivo = live.sandbox.user(user_id=109, first_name="Ivo")
    await invoice_for(ivo, 2)
    hold_msg = next(m for m in ivo.messages if "reserved" in (m.text or ""))
    await ivo.tap(hold_msg, text="Cancel hold")
    card = await open_event(live.sandbox.user(user_id=110, first_name="Jade"))
    assert "2 left" in card.text


async def test_cancel_after_paying_says_the_order_is_paid_and_keeps_the_tickets(live) -> None:
    await create_event(live, capacity=2)
    kim = live.sandbox.user(user_id=111, first_name="Kim")
    await buy(live, kim)
    hold_msg = next(m for m in kim.messages if "Paid:" in (m.text or ""))
    assert not any("Cancel" in b for b in hold_msg.button_texts())  # the screen says paid
    # A "Cancel hold" tap that was already on its way (or an old copy of the button).
    mark = kim.mark()
    await forge_tap(live, kim, cb.encode(cb.Release(1)))
    await kim.wait_for_message(contains="already paid", since=mark)
    sales = await live.runtime.services.admin.sales(1, actor_id=9000)
    assert sales.types[0].stock.sold == 1
