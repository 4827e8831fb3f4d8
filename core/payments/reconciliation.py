"""Reconciliation against the payment provider: the rule for a charge nothing explains.

The durable inbox retries a successful payment that could not be recorded, but an update can
still be lost before it reaches the inbox (Telegram keeps undelivered updates for 24 hours
only; a bug can park it). Money taken and nothing recorded is the worst outcome a ticketing
product has, so the provider's own list of charges is the second net.

What can be matched: a charge whose id is some payment's ``provider_charge_id`` is
**explained** (it was ticketed, entered in a lottery, or is being refunded by its own refund
row). Telegram puts nothing else in the charge that we can trust, so an unmatched charge cannot
be tied to an order with certainty, and is never ticketed from the charge alone.

What is safe with a charge nothing explains, once its grace period has passed: **refund it in
full**, exactly once, through the same refund path as every other refund (the outbox and the
refund service) with a Stripe Idempotency-Key derived from the charge id; the charge is first
*claimed* by a payment row of its own, so a successful_payment that turns up later (an
operator retrying a parked update) finds the charge taken and changes nothing. The operator is
flagged (log and a message to the admins) and the payer is told when their chat is known (a
parked update carries it).

The grace period must outlast the inbox's retries of a successful payment: a charge whose
update is still waiting for a retry belongs to the inbox, whatever its age, and is left alone.
A charge with no money kept (failed, uncaptured) needs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.kernel import outbox
from core.payments.model import IncomingPayment, PaymentRecord, ProviderCharge
from core.payments.plans import RefundReason
from core.unit_of_work import UnitOfWork


class ChargeVerdict(StrEnum):
    """What reconciliation does with one charge."""

    EXPLAINED = "explained"  # a payment records it: nothing to do
    NO_MONEY = "no_money"  # failed or not captured: nothing was taken
    IN_INBOX = "in_inbox"  # its successful_payment waits for a retry: the inbox owns it
    TOO_RECENT = "too_recent"  # within the grace period: its update may still be on its way
    REFUND = "refund"  # nothing explains it after the grace period: claim and refund in full


@dataclass(frozen=True, slots=True)
class ChargeContext:
    """What the database says about one charge."""

    explained: bool
    in_inbox: bool = False  # a stored successful_payment of it that is not parked


def judge(charge: ProviderCharge, context: ChargeContext, *, now: datetime,
          grace: timedelta) -> ChargeVerdict:
    """The verdict for ``charge`` at ``now`` (see the module docstring)."""
    if context.explained:
        return ChargeVerdict.EXPLAINED
    if not charge.settled:
        return ChargeVerdict.NO_MONEY
    if context.in_inbox:
        return ChargeVerdict.IN_INBOX
    if now - charge.created < grace:
        return ChargeVerdict.TOO_RECENT
    return ChargeVerdict.REFUND


def late_payment_notice_key(charge_id: str) -> str:
    """Outbox dedupe key of the one notice a payer gets about a charge refunded by
    reconciliation (whichever side learns their chat first sends it)."""
    return f"refund_notice:charge:{charge_id}"


async def tell_late_payer(uow: UnitOfWork, record: PaymentRecord, payment: IncomingPayment,
                          now: datetime) -> bool:
    """A successful_payment arrived for a charge that reconciliation already claimed and
    refunded: nothing is ticketed; the payer is told (once) that the money goes back.

    Returns:
        True if a notice was queued (the payment was a reconciled one).
    """
    if record.telegram_charge_id == payment.telegram_charge_id or not payment.provider_charge_id:
        return False
    await uow.outbox.put(
        outbox.MESSAGE,
        {"key": f"refund_started.{RefundReason.UNCLAIMED_CHARGE.value}",
         "params": {"amount": record.amount}},
        dedupe_key=late_payment_notice_key(payment.provider_charge_id), now=now,
        chat_id=payment.chat_id)
    return True
