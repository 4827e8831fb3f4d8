"""several workers on one database: outbox claims with leases, the shared send budget

Revision ID: 0014
Revises: 0009 (0008 on its own branch; chained after i11's 0009 once merged)
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # An outbox item in flight: which worker holds it and until when (a dead worker's claim
    # runs out and another worker sends the item).
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=64)))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True)))
    op.create_index("ix_outbox_chat_pending", "outbox", ["chat_id", "id"],
                    sqlite_where=sa.text("status = 'pending'"),
                    postgresql_where=sa.text("status = 'pending'"))
    # The bot-wide send budget shared by every worker (bot.send_budget): R places, one send
    # per place per second (``free_at``: when the place may be used again; a place taken by
    # a worker that died frees itself at the end of its lease).
    op.create_table(
        "send_places",
        sa.Column("place", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("free_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("holder", sa.String(length=64)),
    )
    # The per-chat budget shared by every worker: a token bucket per chat, and a chat held
    # back after Telegram's 429 (``blocked_until``) is held back for every worker.
    op.create_table(
        "send_chats",
        sa.Column("chat_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("send_chats")
    op.drop_table("send_places")
    op.drop_index("ix_outbox_chat_pending", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")
