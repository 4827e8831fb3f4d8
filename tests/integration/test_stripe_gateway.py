"""The Stripe refund adapter against the sandbox's Stripe emulator."""

from __future__ import annotations

import pytest

from bot.payments.stripe_refunds import StripeRefundGateway
from bot.sandbox import Sandbox
from core.kernel.money import Money
from core.payments.model import GatewayError

KEY = "sk_test_gateway_0123456789"


@pytest.fixture
async def sandbox():
    async with Sandbox(stripe_secret_key=KEY) as sb:
        yield sb


def gateway(sandbox: Sandbox, key: str = KEY) -> StripeRefundGateway:
    return StripeRefundGateway(key, api_base=sandbox.stripe_api_base, timeout=1.0)


async def test_a_refund_retried_with_the_same_key_happens_once(sandbox: Sandbox) -> None:
    charge = sandbox.stripe.create_charge(5000, "eur")
    gw = gateway(sandbox)
    first = await gw.refund(charge_id=charge["id"], amount=Money(5000, "EUR"),
                            idempotency_key="tq-refund-1", metadata={"refund_id": "1"})
    again = await gw.refund(charge_id=charge["id"], amount=Money(5000, "EUR"),
                            idempotency_key="tq-refund-1", metadata={"refund_id": "1"})
    assert first == again
    assert sandbox.stripe.refund_count(charge["id"]) == 1
    assert sandbox.stripe.refunded_total(charge["id"]) == 5000


async def test_a_server_error_is_transient_and_the_retry_refunds_once(sandbox: Sandbox) -> None:
    charge = sandbox.stripe.create_charge(2500, "eur")
    gw = gateway(sandbox)
    sandbox.stripe.fail_next(1, status=500)
    with pytest.raises(GatewayError) as exc:
        await gw.refund(charge_id=charge["id"], amount=Money(2500, "EUR"),
                        idempotency_key="tq-refund-2", metadata={})
    assert not exc.value.permanent
    await gw.refund(charge_id=charge["id"], amount=Money(2500, "EUR"),
                    idempotency_key="tq-refund-2", metadata={})
    assert sandbox.stripe.refund_count(charge["id"]) == 1


async def test_a_timeout_after_stripe_refunded_is_recovered_by_the_replay(
        sandbox: Sandbox) -> None:
    charge = sandbox.stripe.create_charge(2500, "eur")
    gw = gateway(sandbox)
    sandbox.stripe.timeout_delay = 2.0
    sandbox.stripe.fail_next(1, status="timeout")
    with pytest.raises(GatewayError) as exc:
        await gw.refund(charge_id=charge["id"], amount=Money(2500, "EUR"),
                        idempotency_key="tq-refund-3", metadata={})
    assert not exc.value.permanent
    refund_id = await gw.refund(charge_id=charge["id"], amount=Money(2500, "EUR"),
                                idempotency_key="tq-refund-3", metadata={})
    assert refund_id.startswith("re_")
    assert sandbox.stripe.refund_count(charge["id"]) == 1


@pytest.mark.parametrize(("setup", "code"), [
    ("unknown", "resource_missing"),
    ("over", "amount_too_large"),
    ("disputed", "charge_disputed"),
])
async def test_refusals_stripe_will_repeat_are_permanent(sandbox: Sandbox, setup: str,
                                                        code: str) -> None:
    charge = sandbox.stripe.create_charge(1000, "eur")
    charge_id, amount = charge["id"], 1000
    if setup == "unknown":
        charge_id = "ch_does_not_exist"
    elif setup == "over":
        amount = 1001
    else:
        sandbox.stripe.refuse_refunds_for(charge_id)
    with pytest.raises(GatewayError) as exc:
        await gateway(sandbox).refund(charge_id=charge_id, amount=Money(amount, "EUR"),
                                      idempotency_key=f"k-{setup}", metadata={})
    assert exc.value.permanent and exc.value.code == code
    assert sandbox.stripe.refund_count(charge["id"]) == 0


async def test_a_charge_refunded_under_another_key_counts_as_refunded(
        sandbox: Sandbox) -> None:
    charge = sandbox.stripe.create_charge(1000, "eur")
    gw = gateway(sandbox)
    first = await gw.refund(charge_id=charge["id"], amount=Money(1000, "EUR"),
                            idempotency_key="manual", metadata={})
    second = await gw.refund(charge_id=charge["id"], amount=Money(1000, "EUR"),
                             idempotency_key="tq-refund-9", metadata={})
    assert second == first and sandbox.stripe.refund_count(charge["id"]) == 1


async def test_a_wrong_api_key_is_reported_without_the_key(sandbox: Sandbox) -> None:
    charge = sandbox.stripe.create_charge(1000, "eur")
    with pytest.raises(GatewayError) as exc:
        await gateway(sandbox, "sk_test_WRONGKEY123").refund(
            charge_id=charge["id"], amount=Money(1000, "EUR"), idempotency_key="k",
            metadata={})
    assert "WRONGKEY123" not in str(exc.value)
