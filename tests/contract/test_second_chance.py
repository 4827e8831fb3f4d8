"""A drawn lottery's second chance, as the rules read (on the in-memory fake, SQLite and
PostgreSQL): seats never won and seats a winner returns are offered to the other entries down
the published draw order, each entry at most once, as a hold and an invoice; the winner who
returned is refunded (minus the fee) only when the seat is paid; the audit file lists every
offer and ``verify-draw`` replays them against the order."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest

from bot.app import build_services
from core.kernel.clock import ManualClock
from core.kernel.money import Money
from core.lottery.audit import verify_audit
from core.payments.model import IncomingPayment
from core.payments.outcomes import PaymentOutcome
from core.payments.plans import RefundReason
from core.sales.model import Order, entry_payload, invoice_payload
from core.tickets.model import TicketStatus
from tests.factories import lottery_doc

ADMIN = 1
_charges = itertools.count(1)
# Six entrants for five seats: 2 + 2 win (in some order), 1 seat is never won.
ASKS = {200: 2, 201: 2, 202: 2, 203: 2, 204: 2, 205: 2}


class Lottery:
    def __init__(self, db: Any, clock: ManualClock) -> None:
        self.db, self.clock = db, clock
        self.services = build_services(db, clock, admin_ids=frozenset({ADMIN}))

    async def drawn(self) -> None:
        doc = lottery_doc(self.clock.now(), seats=5, max_per_entry=2)
        doc["returns"] = {"fee": "3.00", "offer_minutes": 30}
        event = await self.services.admin.import_event(doc, actor_id=ADMIN)
        self.event_id = event.id
        self.tt = (await self.services.admin.sales(event.id, actor_id=ADMIN)
                   ).types[0].ticket_type.id
        for user, quantity in ASKS.items():
            pending = await self.services.lottery.start_entry(
                user_id=user, chat_id=user, ticket_type_id=self.tt, quantity=quantity)
            done = await self.services.purchase.confirm_payment(IncomingPayment(
                user_id=user, chat_id=user, telegram_charge_id=f"tg_sc{next(_charges)}",
                provider_charge_id=f"ch_sc{next(_charges)}",
                payload=entry_payload(pending.entry.id), amount=pending.entry.total))
            assert done.outcome is PaymentOutcome.ENTERED
        self.clock.advance(timedelta(hours=1, minutes=1))
        assert await self.services.lottery.run_due() == [self.event_id]

    async def audit(self) -> dict[str, Any]:
        return await self.services.lottery.audit(self.event_id)

    async def offer_to(self, user: int) -> Order | None:
        async with self.db.read() as uow:
            entry = await uow.returns.entry_for(user_id=user, ticket_type_id=self.tt)
            if entry is None or entry.offer_order_id is None:
                return None
            return await uow.orders.get(entry.offer_order_id)

    async def pay(self, order: Order) -> Any:
        n = next(_charges)
        return await self.services.purchase.confirm_payment(IncomingPayment(
            user_id=order.user_id, chat_id=order.user_id, telegram_charge_id=f"tg_sc{n}",
            provider_charge_id=f"ch_sc{n}", payload=invoice_payload(order.id),
            amount=order.total))


@pytest.fixture
def lottery(db, clock: ManualClock) -> Lottery:
    return Lottery(db, clock)


async def test_unclaimed_seats_go_down_the_published_draw_order_and_the_audit_replays_them(
        lottery: Lottery) -> None:
    await lottery.drawn()
    before = await lottery.audit()
    assert before["second_chance"] == []
    assert await lottery.services.returns.sweep() >= 1  # queue the non-winners, offer 1 seat
    audit = await lottery.audit()
    losers = [r for r in audit["order"] if r not in audit["winners"]]
    assert audit["second_chance"] == [[losers[0], 1, "unclaimed", "offered"]]
    assert verify_audit(audit) == []
    tampered = {**audit, "second_chance": [[losers[1], 1, "unclaimed", "offered"]]}
    assert any("draw order gives it to" in p for p in verify_audit(tampered))
    assert await lottery.services.returns.sweep() == 0  # idempotent


async def test_a_second_chance_offer_lapses_to_the_next_entry_and_a_paid_one_tickets(
        lottery: Lottery, clock: ManualClock) -> None:
    await lottery.drawn()
    await lottery.services.returns.sweep()
    audit = await lottery.audit()
    first_ref = audit["second_chance"][0][0]
    clock.advance(timedelta(minutes=31))
    await lottery.services.returns.sweep()
    audit = await lottery.audit()
    assert [o[3] for o in audit["second_chance"]] == ["lapsed", "offered"]
    assert audit["second_chance"][0][0] == first_ref
    assert verify_audit(audit) == []
    offered = [u for u in ASKS if (o := await lottery.offer_to(u)) is not None
               and o.hold_is_live(clock.now())]
    assert len(offered) == 1
    order = await lottery.offer_to(offered[0])
    assert order is not None and order.quantity == 1
    done = await lottery.pay(order)
    assert done.outcome is PaymentOutcome.TICKETED and len(done.tickets) == 1
    counts = await lottery.services.returns.counts(lottery.event_id)
    assert (counts.offers, counts.lapsed, counts.paid) == (2, 1, 1)
    async with lottery.db.read() as uow:
        stock = (await uow.events.stock([lottery.tt], now=clock.now()))[lottery.tt]
    assert stock.sold == 5 and stock.available == 0  # every seat sold, none twice


async def test_a_winner_returns_and_is_refunded_minus_the_fee_once_a_non_winner_pays(
        lottery: Lottery, clock: ManualClock) -> None:
    await lottery.drawn()
    await lottery.services.returns.sweep()  # the unclaimed seat is offered first
    won_by = {u: o for u in ASKS if (o := await _won_order(lottery, u)) is not None}
    winner, won = sorted(won_by.items())[0]
    returned = await lottery.services.returns.return_order(user_id=winner, chat_id=winner,
                                                           order_id=won.id)
    assert returned.offered and returned.refund == Money(5400, "EUR")  # 2 × (30 − 3)
    audit = await lottery.audit()
    assert [o[2] for o in audit["second_chance"]] == ["unclaimed", "return"]
    assert verify_audit(audit) == []
    taker = audit["second_chance"][1][0]
    [offer] = [o for u in ASKS if (o := await lottery.offer_to(u)) is not None
               and o.resale_of == won.id]
    assert taker  # a reference, never a name
    done = await lottery.pay(offer)
    assert done.outcome is PaymentOutcome.TICKETED
    async with lottery.db.read() as uow:
        old = await uow.tickets.for_order(won.id)
        refund_items = [await uow.refunds.get(i) for i in range(1, 50)]
    assert all(t.status is TicketStatus.REVOKED for t in old)
    returned_refunds = [r for r in refund_items if r is not None
                        and r.reason is RefundReason.RETURNED]
    assert [(r.user_id, r.amount) for r in returned_refunds] == [(winner, Money(5400, "EUR"))]


async def _won_order(lottery: Lottery, user: int) -> Order | None:
    async with lottery.db.read() as uow:
        for ticket in await uow.tickets.for_owner(user, upcoming_after=lottery.clock.now()):
            return await uow.orders.get(ticket.order_id)
    return None
