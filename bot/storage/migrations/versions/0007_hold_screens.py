"""hold screens: the message that shows each hold, edited when it is paid, released or expires

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hold_screens",
        sa.Column("order_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"],
                                name=op.f("fk_hold_screens_order_id_orders")),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_hold_screens")),
    )
    op.create_index("ix_hold_screens_state", "hold_screens", ["state"])
    op.create_index("ix_hold_screens_message", "hold_screens", ["chat_id", "message_id"])


def downgrade() -> None:
    op.drop_index("ix_hold_screens_message", table_name="hold_screens")
    op.drop_index("ix_hold_screens_state", table_name="hold_screens")
    op.drop_table("hold_screens")
