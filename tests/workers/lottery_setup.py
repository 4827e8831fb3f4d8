"""A lottery with paid entries (charges in the sandbox's Stripe ledger), made through the
services as the chat would make them, for the multi-worker tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from bot.app import build_services
from bot.sandbox import Sandbox
from bot.storage import tables as t
from core.kernel.clock import SystemClock
from core.payments.model import IncomingPayment
from core.payments.outcomes import PaymentOutcome
from core.sales.model import entry_payload
from tests.factories import lottery_doc

ADMIN = 1


@dataclass
class Lottery:
    event_id: int
    charges: dict[int, str]  # entrant -> Stripe charge


async def paid_lottery(db: Any, sandbox: Sandbox, *, entrants: range, seats: int) -> Lottery:
    """A published lottery, every entrant entered and paid, whose entries closed and whose
    draw is due now (the organizer's times moved to the past, as a lottery looks to the
    scheduler once its draw time came)."""
    clock = SystemClock()
    services = build_services(db, clock, admin_ids=frozenset({ADMIN}))
    doc = lottery_doc(clock.now(), seats=seats, opens_in=-60, max_per_entry=2)
    event = await services.admin.import_event(doc, actor_id=ADMIN)
    sales = await services.admin.sales(event.id, actor_id=ADMIN)
    type_id = sales.types[0].ticket_type.id
    charges: dict[int, str] = {}
    for user in entrants:
        sandbox.user(user)
        pending = await services.lottery.start_entry(
            user_id=user, chat_id=user, ticket_type_id=type_id, quantity=1 + user % 2)
        total = pending.entry.total
        charge = sandbox.stripe.create_charge(total.amount, total.currency)
        payment = IncomingPayment(
            user_id=user, chat_id=user, telegram_charge_id=f"tg_{charge['id']}",
            provider_charge_id=charge["id"], payload=entry_payload(pending.entry.id),
            amount=total)
        await services.purchase.pre_checkout(user_id=user, payload=payment.payload,
                                             amount=total)
        confirmation = await services.purchase.confirm_payment(payment)
        assert confirmation.outcome is PaymentOutcome.ENTERED
        charges[user] = charge["id"]
    now = clock.now()
    async with db.write() as uow:
        await uow.conn.execute(update(t.events).where(t.events.c.id == event.id).values(
            entries_close_at=now - timedelta(seconds=2), draw_at=now - timedelta(seconds=1)))
    return Lottery(event.id, charges)
