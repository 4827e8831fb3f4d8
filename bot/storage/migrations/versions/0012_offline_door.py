"""offline door scans: when an offline scan reached the server

Revision ID: 0012
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: scanned online (the chat or the Mini App). Set: an offline scanner's scan, whose
    # scanned_at is the time on the phone when it was scanned.
    with op.batch_alter_table("checkins") as batch:
        batch.add_column(sa.Column("synced_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("checkins") as batch:
        batch.drop_column("synced_at")
