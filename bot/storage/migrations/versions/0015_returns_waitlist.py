"""returns, the waiting list and lottery groups: return policies, waiting-list entries (with
the second chance's draw positions), returns, offer orders, group sizes, invites, companions

Revision ID: 0015
Revises: 0011 (0008 before merging i13; the lead re-chains)
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0011"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("resale_of", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_orders_resale_of_orders"), "orders",
                                 ["resale_of"], ["id"])
    op.create_table(
        "return_policies",
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("returns_until", TS, nullable=True),
        sa.Column("fee_minor", sa.BigInteger(), nullable=False),
        sa.Column("offer_minutes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"],
                                name=op.f("fk_return_policies_event_id_events")),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_return_policies")),
    )
    op.create_table(
        "waitlist",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("ticket_type_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("offer_order_id", sa.Integer(), nullable=True),
        sa.Column("joined_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("draw_position", sa.Integer(), nullable=True),
        sa.Column("entry_ref", sa.String(16), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"],
                                name=op.f("fk_waitlist_event_id_events")),
        sa.ForeignKeyConstraint(["ticket_type_id"], ["ticket_types.id"],
                                name=op.f("fk_waitlist_ticket_type_id_ticket_types")),
        sa.ForeignKeyConstraint(["offer_order_id"], ["orders.id"],
                                name=op.f("fk_waitlist_offer_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist")),
        sa.UniqueConstraint("ticket_type_id", "user_id", name="uq_waitlist_type_user"),
    )
    op.create_index("ix_waitlist_type_status", "waitlist", ["ticket_type_id", "status", "id"])
    op.create_index("ix_waitlist_offer", "waitlist", ["offer_order_id"])
    op.create_table(
        "ticket_returns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("ticket_type_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("offer_order_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"],
                                name=op.f("fk_ticket_returns_order_id_orders")),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"],
                                name=op.f("fk_ticket_returns_event_id_events")),
        sa.ForeignKeyConstraint(["ticket_type_id"], ["ticket_types.id"],
                                name=op.f("fk_ticket_returns_ticket_type_id_ticket_types")),
        sa.ForeignKeyConstraint(["offer_order_id"], ["orders.id"],
                                name=op.f("fk_ticket_returns_offer_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_returns")),
        sa.UniqueConstraint("order_id", name=op.f("uq_ticket_returns_order_id")),
    )
    op.create_index("ix_ticket_returns_type_status", "ticket_returns",
                    ["ticket_type_id", "status", "id"])
    op.create_index("ix_ticket_returns_offer", "ticket_returns", ["offer_order_id"])
    op.create_table(
        "lottery_groups",
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("group_size", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"],
                                name=op.f("fk_lottery_groups_event_id_events")),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_lottery_groups")),
    )
    op.create_table(
        "group_invites",
        sa.Column("entry_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["entries.id"],
                                name=op.f("fk_group_invites_entry_id_entries")),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"],
                                name=op.f("fk_group_invites_event_id_events")),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_group_invites")),
        sa.UniqueConstraint("token", name=op.f("uq_group_invites_token")),
    )
    op.create_table(
        "group_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("phone_hash", sa.String(64), nullable=True),
        sa.Column("joined_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"],
                                name=op.f("fk_group_members_event_id_events")),
        sa.ForeignKeyConstraint(["entry_id"], ["entries.id"],
                                name=op.f("fk_group_members_entry_id_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_members")),
        sa.UniqueConstraint("event_id", "user_id", name="uq_group_members_event_user"),
    )
    op.create_index("ix_group_members_entry", "group_members", ["entry_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_group_members_entry", table_name="group_members")
    op.drop_table("group_members")
    op.drop_table("group_invites")
    op.drop_table("lottery_groups")
    op.drop_index("ix_ticket_returns_offer", table_name="ticket_returns")
    op.drop_index("ix_ticket_returns_type_status", table_name="ticket_returns")
    op.drop_table("ticket_returns")
    op.drop_index("ix_waitlist_offer", table_name="waitlist")
    op.drop_index("ix_waitlist_type_status", table_name="waitlist")
    op.drop_table("waitlist")
    op.drop_table("return_policies")
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint(op.f("fk_orders_resale_of_orders"), type_="foreignkey")
        batch.drop_column("resale_of")
