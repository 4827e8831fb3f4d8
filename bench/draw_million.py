"""Benchmark 7: a lottery draw over 1,000,000 paid entries vs a raw bulk insert of its rows.

Setup (not timed): migrate an empty database, import a lottery event, bulk-insert N paid
entries (status ``entered``, a unique public reference each) and their payments with
``INSERT ... SELECT`` over a generated series, then close the lottery (freezes the list hash).

Timed:

* ``draw`` -- ``LotteryService.draw(event_id)``: read and sort the entries, the verifiable
  shuffle, the draw order, winners' orders, tickets and outbox rows, and the one
  ``REFUND_LOSERS`` item for all the losers, in one transaction.
* ``losers settled`` -- what the outbox worker does with that item afterwards:
  ``LotteryService.settle_losers`` batch after batch (each batch marks its losers lost and
  writes their refunds and REFUND items in one transaction), until none is left.
* ``raw insert`` -- the very rows the draw wrote (draw_order, orders, tickets, refunds,
  outbox), read back, deleted, and inserted again with the driver's ``executemany`` in one
  transaction on the same database (same tables, same indexes). On PostgreSQL a ``COPY`` of
  the same rows is reported too, for reference.

Peak memory: the process's max RSS after the draw (``getrusage``), and the RSS before it.

    python -m bench.draw_million                 # SQLite, 1,000,000 entries
    python -m bench.draw_million --db postgres   # PostgreSQL (temporary database)
    python -m bench.draw_million --quick         # 50,000 entries
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, text

from bench import common
from bench.common import (
    Stopwatch,
    create_pg_database,
    current_rss_mib,
    drop_pg_database,
    max_rss_mib,
    quiet_logging,
    write_results,
)
from bot.app import build_services
from bot.storage import tables as t
from bot.storage.database import SqlDatabase
from bot.storage.migrate import upgrade_to_head
from core.kernel.clock import ManualClock

ADMIN = 1
START = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
# Tables the draw writes, in insertion (foreign key) order.
PRODUCED = ("draw_order", "orders", "tickets", "refunds", "outbox")


def lottery_doc(seats_ga: int, seats_vip: int, max_per_entry: int) -> dict[str, Any]:
    """A lottery event file: entries open now, close in an hour, draw a minute later."""
    def at(seconds: int) -> str:
        return (START + timedelta(seconds=seconds)).isoformat()

    return {
        "title": "Million Entries Gala", "description": "Benchmark lottery.",
        "venue": "Elbphilharmonie, Hamburg", "starts_at": at(30 * 86_400),
        "timezone": "Europe/Berlin", "sale_mode": "lottery", "publish": True,
        "ticket_types": [
            {"name": "GA", "price": "30.00", "currency": "EUR", "capacity": seats_ga,
             "per_user_limit": max_per_entry},
            {"name": "VIP", "price": "90.00", "currency": "EUR", "capacity": seats_vip,
             "per_user_limit": max_per_entry}],
        "lottery": {"entries_open_at": at(-60), "entries_close_at": at(3600),
                    "draw_at": at(3660), "max_per_entry": max_per_entry},
    }


def _series_sql(dialect: str) -> tuple[str, str]:
    """(FROM clause yielding column ``i`` = 1..:n, hex-of-scrambled-i expression)."""
    # i * 2654435761 mod 2**32 is a bijection: unique references whose sort order is
    # unrelated to the entry ids, like real random references.
    if dialect == "sqlite":
        return ("(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s "
                "WHERE i < :n) SELECT i FROM s) AS s",
                "printf('%08X', (i * 2654435761) % 4294967296)")
    return ("generate_series(1, :n) AS s(i)",
            "upper(lpad(to_hex((i::bigint * 2654435761) % 4294967296), 8, '0'))")


async def insert_entries(db: SqlDatabase, *, event_id: int, types: list[Any], n: int,
                         now: datetime) -> None:
    """N paid entries (1-2 GA tickets, every 10th VIP) and one payment each."""
    series, hexref = _series_sql(db.dialect)
    ga, vip = types
    ref = f"'R' || substr({hexref}, 1, 4) || '-' || substr({hexref}, 5, 4)"
    is_vip = "(i % 10 = 0)"
    entries_sql = f"""
        INSERT INTO entries (event_id, ticket_type_id, user_id, chat_id, quantity,
                             unit_price_minor, currency, status, created_at, paid_at,
                             public_ref)
        SELECT CAST(:event_id AS INTEGER),
               CASE WHEN {is_vip} THEN CAST(:vip AS INTEGER) ELSE CAST(:ga AS INTEGER) END,
               1000000000 + i, 1000000000 + i, 1 + (i % 2),
               CASE WHEN {is_vip} THEN CAST(:vip_price AS BIGINT)
                    ELSE CAST(:ga_price AS BIGINT) END,
               'EUR', 'entered', :now, :now, {ref}
        FROM {series}"""
    payments_sql = """
        INSERT INTO payments (telegram_charge_id, provider_charge_id, order_id, entry_id,
                              user_id, chat_id, amount_minor, currency, payload, received_at)
        SELECT 'tg_bench_' || CAST(id AS VARCHAR(20)), 'ch_bench_' || CAST(id AS VARCHAR(20)),
               NULL, id, user_id, chat_id, unit_price_minor * quantity, currency,
               'e' || CAST(id AS VARCHAR(20)), :now
        FROM entries WHERE event_id = :event_id ORDER BY id"""
    now_param = bindparam("now", type_=t.UTCDateTime)
    async with db.raw() as conn:
        await conn.execute(text(entries_sql).bindparams(now_param), {
            "n": n, "event_id": event_id, "ga": ga.id, "vip": vip.id,
            "ga_price": ga.price.amount, "vip_price": vip.price.amount, "now": now})
        await conn.execute(text(payments_sql).bindparams(now_param),
                           {"event_id": event_id, "now": now})


PROFILE: str | None = None


def _profiler() -> Any:
    from pyinstrument import Profiler  # optional: pip install pyinstrument

    profiler = Profiler(async_mode="enabled", interval=0.002)
    profiler.start()
    return profiler


# ---------------------------------------------------------------------------- raw driver
class RawDriver:
    """The plain driver connection (sqlite3 via aiosqlite, or asyncpg), no SQLAlchemy."""

    def __init__(self, db: SqlDatabase, sqlite_path: Path | None, pg_url: str | None) -> None:
        self.dialect = db.dialect
        self.sqlite_path = sqlite_path
        self.pg_url = pg_url
        self.conn: Any = None

    async def __aenter__(self) -> RawDriver:
        if self.dialect == "sqlite":
            import aiosqlite

            self.conn = await aiosqlite.connect(str(self.sqlite_path), isolation_level=None)
            await self.conn.execute("PRAGMA journal_mode=WAL")
            await self.conn.execute("PRAGMA synchronous=NORMAL")
            await self.conn.execute("PRAGMA foreign_keys=ON")
        else:
            import asyncpg

            assert self.pg_url is not None
            self.conn = await asyncpg.connect(self.pg_url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.close()

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        if self.dialect == "sqlite":
            async with self.conn.execute(sql) as cursor:
                return list(await cursor.fetchall())
        return [tuple(r) for r in await self.conn.fetch(sql)]

    async def execute(self, sql: str) -> None:
        await self.conn.execute(sql)

    async def executemany(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]
                          ) -> None:
        if self.dialect == "sqlite":
            marks = ", ".join("?" for _ in columns)
        else:
            marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        await self.conn.executemany(sql, rows)

    async def copy(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        await self.conn.copy_records_to_table(table, records=rows, columns=columns)


async def columns_of(raw: RawDriver, table: str) -> list[str]:
    if raw.dialect == "sqlite":
        return [r[1] for r in await raw.fetch(f"PRAGMA table_info({table})")]
    rows = await raw.fetch(
        "SELECT column_name FROM information_schema.columns "
        f"WHERE table_name = '{table}' ORDER BY ordinal_position")
    return [r[0] for r in rows]


async def snapshot_produced(raw: RawDriver, event_id: int, before: dict[str, int]
                            ) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every row the draw inserted, exactly as stored."""
    out = {}
    for table in PRODUCED:
        columns = await columns_of(raw, table)
        if table == "draw_order":
            where = f"event_id = {event_id}"
            order = "position"
        else:
            where = f"id > {before[table]}"
            order = "id"
        rows = await raw.fetch(f"SELECT {', '.join(columns)} FROM {table} "
                               f"WHERE {where} ORDER BY {order}")
        out[table] = (columns, rows)
    return out


async def delete_produced(raw: RawDriver, event_id: int, before: dict[str, int]) -> None:
    # Foreign-key checks off while deleting: entries.order_id has no index, so checking
    # each deleted order would scan every entry (the rows are re-inserted unchanged).
    if raw.dialect == "sqlite":
        await raw.execute("PRAGMA foreign_keys=OFF")
    else:
        await raw.execute("SET session_replication_role = replica")
    await raw.execute("BEGIN")
    await raw.execute(f"UPDATE entries SET order_id = NULL WHERE event_id = {event_id}")
    for table in reversed(PRODUCED):
        where = f"event_id = {event_id}" if table == "draw_order" else f"id > {before[table]}"
        await raw.execute(f"DELETE FROM {table} WHERE {where}")
    await raw.execute("COMMIT")
    if raw.dialect == "sqlite":
        await raw.execute("PRAGMA foreign_keys=ON")
    else:
        await raw.execute("SET session_replication_role = DEFAULT")


async def raw_insert(raw: RawDriver, rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]],
                     *, copy: bool = False) -> float:
    """Insert the snapshot in one transaction; returns seconds."""
    start = time.perf_counter()
    await raw.execute("BEGIN")
    for table in PRODUCED:
        columns, data = rows[table]
        if copy:
            await raw.copy(table, columns, data)
        else:
            await raw.executemany(table, columns, data)
    await raw.execute("COMMIT")
    return time.perf_counter() - start


async def max_ids(db: SqlDatabase) -> dict[str, int]:
    out = {}
    async with db.read() as uow:
        for table in PRODUCED:
            if table == "draw_order":
                continue
            value = (await uow.conn.execute(text(f"SELECT MAX(id) FROM {table}"))).scalar()
            out[table] = int(value or 0)
    return out


async def counts(db: SqlDatabase, event_id: int, before: dict[str, int]) -> dict[str, int]:
    out = {}
    async with db.read() as uow:
        for table in PRODUCED:
            where = f"event_id = {event_id}" if table == "draw_order" else f"id > {before[table]}"
            out[table] = int((await uow.conn.execute(
                text(f"SELECT COUNT(*) FROM {table} WHERE {where}"))).scalar_one())
        for status in ("won", "lost", "entered"):
            out[f"entries_{status}"] = int((await uow.conn.execute(text(
                "SELECT COUNT(*) FROM entries WHERE event_id = :e AND status = :s"),
                {"e": event_id, "s": status})).scalar_one())
        out["tickets_over_capacity"] = int((await uow.conn.execute(text(
            "SELECT COALESCE(SUM(CASE WHEN n > capacity THEN n - capacity ELSE 0 END), 0) "
            "FROM (SELECT tt.capacity AS capacity, COUNT(k.id) AS n FROM ticket_types tt "
            "LEFT JOIN tickets k ON k.ticket_type_id = tt.id WHERE tt.event_id = :e "
            "GROUP BY tt.id, tt.capacity) AS x"), {"e": event_id})).scalar_one())
    return out


async def run(dialect: str, n: int, seats_ga: int, seats_vip: int) -> dict[str, Any]:
    tmp = tempfile.TemporaryDirectory(prefix="ticketq-draw-")
    pg_url: str | None = None
    sqlite_path: Path | None = None
    if dialect == "sqlite":
        sqlite_path = Path(tmp.name) / "draw.sqlite3"
        url = f"sqlite:///{sqlite_path}"
    else:
        pg_url = url = await create_pg_database()
    db = SqlDatabase(url)
    try:
        clock = ManualClock(START)
        await upgrade_to_head(db)
        services = build_services(db, clock, admin_ids=frozenset({ADMIN}))
        admin, lottery = services.admin, services.lottery
        event = await admin.import_event(lottery_doc(seats_ga, seats_vip, 2), actor_id=ADMIN)
        async with db.read() as uow:
            types = await uow.events.ticket_types(event.id)
        with Stopwatch() as setup:
            await insert_entries(db, event_id=event.id, types=types, n=n, now=clock.now())
        if dialect == "postgresql":
            async with db.raw() as conn:
                await conn.exec_driver_sql("ANALYZE")
        print(f"setup: {n:,} entries + payments inserted in {setup.seconds:.1f} s")
        clock.advance(timedelta(seconds=3600))
        with Stopwatch() as close:
            assert await lottery.close(event.id)
        clock.advance(timedelta(seconds=60))
        before = await max_ids(db)
        rss_before = current_rss_mib()
        profiler = _profiler() if PROFILE else None
        cpu_started = time.process_time()
        with Stopwatch() as draw:
            assert await lottery.draw(event.id), "the draw did not run"
        draw_cpu = time.process_time() - cpu_started
        if profiler is not None:
            profiler.stop()
            Path(PROFILE).write_text(  # noqa: ASYNC240 - after the timed part
                profiler.output_text(unicode=True, show_all=False))
            print(f"profile written to {PROFILE}")
        peak_rss = max_rss_mib()
        produced = await counts(db, event.id, before)
        print(f"draw: {draw.seconds:.2f} s ({draw_cpu:.2f} s CPU of this process, threads "
              f"included), {produced}")
        # The losers' refunds, as the outbox worker settles them after the draw (one
        # REFUND_LOSERS item, then a batch per transaction); timed apart from the draw.
        batches = 0
        with Stopwatch() as settle:
            while await lottery.settle_losers(event.id):
                batches += 1
        settled = await counts(db, event.id, before)
        peak_rss_settled = max_rss_mib()
        print(f"losers settled: {settle.seconds:.2f} s in {batches} batches of "
              f"{lottery.loser_batch}, {settled}")
        # The raw baseline below re-inserts what the draw's transaction wrote (not the
        # refunds the worker added later): drop those first.
        async with db.raw() as conn:
            await conn.execute(text(
                f"DELETE FROM outbox WHERE id > {before['outbox']} AND kind = 'refund'"))
            await conn.execute(text(f"DELETE FROM refunds WHERE id > {before['refunds']}"))
        await db.dispose()  # the raw driver works alone from here
        async with RawDriver(db, sqlite_path, pg_url) as raw:
            rows = await snapshot_produced(raw, event.id, before)
            rows_total = sum(len(r) for _, r in rows.values())
            await delete_produced(raw, event.id, before)
            raw_seconds = await raw_insert(raw, rows)
            copy_seconds = None
            if dialect == "postgresql":
                await delete_produced(raw, event.id, before)
                copy_seconds = await raw_insert(raw, rows, copy=True)
        return {
            "db": dialect, "entries": n, "seats": {"GA": seats_ga, "VIP": seats_vip},
            "setup_insert_s": round(setup.seconds, 2), "close_s": round(close.seconds, 2),
            "draw_s": round(draw.seconds, 3), "draw_cpu_s": round(draw_cpu, 2),
            "raw_insert_s": round(raw_seconds, 3),
            "raw_copy_s": round(copy_seconds, 3) if copy_seconds is not None else None,
            "ratio": round(draw.seconds / raw_seconds, 2),
            "rows_written": rows_total, "produced": produced,
            "settle_losers_s": round(settle.seconds, 2), "settle_batches": batches,
            "loser_batch": lottery.loser_batch, "after_settling": settled,
            "rss_before_draw_mib": round(rss_before, 1),
            "peak_rss_mib": round(peak_rss, 1),
            "peak_rss_after_settling_mib": round(peak_rss_settled, 1),
        }
    finally:
        await db.dispose()
        if pg_url is not None:
            await drop_pg_database(pg_url)
        tmp.cleanup()


def save(runs: list[dict[str, Any]], *, quick: bool) -> Path:
    """One file for both engines: a run replaces earlier figures of the same engine."""
    previous = common.RESULTS / ("draw_million.quick.json" if quick else "draw_million.json")
    done = {r["db"] for r in runs}
    kept = []
    if previous.exists():
        kept = [r for r in json.loads(previous.read_text()).get("runs", [])
                if r.get("db") not in done]
    return write_results("draw_million", {"runs": kept + runs,
                                          "targets": {"ratio_max": 2, "draw_s_max": 15}},
                         quick=quick)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--entries", type=int, default=None)
    parser.add_argument("--seats", type=int, default=10_000, help="GA seats (VIP: a tenth)")
    parser.add_argument("--quick", action="store_true", help="50,000 entries")
    parser.add_argument("--profile", metavar="FILE",
                        help="profile the draw with pyinstrument into FILE (text)")
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    quiet_logging()
    logging.getLogger("core.lottery.service").setLevel(logging.WARNING)
    n = args.entries or (50_000 if args.quick else 1_000_000)
    dialects = {"sqlite": ["sqlite"], "postgres": ["postgresql"],
                "both": ["sqlite", "postgresql"]}[args.db]
    runs = []
    for dialect in dialects:  # each engine's figures are saved as soon as they exist
        runs.append(asyncio.run(run(dialect, n, args.seats, args.seats // 10)))
        save(runs, quick=args.quick)
    rows = []
    for r in runs:
        rows.append([r["db"], r["entries"], r["rows_written"], r["draw_s"], r["raw_insert_s"],
                     r["raw_copy_s"] if r["raw_copy_s"] is not None else "-", r["ratio"],
                     r["peak_rss_mib"], r["rss_before_draw_mib"], r["settle_losers_s"],
                     "yes" if r["ratio"] <= 2 and r["draw_s"] <= 15 else "NO"])
    print(common.table(f"Draw over {n:,} paid entries vs raw bulk insert of the same rows", rows,
                ["db", "entries", "rows written", "draw s", "raw insert s", "COPY s",
                 "draw/raw", "peak RSS MiB", "RSS before MiB", "losers settled s",
                 "target met"]))
    print(f"\nwritten to {save(runs, quick=args.quick)}")


if __name__ == "__main__":
    main()
