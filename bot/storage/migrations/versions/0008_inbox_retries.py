"""inbox retries and parking; one payment per Stripe charge (reconciliation)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16)))
        batch.add_column(sa.Column("chat_id", sa.BigInteger()))
        batch.add_column(sa.Column("charge_id", sa.String(length=255)))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("parked_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("last_error", sa.Text()))
    op.create_index("ix_inbox_charge", "inbox", ["charge_id"])
    # A Stripe charge is explained by one payment at most: the late successful_payment of a
    # charge that reconciliation already refunded finds it taken (Telegram Stars payments
    # have no provider charge id and are left out).
    op.create_index("uq_payments_provider_charge", "payments", ["provider_charge_id"],
                    unique=True, sqlite_where=sa.text("provider_charge_id <> ''"),
                    postgresql_where=sa.text("provider_charge_id <> ''"))


def downgrade() -> None:
    op.drop_index("uq_payments_provider_charge", table_name="payments")
    op.drop_index("ix_inbox_charge", table_name="inbox")
    with op.batch_alter_table("inbox") as batch:
        for column in ("last_error", "parked_at", "next_attempt_at", "attempts", "charge_id",
                       "chat_id", "kind"):
            batch.drop_column(column)
