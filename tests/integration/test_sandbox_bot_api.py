"""The sandbox's Bot API emulation, driven by the real python-telegram-bot."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from PIL import Image
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Update,
)
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    PreCheckoutQueryHandler,
    filters,
)

from bot.sandbox import Sandbox

TOKEN = "123456:TEST"
PROVIDER = "sandbox-provider-token"


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(bot_token=TOKEN, provider_token=PROVIDER) as sb:
        yield sb


def make_bot(sb: Sandbox, token: str = TOKEN) -> Bot:
    return Bot(token, base_url=sb.bot_api_base_url, base_file_url=sb.bot_file_base_url)


def build_app(sb: Sandbox) -> Application[Any, Any, Any, Any, Any, Any]:
    return (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(sb.bot_api_base_url)
        .base_file_url(sb.bot_file_base_url)
        .build()
    )


async def run_polling(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1)


async def stop_polling(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    assert app.updater is not None
    await app.updater.stop()
    await app.stop()
    await app.shutdown()


def png_bytes(width: int = 64, height: int = 32) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def test_initialize_calls_get_me_and_returns_configured_bot_identity(
    sandbox: Sandbox,
) -> None:
    async with make_bot(sandbox) as bot:
        assert bot.id == 123456
        assert bot.username == "ticketq_bot"
        assert bot.first_name == "TicketQ"
        assert bot.bot.can_join_groups is True
    assert sandbox.method_calls["getme"] == 1
    assert sandbox.bot_errors == []


async def test_wrong_token_is_rejected_as_invalid_token(sandbox: Sandbox) -> None:
    with pytest.raises(InvalidToken):
        async with make_bot(sandbox, token="123456:WRONG"):
            pass
    assert sandbox.bot_errors[0].status == 401


async def test_start_command_reply_keyboard_tap_runs_callback_handler_and_edit(
    sandbox: Sandbox,
) -> None:
    app = build_app(sandbox)
    seen_args: list[list[str]] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        seen_args.append(list(context.args or []))
        keyboard = InlineKeyboardMarkup(
            [[InlineKeyboardButton("VIP seat", callback_data="v1:vip")]]
        )
        await update.message.reply_html("<b>Welcome</b>, pick a tier", reply_markup=keyboard)

    async def on_tap(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer(f"picked {query.data}", show_alert=True)
        await query.edit_message_text(f"You chose {query.data}")

    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(on_tap))
    await run_polling(app)
    try:
        ann = sandbox.user(1001, "Ann", username="ann")
        await ann.send("/start t_abc")
        welcome = await ann.wait_for_message(contains="Welcome")
        assert welcome.text == "Welcome, pick a tier"
        assert welcome.html == "<b>Welcome</b>, pick a tier"
        assert welcome.button_texts() == ["VIP seat"]
        answer = await ann.tap(welcome, text="VIP")
        assert answer.text == "picked v1:vip" and answer.show_alert is True
        edited = await ann.wait_for_message(contains="You chose")
        assert edited is welcome and edited.edits == 1
        assert edited.reply_markup is None  # editMessageText without markup drops it
        with pytest.raises(LookupError):
            await ann.tap(edited, text="VIP")
    finally:
        await stop_polling(app)
    assert seen_args == [["t_abc"]]
    assert sandbox.bot_errors == []
    assert sandbox.pending_updates() == 0


async def test_get_updates_offset_confirms_and_drops_older_updates(sandbox: Sandbox) -> None:
    ann = sandbox.user(1001, "Ann")
    for text in ("one", "two", "three"):
        await ann.send(text)
    async with make_bot(sandbox) as bot:
        first = await bot.get_updates(timeout=0)
        assert [u.message.text for u in first if u.message] == ["one", "two", "three"]
        again = await bot.get_updates(offset=first[1].update_id, timeout=0)
        assert [u.message.text for u in again if u.message] == ["two", "three"]
        # "one" was confirmed by the offset: gone forever, even with a lower offset.
        lower = await bot.get_updates(offset=first[0].update_id, timeout=0)
        assert [u.message.text for u in lower if u.message] == ["two", "three"]
        limited = await bot.get_updates(limit=1, timeout=0)
        assert len(limited) == 1
        done = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
        assert done == ()
    assert sandbox.pending_updates() == 0


async def test_long_poll_wakes_up_as_soon_as_an_update_arrives(sandbox: Sandbox) -> None:
    ann = sandbox.user(1001, "Ann")
    async with make_bot(sandbox) as bot:

        async def send_later() -> None:
            await asyncio.sleep(0.2)
            await ann.send("hello")

        task = asyncio.create_task(send_later())
        started = time.monotonic()
        updates = await bot.get_updates(timeout=5)
        elapsed = time.monotonic() - started
        await task
    assert [u.message.text for u in updates if u.message] == ["hello"]
    assert 0.15 < elapsed < 2.0


async def test_allowed_updates_filters_update_kinds(sandbox: Sandbox) -> None:
    ann = sandbox.user(1001, "Ann")
    async with make_bot(sandbox) as bot:
        msg = await bot.send_message(
            1001,
            "pick",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]]),
        )
        await ann.send("text")
        tap = asyncio.create_task(ann.tap(ann.messages[0], data="a", timeout=0.5))
        await asyncio.sleep(0)
        updates = await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
        assert [u.callback_query.data for u in updates if u.callback_query] == ["a"]
        assert len(updates) == 1
        assert msg.message_id == 1
        with pytest.raises(TimeoutError):
            await tap


async def test_html_with_unescaped_angle_bracket_is_a_bad_request(sandbox: Sandbox) -> None:
    sandbox.user(1001, "Ann")
    async with make_bot(sandbox) as bot:
        with pytest.raises(BadRequest, match=r"(?i)can.t parse entities: unsupported start tag"):
            await bot.send_message(1001, "price < 5 EUR", parse_mode="HTML")
        with pytest.raises(BadRequest, match=r"(?i)can.t parse entities"):
            await bot.send_message(1001, "Tom & Jerry", parse_mode="HTML")
        with pytest.raises(BadRequest, match=r"(?i)unmatched end tag"):
            await bot.send_message(1001, "<b>bold</i>", parse_mode="HTML")
        ok = await bot.send_message(1001, "<i>a &lt; b &amp; c</i>", parse_mode="HTML")
    assert ok.text == "a < b & c"
    assert ok.entities[0].type == "italic"
    assert [e.method for e in sandbox.bot_errors] == ["sendmessage"] * 3


async def test_message_validation_uses_telegram_wording(sandbox: Sandbox) -> None:
    sandbox.user(1001, "Ann")
    async with make_bot(sandbox) as bot:
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await bot.send_message(999, "hi")
        with pytest.raises(BadRequest, match=r"(?i)message is too long"):
            await bot.send_message(1001, "x" * 4097)
        with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
            await bot.send_message(1001, "   ")
        with pytest.raises(BadRequest, match=r"(?i)message caption is too long"):
            await bot.send_photo(1001, png_bytes(), caption="c" * 1025)
        with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
            await bot.edit_message_text("new", chat_id=1001, message_id=77)


async def test_callback_data_over_64_bytes_is_rejected(sandbox: Sandbox) -> None:
    sandbox.user(1001, "Ann")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="é" * 33)]])
    async with make_bot(sandbox) as bot:
        with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
            await bot.send_message(1001, "pick", reply_markup=markup)
    assert sandbox.sent_messages_count == 0


async def test_edit_with_identical_content_and_markup_is_not_modified(sandbox: Sandbox) -> None:
    sandbox.user(1001, "Ann")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    async with make_bot(sandbox) as bot:
        msg = await bot.send_message(1001, "<b>hi</b>", parse_mode="HTML", reply_markup=markup)
        with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
            await msg.edit_text("<b>hi</b>", parse_mode="HTML", reply_markup=markup)
        await msg.edit_text("<b>hi</b> there", parse_mode="HTML", reply_markup=markup)
        with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
            await msg.edit_reply_markup(reply_markup=markup)


async def test_global_rate_limit_surfaces_as_retry_after(sandbox: Sandbox) -> None:
    sandbox.user(1001, "Ann")
    sandbox.set_rate_limit(3, None)
    async with make_bot(sandbox) as bot:
        for i in range(3):
            await bot.send_message(1001, f"m{i}")
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(1001, "one too many")
    assert seconds(caught.value.retry_after) >= 1
    assert sandbox.rate_limited_count == 1
    assert sandbox.sent_messages_count == 3
    assert sandbox.bot_errors == []


async def test_a_chat_gets_a_short_burst_then_429_until_retry_after_has_passed(
    sandbox: Sandbox,
) -> None:
    ann = sandbox.user(1001, "Ann")
    sandbox.user(1002, "Bob")
    sandbox.set_rate_limit(None, 1, burst_per_chat=3)
    async with make_bot(sandbox) as bot:
        msg = await bot.send_message(1001, "one")
        await bot.send_message(1001, "two")
        await msg.edit_text("one, edited")  # edits count too
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(1001, "four")
        wait = seconds(caught.value.retry_after)
        assert wait >= 1
        with pytest.raises(RetryAfter):  # ignoring retry_after only earns another 429
            await bot.send_message(1001, "four, again")
        await bot.send_message(1002, "another chat is not affected")
        await asyncio.sleep(wait + 0.05)
        await bot.send_message(1001, "four, after waiting")
    assert [m.text for m in ann.messages] == ["one, edited", "two", "four, after waiting"]
    assert sandbox.rate_limited_chats == {1001: 2}
    assert sandbox.bot_errors == []


async def test_lengths_are_counted_in_utf16_units_after_entity_parsing(sandbox: Sandbox) -> None:
    sandbox.user(1001, "Ann")
    async with make_bot(sandbox) as bot:
        await bot.send_message(1001, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")  # tags free
        await bot.send_message(1001, "🎉" * 2048)
        with pytest.raises(BadRequest, match=r"(?i)message is too long"):
            await bot.send_message(1001, "🎉" * 2049)  # 2,049 characters, 4,098 units
        with pytest.raises(BadRequest, match=r"(?i)message caption is too long"):
            await bot.send_photo(1001, png_bytes(), caption="🎉" * 513)
        with pytest.raises(BadRequest, match=r"(?i)INVOICE_TITLE_INVALID"):
            await bot.send_invoice(1001, "🎉" * 17, "D", "p", "EUR", [LabeledPrice("x", 100)],
                                   provider_token=PROVIDER)
        with pytest.raises(BadRequest, match=r"(?i)INVOICE_DESCRIPTION_INVALID"):
            await bot.send_invoice(1001, "T", "🎉" * 128, "p", "EUR", [LabeledPrice("x", 100)],
                                   provider_token=PROVIDER)
        await bot.send_invoice(1001, "🎉" * 16, "🎉" * 127, "p", "EUR",
                               [LabeledPrice("x", 100)], provider_token=PROVIDER)
        too_many = InlineKeyboardMarkup(
            [[InlineKeyboardButton(f"{r}.{c}", callback_data=f"{r}.{c}") for c in range(8)]
             for r in range(13)])
        with pytest.raises(BadRequest, match=r"(?i)REPLY_MARKUP_TOO_LONG"):
            await bot.send_message(1001, "104 buttons", reply_markup=too_many)


async def test_photos_are_served_as_jpeg_at_telegram_sizes(sandbox: Sandbox) -> None:
    ann = sandbox.user(1001, "Ann")
    buf = io.BytesIO()
    Image.new("RGBA", (1000, 600), (10, 200, 10, 255)).save(buf, format="PNG")
    await ann.send_photo(buf.getvalue())
    async with make_bot(sandbox) as bot:
        updates = await bot.get_updates(timeout=0)
        sizes = updates[-1].message.photo
        assert [(p.width, p.height) for p in sizes] == [
            (90, 54), (320, 192), (800, 480), (1000, 600)]
        for size in sizes:
            data = bytes(await (await bot.get_file(size.file_id)).download_as_bytearray())
            assert data.startswith(b"\xff\xd8") and len(data) == size.file_size
            with Image.open(io.BytesIO(data)) as img:
                assert img.format == "JPEG" and img.size == (size.width, size.height)
        assert len({p.file_id for p in sizes}) == 4


async def test_per_chat_rate_limit_only_throttles_that_chat(sandbox: Sandbox) -> None:
    sandbox.user(1001, "Ann")
    sandbox.user(1002, "Bob")
    sandbox.set_rate_limit(None, 1, burst_per_chat=1)
    async with make_bot(sandbox) as bot:
        await bot.send_message(1001, "a")
        await bot.send_message(1002, "b")
        with pytest.raises(RetryAfter):
            await bot.send_message(1001, "again")


async def test_injected_server_error_and_dropped_connection_reach_the_bot(
    sandbox: Sandbox,
) -> None:
    ann = sandbox.user(1001, "Ann")
    async with make_bot(sandbox) as bot:
        sandbox.faults.telegram_fail_next(1, status=502, method="sendMessage")
        with pytest.raises(NetworkError, match=r"(?i)Bad Gateway"):
            await bot.send_message(1001, "lost")
        sandbox.faults.telegram_drop_next(1, method="sendMessage", after_processing=True)
        with pytest.raises(NetworkError):
            await bot.send_message(1001, "sent but answer lost")
        await bot.send_message(1001, "fine")
    assert [m.text for m in ann.messages] == ["sent but answer lost", "fine"]
    assert sandbox.bot_errors == []


async def test_duplicate_and_redelivered_updates_keep_their_update_id(sandbox: Sandbox) -> None:
    ann = sandbox.user(1001, "Ann")
    sandbox.faults.duplicate_next_update()
    await ann.send("dup me")
    async with make_bot(sandbox) as bot:
        first = await bot.get_updates(timeout=0)
        second = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
        assert [u.update_id for u in second] == [first[0].update_id]
        sandbox.redeliver()
        third = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
        assert [u.update_id for u in third] == [first[0].update_id]


async def test_invoice_payment_flow_charges_stripe_and_reports_charge_id(
    sandbox: Sandbox,
) -> None:
    app = build_app(sandbox)
    successful: list[tuple[str, str, int]] = []

    async def buy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_invoice(
            chat_id=update.effective_chat.id,
            title="Concert ticket",
            description="Seat A1, 2025-06-01",
            payload="order:42",
            provider_token=PROVIDER,
            currency="EUR",
            prices=[LabeledPrice("Ticket", 4500), LabeledPrice("Fee", 150)],
        )

    async def pre_checkout(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.pre_checkout_query
        assert query is not None
        if query.invoice_payload == "order:42":
            await query.answer(ok=True)
        else:
            await query.answer(ok=False, error_message="Sold out")

    async def paid(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.successful_payment is not None
        sp = update.message.successful_payment
        successful.append((sp.provider_payment_charge_id, sp.invoice_payload, sp.total_amount))
        await update.message.reply_text("Paid, thanks!")

    app.add_handler(CommandHandler("buy", buy))
    app.add_handler(PreCheckoutQueryHandler(pre_checkout))
    app.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, paid))
    await run_polling(app)
    try:
        ann = sandbox.user(1001, "Ann")
        await ann.send("/buy")
        invoice_msg = await ann.wait_for_message(contains="Concert")
        assert invoice_msg.invoice is not None
        assert invoice_msg.invoice["total_amount"] == 4650
        outcome = await ann.pay(invoice_msg)
        assert outcome.ok and outcome.charge_id is not None
        await ann.wait_for_message(contains="Paid, thanks!")

        invoice_msg.invoice["payload"] = "order:sold-out"  # same invoice, refused payload
        refused = await ann.pay(invoice_msg)
        assert not refused.ok and refused.error_message == "Sold out"
        assert refused.charge_id is None
    finally:
        await stop_polling(app)
    assert successful == [(outcome.charge_id, "order:42", 4650)]
    charge = sandbox.stripe.charges[outcome.charge_id]
    assert charge["amount"] == 4650 and charge["currency"] == "eur"
    assert charge["metadata"]["invoice_payload"] == "order:42"
    assert sandbox.stripe.total_charged() == 4650
    assert sandbox.bot_errors == []


async def test_bad_invoice_and_unanswered_pre_checkout(sandbox: Sandbox) -> None:
    ann = sandbox.user(1001, "Ann")
    async with make_bot(sandbox) as bot:
        with pytest.raises(BadRequest, match=r"(?i)PAYMENT_PROVIDER_INVALID"):
            await bot.send_invoice(
                1001, "T", "D", "p", "EUR", [LabeledPrice("x", 100)], provider_token="wrong"
            )
        with pytest.raises(BadRequest, match=r"(?i)PAYLOAD_INVALID"):
            await bot.send_invoice(
                1001, "T", "D", "p" * 129, "EUR", [LabeledPrice("x", 100)], provider_token=PROVIDER
            )
        await bot.send_invoice(
            1001, "T", "D", "p", "EUR", [LabeledPrice("x", 100)], provider_token=PROVIDER
        )
        outcome = await ann.pay(ann.messages[-1], timeout=0.2)
        assert not outcome.ok and outcome.error_message == "timeout"
        updates = await bot.get_updates(timeout=0)
        query = updates[-1].pre_checkout_query
        assert query is not None
        await query.answer(ok=True)  # still within Telegram's 10 s
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await query.answer(ok=True)
    assert sandbox.stripe.charges == {}


async def test_user_document_is_downloadable_through_get_file(sandbox: Sandbox) -> None:
    app = build_app(sandbox)
    received: list[tuple[str | None, bytes]] = []

    async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.document is not None
        doc = update.message.document
        tg_file = await doc.get_file()
        data = bytes(await tg_file.download_as_bytearray())
        received.append((doc.file_name, data))
        await update.message.reply_document(
            data, filename="echo.yaml", caption="<b>echo</b>", parse_mode="HTML"
        )

    async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        biggest = update.message.photo[-1]
        data = bytes(await (await biggest.get_file()).download_as_bytearray())
        await update.message.reply_photo(data, caption=f"{biggest.width}x{biggest.height}")

    app.add_handler(MessageHandler(filters.Document.ALL, on_document))
    app.add_handler(MessageHandler(filters.PHOTO, on_photo))
    await run_polling(app)
    try:
        ann = sandbox.user(1001, "Ann")
        content = b"name: Concert\nseats: 100\n"
        await ann.send_document(content, filename="event.yaml", mime_type="application/x-yaml")
        echo = await ann.wait_for_message(contains="echo")
        assert echo.document == content and echo.document_name == "echo.yaml"
        image = png_bytes(64, 32)
        await ann.send_photo(image)
        photo_reply = await ann.wait_for_message(contains="64x32")
        assert photo_reply.photo is not None and photo_reply.photo.startswith(b"\xff\xd8")
        with Image.open(io.BytesIO(photo_reply.photo)) as seen:  # re-encoded, like Telegram
            assert seen.format == "JPEG" and seen.size == (64, 32)
            red, green, blue = seen.convert("RGB").getpixel((32, 16))
            assert red > 150 and green < 80 and blue < 80
    finally:
        await stop_polling(app)
    assert received == [("event.yaml", content)]
    assert sandbox.bot_errors == []


async def test_raw_http_accepts_json_query_strings_and_case_insensitive_methods(
    sandbox: Sandbox,
) -> None:
    sandbox.user(1001, "Ann")
    base = f"{sandbox.bot_api_base_url}{TOKEN}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/SENDMESSAGE", json={"chat_id": 1001, "text": "j"}) as r:
            assert r.status == 200 and (await r.json())["result"]["text"] == "j"
        async with http.get(f"{base}/sendMessage?chat_id=1001&text=q&unknown_param=1") as r:
            assert (await r.json())["result"]["chat"]["id"] == 1001
        async with http.post(f"{base}/noSuchMethod") as r:
            assert r.status == 404
            assert await r.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        bad_markup = {"chat_id": "1001", "text": "x", "reply_markup": "{nope"}
        async with http.post(f"{base}/sendMessage", data=bad_markup) as r:
            body = await r.json()
            assert r.status == 400
            assert body["description"] == (
                "Bad Request: can't parse reply keyboard markup JSON object"
            )


async def test_wait_for_message_timeout_shows_the_chat(sandbox: Sandbox) -> None:
    ann = sandbox.user(1001, "Ann")
    async with make_bot(sandbox) as bot:
        await bot.send_message(1001, "something else")
    with pytest.raises(TimeoutError, match="something else"):
        await ann.wait_for_message(contains="Welcome", timeout=0.1)
    assert ann.last_message is not None and ann.last_message.text == "something else"
