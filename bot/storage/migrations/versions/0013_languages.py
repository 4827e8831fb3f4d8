"""the reader's language and event texts in several languages

Revision ID: 0013
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The language a user reads (chosen with /language, or their Telegram language at first
    # contact); outbox messages are rendered in it.
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(length=16)))
    # An event's own language (of title and description) and its other languages as JSON
    # {"de": {"title": ..., "description": ...}}.
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("language", sa.String(length=16), nullable=False,
                                   server_default="en"))
        batch.add_column(sa.Column("translations", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("translations")
        batch.drop_column("language")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
