"""``ticketq demo --lottery``: a whole lottery in the sandbox.

An organizer uploads a lottery event (50 seats); 200+ people enter through the chat asking
for 1-4 tickets each; one tries to enter twice; one payment lands after entries closed. The
clock then jumps to the close and the draw (a real lottery runs for days), the scheduler draws,
and the outbox settles: winners get QR tickets, everyone else an automatic Stripe refund.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select

from bot.reconcile import money_report
from bot.sandbox import SandboxMessage, VirtualUser
from bot.sandbox.demos.sale import Transcript, open_event, wait_quiet
from bot.sandbox.harness import SandboxedBot, sandboxed_bot, sqlite_url
from bot.storage import tables
from core.catalog.model import LotteryState
from core.kernel.clock import OffsetClock
from core.lottery.audit import verify_audit

ORGANIZER_ID = 9000
TITLE = "Midnight Orchestra — Final Night"
SEATS = {"GA": 40, "VIP": 10}
PRICES = {"GA": "30.00", "VIP": "90.00"}


def lottery_event_file(now: Any) -> bytes:
    """The organizer's YAML: entries open now, close in a day, draw an hour later."""
    doc = {
        "title": TITLE, "description": "The last concert of the tour. 50 seats, by lottery.",
        "venue": "Konzerthaus, Vienna", "timezone": "Europe/Vienna",
        "starts_at": (now + timedelta(days=30)).isoformat(timespec="minutes"),
        "sale_mode": "lottery", "publish": True,
        "lottery": {
            "entries_open_at": (now - timedelta(minutes=1)).isoformat(timespec="seconds"),
            "entries_close_at": (now + timedelta(days=1)).isoformat(timespec="seconds"),
            "draw_at": (now + timedelta(days=1, hours=1)).isoformat(timespec="seconds"),
            "max_per_entry": 4,
            "beacon": True,
        },
        "ticket_types": [
            {"name": name, "price": PRICES[name], "currency": "EUR", "capacity": seats,
             "per_user_limit": 4} for name, seats in SEATS.items()],
    }
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode()


async def enter(user: VirtualUser, type_name: str, quantity: int,
                log: Transcript | None = None, *, deliver: bool = True) -> Any:
    """Tap through the event card to a paid entry."""
    card = await open_event(user, log, title=TITLE)
    label = next(b for b in card.button_texts() if b.startswith(f"Enter · {type_name} ·"))
    if log:
        log.did(f"taps [ {label} ]")
    mark = user.mark()
    await user.tap(card, text=label, timeout=20)
    picker = await user.wait_for_message(contains="How many", since=mark, timeout=20)
    if log:
        log.did(f"taps [ {quantity} ]")
    mark = user.mark()
    button = picker.find_button(text=str(quantity))
    user_buttons[user.user_id] = str(button["callback_data"])
    await user.tap(picker, text=str(quantity), timeout=20)
    invoice = await user.wait_for_message(predicate=_is_invoice, since=mark, timeout=20)
    if log:
        log.did("taps [ Pay ] and confirms the payment")
    return await user.pay(invoice, deliver_success=deliver)


# The last quantity button each user tapped (to replay it as a stale button).
user_buttons: dict[int, str] = {}


def _last_entry_button(user: VirtualUser) -> str:
    """The callback data of the quantity button the user tapped last."""
    return user_buttons[user.user_id]


async def _stale_tap(sandbox: Any, user: VirtualUser, data: str) -> str | None:
    """Tap a button from an old message again (its callback data is replayed)."""
    api = sandbox.telegram
    query_id, query = api.new_callback_query()
    api.emit_update("callback_query", {
        "id": query_id, "from": user.user_json, "message": api.message_json(user.messages[-1]),
        "chat_instance": "demo", "data": data})
    answer = await asyncio.wait_for(asyncio.shield(query.future), 10)
    text = answer.text
    return str(text) if text is not None else None


def _is_invoice(msg: SandboxMessage) -> bool:
    return msg.invoice is not None


async def run_lottery_demo(*, as_json: bool = False, entrants: int = 200,
                           keep_dir: Path | None = None, seed: int = 11,
                           audit_out: Path = Path("ticketq-demo-audit.json"),
                           verify_draw: Callable[[Path], int] | None = None) -> int:
    """Play a whole lottery; print a transcript and summary (or JSON). 0 if it balances.

    ``verify_draw`` (the ``ticketq verify-draw`` command, handed in by the CLI) is run on
    the audit file at the end of a transcript.
    """
    started = time.perf_counter()
    rng = random.Random(seed)
    clock = OffsetClock()
    with tempfile.TemporaryDirectory(prefix="ticketq-lottery-") as tmp:
        workdir = keep_dir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        async with sandboxed_bot(sqlite_url(workdir), admin_ids=frozenset({ORGANIZER_ID}),
                                 clock=clock, send_rate=25.0, send_rate_per_chat=1.0,
                                 rate_limit_global=None) as bot:
            summary, transcripts = await _play(bot, clock, rng, entrants, as_json)
            audit = await bot.runtime.services.lottery.audit(1)
    await asyncio.to_thread(audit_out.write_text, json.dumps(audit, indent=2) + "\n",
                            encoding="utf-8")
    summary["audit_file"] = str(audit_out)
    summary["audit_verified"] = not verify_audit(json.loads(
        await asyncio.to_thread(audit_out.read_text, encoding="utf-8")))
    summary["duration_s"] = round(time.perf_counter() - started, 2)
    if as_json:
        print(json.dumps(summary, sort_keys=True))
    else:
        _print_report(summary, transcripts)
    if not as_json and verify_draw is not None:
        print(f"\n$ ticketq verify-draw {audit_out}")
        verify_draw(audit_out)
    sound = (summary["duplicate_refunds"] == 0 and summary["unsettled"] == 0
             and summary["audit_verified"]
             and summary["paid_minor"] == summary["winners_value_minor"]
             + summary["refunded_minor"])
    return 0 if sound else 1


def _say(as_json: bool, text: str) -> None:
    if not as_json:
        print(text, flush=True)


async def _play(bot: SandboxedBot, clock: OffsetClock, rng: random.Random, count: int,
                as_json: bool) -> tuple[dict[str, Any], dict[str, str]]:
    sandbox, runtime = bot.sandbox, bot.runtime
    organizer = sandbox.user(user_id=ORGANIZER_ID, first_name="Olga")
    org_log = Transcript(organizer)
    org_log.did("sends midnight-orchestra.yaml")
    await organizer.send_document(lottery_event_file(clock.now()),
                                  filename="midnight-orchestra.yaml")
    await organizer.wait_for_message(contains="created", timeout=20)
    event_id = 1

    # The first entrant is recorded; then the crowd, in waves so the bot replies stay under
    # Telegram's rate limit.
    _say(as_json, f"⏳ {count} people enter the lottery through the chat...")
    ana = sandbox.user(user_id=30_000, first_name="Ana")
    ana_log = Transcript(ana)
    outcome = await enter(ana, "GA", 2, ana_log)
    assert outcome.ok
    entry_button = _last_entry_button(ana)
    await ana.wait_for_message(contains="You are in the draw", timeout=20)
    people = [sandbox.user(user_id=30_001 + i, first_name=f"Fan{i + 1}")
              for i in range(count - 1)]
    plans = [("VIP" if rng.random() < 0.2 else "GA", rng.choice([1, 1, 2, 2, 2, 3, 4]))
             for _ in people]
    for start in range(0, len(people), 20):
        wave = list(zip(people[start:start + 20], plans[start:start + 20], strict=True))
        results = await asyncio.gather(*(enter(u, t, q) for u, (t, q) in wave))
        assert all(r.ok for r in results), [r for r in results if not r.ok]
    for user in people:
        await user.wait_for_message(contains="You are in the draw", timeout=60)

    # Ana taps her old "1 ticket" button again: one entry per account.
    dup_log = ana_log
    dup_log.did("taps an old entry button again")
    answer = await _stale_tap(sandbox, ana, entry_button)
    duplicate_refused = "already" in (answer or "").lower()
    dup_log.lines.append(f"  🤖 (alert) {answer}")

    # Leo pays just before the close, but Telegram delivers the payment after it.
    leo = sandbox.user(user_id=39_999, first_name="Leo")
    leo_log = Transcript(leo)
    late = await enter(leo, "GA", 1, leo_log, deliver=False)
    assert late.ok

    _say(as_json, "⏩ A day later: entries close.")
    clock.advance(timedelta(days=1, seconds=1))
    await _until(lambda: _state(runtime, event_id), LotteryState.CLOSED)
    leo_log.did("(his payment confirmation arrives after entries closed)")
    await leo.deliver_successful_payment(late)
    await leo.wait_for_message(contains="refund of", timeout=30)

    figures = await runtime.services.lottery.figures(event_id)
    _say(as_json, f"   {figures.entries} entries asking for {figures.tickets_asked} tickets, "
                  f"{figures.seats} seats: {figures.oversubscription:.1f}× oversubscribed.")
    # From here on the sandbox enforces Telegram's 30 messages/s: the outbox must stay under.
    sandbox.set_rate_limit(30.0, None)
    _say(as_json, "⏩ An hour later: the draw.")
    clock.advance(timedelta(hours=1))
    draw_started = time.perf_counter()
    await _until(lambda: _state(runtime, event_id), LotteryState.DRAWN)
    total = figures.entries
    told = 0
    while told < total:
        await asyncio.sleep(1.0)
        told = sum(1 for u in [ana, *people] if any(
            "You won" in (m.text or "") or "Not selected" in (m.text or "")
            for m in u.messages))
        _say(as_json, f"   settling: {told}/{total} entrants told, "
                      f"{len(sandbox.stripe.refunds)} refunds issued")
    await bot.settle(timeout=120)
    settle_seconds = time.perf_counter() - draw_started
    for who in (ana, leo):
        await wait_quiet(who)

    figures = await runtime.services.lottery.figures(event_id)
    report = await money_report(runtime.db)
    stripe = sandbox.stripe
    async with runtime.db.read() as uow:
        won_value = (await uow.conn.execute(
            select(func.coalesce(func.sum(tables.entries.c.quantity
                                          * tables.entries.c.unit_price_minor), 0))
            .where(tables.entries.c.status == "won"))).scalar_one()
    summary: dict[str, Any] = {
        "entries": figures.entries,
        "entrants": count + 1,
        "tickets_asked": figures.tickets_asked,
        "seats": figures.seats,
        "oversubscription": round(figures.oversubscription, 2),
        "winners": figures.winners,
        "tickets_issued": report.tickets_issued,
        "refunds_issued": len(stripe.refunds),
        "refunded_minor": stripe.total_refunded(),
        "paid_minor": stripe.total_charged(),
        "winners_value_minor": int(won_value),
        "duplicate_refunds": sum(1 for c in stripe.charges if stripe.refund_count(c) > 1),
        "unsettled": report.unsettled,
        "late_payment_refunded": stripe.refund_count(late.charge_id) == 1,
        "duplicate_entry_refused": duplicate_refused,
        "telegram_429s": sandbox.rate_limited_count,
        "bot_api_errors": len(sandbox.bot_errors),
        "settle_seconds": round(settle_seconds, 1),
    }
    transcripts = {"organizer": org_log.text(), "ana": ana_log.text(), "leo": leo_log.text()}
    return summary, transcripts


async def _state(runtime: Any, event_id: int) -> LotteryState | None:
    async with runtime.db.read() as uow:
        event = await uow.events.get(event_id)
    return event.lottery_state if event else None


async def _until(probe: Any, wanted: LotteryState, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while await probe() is not wanted:
        if time.monotonic() > deadline:
            raise TimeoutError(f"lottery never reached {wanted}")
        await asyncio.sleep(0.1)


def _print_report(summary: dict[str, Any], transcripts: dict[str, str]) -> None:
    print("\n— The organizer uploads the lottery —")
    print(transcripts["organizer"])
    print("\n— Ana enters, then tries again —")
    print(transcripts["ana"])
    print("\n— Leo's payment lands after entries closed —")
    print(transcripts["leo"])
    print("\n— Summary —")
    for key in ("entrants", "entries", "tickets_asked", "seats", "oversubscription", "winners",
                "tickets_issued", "refunds_issued", "paid_minor", "winners_value_minor",
                "refunded_minor", "duplicate_refunds", "unsettled", "late_payment_refunded",
                "duplicate_entry_refused", "telegram_429s", "bot_api_errors",
                "settle_seconds", "duration_s"):
        print(f"  {key:<26}{summary[key]}")
    balanced = summary["paid_minor"] == summary["winners_value_minor"] + \
        summary["refunded_minor"]
    print(f"\n  {'OK' if balanced else 'PROBLEM'}: paid = winners' tickets + refunds; "
          "every entrant refunded at most once.")
