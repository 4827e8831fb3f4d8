"""What payments and refunds need from storage and from the provider (Stripe)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.kernel.money import Money
from core.payments.model import (
    IncomingPayment,
    PaymentRecord,
    ProviderCharge,
    Refund,
    RefundStatus,
)
from core.payments.plans import RefundReason


class PaymentRepository(Protocol):
    """Payments, unique per Telegram charge id."""

    async def record(self, payment: IncomingPayment, *, order_id: int | None,
                     now: datetime, entry_id: int | None = None) -> tuple[PaymentRecord, bool]:
        """Store a payment; returns (record, created). ``created`` is False for a repeat."""
        ...

    async def for_order(self, order_id: int) -> list[PaymentRecord]:
        """Payments attached to an order."""
        ...

    async def paying_for_order(self, order_id: int) -> PaymentRecord | None:
        """The payment that paid for a paid order's tickets: the order's own (direct sale)
        or its lottery entry's, the first one not refunded as a whole."""
        ...


class RefundRepository(Protocol):
    """Refunds owed and their progress."""

    async def request(self, payment: PaymentRecord, *, amount: Money, reason: RefundReason,
                      now: datetime, ticket_id: int | None = None,
                      note: str | None = None) -> Refund:
        """Record that ``payment`` must be refunded: once as a whole (``ticket_id`` None), or
        once per ticket refunded on its own."""
        ...

    async def refunded_minor(self, payment_id: int) -> int:
        """What the refunds of a payment add up to (any status), in minor units."""
        ...

    async def get(self, refund_id: int) -> Refund | None:
        """One refund or None."""
        ...

    async def mark_succeeded(self, refund_id: int, *, provider_refund_id: str,
                             now: datetime) -> None:
        """Stripe confirmed the refund."""
        ...

    async def mark_attempt(self, refund_id: int, *, error: str, final: bool,
                           now: datetime) -> None:
        """An attempt failed; ``final`` flags it for the organizer."""
        ...

    async def counts(self, event_id: int | None = None) -> dict[RefundStatus, tuple[int, int]]:
        """(count, amount in minor units) per status."""
        ...


class ChargeLedger(Protocol):
    """The payment provider's list of charges (Stripe), for reconciliation."""

    async def charges_since(self, created_gte: datetime) -> list[ProviderCharge]:
        """Every charge created at or after ``created_gte``, newest first.

        Raises:
            GatewayError: the provider could not be asked (transient or not).
        """
        ...


class RefundGateway(Protocol):
    """The payment provider's refund API (Stripe)."""

    async def refund(self, *, charge_id: str, amount: Money, idempotency_key: str,
                     metadata: dict[str, str]) -> str:
        """Refund ``amount`` of a charge exactly once per key; returns the provider refund id.

        Raises:
            GatewayError: on failure, with ``permanent`` telling whether a retry can help.
        """
        ...
