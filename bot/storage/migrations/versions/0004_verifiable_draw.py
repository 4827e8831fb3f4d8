"""verifiable draw: seed commitment, frozen list hash, beacon, public entry references

Revision ID: 0004
Revises: 0003
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("lottery_commitment", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lottery_list_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("uses_beacon", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("beacon_round", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("beacon_value", sa.String(128), nullable=True))
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("public_ref", sa.String(16), nullable=True))
    op.create_index("uq_entries_public_ref", "entries", ["event_id", "public_ref"],
                    unique=True)
    # Lotteries created before this revision get their commitment now (their seed is secret).
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT id, lottery_seed FROM events WHERE lottery_seed IS NOT NULL")).all()
    for event_id, seed in rows:
        conn.execute(sa.text("UPDATE events SET lottery_commitment = :c WHERE id = :i"),
                     {"c": hashlib.sha256(bytes.fromhex(seed)).hexdigest(), "i": event_id})


def downgrade() -> None:
    op.drop_index("uq_entries_public_ref", table_name="entries")
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("public_ref")
    with op.batch_alter_table("events") as batch:
        for column in ("beacon_value", "beacon_round", "uses_beacon", "lottery_list_hash",
                       "lottery_commitment"):
            batch.drop_column(column)
