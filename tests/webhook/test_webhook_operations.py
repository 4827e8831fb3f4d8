"""The webhook and the operator's endpoints when the database is away, and the settings of
webhook mode."""

from __future__ import annotations

import json

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import ConfigError, load_settings
from bot.storage.database import SqlDatabase
from bot.storage.inbox_store import SqlInbox
from bot.storage.ops_store import OperationsStore
from bot.web.ops import Operations, ops_routes
from bot.web.server import WebServer
from bot.web.webhook import SECRET_HEADER, webhook_routes
from core.kernel.clock import SystemClock

# Nothing listens on port 1: every connection is refused at once.
DEAD_DATABASE = "postgresql://postgres@127.0.0.1:1/nowhere"


async def test_webhook_answers_503_when_the_update_cannot_be_stored_so_telegram_retries(
        ) -> None:
    db = SqlDatabase(DEAD_DATABASE)
    inbox = SqlInbox(db)
    server = WebServer("127.0.0.1", 0)
    server.mount(webhook_routes("/hook", secret="s", inbox=inbox, clock=SystemClock()))
    server.mount(ops_routes(Operations(inbox=inbox, store=OperationsStore(db),
                                       clock=SystemClock(), worker="w1", mode="webhook")))
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(server.base_url + "/hook", data=json.dumps(
                    {"update_id": 7, "message": {}}), headers={SECRET_HEADER: "s"}) as resp:
                assert resp.status == 503
            async with http.get(server.base_url + "/healthz") as resp:
                assert resp.status == 503
                body = await resp.json()
            async with http.get(server.base_url + "/metrics") as resp:
                assert resp.status == 200  # a scrape never fails; db figures are left out
                families = {f.name for f in text_string_to_metric_families(await resp.text())}
    finally:
        await server.stop()
        await db.dispose()
    assert body["ok"] is False and body["database"] == "unreachable"
    assert body["worker"] == "w1" and body["leader"] is None
    assert {"ticketq_webhook_requests", "ticketq_telegram_sends",
            "ticketq_update_latency_seconds", "ticketq_draw_duration_seconds"} <= families


async def test_healthz_shows_the_inbox_lag_of_the_oldest_waiting_update(tmp_path) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.storage.migrate import upgrade_to_head

    db = SqlDatabase(f"sqlite:///{tmp_path / 'tq.sqlite3'}")
    await upgrade_to_head(db)
    inbox = SqlInbox(db)
    await inbox.store([{"update_id": 1, "message": {"chat": {"id": 5}}}],
                      now=datetime.now(UTC) - timedelta(seconds=42))
    await inbox.store([{"update_id": 2, "message": {"chat": {"id": 6}}}], now=datetime.now(UTC))
    ops = Operations(inbox=inbox, store=OperationsStore(db), clock=SystemClock(),
                     worker="w", mode="polling", leader=lambda: True)
    try:
        healthy, body = await ops.health()
    finally:
        await db.dispose()
    assert healthy and body["inbox_waiting"] == 2 and body["leader"] is True
    assert 41 <= body["inbox_lag_seconds"] < 60


@pytest.mark.parametrize("secret", ["", "has space", "x" * 257, "ünïcode"])
def test_webhook_secret_must_be_what_telegram_accepts(secret: str) -> None:
    with pytest.raises(ConfigError, match="TICKETQ_WEBHOOK_SECRET"):
        load_settings(webhook_secret=secret, _env_file=None)


def test_webhook_mode_needs_an_https_url_a_secret_and_a_port() -> None:
    with pytest.raises(ConfigError, match="TICKETQ_WEBHOOK_URL"):
        load_settings(webhook_url="http://tickets.example.org/hook", _env_file=None)
    settings = load_settings(webhook_url="https://tickets.example.org/hook", _env_file=None)
    with pytest.raises(ConfigError) as info:
        settings.require_webhook()
    assert "TICKETQ_WEBHOOK_SECRET" in str(info.value) and "TICKETQ_HTTP_PORT" in str(info.value)
    ok = load_settings(webhook_url="https://tickets.example.org/hook", webhook_secret="a-B_9",
                       http_port=8081, _env_file=None)
    ok.require_webhook()
