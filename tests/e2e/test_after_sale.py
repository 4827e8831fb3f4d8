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
from tests.e2e.console_steps import admin, make_staff, scan, ticket_payload
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
