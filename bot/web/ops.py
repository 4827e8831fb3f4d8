"""The operator's endpoints: ``GET /healthz`` and ``GET /metrics`` (Prometheus).

``/healthz`` answers 200 with a JSON object while this worker can reach the database, 503
when it cannot (a load balancer takes it out of rotation; the process keeps retrying)::

    {"ok": true, "database": "ok", "worker": "host:1234", "mode": "webhook",
     "inbox_waiting": 3, "inbox_parked": 0, "inbox_lag_seconds": 0.4, "leader": false}

``inbox_lag_seconds`` is the age of the oldest update not yet handled (0 when the inbox is
empty): a lag that keeps growing means the workers do not keep up or are stuck. ``leader``
says whether this process runs the scheduler (None where no election runs).

``/metrics`` is :mod:`bot.metrics`'s registry in the Prometheus text format; the database
figures (inbox and outbox depth, refunds) are read when it is scraped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import metrics
from bot.storage.inbox_store import SqlInbox
from bot.storage.ops_store import OperationsStore
from core.kernel.clock import Clock

log = logging.getLogger(__name__)

DB_TIMEOUT = 3.0


@dataclass
class Operations:
    """What the endpoints read: the shared database, and this process's own state."""

    inbox: SqlInbox
    store: OperationsStore
    clock: Clock
    worker: str
    mode: str  # "polling" | "webhook"
    leader: Callable[[], bool | None] = lambda: None

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, the JSON body of ``/healthz``)."""
        body: dict[str, Any] = {"ok": False, "database": "unreachable", "worker": self.worker,
                                "mode": self.mode, "leader": self.leader()}
        try:
            stats = await asyncio.wait_for(self.inbox.stats(), DB_TIMEOUT)
        except Exception as exc:  # whatever the cause, this worker cannot serve now
            log.warning("healthz: the database does not answer (%s)", type(exc).__name__)
            body["error"] = type(exc).__name__
            return False, body
        lag = 0.0
        if stats.oldest is not None:
            lag = max(0.0, (self.clock.now() - stats.oldest).total_seconds())
        body.update(ok=True, database="ok", inbox_waiting=stats.waiting,
                    inbox_parked=stats.parked, inbox_lag_seconds=round(lag, 3))
        return True, body

    async def refresh_metrics(self) -> None:
        """Set the gauges that describe the database (best effort: a scrape never fails)."""
        try:
            stats = await asyncio.wait_for(self.inbox.stats(), DB_TIMEOUT)
            backlog = await asyncio.wait_for(self.store.backlog(), DB_TIMEOUT)
        except Exception as exc:
            log.warning("metrics: database figures unavailable (%s)", type(exc).__name__)
            return
        metrics.INBOX_DEPTH.labels("waiting").set(stats.waiting)
        metrics.INBOX_DEPTH.labels("parked").set(stats.parked)
        lag = 0.0
        if stats.oldest is not None:
            lag = max(0.0, (self.clock.now() - stats.oldest).total_seconds())
        metrics.INBOX_LAG.set(lag)
        metrics.OUTBOX_DEPTH.labels("due").set(backlog.outbox_pending)
        metrics.OUTBOX_DEPTH.labels("failed").set(backlog.outbox_dead)
        metrics.REFUNDS.labels("pending").set(backlog.refunds_pending)
        metrics.REFUNDS.labels("failed").set(backlog.refunds_failed)
        leader = self.leader()
        metrics.LEADER.set(1 if leader else 0)


def ops_routes(ops: Operations) -> Callable[[web.Application], None]:
    """The mount for :class:`bot.web.server.WebServer`."""

    async def healthz(_request: web.Request) -> web.Response:
        healthy, body = await ops.health()
        return web.json_response(body, status=200 if healthy else 503)

    async def metrics_page(_request: web.Request) -> web.Response:
        await ops.refresh_metrics()
        data = generate_latest(metrics.REGISTRY)
        response = web.Response(body=data)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    def add(app: web.Application) -> None:
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/metrics", metrics_page)

    return add
