"""A hold that expires while its payment waits for the write lock is not honoured."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import timedelta

from bot.app import build_services
from core.payments.model import IncomingPayment
from core.payments.outcomes import PaymentOutcome
from core.sales.model import invoice_payload
from core.sales.service import PurchaseService
from tests.factories import event_doc

ADMIN = 1


class SlowWriteLock:
    """The real database, but write() first waits at a gate: models waiting for the
    SQLite write lock / the PostgreSQL ticket-type row lock behind other writers."""

    def __init__(self, db) -> None:
        self._db = db
        self.waiting = asyncio.Event()
        self.gate = asyncio.Event()

    @asynccontextmanager
    async def write(self):
        self.waiting.set()
        await self.gate.wait()
        async with self._db.write() as uow:
            yield uow

    def read(self):
        return self._db.read()


async def test_payment_after_hold_expired_while_waiting_for_lock_does_not_oversell(
        db, clock) -> None:
    admin = build_services(db, clock, admin_ids=frozenset({ADMIN})).admin
    event = await admin.import_event(event_doc(capacity=1), actor_id=ADMIN)
    tt = (await admin.sales(event.id, actor_id=ADMIN)).types[0].ticket_type.id
    fast = PurchaseService(db, clock, hold_minutes=10)
    slow_db = SlowWriteLock(db)
    slow = PurchaseService(slow_db, clock, hold_minutes=10)

    hold_a = await fast.hold(user_id=10, ticket_type_id=tt, quantity=1)
    clock.advance(timedelta(minutes=9, seconds=59))  # 1 s of hold A left
    payment = IncomingPayment(
        user_id=10, chat_id=10, telegram_charge_id="tg_a", provider_charge_id="ch_a",
        payload=invoice_payload(hold_a.order.id), amount=hold_a.order.total)
    confirm = asyncio.create_task(slow.confirm_payment(payment))
    await slow_db.waiting.wait()          # read the clock, now queued behind other writers
    clock.advance(timedelta(seconds=5))   # hold A has really expired meanwhile
    hold_b = await fast.hold(user_id=20, ticket_type_id=tt, quantity=1)  # last seat, legally
    await fast.confirm_payment(IncomingPayment(
        user_id=20, chat_id=20, telegram_charge_id="tg_b", provider_charge_id="ch_b",
        payload=invoice_payload(hold_b.order.id), amount=hold_b.order.total))
    slow_db.gate.set()
    result = await confirm

    sales = (await admin.sales(event.id, actor_id=ADMIN)).types[0].stock
    assert sales.sold <= sales.capacity, f"oversold: {sales.sold} sold of {sales.capacity}"
    assert result.outcome is PaymentOutcome.REFUNDING
