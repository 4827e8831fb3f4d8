"""Organizer console and door check-in rules (on the in-memory fake, SQLite and PostgreSQL):
invites, who may see and change what, door verdicts, the CSV export, an event's cancellation
and the reminders before its start."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta

import pytest

from bot.app import build_services
from core.access.model import Role
from core.door.model import Verdict
from core.kernel import outbox
from core.kernel.errors import DomainError, ErrorCode
from core.payments.model import RefundStatus
from core.payments.plans import RefundReason
from core.tickets.model import format_short_code
from tests.console_world import (
    ADMIN,
    BUYER,
    ORGANIZER,
    OTHER_ORGANIZER,
    STAFF,
    buy,
    make_console,
    organizer_event,
    staff_for,
)
from tests.factories import event_doc


@pytest.fixture
async def console(db, clock):
    return await make_console(db, clock)


async def test_an_invite_works_once_and_not_after_it_expires(console, clock) -> None:
    access, *_ = console
    invite = await access.create_invite(actor_id=ADMIN, role=Role.ORGANIZER)
    await access.accept_invite(user_id=50, first_name="Ola", payload=f"i_{invite.token}")
    assert await access.is_organizer(50)
    with pytest.raises(DomainError) as used:
        await access.accept_invite(user_id=51, first_name="Eve", payload=f"i_{invite.token}")
    assert used.value.code is ErrorCode.INVITE_USED
    late = await access.create_invite(actor_id=ADMIN, role=Role.ORGANIZER)
    clock.advance(timedelta(days=3))
    with pytest.raises(DomainError) as expired:
        await access.accept_invite(user_id=52, first_name="Max", payload=f"i_{late.token}")
    assert expired.value.code is ErrorCode.INVITE_EXPIRED
    withdrawn = await access.create_invite(actor_id=ADMIN, role=Role.ORGANIZER)
    await access.revoke_invite(actor_id=ADMIN, invite_id=withdrawn.id)
    with pytest.raises(DomainError) as revoked:
        await access.accept_invite(user_id=53, first_name="Lu", payload=f"i_{withdrawn.token}")
    assert revoked.value.code is ErrorCode.INVITE_REVOKED
    assert not await access.is_organizer(52) and not await access.is_organizer(53)


async def test_organizers_cannot_touch_each_others_events(console, db, clock) -> None:
    access, organizer, *_ = console
    event = await organizer_event(db, clock)
    with pytest.raises(DomainError) as exc:
        await organizer.figures(actor_id=OTHER_ORGANIZER, event_id=event.id)
    assert exc.value.code is ErrorCode.NOT_ALLOWED
    with pytest.raises(DomainError):
        await access.create_invite(actor_id=OTHER_ORGANIZER, role=Role.STAFF,
                                   event_id=event.id)
    with pytest.raises(DomainError):
        await access.create_invite(actor_id=ORGANIZER, role=Role.ORGANIZER)
    assert [e.id for e in await organizer.my_events(OTHER_ORGANIZER)] == []
    assert [e.id for e in await organizer.my_events(ORGANIZER)] == [event.id]


async def test_door_verdicts_valid_then_already_used_with_first_scan(
        console, db, clock) -> None:
    access, _, purchase, checkin = console
    event = await organizer_event(db, clock)
    ticket = (await buy(purchase, db, event)).tickets[0]
    await staff_for(access, event)
    first = await checkin.scan_link(staff_id=STAFF, payload=f"t_{ticket.token}", nonce="a")
    assert first.verdict is Verdict.VALID and first.holder_first_name == "Bea"
    assert (first.checked_in, first.sold) == (1, 1)
    clock.advance(timedelta(minutes=5))
    again = await checkin.scan_code(staff_id=STAFF, typed=format_short_code(ticket.short_code),
                                    nonce="b")
    assert again.verdict is Verdict.ALREADY_USED and again.first_scan_staff == "Sam"
    assert again.first_scan_at is not None
    replay = await checkin.scan_link(staff_id=STAFF, payload=f"t_{ticket.token}", nonce="a")
    assert replay.verdict is Verdict.VALID  # the same scan delivered twice


async def test_two_gates_scanning_at_once_admit_exactly_once(console, db, clock) -> None:
    access, _, purchase, checkin = console
    event = await organizer_event(db, clock)
    ticket = (await buy(purchase, db, event)).tickets[0]
    await staff_for(access, event, STAFF, "Sam")
    await staff_for(access, event, STAFF + 10, "Kim")
    results = await asyncio.gather(*(
        checkin.scan_link(staff_id=staff, payload=f"t_{ticket.token}", nonce=f"gate-{i}")
        for i, staff in enumerate([STAFF, STAFF + 10] * 4)))
    assert sorted(r.verdict for r in results).count(Verdict.VALID) == 1


async def test_the_csv_export_lists_tickets_and_check_ins(console, db, clock) -> None:
    access, organizer, purchase, checkin = console
    event = await organizer_event(db, clock, title="=HYPERLINK(1)")
    ticket = (await buy(purchase, db, event, first_name="=cmd|calc")).tickets[0]
    await staff_for(access, event)
    await checkin.scan_link(staff_id=STAFF, payload=f"t_{ticket.token}", nonce="n")
    data = await organizer.export_csv(actor_id=ORGANIZER, event_id=event.id)
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert len(rows) == 1 and rows[0]["short_code"] == ticket.short_code
    assert rows[0]["checked_in_by"] == "Sam" and rows[0]["checked_in_at"]
    assert rows[0]["holder_first_name"] == "'=cmd|calc"  # no spreadsheet formula injection


async def test_an_invited_organizer_imports_events_and_sees_only_their_sales(
        console, db, clock) -> None:

    admin = build_services(db, clock, admin_ids=frozenset({ADMIN})).admin
    event = await admin.import_event(event_doc(title="Org2 Night"), actor_id=ORGANIZER)
    assert (await admin.sales(event.id, actor_id=ORGANIZER)).event.title == "Org2 Night"
    with pytest.raises(DomainError) as other:
        await admin.sales(event.id, actor_id=OTHER_ORGANIZER)
    assert other.value.code is ErrorCode.NOT_ALLOWED
    with pytest.raises(DomainError) as buyer:
        await admin.import_event(event_doc(), actor_id=BUYER)
    assert buyer.value.code is ErrorCode.NOT_ALLOWED


async def test_forged_foreign_and_revoked_tickets(console, db, clock) -> None:
    access, organizer, purchase, checkin = console
    event = await organizer_event(db, clock)
    other = await organizer_event(db, clock, title="Other", created_by=OTHER_ORGANIZER)
    ticket = (await buy(purchase, db, event)).tickets[0]
    foreign = (await buy(purchase, db, other, user=BUYER + 1)).tickets[0]
    await staff_for(access, event)
    forged = ticket.token[:-1] + ("A" if ticket.token[-1] != "A" else "B")
    assert (await checkin.scan_link(staff_id=STAFF, payload=f"t_{forged}", nonce="f")
            ).verdict is Verdict.NOT_A_TICKET
    assert (await checkin.scan_link(staff_id=STAFF, payload="t_junk", nonce="j")
            ).verdict is Verdict.NOT_A_TICKET
    assert (await checkin.scan_link(staff_id=STAFF, payload=f"t_{foreign.token}", nonce="w")
            ).verdict is Verdict.WRONG_EVENT
    await organizer.cancel_event(actor_id=ORGANIZER, event_id=event.id)
    assert (await checkin.scan_link(staff_id=STAFF, payload=f"t_{ticket.token}", nonce="c")
            ).verdict is Verdict.CANCELLED
    with pytest.raises(DomainError):
        await checkin.scan_link(staff_id=BUYER, payload=f"t_{ticket.token}", nonce="x")


async def test_cancelling_refunds_every_payment_once_and_tells_every_holder(
        console, db, outbox_store, clock) -> None:
    _, organizer, purchase, _ = console
    event = await organizer_event(db, clock, capacity=20)
    for user in (10, 11, 12):
        await buy(purchase, db, event, user=user, quantity=2)
    started = await organizer.cancel_event(actor_id=ORGANIZER, event_id=event.id)
    assert (started.refunds_queued, started.tickets_revoked, started.holders_told) == (3, 6, 3)
    with pytest.raises(DomainError) as again:
        await organizer.cancel_event(actor_id=ORGANIZER, event_id=event.id)
    assert again.value.code is ErrorCode.EVENT_ALREADY_CANCELLED
    items = await outbox_store.claim_due(now=clock.now(), limit=100)
    refunds = [i for i in items if i.kind == outbox.REFUND]
    told = [i for i in items if i.kind == outbox.MESSAGE
            and i.payload["key"] == "event_cancelled"]
    assert len(refunds) == 3 and sorted(i.chat_id for i in told) == [10, 11, 12]
    async with db.read() as uow:
        reasons = {(await uow.refunds.get(i.payload["refund_id"])).reason for i in refunds}
    assert reasons == {RefundReason.EVENT_CANCELLED}
    figures = await organizer.figures(actor_id=ORGANIZER, event_id=event.id)
    assert figures.refunds[RefundStatus.PENDING] == (3, 3 * 2 * 2500)


async def test_reminders_go_out_once_24_and_2_hours_before(console, db, outbox_store,
                                                           clock) -> None:
    _, organizer, purchase, _ = console
    event = await organizer_event(db, clock)  # starts 2030-12-12 21:00 Berlin
    await buy(purchase, db, event, quantity=2)
    clock.set(event.starts_at - timedelta(hours=30))
    assert await organizer.send_due_reminders() == 0
    clock.set(event.starts_at - timedelta(hours=23))
    assert await organizer.send_due_reminders() == 1
    assert await organizer.send_due_reminders() == 0  # never twice
    clock.set(event.starts_at - timedelta(hours=1))
    assert await organizer.send_due_reminders() == 1
    items = await outbox_store.claim_due(now=clock.now(), limit=100)
    reminders = [i for i in items if i.kind == outbox.MESSAGE
                 and i.payload["key"] == "reminder"]
    qrs = [i for i in items if i.kind == outbox.TICKET]
    assert sorted(i.payload["params"]["hours"] for i in reminders) == [2, 24]
    assert len(qrs) == 2 + 4  # the purchase's QRs, then the QR again with each reminder


async def test_a_reminder_goes_only_to_holders_of_valid_tickets_bought_before_its_time(
        console, db, outbox_store, clock) -> None:
    _, organizer, purchase, _ = console
    event = await organizer_event(db, clock)
    await buy(purchase, db, event, user=20)  # long before
    clock.set(event.starts_at - timedelta(hours=23))
    await buy(purchase, db, event, user=21)  # after the 24 h reminder's time
    assert await organizer.send_due_reminders() == 1  # the 24 h one: only user 20
    clock.set(event.starts_at - timedelta(hours=1))
    assert await organizer.send_due_reminders() == 2  # the 2 h one: both
    items = await outbox_store.claim_due(now=clock.now(), limit=100)
    reminded = sorted((i.payload["params"]["hours"], i.chat_id) for i in items
                      if i.kind == outbox.MESSAGE and i.payload["key"] == "reminder")
    assert reminded == [(2, 20), (2, 21), (24, 20)]
