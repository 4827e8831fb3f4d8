"""after the sale: ticket transfers (claim links, the organizer's policy, revoke reasons) and
single refunds by the organizer (a refund per ticket, seats back in stock)

Revision ID: 0011
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("transfers_allowed", sa.Boolean(), nullable=False,
                                   server_default=sa.text("false")))
        batch.add_column(sa.Column("transfer_until", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("transfer_max", sa.Integer(), nullable=False,
                                   server_default="1"))
    # What an event file without a transfers block means: direct sales allow one transfer
    # per ticket until the start, lotteries none.
    op.execute("UPDATE events SET transfers_allowed = true WHERE sale_mode = 'direct'")
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("refunded_quantity", sa.Integer(), nullable=False,
                                   server_default="0"))
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("revoked_reason", sa.String(length=16)))
        batch.add_column(sa.Column("transfer_count", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("transferred_from", sa.Integer()))
        batch.create_foreign_key(op.f("fk_tickets_transferred_from_tickets"), "tickets",
                                 ["transferred_from"], ["id"])
    op.execute("UPDATE tickets SET revoked_reason = 'cancelled' WHERE status = 'revoked'")
    with op.batch_alter_table("refunds") as batch:
        batch.drop_constraint("uq_refunds_payment_id", type_="unique")
        batch.add_column(sa.Column("ticket_id", sa.Integer()))
        batch.add_column(sa.Column("note", sa.Text()))
        batch.create_foreign_key(op.f("fk_refunds_ticket_id_tickets"), "tickets",
                                 ["ticket_id"], ["id"])
    op.create_index("uq_refunds_payment_whole", "refunds", ["payment_id"], unique=True,
                    sqlite_where=sa.text("ticket_id IS NULL"),
                    postgresql_where=sa.text("ticket_id IS NULL"))
    op.create_index("uq_refunds_ticket", "refunds", ["ticket_id"], unique=True,
                    sqlite_where=sa.text("ticket_id IS NOT NULL"),
                    postgresql_where=sa.text("ticket_id IS NOT NULL"))
    op.create_table(
        "transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("confirm_code", sa.BigInteger(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("from_user_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.BigInteger()),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("new_ticket_id", sa.Integer()),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"],
                                name=op.f("fk_transfers_ticket_id_tickets")),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"],
                                name=op.f("fk_transfers_event_id_events")),
        sa.ForeignKeyConstraint(["new_ticket_id"], ["tickets.id"],
                                name=op.f("fk_transfers_new_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfers")),
        sa.UniqueConstraint("token", name=op.f("uq_transfers_token")),
    )
    op.create_index("ix_transfers_ticket", "transfers", ["ticket_id", "status"])
    op.create_index("ix_transfers_event", "transfers", ["event_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_transfers_event", table_name="transfers")
    op.drop_index("ix_transfers_ticket", table_name="transfers")
    op.drop_table("transfers")
    op.drop_index("uq_refunds_ticket", table_name="refunds")
    op.drop_index("uq_refunds_payment_whole", table_name="refunds")
    with op.batch_alter_table("refunds") as batch:
        batch.drop_constraint(op.f("fk_refunds_ticket_id_tickets"), type_="foreignkey")
        batch.drop_column("note")
        batch.drop_column("ticket_id")
        batch.create_unique_constraint("uq_refunds_payment_id", ["payment_id"])
    with op.batch_alter_table("tickets") as batch:
        batch.drop_constraint(op.f("fk_tickets_transferred_from_tickets"), type_="foreignkey")
        for column in ("transferred_from", "transfer_count", "revoked_reason"):
            batch.drop_column(column)
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("refunded_quantity")
    with op.batch_alter_table("events") as batch:
        for column in ("transfer_max", "transfer_until", "transfers_allowed"):
            batch.drop_column(column)
