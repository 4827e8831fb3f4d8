"""After the sale, through the real bot and the sandbox, on SQLite and PostgreSQL: a holder
gives a ticket to a friend, the organizer refunds one ticket, and /mytickets offers only what
the organizer's policy allows."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from bot.sandbox import SandboxMessage, VirtualUser
from bot.sandbox.harness import SandboxedBot, sandboxed_bot
from core.kernel.clock import OffsetClock
from tests.conftest import empty_database_url
from tests.e2e.conftest import ORGANIZER
from tests.e2e.console_steps import admin, make_staff, scan, short_code, ticket_payload
from tests.e2e.phone import buy, create_event, photos

pytestmark = pytest.mark.chat_pace(10)

_CLAIM = re.compile(r"https://t\.me/[A-Za-z0-9_]+\?start=(tr_[A-Za-z0-9_-]+)")


@pytest.fixture(params=["sqlite", "postgres"])
async def live(request: pytest.FixtureRequest, tmp_path,
               clock: OffsetClock) -> AsyncIterator[SandboxedBot]:
    """The bot on the sandbox, on each database engine (flood limits loosened per chat as
    ``chat_pace`` says, the rest as strict as Telegram)."""
    async with empty_database_url(request.param, tmp_path) as url, \
            sandboxed_bot(url, admin_ids=frozenset({ORGANIZER}), clock=clock,
                          rate_limit_per_chat=10, send_rate_per_chat=10) as bot:
        yield bot
        assert bot.sandbox.bot_errors == [], "the bot made Bot API calls Telegram would refuse"


async def my_tickets(user: VirtualUser) -> SandboxMessage:
    mark = user.mark()
    await user.send("/mytickets")
    return await user.wait_for_message(since=mark)


async def give_link(user: VirtualUser) -> tuple[SandboxMessage, str]:
    """/mytickets, then "Give ... to a friend": the message with the claim link."""
    listing = await my_tickets(user)
    label = next(b for b in listing.button_texts() if b.startswith("🎁 Give"))
    mark = user.mark()
    await user.tap(listing, text=label)
    message = await user.wait_for_message(contains="send them this link", since=mark)
    match = _CLAIM.search(message.text or "")
    assert match, message.text
    return message, match.group(1)


async def open_link(user: VirtualUser, payload: str) -> SandboxMessage:
    mark = user.mark()
    await user.send(f"/start {payload}")
    return await user.wait_for_message(since=mark)


async def test_transferred_ticket_admits_only_the_new_holder(live) -> None:
    await create_event(live)
    bea = live.sandbox.user(user_id=401, first_name="Bea")
    fay = live.sandbox.user(user_id=403, first_name="Fay")
    sam = live.sandbox.user(user_id=402, first_name="Sam")
    await buy(live, bea, 1)
    await make_staff(live, admin(live), 1, sam)
    old_qr = ticket_payload(photos(bea)[0].photo)
    _, payload = await give_link(bea)
    offer = await open_link(fay, payload)
    assert "Bea is giving you a ticket" in offer.text and "Night Market" in offer.text
    mark = fay.mark()
    await fay.tap(offer, text="✅ Accept the ticket")
    await fay.wait_for_message(contains="is yours", since=mark)
    await live.settle()
    new_ticket = await fay.wait_for_message(predicate=lambda m: m.photo is not None,
                                            since=mark)
    assert "Night Market" in (new_ticket.text or "")
    told = await bea.wait_for_message(contains="Fay accepted your ticket")
    assert "old QR code no longer works" in told.text
    new_qr = ticket_payload(new_ticket.photo)
    assert new_qr != old_qr
    refused = await scan(sam, old_qr)
    assert refused.text.startswith("⛔⛔⛔ REVOKED") and "transferred" in refused.text
    admitted = await scan(sam, new_qr)
    assert admitted.text.startswith("✅✅✅ VALID") and "Fay" in admitted.text
    # The giver's list no longer holds it; the friend's does.
    assert "no upcoming tickets" in (await my_tickets(bea)).text
    assert "Night Market" in (await my_tickets(fay)).text


async def test_a_used_or_withdrawn_link_gets_a_friendly_reply(live) -> None:
    await create_event(live, transfers={"max_per_ticket": 2})
    bea = live.sandbox.user(user_id=401, first_name="Bea")
    fay = live.sandbox.user(user_id=403, first_name="Fay")
    gus = live.sandbox.user(user_id=404, first_name="Gus")
    await buy(live, bea, 1)
    link_message, withdrawn = await give_link(bea)
    mark = bea.mark()
    await bea.tap(link_message, text="✖️ Withdraw this link")
    await bea.wait_for_message(contains="withdrawn", since=mark)
    assert "withdrew this ticket link" in (await open_link(fay, withdrawn)).text
    _, payload = await give_link(bea)
    assert "your own ticket's link" in (await open_link(bea, payload)).text
    offer = await open_link(fay, payload)
    late_offer = await open_link(gus, payload)
    mark = fay.mark()
    await fay.tap(offer, text="✅ Accept the ticket")
    await fay.wait_for_message(contains="is yours", since=mark)
    # Gus opened the same link before Fay accepted: his button now says it was used.
    answer = await gus.tap(late_offer, text="✅ Accept the ticket")
    assert "already used" in (answer.text or "")
    assert "already used" in (await open_link(gus, payload)).text
    assert "not valid" in (await open_link(gus, "tr_" + "A" * 22)).text


async def test_my_tickets_offers_only_what_the_policy_allows(live) -> None:
    await create_event(live, title="Passable")
    await create_event(live, title="Bound", transfers={"allowed": False})
    bea = live.sandbox.user(user_id=401, first_name="Bea")
    await buy(live, bea, 1, title="Passable")
    await buy(live, bea, 1, title="Bound")
    listing = await my_tickets(bea)
    gives = [b for b in listing.button_texts() if b.startswith("🎁 Give")]
    passable, bound = (re.search(rf"{title} — GA\n  .* · ([A-Z0-9]{{4}}-[A-Z0-9]{{4}})",
                                 listing.text) for title in ("Passable", "Bound"))
    assert passable and bound, listing.text
    assert gives == [f"🎁 Give {passable.group(1)} to a friend"]  # nothing for Bound


async def test_a_refunded_ticket_is_revoked_and_its_seat_goes_back_on_sale(live) -> None:
    await create_event(live, capacity=2, per_user_limit=2)
    bea = live.sandbox.user(user_id=401, first_name="Bea")
    sam = live.sandbox.user(user_id=402, first_name="Sam")
    cy = live.sandbox.user(user_id=405, first_name="Cy")
    paid = await buy(live, bea, 2)
    await make_staff(live, admin(live), 1, sam)
    refunded, kept = photos(bea)[:2]
    boss = admin(live)
    mark = boss.mark()
    await boss.send(f"/refund_ticket {short_code(refunded)}")
    assert "reason" in (await boss.wait_for_message(since=mark)).text  # a reason is required
    mark = boss.mark()
    await boss.send(f"/refund_ticket {short_code(refunded)} Double booking, sorry")
    queued = await boss.wait_for_message(since=mark)
    assert "Refund of €25.00 queued for 1 ticket" in queued.text
    told = await bea.wait_for_message(contains="refunded 1 × GA")
    assert "Double booking, sorry" in told.text and short_code(refunded) in told.text
    await live.settle()
    await bea.wait_for_message(contains="Your refund of €25.00 has been issued")
    assert paid.charge_id is not None
    assert live.sandbox.stripe.refunded_total(paid.charge_id) == 2500
    assert live.sandbox.stripe.refund_count(paid.charge_id) == 1
    verdict = await scan(sam, ticket_payload(refunded.photo))
    assert verdict.text.startswith("⛔⛔⛔ REVOKED") and "refunded" in verdict.text
    assert (await scan(sam, ticket_payload(kept.photo))).text.startswith("✅✅✅ VALID")
    # The same ticket again changes nothing; its seat is on sale again.
    mark = boss.mark()
    await boss.send(f"/refund_ticket {short_code(refunded)} again")
    assert "nothing left to refund" in (await boss.wait_for_message(since=mark)).text
    await buy(live, cy, 1)
    await live.settle()
    assert live.sandbox.stripe.refund_count(paid.charge_id) == 1


async def test_the_organizer_turns_transfers_off_in_the_wizard_and_the_button_goes(
        live) -> None:
    await create_event(live)
    bea = live.sandbox.user(user_id=401, first_name="Bea")
    await buy(live, bea, 1)
    assert any(b.startswith("🎁 Give") for b in (await my_tickets(bea)).button_texts())
    olga = admin(live)
    mark = olga.mark()
    await olga.send("/editevent 1")
    q = await olga.wait_for_message(contains="Editing", since=mark)
    for expect in ("description", "venue", "time zone", "start", "Ticket type 1", "price",
                   "currency", "capacity", "one person", "Add another"):
        q = await tap_and_wait(olga, q, "⏭ Skip", expect)
    q = await tap_and_wait(olga, q, "✅ Done", "Sale mode")
    preview = await tap_and_wait(olga, q, "⏭ Skip", "Preview")
    assert "may give a ticket to a friend" in preview.text
    preview = await tap_and_wait(olga, preview, "🎁 Do not allow giving tickets away",
                                 "Preview")
    assert "cannot be given away" in preview.text
    await tap_and_wait(olga, preview, "✅ Publish", "is published")
    assert not any(b.startswith("🎁 Give") for b in (await my_tickets(bea)).button_texts())


async def tap_and_wait(user: VirtualUser, message: SandboxMessage, button: str,
                       expect: str) -> SandboxMessage:
    mark = user.mark()
    await user.tap(message, text=button)
    return await user.wait_for_message(contains=expect, since=mark, edited=False)
