"""inbox claims for several workers: lane, claimed_by, lease_until; handled_at tombstones

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        # "pay:<chat>" | "chat:<chat>" | NULL (pre-checkout queries and chat-less updates)
        batch.add_column(sa.Column("lane", sa.String(length=40)))
        batch.add_column(sa.Column("claimed_by", sa.String(length=128)))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True)))
        # Set when a worker has handled the update: the row stays (payload emptied) for a
        # day so that Telegram redelivering it finds its update_id taken and changes nothing.
        batch.add_column(sa.Column("handled_at", sa.DateTime(timezone=True)))
    # Updates stored before this revision get their lane from what 0008 recorded.
    op.execute("UPDATE inbox SET lane = CASE WHEN kind = 'payment' THEN 'pay:' ELSE 'chat:' "
               "END || CAST(chat_id AS VARCHAR) WHERE chat_id IS NOT NULL "
               "AND (kind IS NULL OR kind <> 'pre_checkout')")
    # Claims walk the open updates in order and ask "is an earlier update of this lane still
    # open?"; neither should wade through a day of tombstones.
    open_rows = sa.text("handled_at IS NULL")
    op.create_index("ix_inbox_open", "inbox", ["update_id"], sqlite_where=open_rows,
                    postgresql_where=open_rows)
    op.create_index("ix_inbox_lane", "inbox", ["lane", "update_id"], sqlite_where=open_rows,
                    postgresql_where=open_rows)
    op.create_index("ix_inbox_handled", "inbox", ["handled_at"])


def downgrade() -> None:
    op.drop_index("ix_inbox_handled", table_name="inbox")
    op.drop_index("ix_inbox_lane", table_name="inbox")
    op.drop_index("ix_inbox_open", table_name="inbox")
    op.execute("DELETE FROM inbox WHERE handled_at IS NOT NULL")
    with op.batch_alter_table("inbox") as batch:
        for column in ("handled_at", "lease_until", "claimed_by", "lane"):
            batch.drop_column(column)
