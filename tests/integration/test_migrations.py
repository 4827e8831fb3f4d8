"""Alembic migrations on the real engines."""

from __future__ import annotations

from sqlalchemy import inspect

from bot.storage.migrate import head_revision, upgrade_to_head


async def test_migrations_bring_an_empty_database_to_head(database_url: str) -> None:
    from bot.storage.database import SqlDatabase

    database = SqlDatabase(database_url)
    try:
        assert await upgrade_to_head(database) == head_revision()
        assert await upgrade_to_head(database) == head_revision()  # idempotent
        async with database.engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"events", "ticket_types", "orders", "payments", "refunds", "tickets",
                "outbox", "users"} <= names
    finally:
        await database.dispose()
