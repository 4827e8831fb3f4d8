"""The outbox's screen edit through the real python-telegram-bot and the sandbox: it replaces
the text and the buttons, and an edit with nothing left to do counts as done."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from bot.messenger import DeliveryError, TelegramMessenger
from bot.sandbox import Sandbox
from core.kernel.money import Money
from handlers.notices import LOOK

TOKEN = "123456:TEST"
PARAMS = {"event": "Gala <&>", "ticket_type": "GA", "quantity": 2, "total": Money(5000, "EUR")}


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(bot_token=TOKEN) as sb:
        yield sb


@pytest.fixture
async def bot(sandbox: Sandbox) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=sandbox.bot_api_base_url,
                   base_file_url=sandbox.bot_file_base_url) as b:
        yield b


def messenger(bot: Bot) -> TelegramMessenger:
    return TelegramMessenger(bot, tickets=None, bot_username="TicketQBot", look=LOOK)  # type: ignore[arg-type]


async def a_hold_message(bot: Bot, chat_id: int) -> int:
    sent = await bot.send_message(chat_id, "✅ 2 × GA reserved", reply_markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton("✖️ Cancel hold", callback_data="v1:rel:1")]]))
    return sent.message_id


async def test_a_paid_screen_gets_its_text_and_loses_the_cancel_button(
        sandbox: Sandbox, bot: Bot) -> None:
    ann = sandbox.user(user_id=1, first_name="Ann")
    message_id = await a_hold_message(bot, ann.user_id)
    await messenger(bot).edit_message(ann.user_id, message_id, "hold_screen.paid", PARAMS,
                                      "my_tickets")
    screen = ann.messages[0]
    assert screen.text.startswith("✅ Paid: 2 × GA for Gala <&>, €50.00.")
    assert screen.button_texts() == ["🎟 My tickets"]
    await messenger(bot).edit_message(ann.user_id, message_id, "hold_screen.expired", PARAMS)
    assert "expired" in screen.text and screen.button_texts() == []


async def test_an_edit_with_nothing_left_to_do_counts_as_done(sandbox: Sandbox,
                                                              bot: Bot) -> None:
    ann = sandbox.user(user_id=2, first_name="Ann")
    message_id = await a_hold_message(bot, ann.user_id)
    edit = messenger(bot).edit_message
    await edit(ann.user_id, message_id, "hold_screen.paid", PARAMS, "my_tickets")
    await edit(ann.user_id, message_id, "hold_screen.paid", PARAMS, "my_tickets")  # again
    await edit(ann.user_id, 9999, "hold_screen.paid", PARAMS, "my_tickets")  # no such message
    assert ann.messages[0].edits == 1
    refused = [e.description for e in sandbox.bot_errors]
    assert any("not modified" in d for d in refused) and any("not found" in d for d in refused)


async def test_an_unreachable_chat_or_an_unknown_text_is_a_permanent_failure(
        sandbox: Sandbox, bot: Bot) -> None:
    ann = sandbox.user(user_id=3, first_name="Ann")
    message_id = await a_hold_message(bot, ann.user_id)
    ann.block()
    with pytest.raises(DeliveryError) as caught:
        await messenger(bot).edit_message(ann.user_id, message_id, "hold_screen.paid", PARAMS)
    assert caught.value.permanent
    with pytest.raises(DeliveryError) as caught:
        await messenger(bot).edit_message(ann.user_id, message_id, "no.such.key", {})
    assert caught.value.permanent
