"""One entry per person: phone numbers are compared by keyed hash, never stored in clear."""

from __future__ import annotations

import hashlib
import hmac


def normalize_phone(phone_number: str) -> str:
    """Digits only, international form: ``+44 20 7946 0958`` and ``0044...`` -> ``442079460958``.

    Telegram sends a contact's number as digits with an optional leading ``+``.
    """
    digits = "".join(ch for ch in phone_number if ch.isdigit())
    return digits[2:] if digits.startswith("00") else digits


def phone_hash(phone_number: str, key: bytes) -> str:
    """HMAC-SHA256 of the normalized number with a server secret: equal numbers match, and
    a leaked table does not reveal numbers without the key."""
    return hmac.new(key, normalize_phone(phone_number).encode(), hashlib.sha256).hexdigest()
