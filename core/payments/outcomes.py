"""What a successful payment ends in, shared by direct sales and lottery entries.

An invoice payload names an order (a purchase) or an entry (a lottery): the purchase service
takes every payment and hands an entry's to :class:`EntryPayments`, so neither service imports
the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from core.kernel import outbox
from core.kernel.money import Money
from core.payments.model import IncomingPayment, PaymentRecord
from core.payments.plans import RefundReason, refund_for
from core.sales.model import Order
from core.tickets.model import Ticket
from core.unit_of_work import UnitOfWork


class PaymentOutcome(StrEnum):
    """How a successful payment ended."""

    TICKETED = "ticketed"
    ENTERED = "entered"
    REFUNDING = "refunding"
    ALREADY_PROCESSED = "already_processed"


@dataclass(frozen=True, slots=True)
class Confirmation:
    """Result of :meth:`PurchaseService.confirm_payment`."""

    outcome: PaymentOutcome
    payment_id: int
    order_id: int | None
    tickets: list[Ticket]
    refund_reason: RefundReason | None = None


class EntryPayments(Protocol):
    """Where the purchase service sends the payments of lottery entries."""

    async def pre_checkout(self, *, user_id: int, entry_id: int, amount: Money) -> None:
        """Raise a DomainError unless the entry may be paid now."""

    async def confirm_payment(self, payment: IncomingPayment, entry_id: int) -> Confirmation:
        """Put a paid entry into the draw, exactly once per charge."""


class Resales(Protocol):
    """What the purchase service asks about a waiting-list offer's order (``resale_of``)."""

    async def is_offer(self, uow: UnitOfWork, order: Order) -> bool:
        """True if the order is a waiting-list or second-chance offer."""

    async def refusal(self, uow: UnitOfWork, order: Order, now: datetime) -> RefundReason | None:
        """None if the offer may be paid now, else why its payment goes back."""

    async def settle(self, uow: UnitOfWork, order: Order, now: datetime) -> None:
        """The offer was paid and ticketed: settle it (and its return) in the same
        transaction."""


async def queue_refund(uow: UnitOfWork, payment: PaymentRecord, reason: RefundReason,
                       now: datetime) -> None:
    """Owe ``payment`` back in full (:func:`core.refunds.refund_for`): a refund row, a notice
    to the payer, the Stripe call."""
    plan = refund_for(reason)
    refund = await uow.refunds.request(payment, amount=payment.amount, reason=plan.reason,
                                       now=now)
    if plan.tell_payer:
        await uow.outbox.put(outbox.MESSAGE, plan.notice(payment.amount).payload(),
                             dedupe_key=plan.notice_key.of(refund.id), now=now,
                             chat_id=payment.chat_id)
    await uow.outbox.put(outbox.REFUND, plan.work(refund.id),
                         dedupe_key=plan.item_key.of(refund.id), now=now)
