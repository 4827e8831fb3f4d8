"""The organizer console in the chat: invites, refusals, isolation, stats, CSV export,
cancelling an event and reminders, through the real bot and the sandbox."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta

import pytest

from handlers.texts import plain, t
from tests.e2e.console_steps import (
    accept,
    admin,
    event_card,
    forge_tap,
    invite_payload,
    make_organizer,
    make_staff,
    organizer_event,
    organizer_invite,
    scan,
    tap_for,
    ticket_payload,
)
from tests.e2e.phone import buy, create_event, photos

# Long conversations typed far faster than a person types: the per-chat rate is loosened
# (the burst and the bot-wide limit stay Telegram's; see tests/e2e/conftest.py).
pytestmark = pytest.mark.chat_pace(10)

REFUSAL = plain(t("error.not_allowed"))
CONSOLE_COMMANDS = ["/stats 1", "/stats", "/myevents", "/events_admin", "/export 1",
                    "/cancel_event 1", "/staff_invite 1", "/staff 1", "/invite_organizer",
                    "/organizers"]


async def test_an_organizer_invite_works_once(live) -> None:
    payload = invite_payload(await organizer_invite(live))
    ola = live.sandbox.user(user_id=301, first_name="Ola")
    assert "You are now an organizer" in (await accept(ola, payload)).text
    eve = live.sandbox.user(user_id=302, first_name="Eve")
    assert "already used" in (await accept(eve, payload)).text
    mark = ola.mark()
    await ola.send("/myevents")
    assert "no events yet" in (await ola.wait_for_message(since=mark)).text
    mark = eve.mark()
    await eve.send("/myevents")
    assert (await eve.wait_for_message(since=mark)).text == REFUSAL


async def test_an_invite_expires_and_a_withdrawn_invite_is_refused(live, clock) -> None:
    late = invite_payload(await organizer_invite(live))
    clock.advance(timedelta(days=3))
    max_ = live.sandbox.user(user_id=303, first_name="Max")
    assert "expired" in (await accept(max_, late)).text
    message = await organizer_invite(live)
    payload = invite_payload(message)
    withdrawn = await tap_for(admin(live), message, "Withdraw this invite", "withdrawn")
    assert withdrawn.button_texts() == [] and payload not in withdrawn.text
    lu = live.sandbox.user(user_id=304, first_name="Lu")
    assert "was withdrawn" in (await accept(lu, payload)).text
    mark = lu.mark()
    await lu.send("/myevents")
    assert (await lu.wait_for_message(since=mark)).text == REFUSAL


async def test_a_revoked_organizer_loses_the_console(live) -> None:
    ola = live.sandbox.user(user_id=305, first_name="Ola")
    await make_organizer(live, ola)
    boss = admin(live)
    mark = boss.mark()
    await boss.send("/organizers")
    listing = await boss.wait_for_message(contains="Organizers", since=mark)
    assert "Ola (id 305)" in listing.text
    after = await tap_for(boss, listing, "Revoke Ola", "no longer has that role")
    assert "Ola (id 305)" not in after.text
    mark = ola.mark()
    await ola.send("/myevents")
    assert (await ola.wait_for_message(since=mark)).text == REFUSAL


async def test_everyone_else_is_refused_every_console_command(live) -> None:
    await create_event(live)
    nosy = live.sandbox.user(user_id=306, first_name="Nosy")
    for command in CONSOLE_COMMANDS:
        mark = nosy.mark()
        await nosy.send(command)
        answer = await nosy.wait_for_message(since=mark)
        assert answer.text == REFUSAL, (command, answer)
        assert "Night Market" not in answer.text


async def test_organizers_see_only_their_own_events(live) -> None:
    ola, ida = (live.sandbox.user(user_id=307, first_name="Ola"),
                live.sandbox.user(user_id=308, first_name="Ida"))
    await make_organizer(live, ola)
    await make_organizer(live, ida)
    mine = await organizer_event(live, ola.user_id, title="Ola's Gig")
    theirs = await organizer_event(live, ida.user_id, title="Ida's Gig")
    answers = []
    for command in (f"/stats {theirs.id}", "/stats 999", f"/export {theirs.id}",
                    f"/cancel_event {theirs.id}", f"/staff {theirs.id}",
                    f"/staff_invite {theirs.id}"):
        mark = ola.mark()
        await ola.send(command)
        answers.append((await ola.wait_for_message(since=mark)).text)
    assert answers == [REFUSAL] * len(answers)
    mark = ola.mark()
    await ola.send("/myevents")
    await ola.wait_for_message(contains=f"#{mine.id}", since=mark)
    await asyncio.sleep(0.2)
    assert not any("Ida's Gig" in (m.text or "") for m in ola.inbox_since(mark))
    # Forged buttons for the other organizer's event: the same refusal, nothing changes.
    for data in (f"v1:cy:{theirs.id}", f"v1:cs:{theirs.id}", f"v1:ci:{theirs.id}",
                 f"v1:rs:{theirs.id}:{ola.user_id}", f"v1:ro:{ida.user_id}"):
        forged = await forge_tap(live, ola, data)
        assert forged.show_alert and forged.text == REFUSAL, (data, forged)
    async with live.runtime.db.read() as uow:
        assert (await uow.events.get(theirs.id)).status.value == "published"
    assert await live.runtime.services.access.is_organizer(ida.user_id)


async def test_stats_show_sales_check_ins_and_the_csv_lists_every_ticket(live) -> None:
    await create_event(live, capacity=10)
    ann, ben = (live.sandbox.user(user_id=310, first_name="Ann"),
                live.sandbox.user(user_id=311, first_name="Ben"))
    await buy(live, ann, 2)
    await buy(live, ben, 1)
    boss, sam = admin(live), live.sandbox.user(user_id=312, first_name="Sam")
    await make_staff(live, boss, 1, sam)
    assert "VALID" in (await scan(sam, ticket_payload(photos(ben)[0].photo))).text
    mark = boss.mark()
    await boss.send("/stats 1")
    stats = await boss.wait_for_message(contains="Night Market", since=mark)
    assert "GA: 3/10 sold, 0 held, 7 left — €75.00" in stats.text
    assert "Check-ins: 1 of 3 checked in" in stats.text
    card = await event_card(boss, 1)
    document = await tap_for(boss, card, "Export", "tickets, orders and check-ins")
    assert document.document_name == "event-1-tickets.csv"
    rows = list(csv.DictReader(io.StringIO(document.document.decode("utf-8"))))
    assert len(rows) == 3
    assert sorted(r["holder_first_name"] for r in rows) == ["Ann", "Ann", "Ben"]
    checked = [r for r in rows if r["checked_in_at"]]
    assert [(r["holder_first_name"], r["checked_in_by"]) for r in checked] == [("Ben", "Sam")]
    assert {r["amount_minor"] for r in rows} <= {"2500", "5000"}
    mark = boss.mark()
    await boss.send("/export 1")
    again = await boss.wait_for_message(since=mark)
    assert again.document == document.document


async def test_cancelling_refunds_every_payment_exactly_once_and_tells_every_holder(
        live) -> None:
    await create_event(live, capacity=10)
    ann, ben = (live.sandbox.user(user_id=320, first_name="Ann"),
                live.sandbox.user(user_id=321, first_name="Ben"))
    paid = [await buy(live, ann, 2), await buy(live, ben, 1)]
    boss = admin(live)
    card = await event_card(boss, 1)
    question = await tap_for(boss, card, "Cancel event", "Cancel")
    assert "3 tickets sold" in question.text
    kept = await tap_for(boss, question, "No", "Nothing changed")
    assert kept.button_texts() == []
    question = await tap_for(boss, card, "Cancel event", "Cancel")
    done = await tap_for(boss, question, "Yes, cancel and refund everyone", "cancelled:")
    assert "2 refunds queued, 3 tickets revoked, 2 holders told" in done.text
    await live.settle()
    stripe = live.sandbox.stripe
    assert [stripe.refund_count(p.charge_id) for p in paid] == [1, 1]
    assert [stripe.refunded_total(p.charge_id) for p in paid] == [5000, 2500]
    for buyer in (ann, ben):
        await buyer.wait_for_message(contains="has been cancelled", since=0)
    mark = boss.mark()
    await boss.send("/cancel_event 1")
    assert "already cancelled" in (await boss.wait_for_message(since=mark)).text
    await live.settle()
    assert [stripe.refund_count(p.charge_id) for p in paid] == [1, 1]
    mark = boss.mark()
    await boss.send("/stats 1")
    stats = await boss.wait_for_message(contains="Night Market", since=mark)
    assert "Cancelled" in stats.text
    assert "Refunds: 2 done (€75.00), 0 pending (€0.00), 0 failed (€0.00)" in stats.text


async def test_holders_get_the_24_hour_reminder_with_their_qr_once(live, clock) -> None:
    event = await create_event(live, capacity=10)
    ann = live.sandbox.user(user_id=330, first_name="Ann")
    await buy(live, ann, 1)
    clock.advance(event.starts_at - clock.now() - timedelta(hours=23))
    organizer = live.runtime.services.organizer
    await organizer.send_due_reminders()
    await organizer.send_due_reminders()
    await live.settle()
    await asyncio.sleep(0.2)
    reminders = [m for m in ann.messages if "Reminder" in (m.text or "")]
    assert len(reminders) == 1 and "starts in 24 hours" in reminders[0].text
    assert len(photos(ann)) == 2  # the purchase's QR, then the QR again with the reminder
    assert ticket_payload(photos(ann)[1].photo) == ticket_payload(photos(ann)[0].photo)
