"""lottery: entries, the draw order, lottery state on events, entry payments

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PAID_ENTRY = "status IN ('entered', 'won', 'lost')"


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("lottery_state", sa.String(16), nullable=True))
        batch.add_column(sa.Column("lottery_seed", sa.String(64), nullable=True))
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("ticket_type_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"],
                                name=op.f("fk_entries_event_id_events")),
        sa.ForeignKeyConstraint(["ticket_type_id"], ["ticket_types.id"],
                                name=op.f("fk_entries_ticket_type_id_ticket_types")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"],
                                name=op.f("fk_entries_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entries")),
    )
    op.create_index("ix_entries_event_status", "entries", ["event_id", "status"])
    op.create_index("ix_entries_user_event", "entries", ["user_id", "event_id"])
    op.create_index("uq_entries_one_paid_per_user", "entries", ["event_id", "user_id"],
                    unique=True, sqlite_where=sa.text(PAID_ENTRY),
                    postgresql_where=sa.text(PAID_ENTRY))
    op.create_table(
        "draw_order",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("won", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"],
                                name=op.f("fk_draw_order_event_id_events")),
        sa.ForeignKeyConstraint(["entry_id"], ["entries.id"],
                                name=op.f("fk_draw_order_entry_id_entries")),
        sa.PrimaryKeyConstraint("event_id", "position", name=op.f("pk_draw_order")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_draw_order_entry_id")),
    )
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("entry_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_payments_entry_id_entries"), "entries",
                                 ["entry_id"], ["id"])
        batch.create_index("ix_payments_entry", ["entry_id"])


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_index("ix_payments_entry")
        batch.drop_constraint(op.f("fk_payments_entry_id_entries"), type_="foreignkey")
        batch.drop_column("entry_id")
    op.drop_table("draw_order")
    op.drop_index("uq_entries_one_paid_per_user", table_name="entries")
    op.drop_index("ix_entries_user_event", table_name="entries")
    op.drop_index("ix_entries_event_status", table_name="entries")
    op.drop_table("entries")
    with op.batch_alter_table("events") as batch:
        for column in ("drawn_at", "closed_at", "lottery_seed", "lottery_state"):
            batch.drop_column(column)
