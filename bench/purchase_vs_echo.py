"""Benchmark 6: the full purchase flow through the real Application vs a bare PTB echo bot,
both polling the same loopback sandbox in one run.

Phases (one process, one event loop: the sandbox, the bot and the virtual users share it,
exactly as in the end-to-end tests):

1. **Echo ceiling.** A bare ``Application`` (one ``MessageHandler`` replying the text, the
   same builder settings as TicketQ: 64 concurrent updates, 64 connections, long polling)
   against the sandbox. Closed loop: C virtual users each send a text and wait for its echo,
   again and again; updates/s is measured for several C and the maximum is the ceiling.
2. **Purchase ceiling.** TicketQ (``bot.sandbox.harness.running_bot``, temporary SQLite database,
   no sandbox rate limit, send rate 1,000/s, the most Settings allows) against the same
   sandbox. Closed loop: C buyers, each a fresh user, tap through ``/events`` -> event ->
   GA -> 1 -> invoice -> pay and wait for the ticket QR delivered by the outbox. Six
   updates per purchase (message, 3 callback queries, pre_checkout_query,
   successful_payment).
3. **Latency at half load.** Open loop for each bot at half of its own maximum: echo
   messages, or new purchases, started on a fixed schedule; latency = time from the
   user's action to the bot's reply the user waits for (echo; listing, card, picker,
   invoice, pre-checkout answer, payment confirmation). The ticket QR delivery (outbox) is
   reported separately.

Afterwards the database and the Stripe ledger are checked: nothing oversold, every charge
recorded and ticketed, one ticket per seat paid.

    python -m bench.purchase_vs_echo           # full run (~3 minutes)
    python -m bench.purchase_vs_echo --quick   # smoke run (~40 s)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bench.common import percentile, quiet_logging, table, write_results
from bot.reconcile import money_report
from bot.sandbox import Sandbox, SandboxMessage, VirtualUser
from bot.sandbox.harness import SANDBOX_TOKEN, new_sandbox, running_bot, sqlite_url
from core.kernel.clock import SystemClock

EVENT_TITLE = "Benchmark Night"
UPDATES_PER_PURCHASE = 6
STEPS = ("events", "tap_event", "tap_type", "tap_quantity", "pre_checkout", "payment")
TIMEOUT = 60.0


# ---------------------------------------------------------------------------- echo bot
async def _echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text)


def echo_application(sandbox: Sandbox) -> Application[Any, Any, Any, Any, Any, Any]:
    """The bare echo bot, built like TicketQ's Application (same concurrency and pool)."""
    app = (ApplicationBuilder().token(SANDBOX_TOKEN)
           .base_url(sandbox.bot_api_base_url).base_file_url(sandbox.bot_file_base_url)
           .concurrent_updates(64).connection_pool_size(64).get_updates_read_timeout(30)
           .build())
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _echo))
    return app


async def start_echo(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    await app.initialize()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1, drop_pending_updates=False)
    await app.start()


async def stop_echo(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    assert app.updater is not None
    await app.updater.stop()
    await app.stop()
    await app.shutdown()


# ---------------------------------------------------------------------------- load shapes
@dataclass
class Samples:
    """Latencies (seconds) by step, and completed operations with their finish times."""

    latency: dict[str, list[float]] = field(default_factory=dict)
    finished: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, step: str, seconds: float) -> None:
        self.latency.setdefault(step, []).append(seconds)

    def all_latencies(self, steps: tuple[str, ...] | None = None) -> list[float]:
        out: list[float] = []
        for step, values in self.latency.items():
            if steps is None or step in steps:
                out.extend(values)
        return out


Operation = Callable[[VirtualUser, Samples], Awaitable[None]]


async def closed_loop(users: Callable[[], VirtualUser], op: Operation, *, concurrency: int,
                      warmup: float, duration: float) -> tuple[float, Samples]:
    """``concurrency`` workers repeat ``op``; returns (operations/s in the window, samples)."""
    samples = Samples()
    loop = asyncio.get_running_loop()
    start = loop.time()
    window = (start + warmup, start + warmup + duration)

    async def worker() -> None:
        while loop.time() < window[1]:
            try:
                await op(users(), samples)
            except (TimeoutError, LookupError, AssertionError) as exc:
                samples.errors.append(str(exc).splitlines()[0][:200])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    done = sum(1 for t in samples.finished if window[0] <= t <= window[1])
    return done / duration, samples


async def open_loop(users: Callable[[], VirtualUser], op: Operation, *, rate: float,
                    duration: float) -> tuple[float, Samples]:
    """Start ``op`` ``rate`` times per second for ``duration`` s; wait for all to finish."""
    samples = Samples()
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    for i in itertools.count():
        due = start + i / rate
        if due >= start + duration:
            break
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_guarded(op, users(), samples)))
    await asyncio.gather(*tasks)
    return len(samples.finished) / duration, samples


async def _guarded(op: Operation, user: VirtualUser, samples: Samples) -> None:
    try:
        await op(user, samples)
    except (TimeoutError, LookupError, AssertionError) as exc:
        samples.errors.append(str(exc).splitlines()[0][:200])


def user_factory(sandbox: Sandbox, first_id: int) -> Callable[[], VirtualUser]:
    """A fresh virtual user (own private chat) per operation."""
    ids = itertools.count(first_id)
    return lambda: sandbox.user(next(ids), first_name="Bench")


# ---------------------------------------------------------------------------- operations
_echo_seq = itertools.count()


async def echo_once(user: VirtualUser, samples: Samples) -> None:
    text = f"echo {next(_echo_seq)}"
    mark = user.mark()
    t0 = time.perf_counter()
    await user.send(text)
    await user.wait_for_message(contains=text, since=mark, timeout=TIMEOUT)
    samples.add("echo", time.perf_counter() - t0)
    samples.finished.append(asyncio.get_running_loop().time())


def _invoice(msg: SandboxMessage) -> bool:
    return msg.invoice is not None


def _ticket_photo(msg: SandboxMessage) -> bool:
    return msg.photo is not None


async def purchase_once(user: VirtualUser, samples: Samples) -> None:
    """One buyer taps through the whole purchase of one GA ticket and receives its QR."""
    clock = time.perf_counter
    mark, t0 = user.mark(), clock()
    await user.send("/events")
    listing = await user.wait_for_message(contains="Upcoming events", since=mark,
                                          timeout=TIMEOUT)
    samples.add("events", clock() - t0)

    mark, t0 = user.mark(), clock()
    await user.tap(listing, text=EVENT_TITLE, timeout=TIMEOUT)
    card = await user.wait_for_message(contains="📍", since=mark, timeout=TIMEOUT)
    samples.add("tap_event", clock() - t0)

    label = next(x for x in card.button_texts() if x.startswith("GA ·"))
    mark, t0 = user.mark(), clock()
    await user.tap(card, text=label, timeout=TIMEOUT)
    picker = await user.wait_for_message(contains="How many", since=mark, timeout=TIMEOUT)
    samples.add("tap_type", clock() - t0)

    mark, t0 = user.mark(), clock()
    await user.tap(picker, text="1", timeout=TIMEOUT)
    invoice = await user.wait_for_message(predicate=_invoice, since=mark, timeout=TIMEOUT)
    samples.add("tap_quantity", clock() - t0)

    t0 = clock()
    outcome = await user.pay(invoice, deliver_success=False, timeout=10)
    samples.add("pre_checkout", clock() - t0)
    assert outcome.ok, f"payment refused: {outcome.error_message}"

    mark, t0 = user.mark(), clock()
    await user.deliver_successful_payment(outcome)
    await user.wait_for_message(contains="Payment received", since=mark, timeout=TIMEOUT)
    samples.add("payment", clock() - t0)
    await user.wait_for_message(predicate=_ticket_photo, since=mark, timeout=TIMEOUT)
    samples.add("ticket_delivered", clock() - t0)
    samples.finished.append(asyncio.get_running_loop().time())


# ---------------------------------------------------------------------------- the run
def _summary(samples: Samples, steps: tuple[str, ...] | None) -> dict[str, float]:
    values = samples.all_latencies(steps)
    return {"n": len(values), "p50_ms": round(percentile(values, 50) * 1000, 1),
            "p99_ms": round(percentile(values, 99) * 1000, 1)}


async def measure_ceiling(name: str, users: Callable[[], VirtualUser], op: Operation,
                          levels: list[int], *, warmup: float, duration: float,
                          per_op_updates: int) -> dict[str, Any]:
    results = []
    for concurrency in levels:
        ops, samples = await closed_loop(users, op, concurrency=concurrency, warmup=warmup,
                                         duration=duration)
        row = {"concurrency": concurrency, "ops_per_s": round(ops, 2),
               "updates_per_s": round(ops * per_op_updates, 1),
               "errors": len(samples.errors), **_summary(samples, None if name == "echo"
                                                          else STEPS)}
        print(f"  {name:8} C={concurrency:<4} {row['updates_per_s']:>8} updates/s  "
              f"{row['ops_per_s']:>8} ops/s  p50 {row['p50_ms']} ms  errors {row['errors']}")
        if samples.errors:
            print(f"    first error: {samples.errors[0]}")
        results.append(row)
    best = max(results, key=lambda r: r["updates_per_s"])
    return {"levels": results, "max_updates_per_s": best["updates_per_s"],
            "max_ops_per_s": best["ops_per_s"], "at_concurrency": best["concurrency"]}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    warmup, duration = (0.5, 2.0) if quick else (2.0, 8.0)
    half_duration = 4.0 if quick else 15.0
    echo_levels = [1, 8, 32, 64] if quick else [1, 8, 32, 64, 128]
    buy_levels = [4, 16, 32] if quick else [4, 16, 32, 64, 96]
    sandbox = new_sandbox(rate_limit_global=None, rate_limit_per_chat=None)  # measured unpaced
    await sandbox.start()
    out: dict[str, Any] = {"settings": {
        "warmup_s": warmup, "window_s": duration, "half_load_window_s": half_duration,
        "echo_concurrency_levels": echo_levels, "purchase_concurrency_levels": buy_levels,
        "sandbox_rate_limit": None, "send_rate": 1000.0, "database": "SQLite (temp file)",
        "tickets_per_purchase": 1, "updates_per_purchase": UPDATES_PER_PURCHASE}}
    try:
        # 1 + 3a: the echo bot.
        print("echo bot: closed loop")
        echo_app = echo_application(sandbox)
        await start_echo(echo_app)
        try:
            echo_users = user_factory(sandbox, 100_000)
            echo = await measure_ceiling("echo", echo_users, echo_once, echo_levels,
                                         warmup=warmup, duration=duration, per_op_updates=1)
            rate = echo["max_updates_per_s"] / 2
            print(f"echo bot: open loop at {rate:.0f} updates/s")
            achieved, samples = await open_loop(echo_users, echo_once, rate=rate,
                                                duration=half_duration)
            echo["half_load"] = {"offered_updates_per_s": round(rate, 1),
                                 "achieved_updates_per_s": round(achieved, 1),
                                 "errors": len(samples.errors), **_summary(samples, None)}
        finally:
            await stop_echo(echo_app)
        out["echo"] = echo

        # 2 + 3b: TicketQ.
        with tempfile.TemporaryDirectory(prefix="ticketq-bench-") as tmp:
            url = sqlite_url(Path(tmp))
            async with running_bot(sandbox, url, admin_ids=frozenset({1}), clock=SystemClock(),
                                   send_rate=1000.0, send_rate_per_chat=100.0) as runtime:
                event = await runtime.services.admin.import_event(event_doc(), actor_id=None)
                buyers = user_factory(sandbox, 1_000_000)
                print("purchase flow: closed loop")
                buy = await measure_ceiling("purchase", buyers, purchase_once, buy_levels,
                                            warmup=warmup, duration=duration,
                                            per_op_updates=UPDATES_PER_PURCHASE)
                rate = buy["max_ops_per_s"] / 2
                print(f"purchase flow: open loop at {rate:.1f} purchases/s "
                      f"({rate * UPDATES_PER_PURCHASE:.0f} updates/s)")
                achieved, samples = await open_loop(buyers, purchase_once, rate=rate,
                                                    duration=half_duration)
                buy["half_load"] = {
                    "offered_purchases_per_s": round(rate, 2),
                    "offered_updates_per_s": round(rate * UPDATES_PER_PURCHASE, 1),
                    "achieved_purchases_per_s": round(achieved, 2),
                    "errors": len(samples.errors), **_summary(samples, STEPS),
                    "by_step": {s: _summary(samples, (s,)) for s in
                                (*STEPS, "ticket_delivered")}}
                await runtime.worker.drain_until_idle(timeout=60)
                out["purchase"] = buy
                out["integrity"] = await integrity(runtime, sandbox, event.id)
    finally:
        await sandbox.stop()
    out["ratio_updates"] = round(out["purchase"]["max_updates_per_s"]
                                 / out["echo"]["max_updates_per_s"], 3)
    return out


def event_doc() -> dict[str, Any]:
    return {"title": EVENT_TITLE, "description": "Load test.", "venue": "Hall 1, Hamburg",
            "starts_at": "2035-06-01T20:00", "timezone": "Europe/Berlin",
            "sale_mode": "direct", "publish": True,
            "ticket_types": [{"name": "GA", "price": "25.00", "currency": "EUR",
                              "capacity": 1_000_000, "per_user_limit": 4}]}


async def integrity(runtime: Any, sandbox: Sandbox, event_id: int) -> dict[str, Any]:
    """Oversold and money checks from the database and the Stripe emulator's ledger."""
    report = await money_report(runtime.db)
    sales = await runtime.services.admin.sales(event_id, actor_id=1)
    oversold = sum(max(0, row.stock.sold - row.stock.capacity) for row in sales.types)
    photos = sum(1 for u in sandbox.users.values() for m in u.messages if m.photo is not None)
    return {
        "oversold": oversold, "orders_paid": report.orders_paid,
        "seats_sold": sum(row.stock.sold for row in sales.types),
        "tickets_issued": report.tickets_issued, "ticket_photos_delivered": photos,
        "payments_recorded": report.payments, "stripe_charges": len(sandbox.stripe.charges),
        "unsettled": report.unsettled, "refunds": len(sandbox.stripe.refunds),
        "bot_api_errors": len(sandbox.bot_errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short windows, fewer levels")
    args = parser.parse_args()
    quiet_logging()
    result = asyncio.run(run(args))
    echo, buy, check = result["echo"], result["purchase"], result["integrity"]
    ratio = result["ratio_updates"]
    rows = [
        ["echo bot", echo["max_updates_per_s"], "-", echo["at_concurrency"],
         echo["half_load"]["offered_updates_per_s"], echo["half_load"]["p50_ms"],
         echo["half_load"]["p99_ms"]],
        ["purchase flow", buy["max_updates_per_s"], buy["max_ops_per_s"],
         buy["at_concurrency"], buy["half_load"]["offered_updates_per_s"],
         buy["half_load"]["p50_ms"], buy["half_load"]["p99_ms"]],
    ]
    print(table("Purchase flow vs bare PTB echo bot (same sandbox, one run)", rows,
                ["bot", "max updates/s", "purchases/s", "at C", "half load updates/s",
                 "p50 ms", "p99 ms"]))
    steps = [[s, v["n"], v["p50_ms"], v["p99_ms"]]
             for s, v in buy["half_load"]["by_step"].items()]
    print(table("Purchase flow at half load, latency by step", steps,
                ["step", "n", "p50 ms", "p99 ms"]))
    ok = ratio >= 0.40 and check["oversold"] == 0 and check["unsettled"] == 0
    print(f"\npurchase/echo = {ratio:.0%} of the echo ceiling (target >= 40 %); "
          f"oversold {check['oversold']}, unsettled {check['unsettled']}, "
          f"tickets {check['tickets_issued']} = seats sold {check['seats_sold']}, "
          f"charges {check['stripe_charges']} = payments {check['payments_recorded']}: "
          f"{'target met' if ok else 'TARGET MISSED'}")
    result["target"] = {"ratio_min": 0.40, "oversold": 0, "met": ok}
    path = write_results("purchase_vs_echo", result, quick=args.quick)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
