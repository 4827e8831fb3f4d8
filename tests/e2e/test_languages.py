"""Attendees in their own language, end to end: a German, a Russian and a Japanese phone
each buy a ticket and enter a lottery; every message they get (list, card, invoice, ticket,
result, refund, reminder) is in their language with prices and times as they write them,
while the organizer, working in English, sees English."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import timedelta

import pytest

from bot.sandbox import SandboxMessage, VirtualUser
from bot.sandbox.harness import SandboxedBot
from core.catalog.model import LotteryState
from tests.e2e.conftest import ORGANIZER
from tests.factories import event_doc, lottery_doc

pytestmark = pytest.mark.chat_pace(10)


@dataclass(frozen=True)
class Reader:
    """What a reader of one language must see."""

    code: str
    user_id: int
    market: str  # the direct event's title in this language
    show: str  # the lottery's title
    events: str  # the event list's heading
    price: str  # €25.00 as this reader writes it
    lottery_price: str  # €30.00
    starts: str  # the market's start, in Berlin time, as this reader writes it
    how_many: str  # the quantity picker
    paid: str  # payment_confirmed
    ticket: str  # the ticket's caption
    entered: str  # lottery_entered
    won: str
    lost: str
    refund: str  # the refund of a lost entry, with the amount
    reminder: str


GERMAN = Reader(
    "de", 801, "Nachtmarkt", "Ausverkaufte Show", "Kommende Veranstaltungen", "25,00\xa0€",
    "30,00\xa0€", "Do., 12. Dez. 2030, 21:00 MEZ", "ie viele", "Zahlung erhalten",
    "Zeig diesen QR-Code am Einlass vor", "Du bist in der Ziehung",
    "Du hast bei der Verlosung", "Dieses Mal leider nicht gezogen",
    "Deine 30,00\xa0€ wurden vollständig erstattet",
    "Erinnerung: Nachtmarkt beginnt in 24 Stunden")
RUSSIAN = Reader(
    "ru", 802, "Ночной рынок", "Аншлаговое шоу", "Ближайшие мероприятия", "25,00\xa0€",
    "30,00\xa0€", "чт, 12 дек. 2030\u202fг., 21:00 GMT+01:00", "колько билетов",
    "Оплата получена", "Покажите этот QR-код на входе", "Вы участвуете в розыгрыше",
    "Вы выиграли в лотерее", "в этот раз вас не выбрали", "Сумма 30,00\xa0€ возвращена полностью",
    "Напоминание: Ночной рынок начнётся через 24 ч")
JAPANESE = Reader(
    "ja", 803, "ナイトマーケット", "完売公演", "開催予定のイベント", "€25.00", "€30.00",
    "2030年12月12日(木) 21:00 GMT+01:00", "何枚", "お支払いを確認しました",
    "入場時にこのQRコードをご提示ください", "抽選に応募しました", "抽選に当選しました",
    "今回は落選となりました", "€30.00は全額返金済みです",
    "リマインダー：ナイトマーケットは24時間後に始まります")
READERS = (GERMAN, RUSSIAN, JAPANESE)
# Phrases of the English texts an attendee goes through: none may reach these readers.
ENGLISH = ("Upcoming events", "How many", "Payment received", "Show this QR code",
           "You are in the draw", "You won", "Not selected", "Your refund", "Reminder",
           "Your tickets follow", "Pick a ticket type", "Entries open", "seats left")


def _market_doc() -> dict:
    return event_doc(title="Night Market", capacity=10, translations={
        "de": {"title": "Nachtmarkt", "description": "Streetfood und Livemusik."},
        "ru": {"title": "Ночной рынок", "description": "Уличная еда и живая музыка."},
        "ja": {"title": "ナイトマーケット", "description": "屋台とライブ演奏。"}})


def _show_doc(now) -> dict:
    doc = lottery_doc(now, seats=1, max_per_entry=1)
    doc["translations"] = {"de": {"title": "Ausverkaufte Show"},
                           "ru": {"title": "Аншлаговое шоу"},
                           "ja": {"title": "完売公演"}}
    return doc


async def _open(user: VirtualUser, reader: Reader, title: str) -> SandboxMessage:
    mark = user.mark()
    await user.send("/events")
    listing = await user.wait_for_message(contains=reader.events, since=mark)
    label = next(b for b in listing.button_texts() if b.startswith(title))
    mark = user.mark()
    await user.tap(listing, text=label)
    return await user.wait_for_message(contains="📍", since=mark,
                                       predicate=lambda m: m.photo is None)


async def _invoice(user: VirtualUser, reader: Reader, card: SandboxMessage) -> SandboxMessage:
    mark = user.mark()
    await user.tap(card, text=card.button_texts()[0])  # GA (or "enter" for GA)
    picker = await user.wait_for_message(contains=reader.how_many, since=mark)
    mark = user.mark()
    await user.tap(picker, text="1")
    return await user.wait_for_message(predicate=lambda m: m.invoice is not None, since=mark)


async def _buy_and_enter(live: SandboxedBot, reader: Reader) -> VirtualUser:
    user = live.sandbox.user(user_id=reader.user_id, first_name=f"Reader {reader.code}",
                             language_code=reader.code)
    card = await _open(user, reader, reader.market)
    assert reader.market in card.text and reader.price in card.text
    assert reader.starts in card.text
    invoice = await _invoice(user, reader, card)
    assert invoice.invoice["title"] == reader.market
    assert reader.starts in invoice.invoice["description"]
    assert (await user.pay(invoice)).ok
    paid = await user.wait_for_message(contains=reader.paid)
    assert reader.price in paid.text and reader.market in paid.text
    await live.settle()
    caption = next(m for m in user.messages if m.photo is not None)
    assert reader.ticket in caption.text and reader.market in caption.text
    assert reader.starts in caption.text

    card = await _open(user, reader, reader.show)
    assert reader.show in card.text and reader.lottery_price in card.text
    invoice = await _invoice(user, reader, card)
    assert invoice.invoice["title"] == reader.show
    assert (await user.pay(invoice)).ok
    entered = await user.wait_for_message(contains=reader.entered)
    assert reader.lottery_price in entered.text
    return user


async def test_language_each_attendee_gets_every_message_in_their_language(live,
                                                                          clock) -> None:
    services = live.runtime.services
    market = await services.admin.import_event(_market_doc(), actor_id=ORGANIZER)
    show = await services.admin.import_event(_show_doc(clock.now()), actor_id=ORGANIZER)
    users = await asyncio.gather(*(_buy_and_enter(live, r) for r in READERS))

    # The draw: one seat, three entrants; the others are refunded.
    clock.advance(timedelta(hours=1, minutes=2))
    for _ in range(200):
        async with live.runtime.db.read() as uow:
            if (await uow.events.get(show.id)).lottery_state is LotteryState.DRAWN:
                break
        await asyncio.sleep(0.05)
    await live.settle()
    outcomes = []
    for reader, user in zip(READERS, users, strict=True):
        won = any(reader.won in (m.text or "") for m in user.messages)
        lost = any(reader.lost in (m.text or "") for m in user.messages)
        assert won != lost, user.dump()
        if lost:
            await user.wait_for_message(contains=reader.refund, since=0, timeout=20)
        outcomes.append(won)
    assert outcomes.count(True) == 1

    # The reminder, a day before the market (sent by the scheduler's job).
    clock.advance(market.starts_at - clock.now() - timedelta(hours=23))
    await services.organizer.send_due_reminders()
    await live.settle()
    for reader, user in zip(READERS, users, strict=True):
        reminder = await user.wait_for_message(contains=reader.reminder, since=0, timeout=10)
        assert reader.starts in reminder.text
        for message in user.messages:
            shown = (message.text or "") + json.dumps(message.invoice or {},
                                                      ensure_ascii=False)
            assert not any(english in shown for english in ENGLISH), message.text

    # The organizer, whose Telegram is in English, sees English.
    boss = live.sandbox.user(user_id=ORGANIZER, first_name="Boss", language_code="en")
    mark = boss.mark()
    await boss.send(f"/stats {market.id}")
    stats = await boss.wait_for_message(contains="Night Market", since=mark)
    assert "Total: 3 tickets, €75.00" in stats.text


async def test_language_command_switches_the_language_for_replies_and_notices(live) -> None:
    await live.runtime.services.admin.import_event(_market_doc(), actor_id=ORGANIZER)
    ann = live.sandbox.user(user_id=811, first_name="Ann", language_code="en")
    mark = ann.mark()
    await ann.send("/language")
    menu = await ann.wait_for_message(contains="Which language", since=mark)
    assert menu.button_texts()[:5] == ["✅ English", "Deutsch", "Русский", "Español", "日本語"]
    mark = ann.mark()
    await ann.tap(menu, text="Deutsch")
    done = await ann.wait_for_message(contains="auf Deutsch", since=mark)
    assert "✅ Deutsch" in done.button_texts()
    card = await _open(ann, GERMAN, "Nachtmarkt")
    assert "25,00\xa0€" in card.text and "Streetfood und Livemusik." in card.text
    invoice = await _invoice(ann, GERMAN, card)
    assert (await ann.pay(invoice)).ok
    await ann.wait_for_message(contains="Zahlung erhalten")  # the outbox knows it too


async def test_language_a_new_reader_gets_their_telegram_language_and_unknown_ones_english(
        live) -> None:
    await live.runtime.services.admin.import_event(_market_doc(), actor_id=ORGANIZER)
    austrian = live.sandbox.user(user_id=821, first_name="Xaver", language_code="de-AT")
    mark = austrian.mark()
    await austrian.send("/start")
    assert "Hallo Xaver" in (await austrian.wait_for_message(since=mark)).text
    brazilian = live.sandbox.user(user_id=822, first_name="Bia", language_code="pt-br")
    mark = brazilian.mark()
    await brazilian.send("/events")
    listing = await brazilian.wait_for_message(contains="Upcoming events", since=mark)
    assert "€25.00" in listing.text


async def test_language_command_menu_and_descriptions_are_registered_per_language(
        live) -> None:
    telegram = live.sandbox.telegram
    default = json.dumps({"type": "default"}, sort_keys=True)
    menus = {code: {c["command"]: c["description"] for c in telegram.commands[(default, code)]}
             for code in ("", "de", "ru", "es", "ja")}
    assert menus[""]["events"] == "Browse upcoming events"
    assert menus["de"]["language"] == "Sprache ändern"
    assert menus["ja"]["mytickets"] == "マイチケットを表示"
    assert set(menus["ru"]) == set(menus[""])
    assert "Verlosung" not in telegram.descriptions[""]
    assert "fair verlost" in telegram.descriptions["de"]
    assert telegram.short_descriptions["es"].startswith("Entradas")
