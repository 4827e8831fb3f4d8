"""A refund whose outbox item died must still be flagged (never silently dropped)."""

from __future__ import annotations

import contextlib

from bot.app import build_services
from core.kernel import outbox
from core.payments.model import GatewayError, IncomingPayment, RefundStatus
from core.payments.refunds import RefundService
from core.sales.model import invoice_payload
from core.sales.service import PaymentOutcome, PurchaseService
from scheduler.outbox_worker import OutboxWorker
from tests.factories import event_doc

ADMIN = 1


class DownGateway:
    async def refund(self, **_: object) -> str:
        raise GatewayError("stripe unreachable", permanent=False)


async def test_refund_is_flagged_even_if_give_up_hook_fails_once(db, outbox_store, clock) -> None:
    admin = build_services(db, clock, admin_ids=frozenset({ADMIN})).admin
    event = await admin.import_event(event_doc(capacity=5), actor_id=ADMIN)
    tt = (await admin.sales(event.id, actor_id=ADMIN)).types[0].ticket_type.id
    purchase = PurchaseService(db, clock)
    hold = await purchase.hold(user_id=10, ticket_type_id=tt, quantity=1)
    wrong = hold.order.total.times(2)  # an amount mismatch: must be refunded
    conf = await purchase.confirm_payment(IncomingPayment(
        user_id=10, chat_id=10, telegram_charge_id="tg_1", provider_charge_id="ch_1",
        payload=invoice_payload(hold.order.id), amount=wrong))
    assert conf.outcome is PaymentOutcome.REFUNDING

    refunds = RefundService(db, DownGateway(), clock)
    calls = {"n": 0}

    async def give_up(item, error):
        calls["n"] += 1
        if calls["n"] == 1:  # a database blip, or the process is killed right here
            raise ConnectionError("database went away")
        await refunds.give_up(int(item.payload["refund_id"]), error)

    async def refund_effect(item):
        await refunds.execute(int(item.payload["refund_id"]))

    async def message(item):
        return None

    worker = OutboxWorker(outbox_store, {outbox.MESSAGE: message,
                                               outbox.REFUND: refund_effect}, clock,
                          give_up={outbox.REFUND: give_up}, max_attempts=1)
    for _ in range(3):
        with contextlib.suppress(ConnectionError):
            await worker.drain_once()

    async with db.read() as uow:
        refund = (await uow.refunds.counts())
    # The money must be either refunded, retried later, or flagged for the organizer.
    pending_items = await outbox_store.pending_count()
    assert refund[RefundStatus.FAILED][0] == 1 or pending_items > 0, (
        f"refund stuck: {refund}, pending outbox items: {pending_items}")
