"""Storage path of a direct sale: hold -> confirm payment -> tickets + outbox, 8 buyers at a time.

No Telegram, no sandbox: the real services (``bot.app.build_services``) on the real storage,
as the purchase handlers call them. ``--buyers`` fresh buyers (1,200 by default) compete for
``--seats`` seats (1,000) of one ticket type, ``--concurrency`` (8) at a time, each one
running ``PurchaseService.hold`` then ``PurchaseService.confirm_payment`` (as
``successful_payment`` does: payment recorded, order paid, tickets issued, the confirmation,
ticket and hold-screen outbox rows queued). A buyer who finds the seats gone is counted as
refused (``sold_out``); nobody may end up with a paid seat over capacity.

Figures per engine: orders/s (paid orders over the wall time of the whole run), oversold
seats, SQL statements per buyer (counted by a SQLAlchemy ``before_cursor_execute`` listener,
BEGIN included; a COMMIT goes through the driver's ``commit()`` and is not a statement), and
p50/p99 of one buyer's hold + confirm.

    python -m bench.storage_purchase                  # SQLite and PostgreSQL
    python -m bench.storage_purchase --db sqlite
    python -m bench.storage_purchase --quick          # 240 buyers for 200 seats
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import text

from bench.common import (
    create_pg_database,
    drop_pg_database,
    max_rss_mib,
    percentile,
    quiet_logging,
    table,
    write_results,
)
from bot.app import build_services
from bot.storage.database import SqlDatabase
from bot.storage.migrate import upgrade_to_head
from core.kernel.clock import ManualClock
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.payments.model import IncomingPayment
from core.sales.model import invoice_payload

ADMIN = 1
NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
_buyer: contextvars.ContextVar[int | None] = contextvars.ContextVar("buyer", default=None)


def event_doc(seats: int) -> dict[str, Any]:
    """One direct-sale event, one GA type of ``seats`` seats."""
    return {"title": "Storage Bench", "description": "Benchmark event.",
            "venue": "Old Harbour, Hamburg", "starts_at": "2030-12-12T21:00",
            "timezone": "Europe/Berlin", "sale_mode": "direct", "publish": True,
            "ticket_types": [{"name": "GA", "price": "25.00", "currency": "EUR",
                              "capacity": seats, "per_user_limit": 4}]}


async def run_engine(url: str, *, buyers: int, seats: int, concurrency: int) -> dict[str, Any]:
    """One run on one database; returns its figures."""
    db = SqlDatabase(url)
    await upgrade_to_head(db)
    clock = ManualClock(NOW)
    services = build_services(db, clock, admin_ids=frozenset({ADMIN}))
    event = await services.admin.import_event(event_doc(seats), actor_id=ADMIN)
    async with db.read() as uow:
        ticket_type = (await uow.events.ticket_types(event.id))[0]

    per_buyer: dict[int, int] = {}
    unattributed = [0]

    def count(*_args: Any) -> None:
        buyer = _buyer.get()
        if buyer is None:
            unattributed[0] += 1
        else:
            per_buyer[buyer] = per_buyer.get(buyer, 0) + 1

    engines = getattr(db, "sync_engines", [db.engine.sync_engine])  # older code: one engine
    for engine in engines:
        sa_event.listen(engine, "before_cursor_execute", count)
    purchase = services.purchase
    latencies: list[float] = []
    outcomes = {"paid": 0, "sold_out": 0}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(buyers):
        queue.put_nowait(2_000_000 + n)

    async def buy(user_id: int) -> None:
        _buyer.set(user_id)
        started = time.perf_counter()
        try:
            hold = await purchase.hold(user_id=user_id, ticket_type_id=ticket_type.id,
                                       quantity=1, screen=(user_id, 10))
        except DomainError as exc:
            if exc.code not in (ErrorCode.SOLD_OUT, ErrorCode.NOT_ENOUGH_SEATS):
                raise
            outcomes["sold_out"] += 1
            latencies.append(time.perf_counter() - started)
            return
        order = hold.order
        await purchase.confirm_payment(IncomingPayment(
            user_id=user_id, chat_id=user_id, telegram_charge_id=f"tg_{user_id}",
            provider_charge_id=f"ch_{user_id}", payload=invoice_payload(order.id),
            amount=Money(order.unit_price.amount * order.quantity, order.unit_price.currency),
            first_name="Buyer"))
        outcomes["paid"] += 1
        latencies.append(time.perf_counter() - started)

    async def worker() -> None:
        while not queue.empty():
            user_id = queue.get_nowait()
            await asyncio.create_task(buy(user_id), context=contextvars.copy_context())

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    for engine in engines:
        sa_event.remove(engine, "before_cursor_execute", count)

    async with db.read() as uow:
        sold = (await uow.events.stock([ticket_type.id], now=clock.now()))[ticket_type.id].sold
    async with db.raw() as conn:
        tickets = (await conn.execute(text("SELECT count(*) FROM tickets"))).scalar_one()
        outbox_rows = (await conn.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
        paid_orders = (await conn.execute(
            text("SELECT count(*) FROM orders WHERE status = 'paid'"))).scalar_one()
    await db.dispose()
    statements = sorted(per_buyer.values())
    paid_buyers = [per_buyer[u] for u in per_buyer]
    return {
        "db": db.dialect, "buyers": buyers, "seats": seats, "concurrency": concurrency,
        "orders_per_s": round(paid_orders / wall, 1), "paid_orders": paid_orders,
        "refused": outcomes["sold_out"], "oversold": max(0, sold - seats),
        "tickets": tickets, "outbox_rows": outbox_rows, "seconds": round(wall, 2),
        "cpu_ms_per_buyer": round(cpu * 1000 / buyers, 2),
        "sql_per_buyer": round(sum(statements) / max(1, len(statements)), 1),
        "sql_per_paid_buyer_max": max(paid_buyers) if paid_buyers else 0,
        "sql_unattributed": unattributed[0],
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
    }


async def main_async(args: argparse.Namespace) -> None:
    quiet_logging()
    engines = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    buyers, seats = (240, 200) if args.quick else (args.buyers, args.seats)
    runs = []
    for engine in engines:
        for _ in range(args.repeat):
            if engine == "sqlite":
                with tempfile.TemporaryDirectory() as tmp:
                    url = f"sqlite:///{Path(tmp) / 'bench.db'}"
                    runs.append(await run_engine(url, buyers=buyers, seats=seats,
                                                 concurrency=args.concurrency))
            else:
                url = await create_pg_database()
                try:
                    runs.append(await run_engine(url, buyers=buyers, seats=seats,
                                                 concurrency=args.concurrency))
                finally:
                    await drop_pg_database(url)
    print(table(f"Storage purchase path: {buyers} buyers for {seats} seats, "
                f"{args.concurrency} at a time (hold + confirm payment + tickets + outbox)",
                [[r["db"], r["orders_per_s"], r["paid_orders"], r["refused"], r["oversold"],
                  r["sql_per_buyer"], r["cpu_ms_per_buyer"], r["p50_ms"], r["p99_ms"],
                  r["seconds"]] for r in runs],
                ["db", "orders/s", "paid", "refused", "oversold", "SQL/buyer", "CPU ms/buyer",
                 "p50 ms",
                 "p99 ms", "s"]))
    print(f"\ntarget: >= 300 orders/s, 0 oversold; peak RSS {max_rss_mib():.0f} MiB; "
          f"load average {os.getloadavg()[0]:.2f} (CPU ms/buyer: this process's CPU time, "
          "threads included, over all buyers)")
    path = write_results("storage_purchase", {"runs": runs}, quick=args.quick)
    print(f"written: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--buyers", type=int, default=1200)
    parser.add_argument("--seats", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
