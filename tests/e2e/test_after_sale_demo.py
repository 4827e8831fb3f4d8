"""``ticketq demo --after-sale --json``: one JSON object whose figures, counted from the
database and the Stripe emulator's ledger, show every after-sale capability at least once and
balance (paid = kept + refunded, nothing oversold, no refund twice)."""

from __future__ import annotations

import json

import pytest

from bot.sandbox.demos import run_after_sale_demo

AT_LEAST_ONCE = ("transfers", "returns", "waitlist_offers", "waitlist_lapsed", "waitlist_paid",
                 "second_chance_sales", "group_entries_won", "group_entries_lost", "refunds")


async def test_the_after_sale_demo_shows_every_capability_and_its_books_balance(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = await run_after_sale_demo(as_json=True)
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert {k: figures[k] for k in AT_LEAST_ONCE if figures[k] < 1} == {}
    assert figures["duplicate_refunds"] == 0 and figures["oversold"] == 0
    assert figures["paid_minor"] == figures["kept_minor"] + figures["refunded_minor"]
    assert figures["refunded_minor"] > 0 and figures["kept_minor"] > 0
    assert figures["draw_verified"] is True and figures["second_chance_offers"] >= 1
