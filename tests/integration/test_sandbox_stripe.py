"""The sandbox's Stripe emulator, driven by the real stripe-python StripeClient."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import stripe

from bot.sandbox import Sandbox

KEY = "sk_test_sandbox"


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(stripe_secret_key=KEY) as sb:
        yield sb


def client(
    sb: Sandbox, key: str = KEY, retries: int = 0, timeout: float = 5.0
) -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        base_addresses={"api": sb.stripe_api_base},
        max_network_retries=retries,
        http_client=stripe.HTTPXClient(timeout=timeout),
    )


async def test_full_refund_updates_charge_and_ledger(sandbox: Sandbox) -> None:
    charge = sandbox.stripe.create_charge(4650, "EUR", {"invoice_payload": "order:42"})
    sc = client(sandbox)
    refund = await sc.v1.refunds.create_async(
        params={
            "charge": charge["id"],
            "reason": "requested_by_customer",
            "metadata": {"order": "42"},
        },
        options={"idempotency_key": "refund-42"},
    )
    assert refund.id.startswith("re_") and refund.status == "succeeded"
    assert refund.amount == 4650 and refund.currency == "eur"
    assert refund.metadata["order"] == "42"
    fetched = await sc.v1.charges.retrieve_async(charge["id"])
    assert fetched.amount_refunded == 4650 and fetched.refunded is True
    again = await sc.v1.refunds.retrieve_async(refund.id)
    assert again.id == refund.id
    listed = await sc.v1.refunds.list_async(params={"charge": charge["id"]})
    assert [r.id for r in listed.data] == [refund.id]
    assert sandbox.stripe.refunded_total(charge["id"]) == 4650
    assert sandbox.stripe.total_refunded() == 4650
    assert sandbox.stripe.ledger[-1].idempotency_key == "refund-42"


async def test_same_idempotency_key_replays_the_same_refund_once(sandbox: Sandbox) -> None:
    charge = sandbox.stripe.create_charge(1000, "eur")
    sc = client(sandbox)
    params = {"charge": charge["id"], "amount": 400}
    first = await sc.v1.refunds.create_async(params=params, options={"idempotency_key": "k1"})
    second = await sc.v1.refunds.create_async(params=params, options={"idempotency_key": "k1"})
    assert second.id == first.id
    assert second.last_response is not None
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"
    assert sandbox.stripe.refund_count(charge["id"]) == 1
    assert sandbox.stripe.refunded_total(charge["id"]) == 400


async def test_same_key_with_different_amount_is_an_idempotency_error(sandbox: Sandbox) -> None:
    charge = sandbox.stripe.create_charge(1000, "eur")
    sc = client(sandbox)
    await sc.v1.refunds.create_async(
        params={"charge": charge["id"], "amount": 100}, options={"idempotency_key": "k2"}
    )
    with pytest.raises(stripe.IdempotencyError, match="same parameters"):
        await sc.v1.refunds.create_async(
            params={"charge": charge["id"], "amount": 200}, options={"idempotency_key": "k2"}
        )
    assert sandbox.stripe.refund_count(charge["id"]) == 1


async def test_over_refund_is_amount_too_large(sandbox: Sandbox) -> None:
    charge = sandbox.stripe.create_charge(1000, "eur")
    sc = client(sandbox)
    await sc.v1.refunds.create_async(params={"charge": charge["id"], "amount": 700})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sc.v1.refunds.create_async(params={"charge": charge["id"], "amount": 301})
    assert caught.value.code == "amount_too_large" and caught.value.param == "amount"
    assert sandbox.stripe.refunded_total(charge["id"]) == 700


async def test_second_full_refund_is_charge_already_refunded(sandbox: Sandbox) -> None:
    charge = sandbox.stripe.create_charge(1000, "eur")
    sc = client(sandbox)
    await sc.v1.refunds.create_async(params={"charge": charge["id"]})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sc.v1.refunds.create_async(params={"charge": charge["id"]})
    assert caught.value.code == "charge_already_refunded"
    assert sandbox.stripe.refund_count(charge["id"]) == 1


async def test_unknown_charge_is_resource_missing_404(sandbox: Sandbox) -> None:
    sc = client(sandbox)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sc.v1.refunds.create_async(params={"charge": "ch_nope"})
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing" and caught.value.param == "charge"


async def test_non_positive_amount_is_parameter_invalid_integer(sandbox: Sandbox) -> None:
    charge = sandbox.stripe.create_charge(1000, "eur")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client(sandbox).v1.refunds.create_async(params={"charge": charge["id"], "amount": 0})
    assert caught.value.code == "parameter_invalid_integer"


async def test_wrong_api_key_is_authentication_error_without_leaking_key(
    sandbox: Sandbox,
) -> None:
    charge = sandbox.stripe.create_charge(1000, "eur")
    with pytest.raises(stripe.AuthenticationError) as caught:
        await client(sandbox, key="sk_test_wrong_secret_1234").v1.refunds.create_async(
            params={"charge": charge["id"]}
        )
    assert "sk_test_wrong_secret_1234" not in str(caught.value)
    assert sandbox.stripe.refund_count(charge["id"]) == 0


async def test_injected_500_is_not_stored_so_retry_with_same_key_refunds_once(
    sandbox: Sandbox,
) -> None:
    charge = sandbox.stripe.create_charge(1000, "eur")
    sc = client(sandbox)
    params = {"charge": charge["id"], "amount": 250}
    sandbox.stripe.fail_next(1, status=500)
    with pytest.raises(stripe.APIError):
        await sc.v1.refunds.create_async(params=params, options={"idempotency_key": "k500"})
    assert sandbox.stripe.refund_count(charge["id"]) == 0
    refund = await sc.v1.refunds.create_async(params=params, options={"idempotency_key": "k500"})
    replay = await sc.v1.refunds.create_async(params=params, options={"idempotency_key": "k500"})
    assert replay.id == refund.id
    assert sandbox.stripe.refund_count(charge["id"]) == 1


async def test_stripe_client_automatic_retry_after_500_and_429_refunds_once(
    sandbox: Sandbox,
) -> None:
    charge = sandbox.stripe.create_charge(1000, "eur")
    sandbox.stripe.fail_next(1, status=500)
    refund = await client(sandbox, retries=2).v1.refunds.create_async(
        params={"charge": charge["id"]}
    )
    assert refund.amount == 1000
    assert sandbox.stripe.refund_count(charge["id"]) == 1
    other = sandbox.stripe.create_charge(500, "eur")
    sandbox.stripe.fail_next(1, status=429)
    with pytest.raises(stripe.RateLimitError):
        await client(sandbox).v1.refunds.create_async(params={"charge": other["id"]})
    assert sandbox.stripe.refund_count(other["id"]) == 0


async def test_timeout_after_execution_then_retry_with_same_key_gets_replay(
    sandbox: Sandbox,
) -> None:
    charge = sandbox.stripe.create_charge(1000, "eur")
    sandbox.stripe.timeout_delay = 1.0
    sandbox.stripe.fail_next(1, status="timeout")
    sc = client(sandbox, timeout=0.3)
    params = {"charge": charge["id"], "amount": 600}
    with pytest.raises(stripe.APIConnectionError):
        await sc.v1.refunds.create_async(params=params, options={"idempotency_key": "kt"})
    assert sandbox.stripe.refund_count(charge["id"]) == 1  # it did happen
    retry = await sc.v1.refunds.create_async(params=params, options={"idempotency_key": "kt"})
    assert retry.amount == 600
    assert sandbox.stripe.refund_count(charge["id"]) == 1


async def test_refused_charge_is_a_permanent_stored_error(sandbox: Sandbox) -> None:
    charge = sandbox.stripe.create_charge(1000, "eur")
    sandbox.stripe.refuse_refunds_for(charge["id"])
    sc = client(sandbox)
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            await sc.v1.refunds.create_async(
                params={"charge": charge["id"]}, options={"idempotency_key": "kd"}
            )
        assert caught.value.code == "charge_disputed"
    assert sandbox.stripe.refund_count(charge["id"]) == 0


async def test_concurrent_requests_with_same_key_get_409_for_the_second(
    sandbox: Sandbox,
) -> None:
    charge = sandbox.stripe.create_charge(1000, "eur")
    sandbox.stripe.processing_delay = 0.2
    sc = client(sandbox)
    params = {"charge": charge["id"], "amount": 100}
    results = await asyncio.gather(
        sc.v1.refunds.create_async(params=params, options={"idempotency_key": "kc"}),
        sc.v1.refunds.create_async(params=params, options={"idempotency_key": "kc"}),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], stripe.APIError)
    assert getattr(errors[0], "http_status", None) == 409
    assert sandbox.stripe.refund_count(charge["id"]) == 1


async def test_charges_are_listed_newest_first_by_page_and_creation_time(
        sandbox: Sandbox) -> None:
    """``GET /v1/charges`` as Stripe answers it: newest first, ``limit`` per page,
    ``starting_after``/``ending_before`` cursors, ``created[gte]`` filtering; the real client
    pages through it."""
    emulator = sandbox.stripe
    made = [emulator.create_charge(100 + i, "eur") for i in range(25)]
    for i, charge in enumerate(made):  # one charge a minute, oldest first
        charge["created"] = 1_800_000_000 + 60 * i
    sc = client(sandbox)
    first = await sc.v1.charges.list_async(params={"limit": 10})
    assert [c.id for c in first.data] == [c["id"] for c in reversed(made)][:10]
    assert first.has_more is True
    second = await sc.v1.charges.list_async(
        params={"limit": 10, "starting_after": first.data[-1].id})
    assert [c.id for c in second.data] == [c["id"] for c in reversed(made)][10:20]
    back = await sc.v1.charges.list_async(
        params={"limit": 5, "ending_before": second.data[0].id})
    assert [c.id for c in back.data] == [c.id for c in first.data][5:]
    recent = await sc.v1.charges.list_async(
        params={"limit": 100, "created": {"gte": 1_800_000_000 + 60 * 20}})
    assert [c.id for c in recent.data] == [c["id"] for c in reversed(made[20:])]
    assert recent.has_more is False
    with pytest.raises(stripe.InvalidRequestError) as exc:
        await sc.v1.charges.list_async(params={"limit": 101})
    assert exc.value.http_status == 400


async def test_the_charge_ledger_reads_every_page_since_a_time(sandbox: Sandbox) -> None:
    """Reconciliation's view of Stripe: all 230 charges since a time, across three pages,
    none twice, the older ones left out; a refunded one says how much went back."""
    from datetime import UTC, datetime

    from bot.payments.stripe_charges import StripeChargeLedger

    emulator = sandbox.stripe
    made = [emulator.create_charge(500, "eur") for _ in range(240)]
    for i, charge in enumerate(made):
        charge["created"] = 1_800_000_000 + i
    made[-1]["amount_refunded"] = 200
    ledger = StripeChargeLedger(KEY, api_base=sandbox.stripe_api_base)
    before = emulator.requests
    charges = await ledger.charges_since(datetime.fromtimestamp(1_800_000_010, UTC))
    assert [c.id for c in charges] == [c["id"] for c in reversed(made[10:])]
    assert emulator.requests - before == 3
    assert charges[0].amount_refunded == 200 and charges[0].settled
    assert charges[0].amount.currency == "EUR" and charges[0].amount.amount == 500
