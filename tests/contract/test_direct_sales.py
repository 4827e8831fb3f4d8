"""Direct sales: holds, availability, pre-checkout and payments, each confirmed exactly once
(on the in-memory fake, SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest

from bot.app import build_services
from core.catalog.service import CatalogService
from core.kernel import outbox
from core.kernel.clock import ManualClock
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.organizer.admin import AdminService
from core.payments.model import IncomingPayment, RefundStatus
from core.payments.plans import RefundReason
from core.sales.model import invoice_payload
from core.sales.service import PaymentOutcome, PurchaseService
from tests.factories import event_doc

ADMIN = 1
_charges = itertools.count(1)


def payment_for(hold, *, user_id: int | None = None, amount: Money | None = None,
                charge: str | None = None) -> IncomingPayment:
    order = hold.order
    n = next(_charges)
    return IncomingPayment(
        user_id=user_id or order.user_id, chat_id=user_id or order.user_id,
        telegram_charge_id=charge or f"tg_charge_{n}", provider_charge_id=f"ch_{n}",
        payload=invoice_payload(order.id), amount=amount or order.total,
    )


@pytest.fixture
async def shop(db, clock: ManualClock):
    admin = build_services(db, clock, admin_ids=frozenset({ADMIN})).admin
    purchase = PurchaseService(db, clock, hold_minutes=10)
    catalog = CatalogService(db, clock)
    return admin, purchase, catalog


async def ga_type_id(admin: AdminService, **kwargs) -> int:
    event = await admin.import_event(event_doc(**kwargs), actor_id=ADMIN)
    sales = await admin.sales(event.id, actor_id=ADMIN)
    return sales.types[0].ticket_type.id


async def test_a_hold_reduces_availability_until_it_expires(shop, clock) -> None:
    admin, purchase, catalog = shop
    tt = await ga_type_id(admin, capacity=5)
    await purchase.hold(user_id=10, ticket_type_id=tt, quantity=3)
    card = await catalog.event_card((await catalog.list_events()).items[0].event.id, 11)
    assert card.offers[0].stock.available == 2
    clock.advance(timedelta(minutes=10, seconds=1))
    card = await catalog.event_card(card.event.id, 11)
    assert card.offers[0].stock.available == 5


async def test_twenty_buyers_racing_for_five_seats_get_exactly_five(shop) -> None:
    admin, purchase, _ = shop
    tt = await ga_type_id(admin, capacity=5)

    async def try_hold(user: int):
        try:
            return await purchase.hold(user_id=user, ticket_type_id=tt, quantity=1)
        except DomainError as exc:
            return exc.code

    results = await asyncio.gather(*(try_hold(100 + i) for i in range(20)))
    holds = [r for r in results if not isinstance(r, ErrorCode)]
    assert len(holds) == 5
    assert {r for r in results if isinstance(r, ErrorCode)} == {ErrorCode.SOLD_OUT}
    confirmations = await asyncio.gather(*(purchase.confirm_payment(payment_for(h))
                                           for h in holds))
    assert [c.outcome for c in confirmations] == [PaymentOutcome.TICKETED] * 5
    sales = await admin.sales(holds[0].event.id, actor_id=ADMIN)
    assert sales.types[0].stock.sold == 5 and sales.types[0].stock.available == 0


async def test_a_payment_is_confirmed_exactly_once_per_charge_id(shop, db) -> None:
    admin, purchase, _ = shop
    tt = await ga_type_id(admin)
    hold = await purchase.hold(user_id=10, ticket_type_id=tt, quantity=2)
    payment = payment_for(hold)
    first, again = await asyncio.gather(purchase.confirm_payment(payment),
                                        purchase.confirm_payment(payment))
    outcomes = sorted([first.outcome, again.outcome])
    assert outcomes == sorted([PaymentOutcome.TICKETED, PaymentOutcome.ALREADY_PROCESSED])
    assert len(first.tickets) == len(again.tickets) == 2
    async with db.read() as uow:
        assert len(await uow.tickets.for_order(hold.order.id)) == 2


async def test_a_second_payment_for_a_paid_order_is_refunded(shop, db) -> None:
    admin, purchase, _ = shop
    tt = await ga_type_id(admin)
    hold = await purchase.hold(user_id=10, ticket_type_id=tt, quantity=1)
    await purchase.confirm_payment(payment_for(hold))
    second = await purchase.confirm_payment(payment_for(hold))
    assert second.outcome is PaymentOutcome.REFUNDING
    assert second.refund_reason is RefundReason.DUPLICATE_PAYMENT
    async with db.read() as uow:
        assert len(await uow.tickets.for_order(hold.order.id)) == 1


async def test_payment_for_an_expired_hold_whose_seats_were_resold_is_refunded(
        shop, db, clock) -> None:
    admin, purchase, _ = shop
    tt = await ga_type_id(admin, capacity=1)
    late = await purchase.hold(user_id=10, ticket_type_id=tt, quantity=1)
    clock.advance(timedelta(minutes=11))
    other = await purchase.hold(user_id=11, ticket_type_id=tt, quantity=1)
    await purchase.confirm_payment(payment_for(other))
    result = await purchase.confirm_payment(payment_for(late))
    assert result.outcome is PaymentOutcome.REFUNDING
    assert result.refund_reason is RefundReason.SEATS_GONE
    sales = await admin.sales(late.event.id, actor_id=ADMIN)
    assert sales.types[0].stock.sold == 1
    async with db.read() as uow:
        counts = await uow.refunds.counts(late.event.id)
    assert counts[RefundStatus.PENDING] == (1, 2500)


async def test_payment_for_an_expired_hold_with_seats_still_free_is_honoured(
        shop, clock) -> None:
    admin, purchase, _ = shop
    tt = await ga_type_id(admin, capacity=3)
    hold = await purchase.hold(user_id=10, ticket_type_id=tt, quantity=2)
    clock.advance(timedelta(minutes=30))
    result = await purchase.confirm_payment(payment_for(hold))
    assert result.outcome is PaymentOutcome.TICKETED and len(result.tickets) == 2


async def test_pre_checkout_refuses_a_wrong_amount_and_someone_elses_order(shop) -> None:
    admin, purchase, _ = shop
    tt = await ga_type_id(admin)
    hold = await purchase.hold(user_id=10, ticket_type_id=tt, quantity=1)
    payload = invoice_payload(hold.order.id)
    with pytest.raises(DomainError) as wrong_amount:
        await purchase.pre_checkout(user_id=10, payload=payload, amount=Money(1, "EUR"))
    assert wrong_amount.value.code is ErrorCode.AMOUNT_MISMATCH
    with pytest.raises(DomainError) as stranger:
        await purchase.pre_checkout(user_id=99, payload=payload, amount=hold.order.total)
    assert stranger.value.code is ErrorCode.INVOICE_NOT_YOURS  # a forwarded invoice
    await purchase.pre_checkout(user_id=10, payload=payload, amount=hold.order.total)


async def test_per_user_limit_counts_tickets_already_bought(shop) -> None:
    admin, purchase, _ = shop
    tt = await ga_type_id(admin, per_user_limit=3)
    hold = await purchase.hold(user_id=10, ticket_type_id=tt, quantity=2)
    await purchase.confirm_payment(payment_for(hold))
    choice = await purchase.quantity_choice(user_id=10, ticket_type_id=tt)
    assert choice.max_quantity == 1
    with pytest.raises(DomainError) as exc:
        await purchase.hold(user_id=10, ticket_type_id=tt, quantity=2)
    assert exc.value.code is ErrorCode.USER_LIMIT_REACHED


async def test_paying_an_old_and_a_new_hold_cannot_exceed_stock(shop, clock) -> None:
    admin, purchase, _ = shop
    tt = await ga_type_id(admin, capacity=1)
    old = await purchase.hold(user_id=10, ticket_type_id=tt, quantity=1)
    clock.advance(timedelta(minutes=11))
    new = await purchase.hold(user_id=10, ticket_type_id=tt, quantity=1)
    results = [await purchase.confirm_payment(payment_for(old)),
               await purchase.confirm_payment(payment_for(new))]
    assert sorted(r.outcome for r in results) == [PaymentOutcome.REFUNDING,
                                                  PaymentOutcome.TICKETED]


async def test_confirmed_payment_queues_the_confirmation_and_one_qr_per_ticket(
        shop, outbox_store) -> None:
    admin, purchase, _ = shop
    tt = await ga_type_id(admin)
    hold = await purchase.hold(user_id=10, ticket_type_id=tt, quantity=3)
    await purchase.confirm_payment(payment_for(hold))
    items = await outbox_store.claim_due(now=hold.order.created_at + timedelta(seconds=1),
                                         limit=50)
    kinds = [i.kind for i in items]
    assert kinds == [outbox.MESSAGE, outbox.TICKET, outbox.TICKET, outbox.TICKET]
    assert items[0].payload["params"]["total"] == Money(7500, "EUR")
    assert items[0].chat_id == 10
