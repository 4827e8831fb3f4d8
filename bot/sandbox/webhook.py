"""Webhook delivery as Telegram does it, and the load balancer in front of several workers.

:class:`WebhookDelivery` is the sandbox Bot API's side of ``setWebhook``: while a webhook is
set, every new update is POSTed as JSON to its URL with the
``X-Telegram-Bot-Api-Secret-Token`` header (when a secret was given). As Telegram does:

* an answer other than 2xx, a refused connection or a timeout counts as a failure: the update
  stays pending and is delivered again later with a growing delay, and ``getWebhookInfo``
  shows ``last_error_date`` and ``last_error_message`` ("Wrong response from the webhook:
  502 Bad Gateway", "Connection refused", "Read timeout expired");
* at most ``max_connections`` requests are in flight at once;
* ``allowed_updates`` filters what is delivered (filtered updates are dropped for good);
* ``pending_update_count`` counts what was not yet acknowledged with a 2xx.

The sandbox also keeps a chat's updates in order: a chat's next update is not sent while an
earlier one of the same chat is unacknowledged (a failed one blocks its chat, not the other
chats). Telegram does not document its ordering under ``max_connections > 1``; a bot that
stores before it answers (as TicketQ does) keeps order exactly as far as delivery keeps it.

**Several workers: a load balancer, not SO_REUSEPORT.** Telegram posts to one HTTPS URL; in
production a reverse proxy (nginx, Caddy) terminates TLS there and spreads the requests over
the workers, possibly on several machines. SO_REUSEPORT would only spread connections over
processes of one machine, and the kernel keeps sending a connection to the socket it hashed
to, so it cannot show what happens when a machine goes away. So :class:`LoadBalancer` models
the proxy: the public origin (``https://tickets.example.org``) maps to the workers' plain
HTTP addresses; requests go round robin; a worker that refuses the connection is marked
down for ``fail_timeout`` seconds and the request goes to the next one (nginx's
``proxy_next_upstream error timeout`` with ``max_fails=1``); a worker that dies after it
received the request is *not* retried elsewhere (nginx does not repeat a non-idempotent POST)
and Telegram sees a 502 and redelivers later. A webhook URL whose origin the balancer does
not know fails as an unresolvable host would: nothing ever leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 413: "Request Entity Too Large",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL (what the load balancer is keyed by)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass
class _Backend:
    base: str
    down_until: float = 0.0


class LoadBalancer:
    """A reverse proxy in front of the workers (see the module docstring)."""

    def __init__(self, *, fail_timeout: float = 2.0) -> None:
        self.fail_timeout = fail_timeout
        self._upstreams: dict[str, list[_Backend]] = {}
        self._next: dict[str, int] = {}
        self.forwarded: Counter[str] = Counter()  # answered requests by backend base URL

    def set_backends(self, origin: str, backends: list[str]) -> None:
        """Serve ``origin`` (``https://host``) from these ``http://host:port`` bases."""
        key = origin_of(origin)
        old = {b.base: b for b in self._upstreams.get(key, [])}
        self._upstreams[key] = [old.get(b.rstrip("/"), _Backend(b.rstrip("/")))
                                for b in backends]

    def backends(self, origin: str) -> list[str]:
        """The bases serving ``origin``."""
        return [b.base for b in self._upstreams.get(origin_of(origin), [])]

    async def forward(self, session: aiohttp.ClientSession, url: str, body: bytes,
                      headers: dict[str, str], timeout: float) -> tuple[int | None, str]:
        """POST to one backend; (status, "") or (None or 5xx, Telegram's error message)."""
        key = origin_of(url)
        upstream = self._upstreams.get(key)
        if not upstream:
            return None, "Failed to resolve host: Name or service not known"
        parts = urlsplit(url)
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        start = self._next.get(key, 0)
        self._next[key] = start + 1
        order = [upstream[(start + i) % len(upstream)] for i in range(len(upstream))]
        now = time.monotonic()
        order.sort(key=lambda b: b.down_until > now)  # up first, in round-robin order
        for backend in order:
            try:
                async with session.post(backend.base + tail, data=body, headers=headers,
                                        timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                    await resp.read()
                    self.forwarded[backend.base] += 1
                    return resp.status, ""
            except aiohttp.ClientConnectorError:  # refused: next upstream, this one rests
                backend.down_until = time.monotonic() + self.fail_timeout
                continue
            except TimeoutError:
                return 504, "Read timeout expired"
            except (aiohttp.ClientError, OSError):  # it died holding the request
                return 502, "Wrong response from the webhook: 502 Bad Gateway"
        return None, "Connection refused"


@dataclass
class _Attempts:
    count: int = 0
    next_at: float = 0.0


@dataclass
class WebhookState:
    """What setWebhook stored."""

    url: str = ""
    secret: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None
    attempts: dict[int, _Attempts] = field(default_factory=dict)


class WebhookDelivery:
    """Delivers the Bot API's pending updates to the webhook (see the module docstring).

    Args:
        updates: returns the Bot API's queue of unacknowledged updates (shared with
            getUpdates).
        redeliver: copies to deliver once more (``Sandbox.redeliver``, duplicate faults).
        chat_of: the chat an update belongs to (None: no order to keep).
        balancer: routes the webhook URL to the workers.
        timeout: seconds before an unanswered delivery counts as failed.
        retry_base: delay before the first redelivery (doubling up to ``retry_max``).
        keep_chat_order: hold a chat's later updates while an earlier one is unacknowledged.
        on_ack: called with each update once acknowledged.
    """

    def __init__(self, updates: Callable[[], Any], redeliver: list[dict[str, Any]],
                 chat_of: Callable[[dict[str, Any]], int | None], balancer: LoadBalancer, *,
                 timeout: float = 10.0, retry_base: float = 0.5, retry_max: float = 8.0,
                 keep_chat_order: bool = True,
                 on_ack: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._updates = updates
        self._on_ack = on_ack or (lambda _u: None)
        self._redeliver = redeliver
        self._chat_of = chat_of
        self.balancer = balancer
        self.timeout = timeout
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.keep_chat_order = keep_chat_order
        self.state = WebhookState()
        self._in_flight: set[int] = set()
        self._extra_in_flight = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered = 0  # 2xx answers
        self.failed = 0  # failed attempts
        self.max_in_flight_seen = 0

    @property
    def active(self) -> bool:
        """A webhook is set."""
        return bool(self.state.url)

    def configure(self, url: str, *, secret: str | None, max_connections: int,
                  allowed_updates: list[str] | None) -> None:
        """setWebhook: start (or re-aim) delivery."""
        same = url == self.state.url
        self.state.url = url
        self.state.secret = secret
        self.state.max_connections = max_connections
        if allowed_updates is not None:
            self.state.allowed_updates = allowed_updates or None
        if not same:
            self.state.last_error_date = self.state.last_error_message = None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="sandbox-webhook")
        self.wake()

    def remove(self) -> None:
        """deleteWebhook: stop delivering (updates stay pending for getUpdates)."""
        self.state = WebhookState()
        self.wake()

    def wake(self) -> None:
        """Something changed: look for updates to deliver now."""
        self._wake.set()

    async def aclose(self) -> None:
        """Stop delivering and close the HTTP client (sandbox shutdown)."""
        self.state.url = ""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def info(self, pending: int) -> dict[str, Any]:
        """getWebhookInfo's result."""
        state = self.state
        result: dict[str, Any] = {"url": state.url, "has_custom_certificate": False,
                                  "pending_update_count": pending}
        if state.url:
            result["max_connections"] = state.max_connections
            if state.allowed_updates is not None:
                result["allowed_updates"] = list(state.allowed_updates)
        if state.last_error_date is not None:
            result["last_error_date"] = state.last_error_date
            result["last_error_message"] = state.last_error_message
        return result

    # ------------------------------------------------------------------ delivery
    def _allowed(self, update: dict[str, Any]) -> bool:
        allowed = self.state.allowed_updates
        if allowed is None:
            return True
        return next(k for k in update if k != "update_id") in allowed

    async def _run(self) -> None:
        self._session = self._session or aiohttp.ClientSession()
        while self.active:
            self._wake.clear()
            next_due = self._dispatch()
            timeout = 1.0 if next_due is None else max(0.0, min(1.0, next_due))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    def _room(self) -> int:
        return self.state.max_connections - len(self._in_flight) - self._extra_in_flight

    def _dispatch(self) -> float | None:
        """Start what may go now; seconds until the next retry is due (None: none)."""
        now = time.monotonic()
        while self._redeliver and self._room() > 0:
            self._start(self._redeliver.pop(0), extra=True)
        queue = self._updates()
        # Filtered updates are dropped for good, as Telegram does.
        for update in [u for u in queue if not self._allowed(u)]:
            queue.remove(update)
        blocked: set[int] = set()
        next_due: float | None = None
        for update in list(queue):
            if self._room() <= 0:
                break
            uid = update["update_id"]
            chat = self._chat_of(update) if self.keep_chat_order else None
            if chat is not None and chat in blocked:
                continue
            if chat is not None:
                blocked.add(chat)
            if uid in self._in_flight:
                continue
            tries = self.state.attempts.get(uid)
            if tries is not None and tries.next_at > now:
                wait = tries.next_at - now
                next_due = wait if next_due is None else min(next_due, wait)
                continue
            self._start(update, extra=False)
        return next_due

    def _start(self, update: dict[str, Any], *, extra: bool) -> None:
        if extra:
            self._extra_in_flight += 1
        else:
            self._in_flight.add(update["update_id"])
        in_flight = len(self._in_flight) + self._extra_in_flight
        self.max_in_flight_seen = max(self.max_in_flight_seen, in_flight)
        task = asyncio.get_running_loop().create_task(self._deliver(update, extra=extra))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, update: dict[str, Any], *, extra: bool) -> None:
        uid = update["update_id"]
        state = self.state
        headers = {"Content-Type": "application/json"}
        if state.secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = state.secret
        assert self._session is not None
        try:
            status, error = await self.balancer.forward(
                self._session, state.url, json.dumps(update).encode(), headers, self.timeout)
        except Exception as exc:  # pragma: no cover - a sandbox bug, reported as Telegram would
            status, error = None, f"{type(exc).__name__}"
        finally:
            if extra:
                self._extra_in_flight -= 1
            else:
                self._in_flight.discard(uid)
        if status is not None and 200 <= status < 300:
            self.delivered += 1
            if not extra:
                state.attempts.pop(uid, None)
                queue = self._updates()
                with contextlib.suppress(ValueError):
                    queue.remove(update)
                self._on_ack(update)
        else:
            self.failed += 1
            if status is not None and not error:
                error = (f"Wrong response from the webhook: {status} "
                         f"{REASONS.get(status, 'Unknown')}")
            state.last_error_date = int(time.time())
            state.last_error_message = error
            if extra:  # a duplicate that failed is simply tried once more later
                self._redeliver.append(update)
            else:
                tries = state.attempts.setdefault(uid, _Attempts())
                tries.count += 1
                delay = min(self.retry_max, self.retry_base * 2 ** (tries.count - 1))
                tries.next_at = time.monotonic() + delay
        self.wake()
