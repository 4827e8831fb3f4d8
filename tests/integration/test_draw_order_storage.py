"""The draw's complete order as the SQL storage keeps it (COPY on PostgreSQL, driver-level
inserts on SQLite): one ``draw_order`` row per entry. The rule behind it (every entry gets a
position) is a contract spec: tests/contract/test_lottery.py."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import case, func, select

from bot.storage import tables
from tests.contract.test_lottery import enter, lottery_type, services  # noqa: F401 (fixture)


async def test_the_draw_order_is_one_row_per_entry(services, db, clock) -> None:  # noqa: F811
    admin, lottery, purchase = services
    event_id, tt = await lottery_type(admin, clock, seats=2)
    for user in range(200, 210):
        await enter(lottery, purchase, user, tt, 1)
    clock.advance(timedelta(hours=2))
    await lottery.run_due()
    d = tables.draw_order.c
    async with db.read() as uow:
        rows = (await uow.conn.execute(
            select(func.count(), func.count(func.distinct(d.entry_id)),
                   func.sum(case((d.won.is_(True), 1), else_=0)))
            .where(d.event_id == event_id))).one()
    assert tuple(rows) == (10, 10, 2)
