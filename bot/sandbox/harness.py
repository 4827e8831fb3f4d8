"""Run the real bot against the loopback sandbox (demo, end-to-end tests, benchmarks).

By default the sandbox is at least as strict as Telegram about flood control (30 a second for
the bot, about 1 a second per chat after a burst of 3) and the bot is configured as in
production (25 a second, 1 a second per chat, bursts of 3). A test or demo that needs speed
loosens both explicitly (e.g. ``rate_limit_global=None, send_rate=1000.0``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import TicketQRuntime, build_runtime
from bot.config import Settings
from bot.sandbox import Sandbox
from core.kernel.clock import Clock

SANDBOX_TOKEN = "123456:SANDBOX-TOKEN"
SANDBOX_PROVIDER_TOKEN = "sandbox-provider-token"
SANDBOX_STRIPE_KEY = "sk_test_sandbox_0123456789"
# Webhook mode: the public URL the bot registers; the sandbox's load balancer maps its origin
# to the workers' local ports (bot.sandbox.webhook).
WEBHOOK_ORIGIN = "https://tickets.sandbox.test"
WEBHOOK_URL = f"{WEBHOOK_ORIGIN}/telegram/webhook"
WEBHOOK_SECRET = "sandbox-webhook-secret_0123456789"


def free_port() -> int:
    """A TCP port nothing listens on now (for a worker's HTTP server)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SandboxedBot:
    """The sandbox and the TicketQ runtime talking to it."""

    sandbox: Sandbox
    runtime: TicketQRuntime

    async def settle(self, timeout: float = 30.0) -> None:
        """Let the outbox deliver everything that is due."""
        await self.runtime.worker.drain_until_idle(timeout=timeout)


def sandbox_settings(sandbox: Sandbox, database_url: str, *, admin_ids: frozenset[int],
                     hold_minutes: int = 10, send_rate: float = 25.0,
                     send_rate_per_chat: float = 1.0, send_burst_per_chat: int = 3,
                     **extra: Any) -> Settings:
    """Settings that point every external call at the sandbox (``extra``: more settings,
    e.g. ``http_port``, ``public_url`` or ``webhook_url``)."""
    return Settings(  # type: ignore[call-arg]
        bot_token=SANDBOX_TOKEN, payment_provider_token=SANDBOX_PROVIDER_TOKEN,  # type: ignore[arg-type]
        stripe_secret_key=SANDBOX_STRIPE_KEY,  # type: ignore[arg-type]
        database_url=database_url, admin_ids=admin_ids, bot_api_url=sandbox.bot_api_base_url,
        bot_file_url=sandbox.bot_file_base_url, stripe_api_base=sandbox.stripe_api_base,
        beacon_url=sandbox.beacon_url,
        hold_minutes=hold_minutes, send_rate=send_rate, send_rate_per_chat=send_rate_per_chat,
        send_burst_per_chat=send_burst_per_chat,
        _env_file=None,
        **extra,
    )


def new_sandbox(*, rate_limit_global: float | None = 30.0,
                rate_limit_per_chat: float | None = 1.0, burst_per_chat: int = 3,
                strict_html: bool = True) -> Sandbox:
    """A sandbox configured with the harness's token and keys (not started); flood limits
    at least as strict as Telegram's unless loosened."""
    return Sandbox(bot_token=SANDBOX_TOKEN, stripe_secret_key=SANDBOX_STRIPE_KEY,
                   provider_token=SANDBOX_PROVIDER_TOKEN, rate_limit_global=rate_limit_global,
                   rate_limit_per_chat=rate_limit_per_chat, burst_per_chat=burst_per_chat,
                   strict_html=strict_html)


@asynccontextmanager
async def running_bot(sandbox: Sandbox, database_url: str, *,
                      admin_ids: frozenset[int] = frozenset(), clock: Clock | None = None,
                      hold_minutes: int = 10, send_rate: float = 25.0,
                      send_rate_per_chat: float = 1.0, send_burst_per_chat: int = 3,
                      webhook: bool = False, worker_id: str | None = None,
                      lease: float | None = None, http_port: int | None = None,
                      public_url: str | None = None) -> AsyncIterator[TicketQRuntime]:
    """Start TicketQ against a running sandbox; stop it afterwards (restart tests call this
    twice on the same sandbox and database).

    With ``webhook``, the bot runs in webhook mode on a local port that the sandbox's load
    balancer adds to the upstreams of :data:`WEBHOOK_ORIGIN` (and removes when it stops):
    several of these on one PostgreSQL database are several workers.
    """
    extra: dict[str, Any] = {"http_port": http_port, "public_url": public_url}
    port = 0
    if webhook:
        port = free_port()
        extra |= {"http_port": port, "webhook_secret": WEBHOOK_SECRET,
                  "worker_id": worker_id or f"worker-{port}"}
    settings = sandbox_settings(sandbox, database_url, admin_ids=admin_ids,
                                hold_minutes=hold_minutes, send_rate=send_rate,
                                send_rate_per_chat=send_rate_per_chat,
                                send_burst_per_chat=send_burst_per_chat, **extra)
    if clock is not None:
        sandbox.beacon.now = lambda: clock.now().timestamp()  # the beacon follows test time
    runtime = await build_runtime(settings, clock=clock)
    backend = f"http://127.0.0.1:{port}"
    if webhook:
        sandbox.balance(WEBHOOK_ORIGIN, [*sandbox.balancer.backends(WEBHOOK_ORIGIN), backend])
    await runtime.start(poll_timeout=1.0, webhook_url=WEBHOOK_URL if webhook else None,
                        worker_lease=lease)
    try:
        yield runtime
    finally:
        if webhook:
            sandbox.balance(WEBHOOK_ORIGIN, [b for b in sandbox.balancer.backends(
                WEBHOOK_ORIGIN) if b != backend])
        await runtime.stop()


@asynccontextmanager
async def sandboxed_bot(database_url: str, *, admin_ids: frozenset[int] = frozenset(),
                        clock: Clock | None = None, hold_minutes: int = 10,
                        rate_limit_global: float | None = 30.0,
                        rate_limit_per_chat: float | None = 1.0, burst_per_chat: int = 3,
                        send_rate: float = 25.0, send_rate_per_chat: float = 1.0,
                        send_burst_per_chat: int = 3, strict_html: bool = True,
                        webhook: bool = False, http_port: int | None = None,
                        public_url: str | None = None) -> AsyncIterator[SandboxedBot]:
    """Start a sandbox and the real bot against it; stop both afterwards.

    ``http_port`` (0: any free port) serves the Mini App on loopback; ``public_url`` is the
    HTTPS address its buttons carry (the sandbox, like Telegram, refuses anything else).
    """
    sandbox = new_sandbox(rate_limit_global=rate_limit_global,
                          rate_limit_per_chat=rate_limit_per_chat,
                          burst_per_chat=burst_per_chat, strict_html=strict_html)
    await sandbox.start()
    try:
        async with running_bot(sandbox, database_url, admin_ids=admin_ids, clock=clock,
                               hold_minutes=hold_minutes, send_rate=send_rate,
                               send_rate_per_chat=send_rate_per_chat,
                               send_burst_per_chat=send_burst_per_chat,
                               webhook=webhook, http_port=http_port,
                               public_url=public_url) as runtime:
            yield SandboxedBot(sandbox=sandbox, runtime=runtime)
    finally:
        await sandbox.stop()


def sqlite_url(directory: Path) -> str:
    """An SQLite database file in ``directory``."""
    return f"sqlite:///{directory / 'ticketq.sqlite3'}"
