"""Organizer console and door rules that need the set-based cancellation and reminders of
the SQL storage (SQLite and PostgreSQL; not in the in-memory fake yet). The rest of the
console and door specs are contract tests: tests/contract/test_console_and_door.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.storage.outbox_store import SqlOutboxStore
from core.door.model import Verdict
from core.kernel import outbox
from core.kernel.errors import DomainError, ErrorCode
from core.payments.model import RefundStatus
from core.payments.plans import RefundReason
from tests.console_world import (
    BUYER,
    ORGANIZER,
    OTHER_ORGANIZER,
    STAFF,
    buy,
    make_console,
    organizer_event,
    staff_for,
)


@pytest.fixture
async def console(db, clock):
    return await make_console(db, clock)


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
        console, db, clock) -> None:
    _, organizer, purchase, _ = console
    event = await organizer_event(db, clock, capacity=20)
    for user in (10, 11, 12):
        await buy(purchase, db, event, user=user, quantity=2)
    started = await organizer.cancel_event(actor_id=ORGANIZER, event_id=event.id)
    assert (started.refunds_queued, started.tickets_revoked, started.holders_told) == (3, 6, 3)
    with pytest.raises(DomainError) as again:
        await organizer.cancel_event(actor_id=ORGANIZER, event_id=event.id)
    assert again.value.code is ErrorCode.EVENT_ALREADY_CANCELLED
    items = await SqlOutboxStore(db).claim_due(now=clock.now(), limit=100)
    refunds = [i for i in items if i.kind == outbox.REFUND]
    told = [i for i in items if i.kind == outbox.MESSAGE
            and i.payload["key"] == "event_cancelled"]
    assert len(refunds) == 3 and sorted(i.chat_id for i in told) == [10, 11, 12]
    async with db.read() as uow:
        reasons = {(await uow.refunds.get(i.payload["refund_id"])).reason for i in refunds}
    assert reasons == {RefundReason.EVENT_CANCELLED}
    figures = await organizer.figures(actor_id=ORGANIZER, event_id=event.id)
    assert figures.refunds[RefundStatus.PENDING] == (3, 3 * 2 * 2500)


async def test_reminders_go_out_once_24_and_2_hours_before(console, db, clock) -> None:
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
    items = await SqlOutboxStore(db).claim_due(now=clock.now(), limit=100)
    reminders = [i for i in items if i.kind == outbox.MESSAGE
                 and i.payload["key"] == "reminder"]
    qrs = [i for i in items if i.kind == outbox.TICKET]
    assert sorted(i.payload["params"]["hours"] for i in reminders) == [2, 24]
    assert len(qrs) == 2 + 4  # the purchase's QRs, then the QR again with each reminder
