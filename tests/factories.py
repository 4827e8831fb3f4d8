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


def lottery_doc(now, *, seats: int = 5, max_per_entry: int = 4, opens_in: int = -60,
                closes_in: int = 3600, draw_in: int = 3660, price: str = "30.00",
                vip_seats: int | None = None, title: str = "Sold-Out Show") -> dict[str, Any]:
    """A lottery event whose window is placed relative to ``now`` (seconds)."""
    from datetime import timedelta

    def at(seconds: int) -> str:
        return (now + timedelta(seconds=seconds)).isoformat()

    doc = event_doc(title=title, capacity=seats, price=price, per_user_limit=max_per_entry,
                    vip_capacity=vip_seats, starts_at=at(draw_in + 86_400),
                    sale_mode="lottery")
    doc["lottery"] = {"entries_open_at": at(opens_in), "entries_close_at": at(closes_in),
                      "draw_at": at(draw_in), "max_per_entry": max_per_entry}
    return doc
