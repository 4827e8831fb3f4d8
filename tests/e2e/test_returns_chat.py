"""Returns and the waiting list through the real bot, on SQLite and PostgreSQL, as the rules
read: a sold-out type offers a waiting list; a holder returns tickets with /return and keeps
them until a waiting person pays; the offer arrives as a message and an invoice held for the
organizer's time; a lapse passes it to the next person; only the new holder's payment refunds
the returner (minus the fee, through Stripe) and turns the old QR into REVOKED at the door."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.sandbox import SandboxMessage, VirtualUser
from bot.sandbox.harness import SandboxedBot, sandboxed_bot
from core.kernel.clock import OffsetClock
from tests.conftest import empty_database_url
from tests.e2e.conftest import ORGANIZER
from tests.e2e.console_steps import admin, make_staff, scan, ticket_payload
from tests.e2e.phone import buy, create_event, open_event, photos

RETURNS = {"fee": "2.00", "offer_minutes": 20}


@pytest.fixture(params=["sqlite", "postgres"])
async def live(request: pytest.FixtureRequest, tmp_path: Path,
               clock: OffsetClock) -> AsyncIterator[SandboxedBot]:
    """The bot on the sandbox, on each engine (conversations typed fast: per-chat rate 10)."""
    async with empty_database_url(request.param, tmp_path) as url, \
            sandboxed_bot(url, admin_ids=frozenset({ORGANIZER}), clock=clock,
                          rate_limit_per_chat=10, send_rate_per_chat=10) as bot:
        yield bot
        assert bot.sandbox.bot_errors == [], "the bot made Bot API calls Telegram would refuse"


async def join_waitlist(user: VirtualUser, quantity: int = 1) -> SandboxMessage:
    card = await open_event(user)
    mark = user.mark()
    await user.tap(card, text="Join the waiting list · GA")
    picker = await user.wait_for_message(contains="How many seats", since=mark)
    mark = user.mark()
    await user.tap(picker, text=str(quantity))
    return await user.wait_for_message(contains="waiting list for", since=mark)


async def return_ticket(user: VirtualUser) -> SandboxMessage:
    mark = user.mark()
    await user.send("/return")
    listing = await user.wait_for_message(contains="Return tickets", since=mark)
    mark = user.mark()
    await user.tap(listing, text="↩️ 1 × GA")
    ask = await user.wait_for_message(contains="Return 1 ×", since=mark)
    assert "If nobody takes them, you keep your tickets" in (ask.text or "")
    mark = user.mark()
    await user.tap(ask, text="Return them")
    return await user.wait_for_message(contains="Return registered", since=mark)


async def return_from_my_tickets(user: VirtualUser) -> SandboxMessage:
    mark = user.mark()
    await user.send("/mytickets")
    listing = await user.wait_for_message(contains="Your tickets", since=mark)
    label = next(b for b in listing.button_texts() if b.startswith("↩️ Return"))
    mark = user.mark()
    await user.tap(listing, text=label)
    ask = await user.wait_for_message(contains="Return 1 ×", since=mark)
    mark = user.mark()
    await user.tap(ask, text="Return them")
    return await user.wait_for_message(contains="Return registered", since=mark)


async def offer_invoice(live: SandboxedBot, user: VirtualUser, mark: int) -> SandboxMessage:
    await live.settle()
    await user.wait_for_message(contains="offered to you from the waiting list", since=mark)
    return await user.wait_for_message(predicate=lambda m: m.invoice is not None, since=mark)


async def test_a_return_goes_to_the_waiting_list_and_is_refunded_only_once_the_seat_is_paid(
        live: SandboxedBot) -> None:
    event = await create_event(live, capacity=1, returns=RETURNS)
    ann = live.sandbox.user(user_id=501, first_name="Ann")
    ben = live.sandbox.user(user_id=502, first_name="Ben")
    paid = await buy(live, ann)
    old_qr = ticket_payload(photos(ann)[0].photo)

    joined = await join_waitlist(ben)
    assert "People ahead of you: 0" in (joined.text or "")
    ben_mark = ben.mark()
    made = await return_ticket(ann)
    assert "€23.00" in (made.text or "") and "€2.00" in (made.text or "")
    invoice = await offer_invoice(live, ben, ben_mark)
    assert invoice.invoice is not None and invoice.invoice["total_amount"] == 2500
    await ann.wait_for_message(contains="were offered to the next person")
    stripe = live.sandbox.stripe
    assert stripe.refunded_total(paid.charge_id) == 0  # nothing refunded before Ben pays

    ann_mark = ann.mark()
    outcome = await ben.pay(invoice)
    assert outcome.ok, outcome
    await ben.wait_for_message(contains="Payment received", since=ben_mark)
    await live.settle()
    assert len([m for m in ben.inbox_since(ben_mark) if m.photo is not None]) == 1
    await ann.wait_for_message(contains="were bought by someone from the waiting list",
                               since=ann_mark)
    await ann.wait_for_message(contains="refund of €23.00 has been issued", since=ann_mark)
    assert stripe.refunded_total(paid.charge_id) == 2300  # the organizer kept the €2.00 fee

    sam = live.sandbox.user(user_id=503, first_name="Sam")
    await make_staff(live, admin(live), event.id, sam)
    verdict = await scan(sam, old_qr)
    assert "REVOKED" in (verdict.text or "")
    new_qr = ticket_payload([m for m in ben.messages if m.photo is not None][-1].photo)
    assert "VALID" in ((await scan(sam, new_qr)).text or "")


async def test_my_tickets_offers_no_return_without_a_return_policy(live: SandboxedBot) -> None:
    await create_event(live, capacity=1)
    ann = live.sandbox.user(user_id=521, first_name="Ann")
    await buy(live, ann)
    mark = ann.mark()
    await ann.send("/mytickets")
    listing = await ann.wait_for_message(contains="Your tickets", since=mark)
    assert not [b for b in listing.button_texts() if "Return" in b]
    assert [b for b in listing.button_texts() if "Give" in b]  # transfers are on by default


async def test_a_lapsed_offer_passes_to_the_next_person_and_with_nobody_left_the_returner_keeps_it(
        live: SandboxedBot, clock: OffsetClock) -> None:
    await create_event(live, capacity=1, returns=RETURNS)
    ann = live.sandbox.user(user_id=511, first_name="Ann")
    ben = live.sandbox.user(user_id=512, first_name="Ben")
    cleo = live.sandbox.user(user_id=513, first_name="Cleo")
    await buy(live, ann)
    await join_waitlist(ben)
    await join_waitlist(cleo)
    ben_mark, cleo_mark = ben.mark(), cleo.mark()
    await return_from_my_tickets(ann)  # /mytickets offers "Return" where the policy allows
    ben_invoice = await offer_invoice(live, ben, ben_mark)
    assert not [m for m in cleo.inbox_since(cleo_mark) if m.invoice is not None]

    clock.advance(timedelta(minutes=21))  # Ben lets it lapse; the job passes it on
    await live.runtime.services.returns.sweep()
    await live.settle()
    await ben.wait_for_message(contains="was not paid in time", since=ben_mark)
    late = await ben.pay(ben_invoice)
    assert not late.ok  # the old invoice cannot be paid any more
    cleo_invoice = await offer_invoice(live, cleo, cleo_mark)

    clock.advance(timedelta(minutes=21))  # Cleo too; nobody else waits
    ann_mark = ann.mark()
    await live.runtime.services.returns.sweep()
    await live.settle()
    kept = await ann.wait_for_message(contains="You keep your tickets", since=ann_mark)
    assert kept.text
    assert not (await cleo.pay(cleo_invoice)).ok
    assert live.sandbox.stripe.total_refunded() == 0
