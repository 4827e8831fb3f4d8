"""Door check-in through the real bot: the camera opening a ticket link, a photo of the QR,
a typed code; every verdict, and two gates scanning the same ticket at once."""

from __future__ import annotations

import asyncio
import io

import PIL.Image
import pytest
import segno

from bot.sandbox import SandboxMessage, VirtualUser
from tests.e2e.console_steps import (
    admin,
    event_card,
    make_staff,
    scan,
    short_code,
    tap_for,
    ticket_payload,
)
from tests.e2e.phone import buy, create_event, photos

# Long conversations typed far faster than a person types: the per-chat rate is loosened
# (the burst and the bot-wide limit stay Telegram's; see tests/e2e/conftest.py).
pytestmark = pytest.mark.chat_pace(10)


async def door_with_one_sale(live, capacity: int = 10) -> tuple[VirtualUser, VirtualUser]:
    """Night Market (#1) with Bea's ticket, and Sam working its door."""
    await create_event(live, capacity=capacity)
    bea = live.sandbox.user(user_id=401, first_name="Bea")
    await buy(live, bea, 1)
    sam = live.sandbox.user(user_id=402, first_name="Sam")
    await make_staff(live, admin(live), 1, sam)
    return bea, sam


def as_phone_photo(png: bytes) -> bytes:
    """The QR as a phone would photograph it: turned 90°, larger, JPEG-compressed."""
    image = PIL.Image.open(io.BytesIO(png)).convert("RGB").rotate(90, expand=True)
    image = image.resize((image.width * 3, image.height * 3))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=60)
    return out.getvalue()


async def send_photo(user: VirtualUser, data: bytes) -> SandboxMessage:
    mark = user.mark()
    await user.send_photo(data)
    return await user.wait_for_message(since=mark)


async def test_a_valid_ticket_then_the_same_ticket_again(live) -> None:
    bea, sam = await door_with_one_sale(live)
    payload = ticket_payload(photos(bea)[0].photo)
    first = await scan(sam, payload)
    assert first.text.startswith("✅✅✅ VALID")
    assert "Night Market" in first.text and "GA" in first.text and "Bea" in first.text
    assert "checked in 1 / 1" in first.text
    again = await scan(sam, payload)
    assert again.text.startswith("⛔⛔⛔ ALREADY USED")
    assert "by Sam" in again.text and "CET" in again.text  # the event's local time


async def test_a_code_typed_by_hand(live) -> None:
    bea, sam = await door_with_one_sale(live)
    code = short_code(photos(bea)[0])
    mark = sam.mark()
    await sam.send(f"/checkin {code.lower()}")
    assert "VALID" in (await sam.wait_for_message(since=mark)).text
    mark = sam.mark()
    await sam.send(f"/checkin {code}")
    assert "ALREADY USED" in (await sam.wait_for_message(since=mark)).text
    mark = sam.mark()
    await sam.send("/checkin ZZZZ-ZZZZ")
    assert "NOT A TICKET" in (await sam.wait_for_message(since=mark)).text
    mark = sam.mark()
    await sam.send("/door")
    door = await sam.wait_for_message(since=mark)
    assert "Night Market" in door.text and "1 of 1 checked in" in door.text


async def test_a_photographed_ticket_is_checked_in(live) -> None:
    bea, sam = await door_with_one_sale(live)
    verdict = await send_photo(sam, as_phone_photo(photos(bea)[0].photo))
    assert verdict.text.startswith("✅✅✅ VALID") and "Bea" in verdict.text
    again = await send_photo(sam, photos(bea)[0].photo)
    assert "ALREADY USED" in again.text


async def test_photos_without_our_ticket_are_refused_kindly(live) -> None:
    bea, sam = await door_with_one_sale(live)
    token = ticket_payload(photos(bea)[0].photo)
    elsewhere = io.BytesIO()
    segno.make_qr(f"https://evil.example/{live.sandbox.bot_username}?start={token}").save(
        elsewhere, kind="png", scale=8)
    assert "NOT A TICKET" in (await send_photo(sam, elsewhere.getvalue())).text
    blank = io.BytesIO()
    PIL.Image.new("RGB", (400, 300), "white").save(blank, format="JPEG")
    assert "could not find a QR code" in (await send_photo(sam, blank.getvalue())).text
    answer = await send_photo(bea, photos(bea)[0].photo)
    assert "only read photos" in answer.text and "VALID" not in answer.text
    # Nothing was admitted by any of that.
    assert "VALID" in (await scan(sam, token)).text


async def test_forged_foreign_and_cancelled_tickets(live) -> None:
    bea, sam = await door_with_one_sale(live)
    await create_event(live, title="Other Night")
    cy = live.sandbox.user(user_id=403, first_name="Cy")
    await buy(live, cy, 1, title="Other Night")
    foreign = await scan(sam, ticket_payload(photos(cy)[0].photo))
    assert foreign.text.startswith("⚠️⚠️⚠️ WRONG EVENT") and "Other Night" in foreign.text
    payload = ticket_payload(photos(bea)[0].photo)
    forged = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    assert (await scan(sam, forged)).text.startswith("❌❌❌ NOT A TICKET")
    assert (await scan(sam, "t_junk")).text.startswith("❌❌❌ NOT A TICKET")
    boss = admin(live)
    card = await event_card(boss, 1)
    question = await tap_for(boss, card, "Cancel event", "Cancel")
    await tap_for(boss, question, "Yes, cancel and refund everyone", "cancelled:")
    await live.settle()
    assert (await scan(sam, payload)).text.startswith("⛔⛔⛔ EVENT CANCELLED")


async def test_people_who_are_not_staff_keep_todays_behaviour(live) -> None:
    bea, _ = await door_with_one_sale(live)
    payload = ticket_payload(photos(bea)[0].photo)
    friend = live.sandbox.user(user_id=404, first_name="Fay")
    hint = await scan(friend, payload)
    assert "This is a TicketQ ticket" in hint.text and "VALID" not in hint.text
    mark = bea.mark()
    await bea.send(f"/start {payload}")
    own = await bea.wait_for_message(since=mark, predicate=lambda m: m.photo is not None)
    assert "Code:" in own.text
    mark = friend.mark()
    await friend.send("/checkin ABCD-EFGH")
    assert "door staff only" in (await friend.wait_for_message(since=mark)).text


async def test_two_gates_scanning_the_same_ticket_admit_it_once(live) -> None:
    bea, sam = await door_with_one_sale(live)
    kim = live.sandbox.user(user_id=405, first_name="Kim")
    await make_staff(live, admin(live), 1, kim)
    payload = ticket_payload(photos(bea)[0].photo)
    marks = {sam.user_id: sam.mark(), kim.user_id: kim.mark()}
    await asyncio.gather(sam.send(f"/start {payload}"), kim.send(f"/start {payload}"))
    verdicts = [await gate.wait_for_message(since=marks[gate.user_id]) for gate in (sam, kim)]
    texts = sorted(v.text.split("\n", 1)[0] for v in verdicts)
    assert texts == ["⛔⛔⛔ ALREADY USED ⛔⛔⛔", "✅✅✅ VALID ✅✅✅"]


async def test_revoked_staff_can_no_longer_check_in(live) -> None:
    bea, sam = await door_with_one_sale(live)
    boss = admin(live)
    card = await event_card(boss, 1)
    staff = await tap_for(boss, card, "👥 Staff", "Door staff for")
    assert "Sam (id 402)" in staff.text
    after = await tap_for(boss, staff, "Revoke Sam", "no longer has that role")
    assert "Sam (id 402)" not in after.text
    hint = await scan(sam, ticket_payload(photos(bea)[0].photo))
    assert "This is a TicketQ ticket" in hint.text
