"""The Mini App reached from the chat of the real bot on the sandbox: /door and /myevents carry
``web_app`` buttons to the public HTTPS address, the pages behind them are served by TicketQ's
own server, a scan in the Mini App and a scan in the chat share one log, and the sandbox
refuses a Mini App button that is not HTTPS, as Telegram does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, MenuButtonWebApp, WebAppInfo
from telegram.error import BadRequest

from bot.sandbox.harness import SANDBOX_TOKEN, SandboxedBot, sandboxed_bot, sqlite_url
from bot.web.miniapp.init_data import init_data_for
from tests.e2e.conftest import ORGANIZER
from tests.e2e.console_steps import admin, make_staff, scan, ticket_payload
from tests.e2e.phone import buy, create_event, photos

PUBLIC = "https://tickets.example.org"


@pytest.fixture
async def live(tmp_path) -> AsyncIterator[SandboxedBot]:
    async with sandboxed_bot(sqlite_url(tmp_path), admin_ids=frozenset({ORGANIZER}),
                             rate_limit_per_chat=10, send_rate_per_chat=10,
                             http_port=0, public_url=PUBLIC) as bot:
        yield bot


def web_app_urls(message: Any) -> list[str]:
    rows = (message.reply_markup or {}).get("inline_keyboard") or []
    return [b["web_app"]["url"] for row in rows for b in row if "web_app" in b]


async def test_mini_app_buttons_on_door_and_myevents_open_pages_the_bot_serves(live) -> None:
    await create_event(live)
    bea = live.sandbox.user(user_id=401, first_name="Bea")
    await buy(live, bea, 1)
    sam = live.sandbox.user(user_id=402, first_name="Sam")
    await make_staff(live, admin(live), 1, sam)
    welcome = next(m for m in sam.messages if "door staff" in (m.text or ""))
    assert web_app_urls(welcome) == [f"{PUBLIC}/app/scanner"]
    for _ in range(100):  # the menu button is set right after the welcome
        if sam.user_id in live.sandbox.telegram.menu_buttons:
            break
        await asyncio.sleep(0.05)
    assert live.sandbox.telegram.menu_buttons[sam.user_id] == {
        "type": "web_app", "text": "Scanner", "web_app": {"url": f"{PUBLIC}/app/scanner"}}
    mark = sam.mark()
    await sam.send("/door")
    door = await sam.wait_for_message(contains="Door", since=mark)
    assert web_app_urls(door) == [f"{PUBLIC}/app/scanner"]
    olga = admin(live)
    mark = olga.mark()
    await olga.send("/myevents")
    events = await olga.wait_for_message(contains="Night Market", since=mark)
    assert f"{PUBLIC}/app/dashboard?event=1" in web_app_urls(events)
    # The reverse proxy maps the public address to TicketQ's own server.
    assert live.runtime.web is not None
    local = live.runtime.web.base_url
    payload = ticket_payload(photos(bea)[0].photo)
    link = f"https://t.me/{live.runtime.services.bot_username}?start={payload}"
    async with aiohttp.ClientSession() as session:
        for url in (web_app_urls(door)[0], web_app_urls(events)[-1]):
            parts = urlsplit(url)
            async with session.get(local + parts.path + "?" + parts.query) as page:
                assert page.status == 200 and "<html" in await page.text()
        init_data = init_data_for(SANDBOX_TOKEN, user_id=sam.user_id, first_name="Sam")
        async with session.post(local + "/app/api/scan", json={"text": link, "nonce": "app-0001"},
                                headers={"Authorization": f"tma {init_data}"}) as answer:
            assert answer.status == 200
            assert json.loads(await answer.text())["verdict"] == "valid"
    # The chat flow keeps working, on the same log: the camera path now says ALREADY USED.
    verdict = await scan(sam, payload)
    assert "ALREADY USED" in (verdict.text or "") and "Sam" in (verdict.text or "")
    assert live.sandbox.bot_errors == []


async def test_mini_app_buttons_must_be_https_as_telegram_requires(live) -> None:
    olga = admin(live)
    await olga.send("/start")
    await olga.wait_for_message()
    bot = live.runtime.application.bot
    for url in ("http://127.0.0.1:8080/app/scanner", "https://localhost/app", "tickets.example"):
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Scan", web_app=WebAppInfo(url))]])
        with pytest.raises(BadRequest, match=r"(?i)only https links are allowed"):
            await bot.send_message(olga.user_id, "Scanner", reply_markup=markup)
    with pytest.raises(BadRequest, match=r"(?i)only https links are allowed"):
        await bot.set_chat_menu_button(chat_id=olga.user_id, menu_button=MenuButtonWebApp(
            "Scanner", WebAppInfo("http://127.0.0.1:8080/app/scanner")))
    good = InlineKeyboardMarkup([[InlineKeyboardButton(
        "Scan", web_app=WebAppInfo(f"{PUBLIC}/app/scanner"))]])
    sent = await bot.send_message(olga.user_id, "Scanner", reply_markup=good)
    assert sent.reply_markup is not None
