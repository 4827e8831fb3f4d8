"""Outbox item kinds and the JSON codec for their payloads.

Payload values may be :class:`~core.money.Money` and aware :class:`~datetime.datetime` objects;
they survive the round trip through the database (a datetime keeps its IANA zone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.kernel.localized import LocalText
from core.kernel.money import Money

# A chat message rendered from a text key: {"key": str, "params": {...}}.
MESSAGE = "message"
# One ticket's QR image sent to its owner: {"ticket_id": int}.
TICKET = "ticket"
# A Stripe refund to perform: {"refund_id": int}.
REFUND = "refund"
# A bot message edited in place (a hold's screen once it is paid, released or expired):
# {"message_id": int, "key": str, "params": {...}, "buttons": str | None}; the buttons are
# named (``core.orders.SCREEN_BUTTONS``) and drawn by the bot. "Not modified" and "message
# not found" count as done: the edit is idempotent.
EDIT = "edit"
# An invoice sent by the bot on its own (a waiting-list offer): {"title": {"key", "params"},
# "description": {...}, "label": {...}, "payload": str, "total": Money}.
INVOICE = "invoice"
# The losers of a lottery draw still to be refunded: {"event_id": int}. The worker settles
# them a batch at a time (each batch its own transaction: marked lost, refunds owed, REFUND
# items queued, and the next batch's item when more remain), so the draw's own transaction
# writes one item instead of a refund and an item per loser.
REFUND_LOSERS = "refund_losers"


@dataclass(frozen=True, slots=True)
class Message:
    """A chat message rendered from a text key with its params (a MESSAGE item's payload)."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """The MESSAGE item's payload."""
        return {"key": self.key, "params": dict(self.params)}


@dataclass(frozen=True, slots=True)
class KeyPattern:
    """An outbox dedupe key: a fixed prefix followed by one id (``refund:17``).

    Storage that queues items set-based appends the id in SQL (``prefix || id``); one item
    is queued through :meth:`of`. Either way the key, and so the "at most once", is the same.
    """

    prefix: str

    def of(self, ident: int) -> str:
        """The key for one id."""
        return f"{self.prefix}{ident}"


def encode(value: Any) -> Any:
    """Make ``value`` JSON-safe, tagging Money and datetimes."""
    if isinstance(value, Money):
        return {"$money": [value.amount, value.currency]}
    if isinstance(value, LocalText):
        return {"$text": [value.default, [list(pair) for pair in value.translations]]}
    if isinstance(value, datetime):
        tz = value.tzinfo.key if isinstance(value.tzinfo, ZoneInfo) else None
        return {"$dt": value.isoformat(), "tz": tz}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(value, dict):
        if "$money" in value:
            amount, currency = value["$money"]
            return Money(int(amount), str(currency))
        if "$text" in value:
            default, pairs = value["$text"]
            return LocalText(str(default), tuple((str(c), str(t)) for c, t in pairs))
        if "$dt" in value:
            parsed = datetime.fromisoformat(value["$dt"])
            tz = value.get("tz")
            return parsed.astimezone(ZoneInfo(tz)) if tz else parsed
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value
