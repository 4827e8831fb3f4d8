"""Organizer console and door check-in rules (on the in-memory fake, SQLite and PostgreSQL):
invites, who may see and change what, door verdicts, the CSV export."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta

import pytest

from bot.app import build_services
from core.access.model import Role
from core.door.model import Verdict
from core.kernel.errors import DomainError, ErrorCode
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
