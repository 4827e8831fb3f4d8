"""The process's Prometheus metrics, in one place (served at ``GET /metrics``, bot.web.ops).

Every metric object lives here, in this process's own :data:`REGISTRY` (not the library's
global default one), so any module of ``bot/`` observes through it: the inbox worker and
poller (updates handled and their latency), the webhook (requests by answer), the sending
path (sends and 429s), the scheduler's leader (draw and settlement durations). Gauges that
describe the database (inbox and outbox depth, refunds pending or failed) are read from it
when ``/metrics`` is scraped (:func:`refresh_from_database`), so every worker reports the
same shared figures and nothing has to keep them up to date.

Several workers each serve their own ``/metrics``: counters and histograms are per process
(Prometheus sums them across the ``instance`` label); the database gauges are the same on
every worker (take ``max`` across instances, not ``sum``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES_HANDLED = Counter(
    "ticketq_updates_handled", "Telegram updates finished with, by kind and outcome "
    "(handled, retried, parked, dropped).", ["kind", "outcome"], registry=REGISTRY)
UPDATE_LATENCY = Histogram(
    "ticketq_update_latency_seconds", "From an update's arrival (stored in the inbox) to "
    "the end of its successful handling.", ["kind"], registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0))
WEBHOOK_REQUESTS = Counter(
    "ticketq_webhook_requests", "Webhook requests by HTTP status answered.", ["status"],
    registry=REGISTRY)
INBOX_DEPTH = Gauge(
    "ticketq_inbox_depth", "Updates in the inbox, by state (waiting, parked).", ["state"],
    registry=REGISTRY)
INBOX_LAG = Gauge(
    "ticketq_inbox_lag_seconds", "Age of the oldest update waiting in the inbox (0 when "
    "empty).", registry=REGISTRY)
OUTBOX_DEPTH = Gauge(
    "ticketq_outbox_depth", "Outbox items not yet delivered, by state (due, failed).",
    ["state"], registry=REGISTRY)
SENDS = Counter(
    "ticketq_telegram_sends", "Messages and edits Telegram accepted from this process.",
    registry=REGISTRY)
FLOOD_WAITS = Counter(
    "ticketq_telegram_429", "429 Too Many Requests answers (flood control) received.",
    registry=REGISTRY)
REFUNDS = Gauge(
    "ticketq_refunds", "Refunds by state: pending (not yet confirmed by Stripe) or failed "
    "(given up, an operator must act).", ["state"], registry=REGISTRY)
DRAW_SECONDS = Histogram(
    "ticketq_draw_duration_seconds", "How long a lottery draw took.", registry=REGISTRY,
    buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0))
SETTLEMENT_SECONDS = Histogram(
    "ticketq_settlement_duration_seconds", "How long settling a drawn lottery (tickets and "
    "refunds queued) took.", registry=REGISTRY,
    buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0))
LEADER = Gauge(
    "ticketq_scheduler_leader", "1 while this process runs the scheduler (close, draw, "
    "settlement, reminders).", registry=REGISTRY)


@contextmanager
def timed(histogram: Histogram) -> Iterator[None]:
    """Observe the duration of the block in ``histogram`` (also when it raises)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        histogram.observe(time.perf_counter() - start)
