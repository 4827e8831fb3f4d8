"""Copy an install's data to another database (``ticketq copy-to``): SQLite -> PostgreSQL.

The target is migrated to the head revision, must be empty, and receives every table of
:data:`bot.storage.tables.metadata` in foreign-key order (parents first), in batches, in one
transaction: either everything is copied or nothing is. On PostgreSQL the id sequences are
then moved past the copied ids, so the next order or ticket gets a fresh id. The bot must be
stopped meanwhile (the copy reads a snapshot of the source, but updates that arrive during
the copy would be left behind).
"""

from __future__ import annotations

from sqlalchemy import Integer, func, select, text

from bot.storage import tables as t
from bot.storage.database import SqlDatabase
from bot.storage.migrate import upgrade_to_head


class TargetNotEmpty(Exception):
    """The target database already holds data; nothing was copied."""


async def copy_database(source: SqlDatabase, target: SqlDatabase, *,
                        batch: int = 2000) -> dict[str, int]:
    """Copy every row from ``source`` to the (empty) ``target``; returns rows per table.

    Raises:
        TargetNotEmpty: naming the first table of the target that has rows.
    """
    await upgrade_to_head(source)
    await upgrade_to_head(target)
    tables = t.metadata.sorted_tables  # parents before children
    async with target.read() as uow:
        for table in tables:
            count = (await uow.conn.execute(select(func.count()).select_from(table))).scalar()
            if count:
                raise TargetNotEmpty(f"the target's table {table.name} has {count} row(s)")
    copied: dict[str, int] = {}
    # raw(): a plain driver connection that can stream (the bot is stopped during a copy).
    async with source.raw() as src_conn, target.write() as dst:
        for table in tables:
            order = list(table.primary_key.columns) or list(table.columns)
            result = await src_conn.stream(select(table).order_by(*order))
            total = 0
            async for chunk in result.partitions(batch):
                rows = [dict(row._mapping) for row in chunk]
                await dst.conn.execute(table.insert(), rows)
                total += len(rows)
            copied[table.name] = total
        if target.dialect == "postgresql":
            for table in tables:
                pk = list(table.primary_key.columns)
                if len(pk) != 1 or not isinstance(pk[0].type, Integer) \
                        or pk[0].autoincrement is False:
                    continue
                sequence = (await dst.conn.execute(text(
                    "SELECT pg_get_serial_sequence(:table, :column)"),
                    {"table": table.name, "column": pk[0].name})).scalar()
                if sequence is None:
                    continue
                # setval(seq, max, true): the next id is max + 1; an empty table starts at 1.
                await dst.conn.execute(text(
                    f"SELECT setval(:seq, COALESCE((SELECT MAX({pk[0].name}) FROM "
                    f"{table.name}), 0) + 1, false)"), {"seq": sequence})
    return copied
