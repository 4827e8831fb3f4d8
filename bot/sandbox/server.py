"""The sandbox server: one aiohttp app on 127.0.0.1 serving the Bot API and Stripe."""

from __future__ import annotations

from collections import Counter
from types import TracebackType
from typing import Self

from aiohttp import web

from bot.sandbox.beacon import TestBeacon
from bot.sandbox.faults import FaultInjector
from bot.sandbox.models import BotError
from bot.sandbox.stripe_emulator import StripeEmulator
from bot.sandbox.telegram import TelegramBotApi
from bot.sandbox.users import VirtualUser
from bot.sandbox.webhook import LoadBalancer, WebhookDelivery


class Sandbox:
    """Loopback Telegram Bot API + Stripe emulator for tests, demos and benchmarks.

    Example:
        async with Sandbox() as sandbox:
            app = (ApplicationBuilder().token(sandbox.bot_token)
                   .base_url(sandbox.bot_api_base_url)
                   .base_file_url(sandbox.bot_file_base_url).build())
    """

    def __init__(
        self,
        bot_token: str = "123456:TEST",
        bot_username: str = "ticketq_bot",
        stripe_secret_key: str = "sk_test_sandbox",
        provider_token: str = "sandbox-provider-token",
        rate_limit_global: float | None = 30.0,
        rate_limit_per_chat: float | None = 1.0,
        *,
        burst_per_chat: int = 3,
        strict_html: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        """Configure (but do not start) the sandbox.

        Args:
            bot_token: The only token the Bot API accepts.
            bot_username: Username returned by getMe.
            stripe_secret_key: The only key the Stripe emulator accepts.
            provider_token: The payment provider token sendInvoice requires.
            rate_limit_global: Max sends and edits per sliding second for the bot
                (None = unlimited). Telegram: about 30.
            rate_limit_per_chat: Sends and edits per second one chat may receive once its
                burst is used up (None = off). Telegram: about 1, "short bursts allowed".
            burst_per_chat: How many a quiet chat may receive at once. The defaults are at
                least as strict as Telegram; a test that needs speed loosens them explicitly.
            strict_html: Reject a bare ``&`` in HTML (real Telegram keeps it literally).
            host: Loopback address to bind.
        """
        self.bot_token = bot_token
        self.bot_username = bot_username
        self.stripe_secret_key = stripe_secret_key
        self.provider_token = provider_token
        self.host = host
        self.faults = FaultInjector()
        self.stripe = StripeEmulator(stripe_secret_key)
        self.beacon = TestBeacon()
        self._users: dict[int, VirtualUser] = {}
        self.telegram = TelegramBotApi(
            bot_token=bot_token,
            bot_username=bot_username,
            provider_token=provider_token,
            rate_limit_global=rate_limit_global,
            rate_limit_per_chat=rate_limit_per_chat,
            burst_per_chat=burst_per_chat,
            stripe=self.stripe,
            faults=self.faults,
            strict_html=strict_html,
        )
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # ------------------------------------------------------------------ lifecycle
    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        api = self.telegram
        app.router.add_route("*", "/bot{token}/{method}", api.handle)
        app.router.add_get("/file/bot{token}/{file_path:.+}", api.handle_file)
        app.router.add_route("*", "/v1/{path:.*}", self.stripe.handle)
        app.router.add_get("/beacon/info", self.beacon.handle_info)
        app.router.add_get("/beacon/public/{round}", self.beacon.handle_round)
        app.router.add_post("/sandbox/webhook-backends", self._handle_backends)
        return app

    async def _handle_backends(self, request: web.Request) -> web.Response:
        """``POST /sandbox/webhook-backends {"origin": ..., "backends": [...]}``: the load
        balancer's upstreams, for a sandbox running in a process of its own."""
        body = await request.json()
        self.balance(str(body["origin"]), [str(b) for b in body["backends"]])
        return web.json_response({"ok": True})

    async def start(self, port: int = 0) -> None:
        """Bind the server on ``host`` and ``port`` (0 = a free port).

        Raises:
            RuntimeError: Already started.
        """
        if self._runner is not None:
            raise RuntimeError("sandbox already started")
        runner = web.AppRunner(
            self._build_app(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,
            handler_cancellation=True,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, port, backlog=2048)
        await site.start()
        self._runner = runner
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port

    async def stop(self) -> None:
        """Release long-polls and delayed answers, then shut the server down."""
        await self.telegram.webhook.aclose()
        self.telegram.close()
        self.stripe.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ URLs
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self.port is None:
            raise RuntimeError("sandbox not started")
        return f"http://{self.host}:{self.port}"

    @property
    def bot_api_base_url(self) -> str:
        """Value for ``ApplicationBuilder().base_url()`` (PTB appends ``<token>/<method>``)."""
        return f"{self.base_url}/bot"

    @property
    def bot_file_base_url(self) -> str:
        """Value for ``ApplicationBuilder().base_file_url()``."""
        return f"{self.base_url}/file/bot"

    @property
    def beacon_url(self) -> str:
        """Base URL of the sandbox's test randomness beacon."""
        return f"{self.base_url}/beacon"

    @property
    def stripe_api_base(self) -> str:
        """Value for ``StripeClient(base_addresses={"api": ...})``."""
        return self.base_url

    # ------------------------------------------------------------------ users & updates
    def user(
        self,
        user_id: int,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> VirtualUser:
        """Create (or return the existing) virtual user; its private chat becomes known."""
        existing = self._users.get(user_id)
        if existing is not None:
            return existing
        user = VirtualUser(self.telegram, user_id, first_name, last_name, username, language_code)
        self._users[user_id] = self.telegram.users[user_id] = user
        return user

    @property
    def users(self) -> dict[int, VirtualUser]:
        """All virtual users by id."""
        return self._users

    def redeliver(self, update_id: int | None = None) -> int:
        """Deliver an already-emitted update again (None = the last one); returns its id."""
        return self.telegram.redeliver(update_id)

    def pending_updates(self) -> int:
        """Updates not yet confirmed by the bot's getUpdates offset (or its webhook)."""
        return self.telegram.pending_updates()

    # ------------------------------------------------------------------ webhook delivery
    def balance(self, origin: str, backends: list[str]) -> None:
        """Let the load balancer serve ``origin`` (e.g. ``https://tickets.example.org``, the
        host of the bot's webhook URL) from the workers at ``backends`` (``http://host:port``),
        round robin (see :mod:`bot.sandbox.webhook`)."""
        self.telegram.balancer.set_backends(origin, backends)
        self.telegram.webhook.wake()

    @property
    def webhook(self) -> WebhookDelivery:
        """Webhook delivery: its state, counters and retry timing (tests may tune them)."""
        return self.telegram.webhook

    @property
    def balancer(self) -> LoadBalancer:
        """The load balancer in front of the workers."""
        return self.telegram.balancer

    # ------------------------------------------------------------------ observability
    @property
    def sent_messages_count(self) -> int:
        """Messages the bot successfully sent (sendMessage/Photo/Document/Invoice)."""
        return self.telegram.sent_messages_count

    @property
    def rate_limited_count(self) -> int:
        """429 answers given to the bot."""
        return self.telegram.rate_limited_count

    @property
    def method_calls(self) -> Counter[str]:
        """Bot API calls by lower-cased method name."""
        return self.telegram.method_calls

    @property
    def bot_errors(self) -> list[BotError]:
        """4xx answers given to the bot, except 429 and injected faults."""
        return self.telegram.bot_errors

    def set_rate_limit(
        self,
        global_per_s: float | None,
        per_chat_per_s: float | None = None,
        burst_per_chat: int | None = None,
    ) -> None:
        """Change the flood limits (None = unlimited / off; ``burst_per_chat`` None = keep)."""
        self.telegram.rate_limit_global = global_per_s
        self.telegram.rate_limit_per_chat = per_chat_per_s
        if burst_per_chat is not None:
            self.telegram.burst_per_chat = burst_per_chat

    @property
    def send_times(self) -> list[tuple[float, int]]:
        """(arrival, chat) of every send and edit the flood limits counted and let through."""
        return self.telegram.send_times

    def busiest_second(self) -> int:
        """The most sends and edits that arrived within any sliding second."""
        times = sorted(at for at, _ in self.telegram.send_times)
        most, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            most = max(most, end - start + 1)
        return most

    @property
    def rate_limited_chats(self) -> Counter[int]:
        """429 answers by chat."""
        return self.telegram.rate_limited_chats
