"""A short Stripe outage must not turn queued refunds into permanent failures."""

from __future__ import annotations

from datetime import timedelta

from bot.app import build_services
from core.kernel import outbox
from core.payments.model import GatewayError, IncomingPayment, RefundStatus
from core.payments.refunds import RefundService
from core.sales.model import invoice_payload
from core.sales.service import PaymentOutcome, PurchaseService
from scheduler.outbox_worker import OutboxWorker
from tests.factories import event_doc

ADMIN = 1


class OutageGateway:
    def __init__(self, clock, until) -> None:
        self.clock, self.until = clock, until

    async def refund(self, **_: object) -> str:
        if self.clock.now() < self.until:
            raise GatewayError("APIConnectionError: stripe unreachable", permanent=False)
        return "re_1"


async def test_refund_survives_a_three_minute_stripe_outage(db, outbox_store, clock) -> None:
    admin = build_services(db, clock, admin_ids=frozenset({ADMIN})).admin
    event = await admin.import_event(event_doc(capacity=5), actor_id=ADMIN)
    tt = (await admin.sales(event.id, actor_id=ADMIN)).types[0].ticket_type.id
    purchase = PurchaseService(db, clock)
    hold = await purchase.hold(user_id=10, ticket_type_id=tt, quantity=1)
    conf = await purchase.confirm_payment(IncomingPayment(
        user_id=10, chat_id=10, telegram_charge_id="tg_1", provider_charge_id="ch_1",
        payload=invoice_payload(hold.order.id), amount=hold.order.total.times(2)))
    assert conf.outcome is PaymentOutcome.REFUNDING

    refunds = RefundService(db, OutageGateway(clock, clock.now() + timedelta(minutes=3)),
                            clock)

    async def message(item):
        return None

    async def refund_effect(item):
        await refunds.execute(int(item.payload["refund_id"]))

    async def give_up(item, error):
        await refunds.give_up(int(item.payload["refund_id"]), error)

    worker = OutboxWorker(outbox_store, {outbox.MESSAGE: message,
                                               outbox.REFUND: refund_effect}, clock,
                          give_up={outbox.REFUND: give_up})  # production defaults
    for _ in range(60 * 15):  # fifteen minutes, one second at a time
        await worker.drain_once()
        clock.advance(timedelta(seconds=1))

    async with db.read() as uow:
        counts = await uow.refunds.counts()
    assert counts[RefundStatus.SUCCEEDED][0] == 1, f"refund not made: {counts}"
