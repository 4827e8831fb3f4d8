"""Returns and the waiting list, as the rules read (on the in-memory fake, SQLite and
PostgreSQL): a sold-out type takes a waiting list; a returned order is offered in join order
with a hold and an invoice; a lapse offers the next person; only a paid offer refunds the
returner (minus the fee) and revokes the old tickets; nobody taking it means the returner keeps
them; nothing is oversold and every step happens once."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest

from bot.app import build_services
from core.door.model import Verdict
from core.kernel import outbox
from core.kernel.clock import ManualClock
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.payments.model import IncomingPayment
from core.payments.plans import RefundReason
from core.sales.model import Order, invoice_payload
from core.sales.service import PaymentOutcome
from core.tickets.model import TicketStatus
from tests.factories import event_doc

ADMIN = 1
ANN, BEN, CLEO, DEV = 101, 102, 103, 104
_charges = itertools.count(1)
RETURNS = {"fee": "2.00", "offer_minutes": 30}


def pay(order: Order, user_id: int) -> IncomingPayment:
    n = next(_charges)
    return IncomingPayment(user_id=user_id, chat_id=user_id, telegram_charge_id=f"tg_r{n}",
                           provider_charge_id=f"ch_r{n}", payload=invoice_payload(order.id),
                           amount=order.total)


class World:
    """One event with a GA type of ``capacity`` seats, sold through the real services."""

    def __init__(self, db: Any, clock: ManualClock, outbox_store: Any) -> None:
        self.db, self.clock, self.outbox_store = db, clock, outbox_store
        self.services = build_services(db, clock, admin_ids=frozenset({ADMIN}))

    async def event(self, *, capacity: int = 2, **extra: Any) -> int:
        extra.setdefault("returns", RETURNS)
        event = await self.services.admin.import_event(
            event_doc(capacity=capacity, per_user_limit=4, **extra), actor_id=ADMIN)
        self.event_id = event.id
        sales = await self.services.admin.sales(event.id, actor_id=ADMIN)
        self.tt = sales.types[0].ticket_type.id
        return self.tt

    async def buy(self, user_id: int, quantity: int = 1) -> Order:
        hold = await self.services.purchase.hold(user_id=user_id, ticket_type_id=self.tt,
                                                 quantity=quantity)
        done = await self.services.purchase.confirm_payment(pay(hold.order, user_id))
        assert done.outcome is PaymentOutcome.TICKETED
        return hold.order

    async def join(self, user_id: int, quantity: int = 1) -> None:
        await self.services.returns.join_waitlist(user_id=user_id, chat_id=user_id,
                                                  ticket_type_id=self.tt, quantity=quantity)

    async def offers(self) -> dict[int, Order]:
        """Live offer orders by the person they were made to."""
        async with self.db.read() as uow:
            out = {}
            for entry in await _entries(uow, self.tt):
                if entry.offer_order_id is not None:
                    order = await uow.orders.get(entry.offer_order_id)
                    if order is not None and order.hold_is_live(self.clock.now()):
                        out[entry.user_id] = order
            return out

    async def items(self) -> list[Any]:
        return await self.outbox_store.claim_due(now=self.clock.now() + timedelta(days=1),
                                                 limit=1000)

    async def messages_to(self, chat_id: int) -> list[str]:
        return [i.payload.get("key", i.kind) for i in await self.items()
                if i.chat_id == chat_id and i.kind in (outbox.MESSAGE, outbox.INVOICE)]

    async def sold(self) -> int:
        async with self.db.read() as uow:
            return (await uow.events.stock([self.tt], now=self.clock.now()))[self.tt].sold

    async def tickets(self, order_id: int) -> list[Any]:
        async with self.db.read() as uow:
            return await uow.tickets.for_order(order_id)

    async def refunds(self) -> list[Any]:
        async with self.db.read() as uow:
            found = []
            for item in await self.items():
                if item.kind == outbox.REFUND:
                    found.append(await uow.refunds.get(int(item.payload["refund_id"])))
            return found


async def _entries(uow: Any, tt: int) -> list[Any]:
    entries = []
    for user in (ANN, BEN, CLEO, DEV):
        entry = await uow.returns.entry_for(user_id=user, ticket_type_id=tt)
        if entry is not None:
            entries.append(entry)
    return entries


@pytest.fixture
def world(db, clock: ManualClock, outbox_store) -> World:
    return World(db, clock, outbox_store)


async def test_the_waiting_list_opens_only_when_the_type_is_sold_out_and_takes_each_person_once(
        world: World) -> None:
    await world.event(capacity=1)
    with pytest.raises(DomainError) as not_yet:
        await world.join(BEN)
    assert not_yet.value.code is ErrorCode.NOT_SOLD_OUT
    await world.buy(ANN)
    await world.join(BEN)
    with pytest.raises(DomainError) as twice:
        await world.join(BEN, 2)
    assert twice.value.code is ErrorCode.ALREADY_WAITING
    assert (await world.services.returns.counts(world.event_id)).waiting == 1


async def test_a_returned_order_is_offered_to_the_first_in_join_order_who_wants_that_many(
        world: World) -> None:
    await world.event(capacity=2)
    ann_order = await world.buy(ANN, 2)
    await world.join(BEN, 1)    # first, but wants fewer seats than the return holds
    await world.join(CLEO, 2)   # the first who fits
    await world.join(DEV, 2)
    returned = await world.services.returns.return_order(user_id=ANN, chat_id=ANN,
                                                         order_id=ann_order.id)
    assert returned.offered
    assert returned.refund == Money(4600, "EUR") and returned.fee == Money(400, "EUR")
    offers = await world.offers()
    assert list(offers) == [CLEO] and offers[CLEO].quantity == 2
    assert "waitlist.offer" in await world.messages_to(CLEO)
    assert "invoice" in await world.messages_to(CLEO)
    assert "return.offered" in await world.messages_to(ANN)
    # Until the offer is paid, Ann's tickets stay valid and nobody is refunded.
    assert all(t.status is TicketStatus.VALID for t in await world.tickets(ann_order.id))
    assert await world.refunds() == []
    assert await world.sold() == 2


async def test_only_a_paid_offer_refunds_the_returner_minus_the_fee_and_revokes_the_old_tickets(
        world: World) -> None:
    await world.event(capacity=1)
    ann_order = await world.buy(ANN)
    old_code = (await world.tickets(ann_order.id))[0].short_code
    await world.join(BEN)
    await world.services.returns.return_order(user_id=ANN, chat_id=ANN, order_id=ann_order.id)
    offer = (await world.offers())[BEN]
    await world.services.purchase.pre_checkout(user_id=BEN, payload=invoice_payload(offer.id),
                                               amount=offer.total)
    payment = pay(offer, BEN)
    done = await world.services.purchase.confirm_payment(payment)
    assert done.outcome is PaymentOutcome.TICKETED and len(done.tickets) == 1
    again = await world.services.purchase.confirm_payment(payment)  # a repeated delivery
    assert again.outcome is PaymentOutcome.ALREADY_PROCESSED
    [refund] = await world.refunds()
    assert refund.user_id == ANN and refund.amount == Money(2300, "EUR")
    assert refund.reason is RefundReason.RETURNED
    assert "return.resold" in await world.messages_to(ANN)
    assert all(t.status is TicketStatus.REVOKED for t in await world.tickets(ann_order.id))
    scan = await world.services.checkin.scan_code(staff_id=ADMIN, typed=old_code, nonce="n1",
                                                  staff_events={world.event_id})
    assert scan.verdict is Verdict.REVOKED
    assert await world.sold() == 1  # never oversold: Ben's seat is Ann's seat
    counts = await world.services.returns.counts(world.event_id)
    assert (counts.returns, counts.resold, counts.offers, counts.paid) == (1, 1, 1, 1)


async def test_a_lapsed_offer_goes_to_the_next_person_and_a_second_sweep_changes_nothing(
        world: World, clock: ManualClock) -> None:
    await world.event(capacity=1)
    ann_order = await world.buy(ANN)
    await world.join(BEN)
    await world.join(CLEO)
    await world.services.returns.return_order(user_id=ANN, chat_id=ANN, order_id=ann_order.id)
    assert list(await world.offers()) == [BEN]
    clock.advance(timedelta(minutes=31))
    assert await world.services.returns.sweep() == 2  # one lapse, one new offer
    assert await world.services.returns.sweep() == 0
    assert list(await world.offers()) == [CLEO]
    assert "waitlist.lapsed" in await world.messages_to(BEN)
    assert (await world.messages_to(ANN)).count("return.offered") == 2
    counts = await world.services.returns.counts(world.event_id)
    assert (counts.offers, counts.lapsed, counts.waiting) == (2, 1, 0)


async def test_with_nobody_else_waiting_the_returner_keeps_the_tickets_and_is_told(
        world: World, clock: ManualClock) -> None:
    await world.event(capacity=1)
    ann_order = await world.buy(ANN)
    await world.join(BEN)
    await world.services.returns.return_order(user_id=ANN, chat_id=ANN, order_id=ann_order.id)
    clock.advance(timedelta(minutes=31))
    await world.services.returns.sweep()
    assert "return.lapsed_kept" in await world.messages_to(ANN)
    assert all(t.status is TicketStatus.VALID for t in await world.tickets(ann_order.id))
    assert await world.refunds() == []
    # Whoever joins next is offered the return.
    await world.join(CLEO)
    assert list(await world.offers()) == [CLEO]


async def test_a_payment_for_a_lapsed_offer_is_refunded_in_full_and_sells_nothing(
        world: World, clock: ManualClock) -> None:
    await world.event(capacity=1)
    ann_order = await world.buy(ANN)
    await world.join(BEN)
    await world.join(CLEO)
    await world.services.returns.return_order(user_id=ANN, chat_id=ANN, order_id=ann_order.id)
    ben_offer = (await world.offers())[BEN]
    clock.advance(timedelta(minutes=31))
    with pytest.raises(DomainError):
        await world.services.purchase.pre_checkout(
            user_id=BEN, payload=invoice_payload(ben_offer.id), amount=ben_offer.total)
    await world.services.returns.sweep()
    late = await world.services.purchase.confirm_payment(pay(ben_offer, BEN))
    assert late.outcome is PaymentOutcome.REFUNDING
    assert late.refund_reason is RefundReason.SEATS_GONE
    assert await world.sold() == 1
    assert all(t.status is TicketStatus.VALID for t in await world.tickets(ann_order.id))


async def test_returns_close_at_the_organizers_deadline_and_need_a_return_policy(
        world: World, clock: ManualClock) -> None:
    until = (clock.now() + timedelta(days=1)).isoformat()
    await world.event(capacity=1, returns={"until": until})
    order = await world.buy(ANN)
    clock.advance(timedelta(days=2))
    with pytest.raises(DomainError) as late:
        await world.services.returns.return_order(user_id=ANN, chat_id=ANN, order_id=order.id)
    assert late.value.code is ErrorCode.RETURNS_CLOSED
    await world.event(capacity=1, title="No Returns", returns=None)
    other = await world.buy(BEN)
    with pytest.raises(DomainError) as none:
        await world.services.returns.return_order(user_id=BEN, chat_id=BEN, order_id=other.id)
    assert none.value.code is ErrorCode.RETURNS_CLOSED


async def test_a_used_ticket_cannot_be_returned_and_an_order_is_returned_once(
        world: World) -> None:
    await world.event(capacity=2)
    used = await world.buy(ANN)
    code = (await world.tickets(used.id))[0].short_code
    await world.services.checkin.scan_code(staff_id=ADMIN, typed=code, nonce="door-1",
                                           staff_events={world.event_id})
    with pytest.raises(DomainError) as refused:
        await world.services.returns.return_order(user_id=ANN, chat_id=ANN, order_id=used.id)
    assert refused.value.code is ErrorCode.NOT_RETURNABLE
    fresh = await world.buy(BEN)
    await world.services.returns.return_order(user_id=BEN, chat_id=BEN, order_id=fresh.id)
    with pytest.raises(DomainError) as twice:
        await world.services.returns.return_order(user_id=BEN, chat_id=BEN, order_id=fresh.id)
    assert twice.value.code is ErrorCode.ALREADY_RETURNED


async def test_stats_and_the_export_show_returns_the_waiting_list_and_offers(
        world: World, clock: ManualClock) -> None:
    import csv
    import io

    from handlers.texts import event_figures_text, plain

    await world.event(capacity=1)
    ann_order = await world.buy(ANN)
    await world.join(BEN)
    await world.join(CLEO)
    await world.services.returns.return_order(user_id=ANN, chat_id=ANN, order_id=ann_order.id)
    clock.advance(timedelta(minutes=31))
    await world.services.returns.sweep()  # Ben lapses, Cleo is offered
    offer = (await world.offers())[CLEO]
    await world.services.purchase.confirm_payment(pay(offer, CLEO))
    figures = await world.services.organizer.figures(actor_id=ADMIN, event_id=world.event_id)
    after = figures.after_sale
    assert (after.returns, after.resold, after.offers, after.lapsed, after.paid) == \
        (1, 1, 2, 1, 1)
    assert "1 returned (1 resold) · waiting list 0 · offers 2 (1 paid, 1 lapsed)" in \
        plain(event_figures_text(figures))
    data = await world.services.organizer.export_csv(actor_id=ADMIN, event_id=world.event_id)
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert [(r["holder_user_id"], r["status"], r["returned"]) for r in rows] == [
        (str(ANN), "revoked", "resold"), (str(CLEO), "valid", "")]
