"""``ticketq demo``: a scripted sale in the loopback sandbox, no token and no network.

An organizer uploads the sample event file to the bot; dozens of buyers race for fewer seats
than they ask for, each tapping through /events -> event -> type -> quantity -> invoice -> pay;
one buyer pays for a hold that expired while the seats were resold and is refunded
automatically. Prints one buyer's chat, the late payer's chat and a summary (or JSON).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import signal
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bot.reconcile import money_report
from bot.sandbox import SandboxMessage, VirtualUser
from bot.sandbox.harness import SandboxedBot, sandboxed_bot, sqlite_url
from bot.web.miniapp.init_data import init_data_for
from core.kernel.clock import OffsetClock
from core.kernel.money import Money
from core.tickets.model import deep_link_payload, format_short_code
from handlers import i18n
from handlers.texts import format_money, plain, t, tn

# The attendees' language (``ticketq demo --lang de``); the organizer and door staff keep
# English, as an organizer's Telegram would.
_LANG = i18n.DEFAULT

ORGANIZER_ID = 9000
SAM_ID = 9100  # door staff
DEMO_PUBLIC_URL = "https://tickets.example.org"
EVENT_TITLE = "Harbour Lights Festival"
_NAMES = ("Ann", "Ben", "Cleo", "Dev", "Ema", "Finn", "Gus", "Hana", "Ivo", "Jade", "Kai",
          "Lou", "Mia", "Noor", "Otto", "Pia", "Quin", "Rosa", "Sami", "Tess", "Uma", "Vik",
          "Wen", "Xavi", "Yara", "Zed")


@dataclass
class Transcript:
    """A phone's view of one chat: what the user did and what the bot answered."""

    user: VirtualUser
    lines: list[str] = field(default_factory=list)
    _shown: dict[int, int] = field(default_factory=dict)  # message id -> edits shown

    def did(self, action: str) -> None:
        """Record the user's action after any bot messages that arrived before it."""
        self.catch_up()
        self.lines.append(f"  👤 {self.user.first_name}: {action}")

    def catch_up(self) -> None:
        """Append bot messages that arrived, or were edited in place, since the last call."""
        for msg in self.user.messages:
            shown = self._shown.get(msg.message_id)
            if shown is None or shown != msg.edits:
                self.lines.append(render_message(msg, edited=shown is not None))
                self._shown[msg.message_id] = msg.edits

    def text(self) -> str:
        """The transcript so far."""
        self.catch_up()
        return "\n".join(self.lines)


def set_language(code: str) -> None:
    """Play the attendees' side in ``code`` (one of ``handlers.i18n.LANGUAGES``)."""
    global _LANG
    _LANG = i18n.negotiate(code)


def said(key: str, /, count: int | None = None, **params: object) -> str:
    """What the bot writes for ``key`` to an attendee, in plain text (the demo waits for it)."""
    with i18n.use(_LANG):
        return plain(t(key, **params) if count is None else tn(key, count, **params))


def head(key: str) -> str:
    """The fixed start of a text (before its first placeholder): "🎉 Payment received: "."""
    with i18n.use(_LANG):
        return plain(t(key, **{name: "\x00" for name in i18n.placeholders(
            i18n.template(key, _source(key)))})).split("\x00", 1)[0].strip()


def _source(key: str) -> str:
    from handlers.texts import TEXTS

    return TEXTS[key]


def _is_picker(msg: SandboxMessage) -> bool:
    return "1" in msg.button_texts()


def render_message(msg: SandboxMessage, *, edited: bool = False) -> str:
    """A bot message as a phone would show it, in plain text."""
    if msg.invoice:
        inv = msg.invoice
        with i18n.use(_LANG):
            total = format_money(Money(int(inv["total_amount"]), str(inv["currency"])))
        body = f"[invoice] {inv.get('title')} — {inv.get('description')} — {total}  [ Pay ]"
    elif msg.photo is not None:
        body = f"[QR image]\n{msg.text or ''}"
    else:
        body = msg.text or ""
    lines = body.splitlines() or [""]
    mark = "(edited) " if edited else ""
    out = [f"  🤖 {mark}{lines[0]}"] + [f"     {line}" for line in lines[1:]]
    buttons = [text for row in msg.buttons for text, _ in row]
    if buttons:
        out.append("     " + "  ".join(f"[ {b} ]" for b in buttons))
    return "\n".join(out)


@dataclass
class BuyerResult:
    """What happened to one buyer."""

    user_id: int
    wanted: int
    ticket_type: str
    got: int = 0
    sold_out: bool = False
    error: str | None = None


def _is_invoice(msg: SandboxMessage) -> bool:
    return msg.invoice is not None


async def open_event(user: VirtualUser, log: Transcript | None = None, *,
                     title: str = EVENT_TITLE) -> SandboxMessage:
    """/events, then tap the event; returns the event card."""
    mark = user.mark()
    if log:
        log.did("/events")
    await user.send("/events")
    listing = await user.wait_for_message(contains=said("events.title"), since=mark,
                                          timeout=15)
    # The event's button is its title in the reader's language and its day.
    label = next((b for b in listing.button_texts() if b.startswith(title)),
                 listing.button_texts()[0])
    if log:
        log.did(f"taps [ {label} ]")
    mark = user.mark()
    await user.tap(listing, text=label, timeout=15)
    return await user.wait_for_message(contains="📍", since=mark, timeout=15)


async def buy(user: VirtualUser, type_name: str, quantity: int,
              log: Transcript | None = None, *, deliver: bool = True) -> Any:
    """Tap through to an invoice and pay it. Returns the sandbox PaymentOutcome or a reason."""
    card = await open_event(user, log)
    labels = card.button_texts()
    label = next((x for x in labels if x.startswith(f"{type_name} ·")), None)
    if label is None or label == said("card.button_sold_out", name=type_name):
        return "sold_out"
    if log:
        log.did(f"taps [ {label} ]")
    mark = user.mark()
    answer = await user.tap(card, text=label, timeout=15)
    sold_out = said("error.sold_out")
    if answer.text and answer.text == sold_out:
        return "sold_out"
    picker = await user.wait_for_message(predicate=_is_picker, since=mark, timeout=15)
    numbers = [int(x) for x in picker.button_texts() if x.isdigit()]
    if not numbers:
        return "sold_out"
    quantity = min(quantity, max(numbers))
    while True:
        if log:
            log.did(f"taps [ {quantity} ]")
        mark = user.mark()
        answer = await user.tap(picker, text=str(quantity), timeout=15)
        reply = answer.text or ""
        if reply == sold_out:
            return "sold_out"
        fewer = re.search(r"(\d+)", reply)  # "Only 2 seats are left", in any language
        if fewer:
            quantity = int(fewer.group(1))
            continue
        break
    invoice = await user.wait_for_message(predicate=_is_invoice, since=mark, timeout=15)
    if log:
        log.did("taps [ Pay ] and confirms the payment")
    return await user.pay(invoice, deliver_success=deliver), quantity


async def _buyer(bot: SandboxedBot, index: int, rng: random.Random) -> BuyerResult:
    user = bot.sandbox.user(user_id=20_000 + index, first_name=_NAMES[index % len(_NAMES)],
                            language_code=_LANG)
    type_name = "VIP" if rng.random() < 0.3 else "GA"
    wanted = rng.randint(1, 2 if type_name == "VIP" else 3)
    result = BuyerResult(user.user_id, wanted, type_name)
    await asyncio.sleep(rng.random() * 0.2)
    try:
        outcome = await buy(user, type_name, wanted)
    except (TimeoutError, LookupError) as exc:
        result.error = str(exc).splitlines()[0][:120]
        return result
    if outcome == "sold_out":
        result.sold_out = True
        return result
    payment, quantity = outcome
    if not payment.ok:
        result.error = f"payment refused: {payment.error_message}"
        return result
    await user.wait_for_message(contains=head("payment_confirmed"), timeout=15)
    result.got = quantity
    return result


async def run_demo(*, as_json: bool = False, buyers: int = 60,
                   keep_dir: Path | None = None, seed: int = 7,
                   mini_app_port: int | None = None, lang: str = "en") -> int:
    """Play the scripted sale; print a transcript and summary (or JSON). Exit code 0 if sound.

    Args:
        mini_app_port: afterwards, keep serving the Mini App on that loopback port and print
            the URLs that open the door scanner (as door staff Sam) and the dashboard (as
            organizer Olga) in a desktop browser, until Ctrl-C.
        lang: the attendees' Telegram language (their chats are in it).
    """
    set_language(lang)
    started = time.perf_counter()
    rng = random.Random(seed)
    clock = OffsetClock()
    with tempfile.TemporaryDirectory(prefix="ticketq-demo-") as tmp:
        workdir = keep_dir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        async with sandboxed_bot(sqlite_url(workdir), admin_ids=frozenset({ORGANIZER_ID}),
                                 clock=clock, hold_minutes=10,
                                 rate_limit_global=None, send_rate=1000.0,
                                 http_port=mini_app_port,
                                 public_url=DEMO_PUBLIC_URL if mini_app_port is not None
                                 else None) as bot:
            summary, transcripts = await _play(bot, clock, rng, buyers)
            summary["duration_s"] = round(time.perf_counter() - started, 2)
            if as_json:
                print(json.dumps(summary, sort_keys=True))
            else:
                _print_report(summary, transcripts)
            if mini_app_port is not None:
                await serve_mini_app(bot)
    return 0 if summary["oversold"] == 0 and summary["unsettled"] == 0 else 1


async def mini_app_links(bot: SandboxedBot) -> dict[str, Any]:
    """Loopback URLs of the scanner (as Sam) and the dashboard (as Olga), each carrying a
    signed initData in the fragment exactly as Telegram passes it, and tickets to try."""
    runtime = bot.runtime
    assert runtime.web is not None
    theme = json.dumps({"bg_color": "#ffffff", "text_color": "#000000",
                        "button_color": "#3390ec", "button_text_color": "#ffffff",
                        "hint_color": "#707579", "secondary_bg_color": "#f4f4f5"})

    def launch(user_id: int, name: str) -> str:
        init_data = init_data_for(bot.sandbox.telegram.token, user_id=user_id, first_name=name)
        return "#" + urlencode({"tgWebAppData": init_data, "tgWebAppVersion": "8.0",
                                "tgWebAppPlatform": "web", "tgWebAppThemeParams": theme})

    base = runtime.web.base_url
    async with runtime.db.read() as uow:
        tickets = await uow.tickets.for_owner(10_002, upcoming_after=runtime.clock.now()
                                              - timedelta(days=365))
        codes = [row[1] for row in await uow.tickets.export_rows(1) if row[10] is None][:5]
    username = runtime.services.bot_username
    return {
        "scanner": f"{base}/app/scanner{launch(SAM_ID, 'Sam')}",
        "dashboard": f"{base}/app/dashboard?event=1{launch(ORGANIZER_ID, 'Olga')}",
        "ann_link": (f"https://t.me/{username}?start={deep_link_payload(tickets[0].token)}"
                     if tickets else None),
        "codes": [format_short_code(str(code)) for code in codes],
    }


async def serve_mini_app(bot: SandboxedBot) -> None:
    """Print the Mini App's URLs and serve until Ctrl-C (or SIGTERM)."""
    links = await mini_app_links(bot)
    print("\nMini App on loopback (open these in a desktop browser; Ctrl-C stops the demo):")
    print(f"  Door scanner, as door staff Sam:\n    {links['scanner']}")
    print(f"  Dashboard of the festival, as organizer Olga:\n    {links['dashboard']}")
    print("  In the scanner, type or paste a ticket (a browser has no Telegram QR camera):")
    if links["ann_link"]:
        print(f"    Ann's ticket link (already checked in at the door): {links['ann_link']}")
    print(f"    codes not yet checked in: {', '.join(links['codes'])}")
    print(f"  In Telegram, /door and /myevents carry Mini App buttons to {DEMO_PUBLIC_URL}/app/…"
          " (HTTPS, as Telegram requires; a reverse proxy would serve this port there).")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _play(bot: SandboxedBot, clock: OffsetClock, rng: random.Random,
                buyers: int) -> tuple[dict[str, Any], dict[str, str]]:
    sandbox = bot.sandbox
    # 1. The organizer uploads the event file to the bot.
    organizer = sandbox.user(user_id=ORGANIZER_ID, first_name="Olga")
    org_log = Transcript(organizer)
    sample = resources.files("bot").joinpath("samples/demo_event.yaml").read_bytes()
    org_log.did("sends harbour-lights.yaml")
    await organizer.send_document(sample, filename="harbour-lights.yaml",
                                  mime_type="application/x-yaml")
    await organizer.wait_for_message(contains="created", timeout=15)

    # 2. Lena holds two GA seats and pays, but her payment is delayed past the hold...
    lena = sandbox.user(user_id=10_001, first_name="Lena", language_code=_LANG)
    lena_log = Transcript(lena)
    late = await buy(lena, "GA", 2, lena_log, deliver=False)
    assert not isinstance(late, str) and late[0].ok, late
    late_payment = late[0]
    clock.advance(timedelta(minutes=11))  # ...her hold expires

    # 3. A crowd races for the remaining seats; Ann's chat is recorded.
    ann = sandbox.user(user_id=10_002, first_name="Ann", language_code=_LANG)
    ann_log = Transcript(ann)
    ann_outcome = await buy(ann, "VIP", 2, ann_log)
    if not isinstance(ann_outcome, str):
        await ann.wait_for_message(contains=head("payment_confirmed"), timeout=15)
    results = await asyncio.gather(*(_buyer(bot, i, rng) for i in range(buyers)))

    # 4. Lena's payment finally lands: her seats are gone, so she is refunded automatically.
    lena_log.did("(payment confirmation arrives 11 minutes late)")
    await lena.deliver_successful_payment(late_payment)
    await lena.wait_for_message(contains=head("refund_done"), timeout=20)
    await bot.settle()
    await asyncio.sleep(0.2)
    for who in (ann, lena):
        await wait_quiet(who)

    door_log = await _door_scene(bot, organizer, ann)

    sales = await bot.runtime.services.admin.sales(1, actor_id=ORGANIZER_ID)
    report = await money_report(bot.runtime.db)
    ledger = sandbox.stripe
    types: list[dict[str, Any]] = [{
        "name": row.ticket_type.name, "capacity": row.stock.capacity, "sold": row.stock.sold,
        "held": row.stock.held, "available": row.stock.available,
        "revenue_minor": row.revenue.amount, "currency": row.revenue.currency,
    } for row in sales.types]
    summary: dict[str, Any] = {
        "buyers": buyers + 2,
        "seats": sum(x["capacity"] for x in types),
        "seats_asked": sum(r.wanted for r in results) + 4,
        "tickets_issued": report.tickets_issued,
        "orders_paid": report.orders_paid,
        "oversold": sum(max(0, x["sold"] - x["capacity"]) for x in types),
        "seats_left": sum(x["available"] for x in types),
        "payments": report.payments,
        "paid_minor": ledger.total_charged(),
        "refunds": len(ledger.refunds),
        "refunded_minor": ledger.total_refunded(),
        "duplicate_refunds": sum(1 for c in ledger.charges if ledger.refund_count(c) > 1),
        "unsettled": report.unsettled,
        "sold_out_replies": sum(r.sold_out for r in results),
        "buyer_errors": sum(r.error is not None for r in results),
        "telegram_429s": sandbox.rate_limited_count,
        "bot_api_errors": len(sandbox.bot_errors),
        "types": types,
    }
    door_text = door_log.text()
    summary["door_verdicts"] = ["ALREADY USED" if "ALREADY USED" in line else "VALID"
                                for line in door_text.splitlines()
                                if "🤖" in line and ("VALID" in line or "USED" in line)]
    transcripts = {"organizer": org_log.text(), "ann": ann_log.text(), "lena": lena_log.text(),
                   "door": door_text}
    return summary, transcripts


async def _door_scene(bot: SandboxedBot, organizer: VirtualUser,
                      ann: VirtualUser) -> Transcript:
    """The organizer invites door staff; Sam scans Ann's ticket twice with his camera."""
    sam = bot.sandbox.user(user_id=SAM_ID, first_name="Sam")
    door = Transcript(sam)
    mark = organizer.mark()
    await organizer.send("/staff_invite 1")
    invite = await organizer.wait_for_message(contains="t.me/", since=mark, timeout=15)
    link = next(word for word in (invite.text or "").split() if "start=i_" in word)
    payload = link.split("start=", 1)[1]
    door.did(f"opens the invite link from Olga ({link[:28]}…)")
    await sam.send(f"/start {payload}")
    await sam.wait_for_message(contains="door staff", timeout=15)
    qr = next(m for m in ann.messages if m.photo is not None)
    for attempt in ("points the phone camera at Ann's QR code (sends the photo)",
                    "scans the same QR code again"):
        door.did(attempt)
        mark = sam.mark()
        assert qr.photo is not None
        await sam.send_photo(qr.photo)
        await sam.wait_for_message(predicate=lambda m: "VALID" in (m.text or "")
                                   or "USED" in (m.text or ""), since=mark, timeout=15)
    return door


async def wait_quiet(user: VirtualUser, quiet: float = 0.3) -> None:
    """Wait until the bot has sent nothing to ``user`` for ``quiet`` seconds."""
    count = -1
    while count != len(user.messages):
        count = len(user.messages)
        await asyncio.sleep(quiet)


def _print_report(summary: dict[str, Any], transcripts: dict[str, str]) -> None:
    print("TicketQ demo: the real bot against the loopback Telegram + Stripe sandbox\n")
    print("— The organizer uploads the event file —")
    print(transcripts["organizer"])
    print("\n— Ann buys two VIP tickets —")
    print(transcripts["ann"])
    print("\n— Lena pays for a hold that expired while the seats were resold —")
    print(transcripts["lena"])
    print("\n— At the door: Sam checks tickets with his phone camera —")
    print(transcripts["door"])
    print("\n— Summary —")
    width = 28
    for key in ("buyers", "seats", "seats_asked", "tickets_issued", "orders_paid", "oversold",
                "seats_left", "payments", "paid_minor", "refunds", "refunded_minor",
                "duplicate_refunds", "unsettled", "sold_out_replies", "buyer_errors",
                "telegram_429s", "bot_api_errors", "door_verdicts", "duration_s"):
        print(f"  {key:<{width}}{summary[key]}")
    for row in summary["types"]:
        print(f"  {row['name']:<6} sold {row['sold']}/{row['capacity']}, "
              f"{row['available']} left, revenue {row['revenue_minor']} minor {row['currency']}")
    verdict = "OK" if summary["oversold"] == 0 and summary["unsettled"] == 0 else "PROBLEM"
    print(f"\n  {verdict}: nothing oversold; every payment ended in tickets or a refund.")
