"""The Telegram webhook: each POST is one update, kept in the durable inbox before 200.

Telegram (or the reverse proxy in front of several workers) POSTs an update as JSON with the
``X-Telegram-Bot-Api-Secret-Token`` header set to the ``secret_token`` given to
``setWebhook``. This endpoint only *stores*: the update is inserted into the ``inbox`` table
(unique by ``update_id``, so a redelivery changes nothing) and only then answered 200; some
worker's :class:`bot.inbox_worker.InboxWorker` claims and handles it. Storing is one short
insert, so Telegram's timeout is never near.

Refused, with nothing stored:

* a missing secret header: 401; a wrong one: 403 (compared in constant time);
* a body over the size limit: 413, before it is read in full;
* a body that is not a JSON object with an integer ``update_id``: 400 (Telegram never
  sends one; retrying it would not help).

When the database cannot store the update the answer is 503: Telegram delivers it again
later, so nothing is lost while the database is away.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot import metrics
from bot.storage.inbox_store import SqlInbox, valid_update
from core.kernel.clock import Clock

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates are a few kilobytes (a 4096-character message with its entities and a
# quoted reply stays far below this).
MAX_UPDATE_BYTES = 256 * 1024


def _answer(status: int, text: str) -> web.Response:
    metrics.WEBHOOK_REQUESTS.labels(str(status)).inc()
    return web.Response(status=status, text=text)


def webhook_routes(path: str, *, secret: str, inbox: SqlInbox, clock: Clock,
                   stored: Callable[[], None] = lambda: None,
                   max_bytes: int = MAX_UPDATE_BYTES) -> Callable[[web.Application], None]:
    """The mount for :class:`bot.web.server.WebServer`: ``POST path`` receives updates.

    Args:
        path: the URL path Telegram posts to (the path of the ``--webhook`` URL).
        secret: the ``secret_token`` given to ``setWebhook``.
        inbox: where updates are kept.
        clock: stamps their arrival.
        stored: called after an update was stored (wakes this worker's inbox claims).
        max_bytes: larger bodies are refused with 413.
    """
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            return _answer(401, "missing secret token")
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected):
            return _answer(403, "wrong secret token")
        if request.content_length is not None and request.content_length > max_bytes:
            return _answer(413, "update too large")
        body = bytearray()
        async for chunk in request.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > max_bytes:  # chunked, or a Content-Length that lied
                return _answer(413, "update too large")
        try:
            data: Any = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _answer(400, "not JSON")
        if not valid_update(data):
            return _answer(400, "not an update")
        try:
            await inbox.store([data], now=clock.now())
        except Exception as exc:  # the database is away: Telegram will deliver it again
            log.warning("webhook: could not store update %s (%s); Telegram will redeliver",
                        data["update_id"], type(exc).__name__)
            return _answer(503, "try again later")
        stored()
        return _answer(200, "")

    def add(app: web.Application) -> None:
        app.router.add_post(path, receive)

    return add
