"""Reconciliation's verdict for each kind of Stripe charge, on both engines, with a fake list
of charges (the Stripe adapter itself: tests/integration/test_sandbox_stripe.py)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app import build_services
from bot.reconcile import ChargeReconciler
from bot.storage import tables as t
from bot.storage.inbox_store import SqlInbox
from core.kernel.clock import ManualClock
from core.kernel.money import Money
from core.payments.model import IncomingPayment, ProviderCharge
from core.payments.outcomes import PaymentOutcome
from core.payments.plans import RefundReason
from core.payments.reconciliation import ChargeVerdict
from core.sales.model import invoice_payload
from core.sales.service import PurchaseService
from tests.factories import event_doc

ADMIN = 1
GRACE = timedelta(hours=2)


class FakeLedger:
    """Stripe's charge list, as a plain list."""

    def __init__(self) -> None:
        self.charges: list[ProviderCharge] = []

    def add(self, charge_id: str, created: datetime, *, settled: bool = True,
            amount: int = 2500) -> ProviderCharge:
        charge = ProviderCharge(charge_id, Money(amount, "EUR"), created, settled)
        self.charges.insert(0, charge)
        return charge

    async def charges_since(self, created_gte: datetime) -> list[ProviderCharge]:
        return [c for c in self.charges if c.created >= created_gte]


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


def reconciler(db, ledger, clock, **kwargs) -> ChargeReconciler:
    return ChargeReconciler(db, ledger, clock, grace=GRACE, lookback=timedelta(days=3),
                            admin_ids=frozenset({ADMIN}), **kwargs)


async def outbox(db) -> list[tuple[int | None, str, str]]:
    """(chat, kind, message key or refund) of every queued item."""
    async with db.read() as uow:
        rows = (await uow.conn.execute(select(t.outbox.c.chat_id, t.outbox.c.kind,
                                              t.outbox.c.payload))).all()
    out = []
    for chat, kind, payload in rows:
        data = json.loads(payload)
        out.append((chat, kind, data.get("key", "refund")))
    return out


async def refunds(db) -> list[tuple[str, str, int]]:
    async with db.read() as uow:
        return [tuple(r) for r in (await uow.conn.execute(select(
            t.refunds.c.provider_charge_id, t.refunds.c.reason, t.refunds.c.amount_minor)))]


def successful_payment(update_id: int, chat: int, charge_id: str) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": 1, "date": 0, "chat": {"id": chat, "type": "private"},
        "from": {"id": chat, "is_bot": False, "first_name": "Ann"},
        "successful_payment": {"currency": "EUR", "total_amount": 2500,
                               "invoice_payload": "o:9", "telegram_payment_charge_id": "tg9",
                               "provider_payment_charge_id": charge_id}}}


async def test_each_kind_of_charge_gets_its_verdict_and_only_the_unexplained_is_refunded(
        db, clock: ManualClock, ledger: FakeLedger) -> None:
    admin = build_services(db, clock, admin_ids=frozenset({ADMIN})).admin
    purchase = PurchaseService(db, clock)
    event = await admin.import_event(event_doc(capacity=5), actor_id=ADMIN)
    type_id = (await admin.sales(event.id, actor_id=ADMIN)).types[0].ticket_type.id
    hold = await purchase.hold(user_id=50, ticket_type_id=type_id, quantity=1)
    old = clock.now() - GRACE - timedelta(minutes=1)
    ledger.add("ch_paid", old)
    await purchase.confirm_payment(IncomingPayment(
        50, 50, "tg_paid", "ch_paid", invoice_payload(hold.order.id), hold.order.total))
    ledger.add("ch_failed", old, settled=False)
    ledger.add("ch_lost", old)
    ledger.add("ch_recent", clock.now() - timedelta(minutes=5))
    ledger.add("ch_retrying", old)
    ledger.add("ch_parked", old)
    inbox = SqlInbox(db)
    await inbox.store([successful_payment(1, 61, "ch_retrying"),
                       successful_payment(2, 62, "ch_parked")], now=old)
    await inbox.settle(done=[], deferred=[(1, 3, clock.now(), "OperationalError")],
                       parked=[(2, 5, clock.now(), "not a passing fault: KeyError")])

    report = await reconciler(db, ledger, clock).run_once()

    assert report.listed == 6
    assert sorted(report.refunded) == ["ch_lost", "ch_parked"]
    assert {v: report.count(v) for v in ChargeVerdict} == {
        ChargeVerdict.EXPLAINED: 1, ChargeVerdict.NO_MONEY: 1, ChargeVerdict.IN_INBOX: 1,
        ChargeVerdict.TOO_RECENT: 1, ChargeVerdict.REFUND: 2}
    assert sorted(await refunds(db)) == [
        ("ch_lost", RefundReason.UNCLAIMED_CHARGE.value, 2500),
        ("ch_parked", RefundReason.UNCLAIMED_CHARGE.value, 2500)]
    queued = await outbox(db)
    assert sum(kind == "refund" for _, kind, _ in queued) == 2
    assert (62, "message", "refund_started.unclaimed_charge") in queued  # chat known
    assert [c for c, _, k in queued if k == "admin.charge_refunded"] == [ADMIN, ADMIN]

    again = await reconciler(db, ledger, clock).run_once()
    assert again.refunded == [] and again.count(ChargeVerdict.EXPLAINED) == 3
    assert len(await refunds(db)) == 2 and len(await outbox(db)) == len(queued)


async def test_a_late_payment_for_a_refunded_charge_is_not_ticketed_and_told_once(
        db, clock: ManualClock, ledger: FakeLedger) -> None:
    admin = build_services(db, clock, admin_ids=frozenset({ADMIN})).admin
    purchase = PurchaseService(db, clock)
    event = await admin.import_event(event_doc(capacity=5), actor_id=ADMIN)
    type_id = (await admin.sales(event.id, actor_id=ADMIN)).types[0].ticket_type.id
    hold = await purchase.hold(user_id=70, ticket_type_id=type_id, quantity=1)
    ledger.add("ch_late", clock.now())
    clock.advance(GRACE + timedelta(minutes=1))
    assert (await reconciler(db, ledger, clock).run_once()).refunded == ["ch_late"]
    late = IncomingPayment(70, 70, "tg_late", "ch_late", invoice_payload(hold.order.id),
                           hold.order.total)
    first = await purchase.confirm_payment(late)
    second = await purchase.confirm_payment(late)
    assert first.outcome is second.outcome is PaymentOutcome.ALREADY_PROCESSED
    assert first.tickets == [] and len(await refunds(db)) == 1
    notices = [(c, k) for c, _, k in await outbox(db) if k.startswith("refund_started")]
    assert notices == [(70, "refund_started.unclaimed_charge")]


async def test_with_refunds_off_an_unexplained_charge_is_only_reported_once(
        db, clock: ManualClock, ledger: FakeLedger) -> None:
    ledger.add("ch_other", clock.now() - GRACE - timedelta(minutes=1))
    quiet = reconciler(db, ledger, clock, refund=False)
    for _ in range(2):
        report = await quiet.run_once()
        assert report.refunded == [] and report.by_verdict == {"reported": 1}
    assert await refunds(db) == []
    assert await outbox(db) == [(ADMIN, "message", "admin.charge_unexplained")]
