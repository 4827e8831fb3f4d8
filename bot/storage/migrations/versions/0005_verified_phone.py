"""one entry per person: verified phones (keyed hashes) and the per-event requirement

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PAID_ENTRY = "status IN ('entered', 'won', 'lost')"


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("require_phone", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.create_table(
        "verified_phones",
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("phone_hash", sa.String(64), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("phone_hash", sa.String(64), nullable=True))
    op.create_index("uq_entries_one_paid_per_phone", "entries", ["event_id", "phone_hash"],
                    unique=True, sqlite_where=sa.text(PAID_ENTRY + " AND phone_hash IS NOT NULL"),
                    postgresql_where=sa.text(PAID_ENTRY + " AND phone_hash IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("uq_entries_one_paid_per_phone", table_name="entries")
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("phone_hash")
    op.drop_table("verified_phones")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("require_phone")
