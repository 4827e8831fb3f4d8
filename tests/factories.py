"""Builders for test data, written as an organizer would write an event file."""

from __future__ import annotations

from typing import Any


def event_doc(*, title: str = "Night Market", capacity: int = 10, per_user_limit: int = 4,
              price: str = "25.00", currency: str = "EUR", vip_capacity: int | None = None,
              starts_at: str = "2030-12-12T21:00", timezone: str = "Europe/Berlin",
              **extra: Any) -> dict[str, Any]:
    """An event file as a dict (GA, plus VIP when ``vip_capacity`` is given)."""
    types: list[dict[str, Any]] = [{
        "name": "GA", "price": price, "currency": currency, "capacity": capacity,
        "per_user_limit": per_user_limit,
    }]
    if vip_capacity is not None:
        types.append({"name": "VIP", "price": "80.00", "currency": currency,
                      "capacity": vip_capacity, "per_user_limit": 2})
    doc: dict[str, Any] = {
        "title": title, "description": "Street food and live music.",
        "venue": "Old Harbour, Hamburg", "starts_at": starts_at, "timezone": timezone,
        "sale_mode": "direct", "publish": True, "ticket_types": types,
    }
    doc.update(extra)
    return doc
