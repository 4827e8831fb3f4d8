"""A draw anyone can verify, through the real bot: commitment at open, list hash at close,
the audit file after the draw, verify-draw on it and on tampered copies; one entry per phone."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.cli import verify_draw
from tests.e2e.conftest import ORGANIZER
from tests.e2e.phone import enter_lottery, open_event
from tests.factories import lottery_doc

# Long conversations typed far faster than a person types: the per-chat rate is loosened
# (the burst and the bot-wide limit stay Telegram's; see tests/e2e/conftest.py).
pytestmark = pytest.mark.chat_pace(10)


async def wait_drawn(live, event_id: int) -> None:
    import asyncio

    for _ in range(200):
        async with live.runtime.db.read() as uow:
            event = await uow.events.get(event_id)
        if event and event.lottery_state and event.lottery_state.value == "drawn":
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("never drawn")


async def test_commitment_list_hash_and_audit_are_published_and_verify(
        live, clock, tmp_path, capsys) -> None:
    doc = lottery_doc(clock.now(), seats=2)
    doc["lottery"]["beacon"] = True
    event = await live.runtime.services.admin.import_event(doc, actor_id=ORGANIZER)
    await live.runtime.services.lottery.run_due()  # the tick fixes the beacon round at open
    ann = live.sandbox.user(user_id=701, first_name="Ann")
    card = await open_event(ann, "Sold-Out Show")
    assert "Draw commitment" in card.text
    for i in range(5):
        user = live.sandbox.user(user_id=710 + i, first_name=f"U{i}")
        assert (await enter_lottery(user, 1)).ok
        await user.wait_for_message(contains="You are in the draw")
    mark = ann.mark()
    await ann.send(f"/fairness {event.id}")
    before = await ann.wait_for_message(contains="How the draw", since=mark)
    assert "entry list is frozen" in before.text and "beacon round" in before.text
    clock.advance(timedelta(hours=1, seconds=2))
    await live.runtime.services.lottery.run_due()
    mark = ann.mark()
    await ann.send(f"/fairness {event.id}")
    closed = await ann.wait_for_message(contains="How the draw", since=mark)
    info = await live.runtime.services.lottery.fairness_info(event.id)
    assert info["list_hash"] in closed.text
    clock.advance(timedelta(minutes=2))
    await wait_drawn(live, event.id)
    mark = ann.mark()
    await ann.send(f"/audit {event.id}")
    sent = await ann.wait_for_message(predicate=lambda m: m.document is not None, since=mark)
    audit = json.loads(sent.document)
    assert audit["commitment"] == info["commitment"] and audit["list_hash"] == info["list_hash"]
    assert audit["beacon"]["round"] == info["beacon_round"] and audit["beacon"]["value"]
    genuine = tmp_path / "audit.json"
    genuine.write_bytes(sent.document)
    assert verify_draw(genuine) == 0
    assert "verified" in capsys.readouterr().out
    for name, change in {
        "seed": lambda d: d.update(seed="00" * 32),
        "added": lambda d: d["entries"].append(["ZZZZZ-ZZZZZ", 1, "GA"]),
        "removed": lambda d: d["entries"].pop(),
        "reordered": lambda d: d["entries"].reverse(),
        "winners": lambda d: d.update(winners=d["order"][-2:]),
    }.items():
        copy = json.loads(sent.document)
        change(copy)
        path = tmp_path / f"tampered-{name}.json"
        path.write_text(json.dumps(copy))
        assert verify_draw(path) == 1, name


async def test_each_entrant_sees_their_reference_and_position(live, clock) -> None:
    event = await live.runtime.services.admin.import_event(
        lottery_doc(clock.now(), seats=1), actor_id=ORGANIZER)
    bea = live.sandbox.user(user_id=720, first_name="Bea")
    assert (await enter_lottery(bea, 1)).ok
    await bea.wait_for_message(contains="You are in the draw")
    clock.advance(timedelta(hours=2))
    await wait_drawn(live, event.id)
    await live.settle()  # her "you won" and QR code first: their captions also show 📍
    card = await open_event(bea, "Sold-Out Show")
    assert "Your public reference" in card.text and "position 1" in card.text


@pytest.fixture
async def phone_lottery(live, clock):
    doc = lottery_doc(clock.now(), seats=5)
    doc["lottery"]["require_phone"] = True
    return await live.runtime.services.admin.import_event(doc, actor_id=ORGANIZER)


async def test_entering_asks_for_the_users_own_phone_once_per_person(
        live, phone_lottery) -> None:
    cleo = live.sandbox.user(user_id=730, first_name="Cleo")
    card = await open_event(cleo, "Sold-Out Show")
    mark = cleo.mark()
    await cleo.tap(card, text="Enter · GA")
    await cleo.wait_for_message(contains="one entry per person", since=mark)
    mark = cleo.mark()
    await cleo.send_contact(phone_number="+44 7700 900123", user_id=999)  # someone else's
    await cleo.wait_for_message(contains="your own contact", since=mark)
    mark = cleo.mark()
    await cleo.send_contact(phone_number="+44 7700 900123")
    await cleo.wait_for_message(contains="phone is verified", since=mark)
    assert (await enter_lottery(cleo, 1)).ok
    await cleo.wait_for_message(contains="You are in the draw")
    # Cleo's second account, same phone: refused.
    alt = live.sandbox.user(user_id=731, first_name="Cleo2")
    await alt.send_contact(phone_number="0044 7700 900123")
    await alt.wait_for_message(contains="phone is verified")
    card = await open_event(alt, "Sold-Out Show")
    answer = await alt.tap(card, text="Enter · GA")
    assert "already entered" in (answer.text or "")
