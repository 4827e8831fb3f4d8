"""Payments and refunds as the domain records them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.kernel.money import Money
from core.payments.plans import RefundReason


class RefundStatus(StrEnum):
    """A refund is pending until Stripe confirms it; ``failed`` needs the organizer."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class IncomingPayment:
    """What Telegram reports in ``successful_payment``."""

    user_id: int
    chat_id: int
    telegram_charge_id: str
    provider_charge_id: str
    payload: str
    amount: Money
    first_name: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    """A payment we received, stored once per Telegram charge id."""

    id: int
    order_id: int | None
    user_id: int
    chat_id: int
    telegram_charge_id: str
    provider_charge_id: str
    amount: Money
    received_at: datetime
    entry_id: int | None = None


@dataclass(frozen=True, slots=True)
class Refund:
    """Money owed back for one payment."""

    id: int
    payment_id: int
    user_id: int
    chat_id: int
    amount: Money
    reason: RefundReason
    status: RefundStatus
    provider_charge_id: str
    attempts: int
    provider_refund_id: str | None = None
    last_error: str | None = None
    # One ticket refunded on its own (None: the whole payment, or what is left of it).
    ticket_id: int | None = None
    # The organizer's reason, for a refund they decided.
    note: str | None = None

    @property
    def idempotency_key(self) -> str:
        """Stripe Idempotency-Key: one refund per payment, whatever the retries (one per
        charge for a charge refunded by reconciliation, one per ticket refunded on its
        own)."""
        if self.reason is RefundReason.UNCLAIMED_CHARGE:
            return f"tq-refund-charge-{self.provider_charge_id}"
        if self.ticket_id is not None:
            return f"tq-refund-{self.payment_id}-ticket-{self.ticket_id}"
        return f"tq-refund-{self.payment_id}"


class GatewayError(Exception):
    """A payment provider call failed. ``permanent`` errors must not be retried."""

    def __init__(self, message: str, *, permanent: bool, code: str | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code


@dataclass(frozen=True, slots=True)
class ProviderCharge:
    """A charge as the payment provider lists it.

    Attributes:
        settled: money was taken and kept (succeeded, captured, paid); refunds aside.
        amount_refunded: what was refunded already, by anyone.
    """

    id: str
    amount: Money
    created: datetime
    settled: bool
    amount_refunded: int = 0
