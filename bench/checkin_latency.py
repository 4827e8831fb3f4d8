"""Benchmark 9: door check-in verdict latency at a steady 50 scans/s.

Setup (not timed): TicketQ runs against the sandbox (temporary SQLite database, no sandbox
rate limit). An event is imported, tickets are bought through ``PurchaseService`` (hold +
confirmed payment, 4 tickets per order) and their QR deliveries drained from the outbox;
100 door staff accept invites (a gate is never busy when its next scan is due) for the event.

Timed: scans are started on a fixed schedule of 50 per second (open loop). Each scan is a
staff member's phone opening the ticket link, i.e. sending ``/start t_<token>`` to the bot;
latency is from that send to the verdict message in the staff chat. The mix: half are first
scans of fresh tickets (expect VALID), 40 % scan a ticket already admitted (ALREADY USED),
10 % carry a random token (NOT A TICKET). Every verdict is checked against the expectation.

    python -m bench.checkin_latency            # 60 s, 3,000 scans
    python -m bench.checkin_latency --quick    # 10 s, 500 scans
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.common import percentile, quiet_logging, table, write_results
from bot.sandbox import Sandbox, VirtualUser
from bot.sandbox.harness import new_sandbox, running_bot, sqlite_url
from bot.storage import tables as t
from core.access.model import Role
from core.kernel.clock import SystemClock
from core.payments.model import IncomingPayment
from core.sales.model import invoice_payload

ADMIN = 1
GATES = 100
FIRST_BUYER = 2_000_000
FIRST_GATE = 3_000_000
EXPECT = {"first": "VALID", "repeat": "ALREADY USED", "forged": "NOT A TICKET"}


def event_doc(capacity: int) -> dict[str, Any]:
    return {"title": "Door Night", "description": "Check-in benchmark.",
            "venue": "Hall 2, Hamburg", "starts_at": "2035-06-01T20:00",
            "timezone": "Europe/Berlin", "sale_mode": "direct", "publish": True,
            "ticket_types": [{"name": "GA", "price": "20.00", "currency": "EUR",
                              "capacity": capacity, "per_user_limit": 4}]}


async def issue_tickets(runtime: Any, sandbox: Sandbox, event_id: int, n: int) -> list[str]:
    """``n`` tickets bought through the purchase service; returns their tokens."""
    services = runtime.services
    type_id = (await services.admin.sales(event_id, actor_id=ADMIN)).types[0].ticket_type.id
    charges = itertools.count(1)
    for buyer in range(FIRST_BUYER, FIRST_BUYER + (n + 3) // 4):
        sandbox.user(buyer, first_name=f"Guest{buyer % 1000}")
        hold = await services.purchase.hold(user_id=buyer, ticket_type_id=type_id, quantity=4)
        c = next(charges)
        await services.purchase.confirm_payment(IncomingPayment(
            buyer, buyer, f"tg_door_{c}", f"ch_door_{c}", invoice_payload(hold.order.id),
            hold.order.total, first_name=f"Guest{buyer % 1000}"))
    await runtime.worker.drain_until_idle(timeout=300)
    async with runtime.db.read() as uow:
        rows = await uow.conn.execute(select(t.tickets.c.token).where(
            t.tickets.c.event_id == event_id).order_by(t.tickets.c.id))
        return [r.token for r in rows][:n]


async def make_gates(runtime: Any, sandbox: Sandbox, event_id: int) -> list[VirtualUser]:
    gates = []
    for i in range(GATES):
        user_id = FIRST_GATE + i
        invite = await runtime.services.access.create_invite(actor_id=ADMIN, role=Role.STAFF,
                                                             event_id=event_id)
        await runtime.services.access.accept_invite(user_id=user_id, first_name=f"Gate{i}",
                                                    payload=f"i_{invite.token}")
        gates.append(sandbox.user(user_id, first_name=f"Gate{i}"))
    return gates


def verdict_of(text: str) -> str:
    for word in ("ALREADY USED", "NOT A TICKET", "VALID", "WRONG EVENT", "REVOKED",
                 "CANCELLED"):
        if word in text:
            return word
    return text.splitlines()[0][:40] if text else "?"


async def run(quick: bool, rate: float, seconds: float) -> dict[str, Any]:
    scans = int(rate * seconds)
    rng = random.Random(9)
    plan: list[str] = []
    for i in range(scans):
        if i % 2 == 0:
            plan.append("first")
        else:
            plan.append("repeat" if rng.random() < 0.8 else "forged")
    fresh_needed = plan.count("first")
    sandbox = new_sandbox(rate_limit_global=None, rate_limit_per_chat=None)  # measured unpaced
    await sandbox.start()
    try:
        with tempfile.TemporaryDirectory(prefix="ticketq-door-") as tmp:
            async with running_bot(sandbox, sqlite_url(Path(tmp)), admin_ids=frozenset({ADMIN}),
                                   clock=SystemClock(), send_rate=1000.0,
                                   send_rate_per_chat=100.0) as runtime:
                event = await runtime.services.admin.import_event(
                    event_doc(fresh_needed + 8), actor_id=ADMIN)
                setup_start = time.perf_counter()
                tokens = await issue_tickets(runtime, sandbox, event.id, fresh_needed)
                gates = await make_gates(runtime, sandbox, event.id)
                await asyncio.sleep(0.5)
                print(f"setup: {len(tokens)} tickets, {len(gates)} gates in "
                      f"{time.perf_counter() - setup_start:.1f} s; scanning {scans} at "
                      f"{rate:g}/s")
                return await scan_run(plan, tokens, gates, rate, rng)
    finally:
        await sandbox.stop()


async def scan_run(plan: list[str], tokens: list[str], gates: list[VirtualUser], rate: float,
                   rng: random.Random) -> dict[str, Any]:
    free: asyncio.Queue[VirtualUser] = asyncio.Queue()
    for gate in gates:
        free.put_nowait(gate)
    fresh = iter(tokens)
    admitted: list[str] = []
    latencies: dict[str, list[float]] = {k: [] for k in EXPECT}
    wrong: list[str] = []
    gate_waits = 0

    async def scan(kind: str) -> None:
        nonlocal gate_waits
        if kind == "first":
            token = next(fresh)
        elif kind == "repeat" and admitted:
            token = rng.choice(admitted)
        else:
            kind, token = "forged", secrets.token_urlsafe(16)
        if free.empty():
            gate_waits += 1
        gate = await free.get()
        try:
            mark = gate.mark()
            t0 = time.perf_counter()
            await gate.send(f"/start t_{token}")
            msg = await gate.wait_for_message(since=mark, timeout=60)
            latencies[kind].append(time.perf_counter() - t0)
        finally:
            free.put_nowait(gate)
        verdict = verdict_of(msg.text or "")
        if verdict != EXPECT[kind]:
            wrong.append(f"{kind}: {verdict}")
        if kind == "first":
            admitted.append(token)

    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    for i, kind in enumerate(plan):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(scan(kind)))
    offered_s = loop.time() - start
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [repr(r)[:200] for r in results if isinstance(r, BaseException)]
    every = [x for v in latencies.values() for x in v]
    by_kind = {k: {"n": len(v), "p50_ms": round(percentile(v, 50) * 1000, 1),
                   "p99_ms": round(percentile(v, 99) * 1000, 1)} for k, v in latencies.items()}
    return {
        "scans": len(plan), "rate_per_s": rate, "offered_seconds": round(offered_s, 2),
        "achieved_rate_per_s": round(len(plan) / offered_s, 2) if offered_s else None,
        "p50_ms": round(percentile(every, 50) * 1000, 1),
        "p90_ms": round(percentile(every, 90) * 1000, 1),
        "p99_ms": round(percentile(every, 99) * 1000, 1),
        "max_ms": round(max(every) * 1000, 1) if every else None,
        "by_kind": by_kind, "wrong_verdicts": len(wrong), "wrong_examples": wrong[:5],
        "errors": len(errors), "error_examples": errors[:3], "gates": len(gates),
        "scans_that_waited_for_a_free_gate": gate_waits,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 s instead of 60 s")
    parser.add_argument("--rate", type=float, default=50.0, help="scans per second")
    parser.add_argument("--seconds", type=float, default=None)
    args = parser.parse_args()
    quiet_logging()
    seconds = args.seconds or (10.0 if args.quick else 60.0)
    r = asyncio.run(run(args.quick, args.rate, seconds))
    rows = [["all", r["scans"], r["p50_ms"], r["p99_ms"]]] + [
        [k, v["n"], v["p50_ms"], v["p99_ms"]] for k, v in r["by_kind"].items()]
    print(table(f"Door check-in verdict latency at {args.rate:g} scans/s "
                f"(achieved {r['achieved_rate_per_s']}/s)", rows,
                ["scans", "n", "p50 ms", "p99 ms"]))
    print(f"\nwrong verdicts: {r['wrong_verdicts']}, errors: {r['errors']}, max "
          f"{r['max_ms']} ms, p90 {r['p90_ms']} ms")
    path = write_results("checkin_latency", r, quick=args.quick)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
