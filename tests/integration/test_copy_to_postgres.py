"""``ticketq copy-to``: an SQLite install moves to PostgreSQL with all its data, and the bot
goes on selling there (sequences past the copied ids)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.sandbox.harness import sandboxed_bot, sqlite_url
from bot.storage import tables as t
from bot.storage.database import SqlDatabase
from tests.conftest import _create_pg_database, _drop_pg_database, require_postgres
from tests.e2e.conftest import ORGANIZER
from tests.e2e.phone import buy, create_event, enter_lottery, photos
from tests.factories import lottery_doc

TABLES = ("events", "ticket_types", "orders", "payments", "tickets", "entries", "users",
          "outbox", "refunds")


async def counts(url: str) -> dict[str, int]:
    db = SqlDatabase(url)
    try:
        async with db.read() as uow:
            return {table.name: int((await uow.conn.execute(
                select(func.count()).select_from(table))).scalar() or 0)
                for table in t.metadata.sorted_tables}
    finally:
        await db.dispose()


async def secrets(url: str) -> list[tuple[int, str]]:
    db = SqlDatabase(url)
    try:
        async with db.read() as uow:
            rows = await uow.conn.execute(select(t.tickets.c.id, t.tickets.c.token)
                                          .order_by(t.tickets.c.id))
            return [(r.id, r.token) for r in rows]
    finally:
        await db.dispose()


async def an_install_with_sales(url: str) -> None:
    """A direct sale with two paid buyers and a lottery with a paid entry."""
    async with sandboxed_bot(url, admin_ids=frozenset({ORGANIZER}), rate_limit_per_chat=10,
                             send_rate_per_chat=10) as live:
        await create_event(live, capacity=10)
        await buy(live, live.sandbox.user(101, first_name="Ann"), 2)
        await buy(live, live.sandbox.user(102, first_name="Ben"), 1)
        await live.runtime.services.admin.import_event(lottery_doc(datetime.now(UTC)),
                                                       actor_id=ORGANIZER)
        outcome = await enter_lottery(live.sandbox.user(103, first_name="Cleo"), 2)
        assert outcome.ok
        await live.settle()


async def sells_on(url: str) -> int:
    """Another buyer on the moved install: returns the tickets they got."""
    async with sandboxed_bot(url, admin_ids=frozenset({ORGANIZER}), rate_limit_per_chat=10,
                             send_rate_per_chat=10) as live:
        dan = live.sandbox.user(104, first_name="Dan")
        await buy(live, dan, 1)
        return len(photos(dan))


def test_copy_to_moves_an_sqlite_install_to_postgres_and_the_bot_sells_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(require_postgres())
    source = sqlite_url(tmp_path)
    asyncio.run(an_install_with_sales(source))
    before = asyncio.run(counts(source))
    assert before["tickets"] == 3 and before["entries"] == 1 and before["payments"] >= 2
    target = asyncio.run(_create_pg_database())
    try:
        monkeypatch.setenv("TICKETQ_DATABASE_URL", source)
        assert main(["copy-to", "--database-url", target]) == 0
        assert "copied" in capsys.readouterr().out
        after = asyncio.run(counts(target))
        assert after == before
        assert asyncio.run(secrets(target)) == asyncio.run(secrets(source))
        # Copying again into the now filled target changes nothing.
        assert main(["copy-to", "--database-url", target]) == 1
        assert "nothing was copied" in capsys.readouterr().err
        assert asyncio.run(counts(target)) == before
        # The bot runs on PostgreSQL: a new order and ticket get fresh ids.
        assert asyncio.run(sells_on(target)) == 1
        final = asyncio.run(counts(target))
        assert final["tickets"] == before["tickets"] + 1
        assert final["orders"] == before["orders"] + 1
    finally:
        asyncio.run(_drop_pg_database(target))
