"""Single refunds from the organizer console (on the in-memory fake, SQLite and
PostgreSQL): one ticket or one order, a reason required, through the outbox to one Stripe
refund per ticket (exactly once), the ticket REVOKED ("refunded") at the door, its seat back
in stock, and the buyer told why."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.door.model import Verdict
from core.kernel import outbox
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.payments.model import RefundStatus
from core.payments.refunds import RefundService
from core.tickets.model import format_short_code
from core.transfers.service import TransferService
from scheduler.outbox_worker import OutboxWorker
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

EUR25 = Money(2500, "EUR")


class RecordingGateway:
    """Stripe as the refund path sees it: a refund per idempotency key, replayed on a
    repeated key (as Stripe does)."""

    def __init__(self) -> None:
        self.refunds: dict[str, Money] = {}
        self.calls = 0

    async def refund(self, *, charge_id: str, amount: Money, idempotency_key: str,
                     metadata: dict[str, str]) -> str:
        self.calls += 1
        self.refunds.setdefault(idempotency_key, amount)
        return f"re_{idempotency_key}"


@pytest.fixture
async def world(db, clock):
    access, organizer, purchase, checkin = await make_console(db, clock)
    event = await organizer_event(db, clock, capacity=3)
    await staff_for(access, event)
    return organizer, purchase, checkin, event


async def _drain(db, outbox_store, clock, gateway) -> list[dict]:
    """Run the outbox once with a real RefundService; the messages it would send."""
    refunds = RefundService(db, gateway, clock)
    sent: list[dict] = []

    async def message(item) -> None:
        sent.append({"chat": item.chat_id, **item.payload})

    async def refund(item) -> None:
        await refunds.execute(int(item.payload["refund_id"]))

    async def ignore(item) -> None:
        return None

    worker = OutboxWorker(outbox_store, {outbox.MESSAGE: message, outbox.REFUND: refund,
                                         outbox.TICKET: ignore}, clock)
    await worker.drain_once()
    await worker.drain_once()  # the "refund done" messages the refunds queued
    return sent


async def test_refunding_one_ticket_revokes_it_returns_its_seat_and_tells_the_buyer(
        world, db, outbox_store, clock) -> None:
    organizer, purchase, checkin, event = world
    tickets = (await buy(purchase, db, event, quantity=3)).tickets
    figures = await organizer.figures(actor_id=ORGANIZER, event_id=event.id)
    assert figures.types[0].stock.available == 0
    code = format_short_code(tickets[0].short_code)
    started = await organizer.refund_ticket(actor_id=ORGANIZER, code=code.lower(),
                                            reason="  Double   booking ")
    assert (started.amount, started.tickets) == (EUR25, 1)
    refused = await checkin.scan_link(staff_id=STAFF, payload=f"t_{tickets[0].token}",
                                      nonce="a")
    assert refused.verdict is Verdict.REVOKED and refused.revoked_reason == "refunded"
    kept = await checkin.scan_link(staff_id=STAFF, payload=f"t_{tickets[1].token}", nonce="b")
    assert kept.verdict is Verdict.VALID and kept.sold == 2
    figures = await organizer.figures(actor_id=ORGANIZER, event_id=event.id)
    assert (figures.types[0].stock.sold, figures.types[0].stock.available) == (2, 1)
    gateway = RecordingGateway()
    sent = await _drain(db, outbox_store, clock, gateway)
    told = [m for m in sent if m["key"] == "ticket_refunded"]
    assert len(told) == 1 and told[0]["chat"] == BUYER
    assert told[0]["params"]["reason"] == "Double booking"
    assert told[0]["params"]["codes"] == code
    assert any(m["key"] == "refund_done" and m["chat"] == BUYER for m in sent)
    assert list(gateway.refunds.values()) == [EUR25]
    # Exactly once: the same ticket again is nothing to refund; the outbox is done.
    with pytest.raises(DomainError) as again:
        await organizer.refund_ticket(actor_id=ORGANIZER, code=code, reason="again")
    assert again.value.code is ErrorCode.NOTHING_TO_REFUND
    assert await _drain(db, outbox_store, clock, gateway) == [] and gateway.calls == 1


async def test_refunding_an_order_refunds_what_is_left_of_it_once(
        world, db, outbox_store, clock) -> None:
    organizer, purchase, _, event = world
    confirmation = await buy(purchase, db, event, quantity=3)
    first = confirmation.tickets[0]
    await organizer.refund_ticket(actor_id=ORGANIZER, code=first.short_code, reason="Ill")
    started = await organizer.refund_order(actor_id=ORGANIZER,
                                           order_id=confirmation.order_id or 0,
                                           reason="Event moved for them")
    assert (started.amount, started.tickets) == (Money(5000, "EUR"), 2)
    gateway = RecordingGateway()
    await _drain(db, outbox_store, clock, gateway)
    # One Stripe refund per decision, each under its own key: 25 + 50 = the 75 paid.
    assert sorted(m.amount for m in gateway.refunds.values()) == [2500, 5000]
    assert len(set(gateway.refunds)) == 2
    with pytest.raises(DomainError) as again:
        await organizer.refund_order(actor_id=ORGANIZER, order_id=confirmation.order_id or 0,
                                     reason="again")
    assert again.value.code is ErrorCode.NOTHING_TO_REFUND
    # Cancelling the event afterwards owes this payment nothing more.
    cancelled = await organizer.cancel_event(actor_id=ORGANIZER, event_id=event.id)
    assert cancelled.refunds_queued == 0
    counts = await organizer.figures(actor_id=ORGANIZER, event_id=event.id)
    assert counts.refunds[RefundStatus.SUCCEEDED] == (2, 7500)


async def test_cancelling_after_a_single_refund_refunds_only_the_rest(world, db,
                                                                     clock) -> None:
    organizer, purchase, _, event = world
    confirmation = await buy(purchase, db, event, quantity=3)
    await organizer.refund_ticket(actor_id=ORGANIZER,
                                  code=confirmation.tickets[2].short_code, reason="Ill")
    cancelled = await organizer.cancel_event(actor_id=ORGANIZER, event_id=event.id)
    assert cancelled.refunds_queued == 1
    figures = await organizer.figures(actor_id=ORGANIZER, event_id=event.id)
    assert figures.refunds[RefundStatus.PENDING] == (2, 7500)  # 25 + the 50 left


async def test_a_refund_needs_a_reason_and_the_events_organizer(world, db, clock) -> None:
    organizer, purchase, _, event = world
    ticket = (await buy(purchase, db, event)).tickets[0]
    for actor, code, reason, error in (
            (ORGANIZER, ticket.short_code, "   ", ErrorCode.REFUND_REASON_REQUIRED),
            (OTHER_ORGANIZER, ticket.short_code, "mine", ErrorCode.NOT_ALLOWED),
            (BUYER, ticket.short_code, "free money", ErrorCode.NOT_ALLOWED),
            (ORGANIZER, "ZZZZ-ZZZZ", "typo", ErrorCode.TICKET_NOT_FOUND)):
        with pytest.raises(DomainError) as refused:
            await organizer.refund_ticket(actor_id=actor, code=code, reason=reason)
        assert refused.value.code is error
    with pytest.raises(DomainError) as missing:
        await organizer.refund_order(actor_id=ORGANIZER, order_id=999, reason="x")
    assert missing.value.code is ErrorCode.ORDER_NOT_FOUND


async def test_a_refunded_ticket_given_to_a_friend_tells_the_friend_too(
        world, db, outbox_store, clock) -> None:
    organizer, purchase, checkin, event = world
    ticket = (await buy(purchase, db, event)).tickets[0]
    transfers = TransferService(db, clock)
    link = (await transfers.make_link(user_id=BUYER, ticket_id=ticket.id)).transfer
    new = (await transfers.claim(user_id=77, transfer_id=link.id,
                                 confirm_code=link.confirm_code)).ticket
    clock.advance(timedelta(minutes=1))
    await organizer.refund_ticket(actor_id=ORGANIZER, code=new.short_code, reason="Resold")
    sent = await _drain(db, outbox_store, clock, RecordingGateway())
    assert {(m["key"], m["chat"]) for m in sent} >= {("ticket_refunded", BUYER),
                                                      ("ticket_refunded_holder", 77)}
    verdict = await checkin.scan_link(staff_id=STAFF, payload=f"t_{new.token}", nonce="x")
    assert verdict.verdict is Verdict.REVOKED and verdict.revoked_reason == "refunded"
