"""Stripe's list of charges, for reconciliation (implements
``core.payments.ports.ChargeLedger``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import stripe

from core.kernel.money import Money
from core.payments.model import GatewayError, ProviderCharge

PAGE = 100  # Stripe's largest page


class StripeChargeLedger:
    """Lists charges with ``GET /v1/charges`` (``created[gte]``, pages of 100 by
    ``starting_after``), the way ``StripeRefundGateway`` talks to Stripe."""

    def __init__(self, secret_key: str, *, api_base: str | None = None,
                 timeout: float = 20.0, max_pages: int = 1000) -> None:
        options: dict[str, object] = {
            "http_client": stripe.HTTPXClient(timeout=timeout),
            "max_network_retries": 2,  # a read: safe to retry
        }
        if api_base:
            options["base_addresses"] = {"api": api_base}
        self._client = stripe.StripeClient(secret_key, **options)  # type: ignore[arg-type]
        self._max_pages = max_pages

    async def charges_since(self, created_gte: datetime) -> list[ProviderCharge]:
        """Every charge created at or after ``created_gte``, newest first.

        Raises:
            GatewayError: Stripe could not be asked (``permanent`` for a refused request).
        """
        params: dict[str, Any] = {"created": {"gte": int(created_gte.timestamp())},
                                  "limit": PAGE}
        out: list[ProviderCharge] = []
        for _ in range(self._max_pages):
            try:
                page = await self._client.v1.charges.list_async(params=params)  # type: ignore[arg-type]
            except stripe.InvalidRequestError as exc:
                raise GatewayError(f"Stripe refused the charge list: {exc.code}",
                                   permanent=True, code=exc.code) from None
            except stripe.StripeError as exc:
                raise GatewayError(f"{type(exc).__name__} code={exc.code} "
                                   f"status={exc.http_status}", permanent=False,
                                   code=exc.code) from None
            out.extend(_charge(c) for c in page.data)
            if not page.has_more or not page.data:
                return out
            params = {**params, "starting_after": page.data[-1].id}
        raise GatewayError(f"more than {self._max_pages} pages of charges", permanent=False)


def _charge(c: Any) -> ProviderCharge:
    # A StripeObject is not a dict: fields are attributes (absent ones raise).
    settled = (getattr(c, "status", None) == "succeeded" and bool(getattr(c, "paid", False))
               and bool(getattr(c, "captured", False)))
    return ProviderCharge(
        id=str(c.id), amount=Money(int(c.amount), str(c.currency).upper()),
        created=datetime.fromtimestamp(int(c.created), UTC), settled=settled,
        amount_refunded=int(getattr(c, "amount_refunded", 0) or 0))
