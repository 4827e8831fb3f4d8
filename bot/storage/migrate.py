"""Apply Alembic migrations programmatically (``ticketq migrate`` and at start-up)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from bot.storage.database import SqlDatabase

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x7469636B65747121  # PostgreSQL advisory lock key held while migrating


def alembic_config() -> Config:
    """Alembic config pointing at the migrations shipped in this package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


async def upgrade_to_head(db: SqlDatabase) -> str:
    """Migrate the database to the newest revision; returns the revision now applied."""
    cfg = alembic_config()

    def _upgrade(sync_conn: Any) -> str:
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, "head")
        return str(MigrationContext.configure(sync_conn).get_current_revision())

    async with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            # Several workers start at once and each migrates: one at a time (the lock
            # ends with the transaction); the others then find the schema at head.
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": MIGRATION_LOCK})
        return str(await conn.run_sync(_upgrade))


def head_revision() -> str:
    """The newest revision shipped."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head
