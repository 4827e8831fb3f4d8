"""The send budget every worker shares, kept in PostgreSQL (no coordinator process).

Telegram counts a bot's messages per bot, not per process: 30 a second overall and about one
a second per private chat. With several workers each process's own pacing
(:class:`bot.sending.Pacer`) still runs, and on top of it every paced request takes its
share of this shared budget first:

* **Bot-wide: R places** (``send_places``, R = ``send_rate``). A send takes a free place
  (``free_at`` passed) with ``FOR UPDATE SKIP LOCKED`` in one statement, marks it held for a
  lease, sends, and when the request *completed* frees the place one second later
  (``free_at = completion + 1 s``, the database's clock). One place therefore carries at most
  one arrival per sliding second, however long requests take or on which machine they run,
  and R places never more than R: the same completion window the in-process pacer keeps,
  moved into the database. A worker that dies holding a place loses it to the lease
  (``lease`` seconds, longer than any single HTTP attempt).
* **Replies before notifications.** Notifications (``Lane.BULK``) may use only the first
  R - ``reply_reserve`` places; replies use all R. Even when the outbox of every worker
  sends flat out, a reply finds one of the reserved places free within about a second, and
  usually at once; notifications get R - reserve a second (20 of 25 by default).
* **Per chat: a token bucket** (``send_chats``): ``burst`` tokens refilled at ``rate`` a
  second (groups: 20 a minute, no burst), charged in one upsert. A ``RetryAfter`` from
  Telegram blocks the chat for every worker (``blocked_until``).

All times are the database server's (``clock_timestamp()``), so the workers' clocks may
disagree. If the database cannot be asked (an outage), a request goes out under its process's
own pacing only, and this is logged: a missed message is worse than a rare 429, which the
sending path then waits out.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

_TAKE_PLACE = text("""
WITH cand AS (
    SELECT place FROM send_places
    WHERE place < :places AND free_at <= clock_timestamp()
    ORDER BY free_at, place LIMIT 1 FOR UPDATE SKIP LOCKED),
took AS (
    UPDATE send_places p
    SET free_at = clock_timestamp() + make_interval(secs => :lease), holder = :holder
    FROM cand WHERE p.place = cand.place RETURNING p.place)
SELECT (SELECT place FROM took) AS place,
       (SELECT EXTRACT(EPOCH FROM min(free_at) - clock_timestamp())::float8
        FROM send_places WHERE place < :places) AS wait
""")
_FREE_PLACE = text("""
UPDATE send_places SET free_at = clock_timestamp() + interval '1 second', holder = NULL
WHERE place = :place AND holder = :holder
""")
_ADD_PLACES = text("""
INSERT INTO send_places (place, free_at)
SELECT g, clock_timestamp() - interval '1 second' FROM generate_series(0, :places - 1) g
ON CONFLICT (place) DO NOTHING
""")
_LEVEL = ("LEAST(CAST(:burst AS float8), c.tokens + EXTRACT(EPOCH FROM clock_timestamp() - "
          "c.updated_at)::float8 * CAST(:rate AS float8))")
_TAKE_CHAT = text(f"""
INSERT INTO send_chats AS c (chat_id, tokens, updated_at)
VALUES (:chat, CAST(:burst AS float8) - 1, clock_timestamp())
ON CONFLICT (chat_id) DO UPDATE
SET tokens = {_LEVEL} - 1, updated_at = clock_timestamp()
WHERE {_LEVEL} >= 1 + CAST(:slack AS float8)
  AND (c.blocked_until IS NULL OR c.blocked_until <= clock_timestamp())
RETURNING 1
""")
_CHAT_WAIT = text(f"""
SELECT GREATEST((1 + CAST(:slack AS float8) - {_LEVEL}) / CAST(:rate AS float8),
                COALESCE(EXTRACT(EPOCH FROM c.blocked_until - clock_timestamp())::float8, 0),
                0)
FROM send_chats c WHERE c.chat_id = :chat
""")
_HOLD_CHAT = text("""
INSERT INTO send_chats AS c (chat_id, tokens, updated_at, blocked_until)
VALUES (:chat, 0, clock_timestamp(), clock_timestamp() + make_interval(secs => :seconds))
ON CONFLICT (chat_id) DO UPDATE
SET tokens = LEAST(c.tokens, 0), updated_at = clock_timestamp(),
    blocked_until = GREATEST(COALESCE(c.blocked_until, clock_timestamp()),
                             clock_timestamp() + make_interval(secs => :seconds))
""")
_MIN_POLL, _MAX_POLL = 0.005, 0.5
# A chat's token is charged when its request leaves, but Telegram counts its arrival: keep
# this much of a token in hand (50 ms at 1/s) for the jitter between workers' requests.
_CHAT_SLACK_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class Place:
    """A bot-wide place held for one request."""

    place: int
    holder: str


class SharedSendBudget:
    """Implements :class:`bot.sending.SharedBudget` on PostgreSQL (see the module doc).

    Args:
        engine: the database's engine (its pool; two short statements per paced request).
        rate_global: R, requests per second for the bot as a whole, all workers together.
        rate_per_chat: requests per second to one private chat, all workers together.
        burst_per_chat: how many a quiet private chat may receive at once.
        group_per_minute: requests per minute to one group.
        reply_reserve: places only replies may use (default: a fifth of R, at least 1).
        lease: seconds after which a place held by a worker that died is free again.
    """

    def __init__(self, engine: AsyncEngine, *, rate_global: float = 25.0,
                 rate_per_chat: float = 1.0, burst_per_chat: int = 3,
                 group_per_minute: float = 20.0, reply_reserve: int | None = None,
                 lease: float = 60.0) -> None:
        self._engine = engine
        self.places = max(1, int(rate_global))
        reserve = max(1, round(self.places / 5)) if reply_reserve is None else reply_reserve
        self.bulk_places = max(1, self.places - reserve) if self.places > 1 else 1
        self._rate_chat = rate_per_chat
        self._burst_chat = float(burst_per_chat)
        self._rate_group = group_per_minute / 60.0
        self._lease = lease
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._warned_at = -1e9
        self.taken = 0  # observability: places taken by this process
        self.waited = 0.0  # seconds this process waited for the shared budget

    async def _ensure_places(self) -> None:
        if self._ready:
            return
        async with self._ready_lock:
            if not self._ready:
                async with self._engine.begin() as conn:
                    await conn.execute(_ADD_PLACES, {"places": self.places})
                self._ready = True

    def _chat_rates(self, chat_id: int | str) -> tuple[float, float]:
        group = isinstance(chat_id, str) or chat_id < 0
        return (self._rate_group, 1.0) if group else (self._rate_chat, self._burst_chat)

    def _degraded(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at > 30:
            self._warned_at = now
            log.warning("shared send budget unavailable (%s: %r): sending under this "
                        "process's own pacing", what, exc)

    async def acquire(self, chat_id: int | str | None, *, bulk: bool) -> Place | None:
        """Wait for the chat's token (if a chat) and a bot-wide place; returns the place to
        give back with :meth:`release` (None: the database could not be asked). One short
        transaction per try takes both, or neither."""
        started = time.monotonic()
        holder = secrets.token_hex(8)
        place_params = {"places": self.bulk_places if bulk else self.places,
                        "lease": self._lease, "holder": holder}
        chat_params: dict[str, Any] | None = None
        if chat_id is not None and not isinstance(chat_id, str):
            rate, burst = self._chat_rates(chat_id)
            # Never more slack than the bucket can hold above one token (a chat without a
            # burst, or a fast test rate, must still get its token).
            chat_params = {"chat": chat_id, "rate": rate, "burst": burst,
                           "slack": min(_CHAT_SLACK_SECONDS * rate, max(0.0, burst - 1.0))}
        try:
            await self._ensure_places()
            while True:
                # One transaction takes the place and the chat's token together (or
                # neither): a token taken while the request then waited for a place would
                # let the chat's next request, from another worker, arrive too soon.
                async with self._engine.connect() as conn:
                    tx = await conn.begin()
                    row = (await conn.execute(_TAKE_PLACE, place_params)).one()
                    if row.place is None:
                        await tx.rollback()
                        delay = min(max(float(row.wait or 0.0), _MIN_POLL), _MAX_POLL)
                    elif chat_params is not None and (
                            await conn.execute(_TAKE_CHAT, chat_params)).first() is None:
                        wait = (await conn.execute(_CHAT_WAIT, chat_params)
                                ).scalar_one_or_none()
                        await tx.rollback()  # the place stays free for others
                        delay = min(max(float(wait or 0.0), _MIN_POLL), 5.0)
                    else:
                        await tx.commit()
                        self.waited += time.monotonic() - started
                        self.taken += 1
                        return Place(int(row.place), holder)
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._degraded("acquire", exc)
            return None

    async def release(self, place: Place | None) -> None:
        """The request completed (or failed): its place is free again one second from now."""
        if place is None:
            return
        try:
            async with self._engine.begin() as conn:
                await conn.execute(_FREE_PLACE, {"place": place.place, "holder": place.holder})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the lease frees it
            self._degraded("release", exc)

    async def hold_chat(self, chat_id: int | str | None, seconds: float) -> None:
        """Telegram asked this chat to wait: every worker holds it back that long."""
        if chat_id is None or isinstance(chat_id, str):
            return
        try:
            async with self._engine.begin() as conn:
                await conn.execute(_HOLD_CHAT, {"chat": chat_id, "seconds": float(seconds)})
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._degraded("hold", exc)
