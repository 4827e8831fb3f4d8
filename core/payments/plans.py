"""What owing a payment back produces: the one definition every refund path follows.

A refund is a pending refund row for the payment's whole amount with its reason, plus the
``refund`` outbox item (``refund:<refund id>``) on which the worker calls the provider; the
payer is told at once (``refund_started.<reason>``, ``refund_notice:<refund id>``) unless
another message of the same decision tells them (an event's cancellation notice, the draw's
result that arrives with the refund itself).

A purchase or an entry refunds one payment at a time (``core.services.purchase.queue_refund``);
a cancellation and a draw refund thousands at once, set-based in storage, from the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from core.kernel.money import Money
from core.kernel.outbox import KeyPattern, Message


class RefundReason(StrEnum):
    """Why money goes back."""

    SEATS_GONE = "seats_gone"
    LIMIT_EXCEEDED = "limit_exceeded"
    DUPLICATE_PAYMENT = "duplicate_payment"
    UNMATCHED_PAYMENT = "unmatched_payment"
    EVENT_CANCELLED = "event_cancelled"
    LOTTERY_NOT_SELECTED = "lottery_not_selected"
    ENTRY_TOO_LATE = "entry_too_late"
    # A Stripe charge that no payment explains (its successful_payment never got recorded):
    # found and refunded by reconciliation (bot.reconcile).
    UNCLAIMED_CHARGE = "unclaimed_charge"
    # A returned order whose seats a person from the waiting list paid for (minus the fee).
    RETURNED = "returned"
    # The organizer refunded one ticket or one order from the console (with their reason).
    ORGANIZER_REFUND = "organizer_refund"


# The outbox item that makes the provider call, one per refund.
REFUND_ITEM = KeyPattern("refund:")
# The "your money is on its way back" message, one per refund.
REFUND_NOTICE = KeyPattern("refund_notice:")


@dataclass(frozen=True, slots=True)
class RefundPlan:
    """Owe payments back in full for ``reason``.

    Produces per payment: a pending refund row (once per payment), the ``refund`` outbox item
    keyed :attr:`item_key`, and, when :attr:`tell_payer`, the :meth:`notice` to the payer's
    chat keyed :attr:`notice_key`.
    """

    reason: RefundReason
    tell_payer: bool = True
    item_key: KeyPattern = REFUND_ITEM
    notice_key: KeyPattern = REFUND_NOTICE

    def notice(self, amount: Money) -> Message:
        """What the payer reads when the refund starts."""
        return Message(f"refund_started.{self.reason.value}", {"amount": amount})

    @staticmethod
    def work(refund_id: int) -> dict[str, Any]:
        """The ``refund`` outbox item's payload."""
        return {"refund_id": refund_id}


def refund_for(reason: RefundReason) -> RefundPlan:
    """One payment refunded on its own (a purchase or an entry that cannot be honoured):
    the payer is told why at once."""
    return RefundPlan(reason)


# An event's cancellation: its notice tells every payer once, per chat.
EVENT_CANCELLED = RefundPlan(RefundReason.EVENT_CANCELLED, tell_payer=False)
# A lottery's losers: they learn the result when the refund is done (``lottery_not_selected``).
LOTTERY_NOT_SELECTED = RefundPlan(RefundReason.LOTTERY_NOT_SELECTED, tell_payer=False)
