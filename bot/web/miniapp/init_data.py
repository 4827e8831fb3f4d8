"""Validating the Mini App's ``initData`` as the Bot API documents it.

Telegram hands a Mini App a query string (``Telegram.WebApp.initData``) signed with a key
derived from the bot token. The server checks it on every request
(https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app):

* ``data_check_string``: every received field except ``hash``, as ``key=value`` with the
  value URL-decoded, sorted by key, joined by ``\\n``;
* ``secret_key = HMAC_SHA256(key="WebAppData", message=bot_token)``;
* ``hash == hex(HMAC_SHA256(key=secret_key, message=data_check_string))``, compared in
  constant time;
* ``auth_date`` (Unix time) recent enough: initData does not expire by itself, so the server
  bounds how long one may be replayed.

:func:`sign` builds initData the way Telegram does; the sandbox, ``ticketq demo`` and the
tests use it to open the Mini App as a test user.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

MAX_INIT_DATA = 4096
# A client clock a little ahead of ours is not an attack; much further ahead is.
FUTURE_TOLERANCE = 300


class InvalidInitData(Exception):
    """initData is missing, malformed, forged, altered, expired or another bot's."""


@dataclass(frozen=True, slots=True)
class WebAppUser:
    """The Telegram user who opened the Mini App, as initData states it."""

    id: int
    first_name: str
    language_code: str | None
    auth_date: int


def _secret_key(bot_token: str) -> bytes:
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def _check_string(fields: dict[str, str]) -> str:
    return "\n".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "hash")


def sign(fields: dict[str, str], bot_token: str) -> str:
    """initData for ``fields`` signed as Telegram signs it (``hash`` appended)."""
    digest = hmac.new(_secret_key(bot_token), _check_string(fields).encode(),
                      hashlib.sha256).hexdigest()
    return urlencode({**fields, "hash": digest})


def init_data_for(bot_token: str, *, user_id: int, first_name: str,
                  auth_date: int | None = None, language_code: str = "en") -> str:
    """A signed initData for a test user (sandbox, demo, tests)."""
    user = json.dumps({"id": user_id, "first_name": first_name,
                       "language_code": language_code}, separators=(",", ":"))
    return sign({"auth_date": str(int(time.time()) if auth_date is None else auth_date),
                 "query_id": f"AAq{user_id}", "user": user}, bot_token)


def validate(init_data: str, bot_token: str, *, max_age: float,
             now: float | None = None) -> WebAppUser:
    """The user of a genuine, fresh initData.

    Raises:
        InvalidInitData: anything else (the message says why, for logs only).
    """
    if not init_data or len(init_data) > MAX_INIT_DATA:
        raise InvalidInitData("missing or too long")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InvalidInitData("not a query string") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            raise InvalidInitData(f"field {key!r} twice")
        fields[key] = value
    received = fields.get("hash", "")
    expected = hmac.new(_secret_key(bot_token), _check_string(fields).encode(),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(received.encode(), expected.encode()):
        raise InvalidInitData("hash mismatch")
    try:
        auth_date = int(fields["auth_date"])
        user = json.loads(fields["user"])
        user_id = int(user["id"])
        first_name = str(user.get("first_name") or "")
    except (KeyError, ValueError, TypeError):
        raise InvalidInitData("no auth_date or user") from None
    current = time.time() if now is None else now
    if auth_date > current + FUTURE_TOLERANCE:
        raise InvalidInitData("auth_date in the future")
    if current - auth_date > max_age:
        raise InvalidInitData("expired")
    language = user.get("language_code")
    return WebAppUser(id=user_id, first_name=first_name,
                      language_code=str(language) if language else None, auth_date=auth_date)
