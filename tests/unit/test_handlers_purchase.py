"""Pre-checkout answers: always exactly one answer, in time, with a plain-text reason."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from handlers import purchase


class FakeQuery:
    def __init__(self) -> None:
        self.id = "q1"
        self.from_user = SimpleNamespace(id=5)
        self.invoice_payload = "tq1:o:1"
        self.total_amount = 2500
        self.currency = "eur"
        self.answers: list[dict[str, Any]] = []

    async def answer(self, **kwargs: Any) -> None:
        self.answers.append(kwargs)


def _context(pre_checkout: Any) -> Any:
    services = SimpleNamespace(purchase=SimpleNamespace(pre_checkout=pre_checkout))
    return SimpleNamespace(services=services)


async def _answer_for(behaviour: Any) -> dict[str, Any]:
    query = FakeQuery()
    await purchase.on_pre_checkout(SimpleNamespace(pre_checkout_query=query),  # type: ignore[arg-type]
                                   _context(behaviour))
    assert len(query.answers) == 1
    return query.answers[0]


async def test_a_payable_order_is_accepted_for_its_exact_amount() -> None:
    seen: list[Money] = []

    async def ok(*, user_id: int, payload: str, amount: Money) -> None:
        seen.append(amount)

    assert await _answer_for(ok) == {"ok": True}
    assert seen == [Money(2500, "EUR")]


async def test_a_domain_error_is_refused_with_its_plain_text() -> None:
    async def sold_out(**_: Any) -> None:
        raise DomainError(ErrorCode.NOT_ENOUGH_SEATS, available=1)

    answer = await _answer_for(sold_out)
    assert answer["ok"] is False and "Only 1 seat is left" in answer["error_message"]
    assert "<" not in answer["error_message"]


@pytest.mark.parametrize("failure", [RuntimeError("database down"), ValueError("x")])
async def test_an_unexpected_failure_is_refused_not_raised(failure: Exception) -> None:
    async def broken(**_: Any) -> None:
        raise failure

    answer = await _answer_for(broken)
    assert answer["ok"] is False and answer["error_message"]


async def test_a_slow_service_is_refused_before_telegrams_deadline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(purchase, "PRE_CHECKOUT_TIMEOUT", 0.01)

    async def slow(**_: Any) -> None:
        await asyncio.sleep(5)

    answer = await _answer_for(slow)
    assert answer["ok"] is False and "try again" in answer["error_message"]
