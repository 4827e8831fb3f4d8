"""The schema, as SQLAlchemy Core tables. Changes go through Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores naive text; we re-attach UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

users = Table(
    "users", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("first_name", String(128), nullable=False),
    Column("language_code", String(16)),
    Column("language", String(16)),  # chosen with /language or set at first contact
    Column("created_at", UTCDateTime, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("venue", String(200), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("sale_mode", String(16), nullable=False),
    Column("entries_open_at", UTCDateTime),
    Column("entries_close_at", UTCDateTime),
    Column("draw_at", UTCDateTime),
    Column("max_per_entry", Integer),
    Column("lottery_state", String(16)),
    Column("lottery_seed", String(64)),  # hex; secret until the draw is published
    Column("lottery_commitment", String(64)),  # SHA-256 of the seed, public from the start
    Column("lottery_list_hash", String(64)),  # SHA-256 of the frozen entry list
    Column("uses_beacon", Boolean, nullable=False, default=False),
    Column("require_phone", Boolean, nullable=False, default=False),
    Column("beacon_round", BigInteger),
    Column("beacon_value", String(128)),
    Column("closed_at", UTCDateTime),
    Column("drawn_at", UTCDateTime),
    Column("cancelled_at", UTCDateTime),
    Column("created_by", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # The organizer's transfer policy (migration 0011): on/off, until when (None: the start),
    # how many times one seat may change hands.
    Column("transfers_allowed", Boolean, nullable=False, server_default=text("false")),
    Column("transfer_until", UTCDateTime),
    Column("transfer_max", Integer, nullable=False, server_default="1"),
    Column("language", String(16), nullable=False, server_default="en"),
    Column("translations", Text),  # JSON {"de": {"title": ..., "description": ...}}
    Index("ix_events_status_starts", "status", "starts_at"),
)

ticket_types = Table(
    "ticket_types", metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", Integer, ForeignKey("events.id"), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("price_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("per_user_limit", Integer, nullable=False),
    Column("position", Integer, nullable=False, default=0),
)

orders = Table(
    "orders", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("event_id", Integer, ForeignKey("events.id"), nullable=False),
    Column("ticket_type_id", Integer, ForeignKey("ticket_types.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("hold_expires_at", UTCDateTime, nullable=False),
    Column("paid_at", UTCDateTime),
    # A waiting-list offer: the returned order whose seats it buys (migration 0015).
    Column("resale_of", Integer, ForeignKey("orders.id")),
    # Seats of a paid order refunded one by one by the organizer: back in stock (0011).
    Column("refunded_quantity", Integer, nullable=False, server_default="0"),
    Index("ix_orders_type_status", "ticket_type_id", "status", "hold_expires_at"),
    Index("ix_orders_user_event", "user_id", "event_id", "status"),
)

# The message that shows a hold (order), so that it is edited when the hold is paid,
# released or expires (migration 0007).
hold_screens = Table(
    "hold_screens", metadata,
    Column("order_id", Integer, ForeignKey("orders.id"), primary_key=True,
           autoincrement=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("message_id", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_hold_screens_state", "state"),
    Index("ix_hold_screens_message", "chat_id", "message_id"),
)

entries = Table(
    "entries", metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", Integer, ForeignKey("events.id"), nullable=False),
    Column("ticket_type_id", Integer, ForeignKey("ticket_types.id"), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("paid_at", UTCDateTime),
    Column("order_id", Integer, ForeignKey("orders.id")),
    Column("public_ref", String(16)),
    Column("phone_hash", String(64)),
    Index("ix_entries_event_status", "event_id", "status"),
    Index("ix_entries_user_event", "user_id", "event_id"),
)

# One paid entry per account per lottery, enforced by the database as well as the service.
_PAID_ENTRY = "status IN ('entered', 'won', 'lost')"
Index("uq_entries_one_paid_per_user", entries.c.event_id, entries.c.user_id, unique=True,
      sqlite_where=text(_PAID_ENTRY), postgresql_where=text(_PAID_ENTRY))

Index("uq_entries_public_ref", entries.c.event_id, entries.c.public_ref, unique=True)
_PAID_WITH_PHONE = _PAID_ENTRY + " AND phone_hash IS NOT NULL"
Index("uq_entries_one_paid_per_phone", entries.c.event_id, entries.c.phone_hash, unique=True,
      sqlite_where=text(_PAID_WITH_PHONE), postgresql_where=text(_PAID_WITH_PHONE))

# Phones proven by sharing one's own Telegram contact; only a keyed hash is kept.
verified_phones = Table(
    "verified_phones", metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("phone_hash", String(64), nullable=False),
    Column("verified_at", UTCDateTime, nullable=False),
)

# The complete random order of a draw: kept for audits, returns and a waiting list.
draw_order = Table(
    "draw_order", metadata,
    Column("event_id", Integer, ForeignKey("events.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("entry_id", Integer, ForeignKey("entries.id"), nullable=False, unique=True),
    Column("won", Boolean, nullable=False),
)

payments = Table(
    "payments", metadata,
    Column("id", Integer, primary_key=True),
    Column("telegram_charge_id", String(255), nullable=False, unique=True),
    Column("provider_charge_id", String(255), nullable=False),
    Column("order_id", Integer, ForeignKey("orders.id")),
    Column("entry_id", Integer, ForeignKey("entries.id")),
    Column("user_id", BigInteger, nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("payload", String(128), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_payments_order", "order_id"),
    Index("ix_payments_entry", "entry_id"),
    # One payment per Stripe charge (Stars payments have none): see bot.reconcile.
    Index("uq_payments_provider_charge", "provider_charge_id", unique=True,
          sqlite_where=text("provider_charge_id <> ''"),
          postgresql_where=text("provider_charge_id <> ''")),
)

refunds = Table(
    "refunds", metadata,
    Column("id", Integer, primary_key=True),
    Column("payment_id", Integer, ForeignKey("payments.id"), nullable=False),
    Column("event_id", Integer, ForeignKey("events.id")),
    Column("user_id", BigInteger, nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("provider_charge_id", String(255), nullable=False),
    Column("provider_refund_id", String(255)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # One ticket refunded on its own (migration 0011); None: the whole payment, or what is
    # left of it after its tickets' own refunds.
    Column("ticket_id", Integer, ForeignKey("tickets.id")),
    Column("note", Text),  # the organizer's reason for a refund they decided
    Index("ix_refunds_event_status", "event_id", "status"),
)
# One refund of a payment as a whole, and one per ticket refunded on its own.
_WHOLE = "ticket_id IS NULL"
Index("uq_refunds_payment_whole", refunds.c.payment_id, unique=True,
      sqlite_where=text(_WHOLE), postgresql_where=text(_WHOLE))
Index("uq_refunds_ticket", refunds.c.ticket_id, unique=True,
      sqlite_where=text("ticket_id IS NOT NULL"), postgresql_where=text("ticket_id IS NOT NULL"))

tickets = Table(
    "tickets", metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False, index=True),
    Column("event_id", Integer, ForeignKey("events.id"), nullable=False),
    Column("ticket_type_id", Integer, ForeignKey("ticket_types.id"), nullable=False),
    Column("owner_user_id", BigInteger, nullable=False),
    Column("token", String(32), nullable=False, unique=True),
    Column("short_code", String(16), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    # Why it was revoked, how many transfers the seat had before it, the ticket it replaced
    # (migration 0011).
    Column("revoked_reason", String(16)),
    Column("transfer_count", Integer, nullable=False, server_default="0"),
    Column("transferred_from", Integer, ForeignKey("tickets.id")),
    Index("ix_tickets_owner", "owner_user_id", "event_id"),
)

# Claim links of ticket transfers (migration 0011): single use, expiring; changed only under
# their ticket's lock.
transfers = Table(
    "transfers", metadata,
    Column("id", Integer, primary_key=True),
    Column("token", String(32), nullable=False, unique=True),
    Column("confirm_code", BigInteger, nullable=False),
    Column("ticket_id", Integer, ForeignKey("tickets.id"), nullable=False),
    Column("event_id", Integer, ForeignKey("events.id"), nullable=False),
    Column("from_user_id", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("claimed_by", BigInteger),
    Column("claimed_at", UTCDateTime),
    Column("new_ticket_id", Integer, ForeignKey("tickets.id")),
    Column("cancelled_at", UTCDateTime),
    Index("ix_transfers_ticket", "ticket_id", "status"),
    Index("ix_transfers_event", "event_id", "status"),
)

outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("dedupe_key", String(128), nullable=False, unique=True),
    Column("chat_id", BigInteger),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("due_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime),
    # In flight on one worker until ``lease_until`` (several workers on one database).
    Column("claimed_by", String(64)),
    Column("lease_until", UTCDateTime),
    Index("ix_outbox_status_due", "status", "due_at"),
    Index("ix_outbox_chat_pending", "chat_id", "id", sqlite_where=text("status = 'pending'"),
          postgresql_where=text("status = 'pending'")),
)

# The send budget every worker shares (bot.send_budget): R places for the bot-wide limit...
send_places = Table(
    "send_places", metadata,
    Column("place", Integer, primary_key=True, autoincrement=False),
    Column("free_at", UTCDateTime, nullable=False),
    Column("holder", String(64)),
)

# ... and a token bucket per chat.
send_chats = Table(
    "send_chats", metadata,
    Column("chat_id", BigInteger, primary_key=True, autoincrement=False),
    Column("tokens", Float, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("blocked_until", UTCDateTime),
)

# Door check-in: append-only. The first row with verdict 'valid' admits the ticket.
checkins = Table(
    "checkins", metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id"), nullable=False),
    Column("event_id", Integer, ForeignKey("events.id"), nullable=False),
    Column("staff_user_id", BigInteger, nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("nonce", String(64), nullable=False, unique=True),
    Column("scanned_at", UTCDateTime, nullable=False),
    Column("synced_at", UTCDateTime),  # offline scans: when they reached the server
    Index("ix_checkins_ticket", "ticket_id", "verdict"),
    Index("ix_checkins_event", "event_id", "verdict"),
)

roles = Table(
    "roles", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("role", String(16), nullable=False),
    Column("event_id", Integer, ForeignKey("events.id")),
    Column("granted_by", BigInteger, nullable=False),
    Column("granted_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Index("ix_roles_user", "user_id", "role"),
)

invites = Table(
    "invites", metadata,
    Column("id", Integer, primary_key=True),
    Column("token", String(32), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("event_id", Integer, ForeignKey("events.id")),
    Column("created_by", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_by", BigInteger),
    Column("used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

# The event wizard's draft, one per organizer: nothing is created until they publish.
event_drafts = Table(
    "event_drafts", metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", Integer, ForeignKey("events.id")),
    Column("step", String(32), nullable=False),
    Column("data", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Durable inbox: every update fetched from Telegram is stored before it is acknowledged, and
# removed once handled; unfinished ones are replayed after a crash. One whose handling failed
# on a passing fault waits for ``next_attempt_at``; one that cannot be handled is parked
# (``parked_at``) for the operator (``ticketq inbox``), never dropped.
inbox = Table(
    "inbox", metadata,
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("payload", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("kind", String(16)),  # payment | pre_checkout | tap | message | other
    Column("chat_id", BigInteger),
    Column("charge_id", String(255)),  # provider charge id of a successful_payment
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    Column("parked_at", UTCDateTime),
    Column("last_error", Text),
    # Several workers (bot.inbox_worker): the lane keeps a chat's updates in order across
    # them; a claim holds an update for one worker until its lease ends.
    Column("lane", String(40)),  # "pay:<chat>" | "chat:<chat>" | NULL (no order to keep)
    Column("claimed_by", String(128)),
    Column("lease_until", UTCDateTime),
    # Handled by a worker: kept a day (payload emptied) so a redelivery changes nothing.
    Column("handled_at", UTCDateTime),
    Index("ix_inbox_charge", "charge_id"),
    Index("ix_inbox_open", "update_id", sqlite_where=text("handled_at IS NULL"),
          postgresql_where=text("handled_at IS NULL")),
    Index("ix_inbox_lane", "lane", "update_id", sqlite_where=text("handled_at IS NULL"),
          postgresql_where=text("handled_at IS NULL")),
    Index("ix_inbox_handled", "handled_at"),
)


# Returns and the waiting list (core.returns; migration 0015). Written under the ticket
# type's lock: no lock level of their own.
return_policies = Table(
    "return_policies", metadata,
    Column("event_id", Integer, ForeignKey("events.id"), primary_key=True, autoincrement=False),
    Column("returns_until", UTCDateTime),
    Column("fee_minor", BigInteger, nullable=False),
    Column("offer_minutes", Integer, nullable=False),
)

waitlist = Table(
    "waitlist", metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", Integer, ForeignKey("events.id"), nullable=False),
    Column("ticket_type_id", Integer, ForeignKey("ticket_types.id"), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("offer_order_id", Integer, ForeignKey("orders.id")),
    Column("joined_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # A drawn lottery's non-winner: their place in the published draw order, their entry's
    # public reference (the second chance; None on a direct sale's waiting list).
    Column("draw_position", Integer),
    Column("entry_ref", String(16)),
    UniqueConstraint("ticket_type_id", "user_id", name="uq_waitlist_type_user"),
    Index("ix_waitlist_type_status", "ticket_type_id", "status", "id"),
    Index("ix_waitlist_offer", "offer_order_id"),
)

ticket_returns = Table(
    "ticket_returns", metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False,
           unique=True),
    Column("event_id", Integer, ForeignKey("events.id"), nullable=False),
    Column("ticket_type_id", Integer, ForeignKey("ticket_types.id"), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("offer_order_id", Integer, ForeignKey("orders.id")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_ticket_returns_type_status", "ticket_type_id", "status", "id"),
    Index("ix_ticket_returns_offer", "offer_order_id"),
)


# Lottery group entries (core.lottery.groups; migration 0015).
lottery_groups = Table(
    "lottery_groups", metadata,
    Column("event_id", Integer, ForeignKey("events.id"), primary_key=True, autoincrement=False),
    Column("group_size", Integer, nullable=False),
)

group_invites = Table(
    "group_invites", metadata,
    Column("entry_id", Integer, ForeignKey("entries.id"), primary_key=True,
           autoincrement=False),
    Column("event_id", Integer, ForeignKey("events.id"), nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)

group_members = Table(
    "group_members", metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", Integer, ForeignKey("events.id"), nullable=False),
    Column("entry_id", Integer, ForeignKey("entries.id"), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("phone_hash", String(64)),
    Column("joined_at", UTCDateTime, nullable=False),
    UniqueConstraint("event_id", "user_id", name="uq_group_members_event_user"),
    Index("ix_group_members_entry", "entry_id", "id"),
)
