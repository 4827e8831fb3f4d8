"""Stripe refunds (implements ``core.payments.ports.RefundGateway``)."""

from __future__ import annotations

import stripe

from core.kernel.money import Money
from core.payments.model import GatewayError

# Stripe error codes after which a retry cannot succeed.
_PERMANENT_CODES = {"charge_already_refunded", "amount_too_large", "resource_missing",
                    "charge_disputed", "parameter_invalid_integer"}


class StripeRefundGateway:
    """Refunds through Stripe with an Idempotency-Key per payment."""

    def __init__(self, secret_key: str, *, api_base: str | None = None,
                 timeout: float = 20.0) -> None:
        options: dict[str, object] = {
            "http_client": stripe.HTTPXClient(timeout=timeout),
            "max_network_retries": 0,  # the outbox retries, with the same key
        }
        if api_base:
            options["base_addresses"] = {"api": api_base}
        self._client = stripe.StripeClient(secret_key, **options)  # type: ignore[arg-type]

    async def refund(self, *, charge_id: str, amount: Money, idempotency_key: str,
                     metadata: dict[str, str]) -> str:
        """Refund ``amount`` of ``charge_id``; the same key never refunds twice.

        Raises:
            GatewayError: ``permanent`` for refusals Stripe will repeat (already refunded,
                over-refund, unknown charge, declined); transient for network, 5xx, 429.
        """
        try:
            refund = await self._client.v1.refunds.create_async(
                params={"charge": charge_id, "amount": amount.amount, "metadata": metadata},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.InvalidRequestError as exc:
            code = exc.code or ""
            if code == "charge_already_refunded":
                # A refund made under another key (or by hand) already returned the money.
                existing = await self._existing_refund(charge_id, amount)
                if existing:
                    return existing
            raise GatewayError(_describe(exc), permanent=code in _PERMANENT_CODES
                               or exc.http_status == 400, code=code) from None
        except stripe.IdempotencyError as exc:
            raise GatewayError(_describe(exc), permanent=True, code="idempotency_error") \
                from None
        except stripe.CardError as exc:
            raise GatewayError(_describe(exc), permanent=True, code=exc.code) from None
        except stripe.AuthenticationError as exc:
            raise GatewayError("Stripe rejected the API key", permanent=False,
                               code=exc.code) from None
        except (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError) as exc:
            raise GatewayError(_describe(exc), permanent=False, code=exc.code) from None
        except stripe.StripeError as exc:
            raise GatewayError(_describe(exc), permanent=False, code=exc.code) from None
        return str(refund.id)

    async def _existing_refund(self, charge_id: str, amount: Money) -> str | None:
        try:
            refunds = await self._client.v1.refunds.list_async(params={"charge": charge_id})
        except stripe.StripeError:
            return None
        total = sum(int(r.amount) for r in refunds.data if r.status == "succeeded")
        if total >= amount.amount and refunds.data:
            return str(refunds.data[0].id)
        return None


def _describe(exc: stripe.StripeError) -> str:
    """A log-safe one-liner: type, code and HTTP status, never the API key."""
    return f"{type(exc).__name__} code={exc.code} status={exc.http_status}: " \
           f"{(exc.user_message or '')[:200]}"
