"""organizer console and door check-in: roles, invites, check-in log, wizard drafts

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("cancelled_at", TS, nullable=True))
    op.create_table(
        "checkins",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey(
            "tickets.id", name=op.f("fk_checkins_ticket_id_tickets")), nullable=False),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey(
            "events.id", name=op.f("fk_checkins_event_id_events")), nullable=False),
        sa.Column("staff_user_id", sa.BigInteger(), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("scanned_at", TS, nullable=False),
        sa.UniqueConstraint("nonce", name=op.f("uq_checkins_nonce")),
    )
    op.create_index("ix_checkins_ticket", "checkins", ["ticket_id", "verdict"])
    op.create_index("ix_checkins_event", "checkins", ["event_id", "verdict"])
    op.create_table(
        "roles",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey(
            "events.id", name=op.f("fk_roles_event_id_events")), nullable=True),
        sa.Column("granted_by", sa.BigInteger(), nullable=False),
        sa.Column("granted_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_index("ix_roles_user", "roles", ["user_id", "role"])
    op.create_table(
        "invites",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey(
            "events.id", name=op.f("fk_invites_event_id_events")), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_by", sa.BigInteger(), nullable=True),
        sa.Column("used_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.UniqueConstraint("token", name=op.f("uq_invites_token")),
    )
    op.create_table(
        "event_drafts",
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey(
            "events.id", name=op.f("fk_event_drafts_event_id_events")), nullable=True),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("event_drafts")
    op.drop_table("invites")
    op.drop_index("ix_roles_user", table_name="roles")
    op.drop_table("roles")
    op.drop_index("ix_checkins_event", table_name="checkins")
    op.drop_index("ix_checkins_ticket", table_name="checkins")
    op.drop_table("checkins")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("cancelled_at")
