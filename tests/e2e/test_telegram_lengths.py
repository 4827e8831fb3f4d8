"""Lengths as Telegram counts them (UTF-16 units after entity parsing): emoji count twice."""

from __future__ import annotations

from bot.sandbox.formatting import utf16_len
from tests.e2e.phone import create_event, invoice_for, open_event, photos


async def test_an_event_with_an_emoji_title_can_still_be_bought(live) -> None:
    title = "🎉" * 40  # 40 characters, 80 UTF-16 units; Telegram allows 32 in an invoice title
    await create_event(live, title=title, capacity=3)
    ann = live.sandbox.user(user_id=7201, first_name="Ann")
    invoice = await invoice_for(ann, 2, title=title)
    assert invoice.invoice is not None
    shown = invoice.invoice["title"]
    assert utf16_len(shown) <= 32 and shown.startswith("🎉") and shown.endswith("…")
    outcome = await ann.pay(invoice)
    assert outcome.ok
    await ann.wait_for_message(contains="Payment received")
    await live.settle()
    assert len(photos(ann)) == 2


async def test_an_event_card_longer_than_telegram_allows_keeps_where_when_and_prices(
        live) -> None:
    # The event file allows 2,000 characters of description: 2,000 emoji are 4,000 units.
    await create_event(live, title="Fireworks", description="🎆" * 2000, capacity=3)
    ben = live.sandbox.user(user_id=7202, first_name="Ben")
    card = await open_event(ben, "Fireworks")
    assert card.text is not None and utf16_len(card.text) <= 4096
    assert "🎆🎆🎆…" in card.text  # the description is cut, where, when and prices kept
    assert "Old Harbour" in card.text and "GA — €25.00 · 3 left" in card.text
    assert any(label.startswith("GA") for label in card.button_texts())
