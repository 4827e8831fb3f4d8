"""Assembly: settings -> database, services, PTB Application, outbox worker, scheduler.

:class:`TicketQRuntime` is used the same way by ``ticketq run``, ``ticketq demo``, the
end-to-end tests and the benchmarks: ``await runtime.start()`` ... ``await runtime.stop()``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from telegram import BotCommand, Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes

import handlers
from bot import metrics
from bot.beacon import HttpBeacon
from bot.config import Settings
from bot.inbox_worker import InboxWorker, default_worker_id
from bot.leader import LeaderElection
from bot.messenger import TelegramMessenger
from bot.payments.stripe_charges import StripeChargeLedger
from bot.payments.stripe_refunds import StripeRefundGateway
from bot.polling import InboxPoller, RetryPolicy
from bot.reconcile import ChargeReconciler
from bot.sending import SendingPath
from bot.storage.database import SqlDatabase
from bot.storage.inbox_store import SqlInbox
from bot.storage.migrate import upgrade_to_head
from bot.storage.ops_store import OperationsStore
from bot.storage.outbox_store import SqlOutboxStore
from bot.storage.send_budget import SharedSendBudget
from bot.web.miniapp.routes import PREFIX as MINIAPP_PREFIX
from bot.web.miniapp.routes import MiniApp
from bot.web.ops import Operations, ops_routes
from bot.web.server import Mount, WebServer
from bot.web.webhook import webhook_routes
from core.access.service import AccessService
from core.catalog.service import CatalogService
from core.door.service import CheckinService
from core.kernel import outbox
from core.kernel.clock import Clock, SystemClock
from core.kernel.errors import DomainError
from core.kernel.ports import OutboxItem
from core.language.service import LanguageService
from core.lottery.groups import GroupService
from core.lottery.ports import Beacon
from core.lottery.service import LotteryService
from core.organizer.admin import AdminService
from core.organizer.editor import EventWizardService
from core.organizer.service import OrganizerService
from core.payments.ports import RefundGateway
from core.payments.refunds import RefundService
from core.returns.service import ResaleSettlement, ReturnsService
from core.sales.service import PurchaseService
from core.tickets.service import TicketService
from core.transfers.service import TransferService
from core.unit_of_work import Database
from handlers import delivery, i18n, notices
from handlers.context import Services, TicketQContext
from handlers.texts import error_text, plain, spec_issue_text
from scheduler.jobs import build_scheduler
from scheduler.outbox_worker import OutboxWorker

log = logging.getLogger(__name__)


@dataclass
class TicketQRuntime:
    """A running (or ready to run) TicketQ bot."""

    settings: Settings
    db: SqlDatabase
    application: Application[Any, Any, Any, Any, Any, Any]
    services: Services
    refunds: RefundService
    worker: OutboxWorker
    clock: Clock
    reconciler: ChargeReconciler | None = field(default=None)
    election: LeaderElection | None = field(default=None)
    # The Mini App's routes, served on the HTTP server when TICKETQ_HTTP_PORT is set.
    mini_app: Mount | None = field(default=None)
    _polling: bool = field(default=False)
    _poller: InboxPoller | None = field(default=None)
    # Webhook mode and several workers (bot.inbox_worker, bot.web).
    inbox_worker: InboxWorker | None = field(default=None)
    web: WebServer | None = field(default=None)
    worker_id: str = field(default_factory=default_worker_id)
    # Whether this process runs the scheduler now (None: no election), for /healthz.
    leader: Callable[[], bool | None] = field(default=lambda: None)

    async def start(self, *, poll_timeout: float = 10.0, webhook_url: str | None = None,
                    worker_lease: float | None = None) -> None:
        """Connect to the Bot API, take updates (long polling, or the webhook when
        ``webhook_url`` or ``TICKETQ_WEBHOOK_URL`` is set), start the outbox worker and the
        scheduler."""
        webhook_url = webhook_url or self.settings.webhook_url
        if webhook_url:
            self.settings.require_webhook()
        app = self.application
        await app.initialize()
        self.services.bot_username = app.bot.username
        # Same Bot, so the outbox shares the application's one sending path (bot.sending).
        messenger = TelegramMessenger(
            bot=app.bot, tickets=self.services.tickets, bot_username=app.bot.username,
            look=notices.LOOK,
            language_of=self.services.languages.of if self.services.languages else None)
        self._wire_effects(messenger)
        await register_profile(app.bot)
        policy = RetryPolicy(payment_window=self.settings.payment_retry_minutes * 60)
        inbox = SqlInbox(self.db)
        await app.start()
        if webhook_url:
            await self._start_webhook(webhook_url, inbox, policy, worker_lease)
        else:
            # Not PTB's Updater: it confirms updates before they are stored (bot.polling).
            self._poller = InboxPoller(app, inbox, self.clock, timeout=int(poll_timeout),
                                       policy=policy, delivering=delivery.delivering)
            await self._poller.start()
            self._polling = True
            if self.settings.http_port is not None:  # /healthz, /metrics, the Mini App
                await self._start_web(inbox, "polling", [])
        self.worker.start()
        if self.election is not None:
            await self.election.start()
        self.scheduler = build_scheduler(
            self, reconcile_every=self.settings.reconcile_every_seconds)
        self.scheduler.start()
        log.info("TicketQ running as @%s", app.bot.username)

    async def start_without_updates(self) -> None:
        """Start everything but the intake of updates: the outbox worker, the leader election
        and the scheduler (a worker that only sends and schedules: the multi-worker tests
        and the scale-out benchmark's extra processes). :meth:`stop` stops it."""
        app = self.application
        await app.initialize()
        self.services.bot_username = app.bot.username
        self._wire_effects(TelegramMessenger(
            bot=app.bot, tickets=self.services.tickets, bot_username=app.bot.username,
            look=notices.LOOK))
        await app.start()
        self.worker.start()
        if self.election is not None:
            await self.election.start()
        self.scheduler = build_scheduler(
            self, reconcile_every=self.settings.reconcile_every_seconds)
        self.scheduler.start()

    async def _start_web(self, inbox: SqlInbox, mode: str, mounts: list[Mount]) -> None:
        assert self.settings.http_port is not None
        self.web = WebServer(self.settings.http_host, self.settings.http_port)
        ops = Operations(inbox=inbox, store=OperationsStore(self.db), clock=self.clock,
                         worker=self.worker_id, mode=mode, leader=lambda: self.leader())
        self.web.mount(ops_routes(ops))
        for mount in [*mounts, *([self.mini_app] if self.mini_app else [])]:
            self.web.mount(mount)
        await self.web.start()

    async def _start_webhook(self, url: str, inbox: SqlInbox, policy: RetryPolicy,
                             lease: float | None) -> None:
        """Claim from the shared inbox, serve the webhook, then tell Telegram where it is.

        Every worker calls setWebhook with the same URL (the reverse proxy's); the last
        call wins and changes nothing. Stopping a worker leaves the webhook set: the others
        go on receiving.
        """
        app = self.application
        settings = self.settings
        assert settings.webhook_secret is not None
        secret = settings.webhook_secret.get_secret_value()
        worker = self.inbox_worker = InboxWorker(
            app, inbox, self.clock, worker_id=self.worker_id, policy=policy,
            delivering=delivery.delivering, lease=lease or settings.inbox_lease_seconds)
        await worker.start()
        path = urlsplit(url).path or "/"
        await self._start_web(inbox, "webhook", [webhook_routes(
            path, secret=secret, inbox=inbox, clock=self.clock, stored=worker.wake)])
        await app.bot.set_webhook(url, secret_token=secret,
                                  max_connections=settings.webhook_max_connections,
                                  allowed_updates=list(Update.ALL_TYPES),
                                  drop_pending_updates=False)
        log.info("webhook mode: worker %s serves %s on %s", self.worker_id, path,
                 self.web.base_url if self.web else "-")

    async def stop(self) -> None:
        """Stop everything in reverse order and close the database."""
        if self.web is not None:  # no new updates here: the proxy sends them elsewhere
            await self.web.stop()
        if self.inbox_worker is not None:
            await self.inbox_worker.stop()
        if getattr(self, "scheduler", None) is not None:
            self.scheduler.shutdown(wait=False)
        if self.election is not None:
            await self.election.stop()
        await self.worker.stop()
        app = self.application
        if self._polling and self._poller is not None:
            await self._poller.stop()
            self._polling = False
        if app.running:
            await app.stop()
        await app.shutdown()
        await self.db.dispose()

    def observe(self, what: str, seconds: float) -> None:
        """The scheduler's durations ("draw") into /metrics (bot.metrics)."""
        if what == "draw":
            metrics.DRAW_SECONDS.observe(seconds)
        elif what == "settlement":
            metrics.SETTLEMENT_SECONDS.observe(seconds)

    @property
    def is_leader(self) -> bool:
        """True if this worker runs the scheduler's jobs (for /healthz; see bot.leader)."""
        return self.election is None or self.election.is_leader

    @property
    def poller(self) -> InboxPoller | None:
        """The inbox poller, once started."""
        return self._poller

    def _wire_effects(self, messenger: TelegramMessenger) -> None:
        async def send_message(item: OutboxItem) -> None:
            assert item.chat_id is not None
            await messenger.send_message(item.chat_id, item.payload["key"],
                                         item.payload.get("params", {}))

        async def send_ticket(item: OutboxItem) -> None:
            assert item.chat_id is not None
            await messenger.send_ticket(item.chat_id, int(item.payload["ticket_id"]))

        async def edit_screen(item: OutboxItem) -> None:
            assert item.chat_id is not None
            payload = item.payload
            await messenger.edit_message(item.chat_id, int(payload["message_id"]),
                                         payload["key"], payload.get("params", {}),
                                         payload.get("buttons"))

        async def send_invoice(item: OutboxItem) -> None:
            assert item.chat_id is not None
            await messenger.send_invoice(item.chat_id, item.payload,
                                         provider_token=self.services.provider_token)

        async def refund(item: OutboxItem) -> None:
            await self.refunds.execute(int(item.payload["refund_id"]))

        async def settle_losers(item: OutboxItem) -> None:
            # One batch; a full batch queued the next one in its transaction.
            if await self.services.lottery.settle_losers(int(item.payload["event_id"])):
                self.worker.wake()

        async def refund_give_up(item: OutboxItem, error: str) -> None:
            await self.refunds.give_up(int(item.payload["refund_id"]), error)

        self.worker.set_effects(
            {outbox.MESSAGE: send_message, outbox.TICKET: send_ticket, outbox.REFUND: refund,
             outbox.EDIT: edit_screen, outbox.INVOICE: send_invoice,
             outbox.REFUND_LOSERS: settle_losers},
            give_up={outbox.REFUND: refund_give_up},
        )


def _phone_key(settings: Settings) -> bytes:
    """The phone-hash key: configured, or derived from the bot token (stable per bot)."""
    if settings.phone_hash_key is not None:
        return settings.phone_hash_key.get_secret_value().encode()
    return hashlib.sha256(b"ticketq-phone-hash|" + settings.secret("bot_token").encode()
                          ).digest()


def sending_path_for(settings: Settings, db: SqlDatabase | None = None) -> SendingPath:
    """The process's one sending path (pacing, order, retries of every Bot API call); on
    PostgreSQL its limits are shared with every other worker of the database."""
    shared = None
    if db is not None and db.dialect == "postgresql":
        shared = SharedSendBudget(db.engine, rate_global=settings.send_rate,
                                  rate_per_chat=settings.send_rate_per_chat,
                                  burst_per_chat=settings.send_burst_per_chat)
    return SendingPath(rate_global=settings.send_rate, rate_per_chat=settings.send_rate_per_chat,
                       burst_per_chat=settings.send_burst_per_chat,
                       reply_give_up=settings.reply_give_up_seconds,
                       before_waiting=delivery.waiting_hook, shared=shared)


async def register_profile(bot: Any) -> None:
    """The command menu and the bot's descriptions, once per language: Telegram shows a
    user the ones of their ``language_code``, and the default (English) to everyone else
    (``setMyCommands``, ``setMyDescription``, ``setMyShortDescription``)."""
    for code, profile in handlers.bot_profiles().items():
        language = {} if code == i18n.DEFAULT else {"language_code": code}
        await bot.set_my_commands([BotCommand(c, d) for c, d in profile.commands], **language)
        await bot.set_my_description(description=profile.description, **language)
        await bot.set_my_short_description(short_description=profile.short_description,
                                           **language)


def build_services(db: Database, clock: Clock, *, admin_ids: frozenset[int],
                   hold_minutes: int = 10, beacon: Beacon | None = None,
                   phone_key: bytes = b"", provider_token: str = "",
                   wake_outbox: Callable[[], None] | None = None,
                   loser_batch: int | None = None) -> Services:
    """The use cases, wired to each other: the one place that builds core's services.

    The bot (:func:`build_runtime`), the command line, the demos, the benchmarks and the
    tests all get their services here.
    """
    lottery = LotteryService(db, clock, beacon, phone_key=phone_key,
                             **({"loser_batch": loser_batch} if loser_batch else {}))
    access = AccessService(db, clock, admin_ids)
    services = Services(
        catalog=CatalogService(db, clock),
        purchase=PurchaseService(db, clock, hold_minutes=hold_minutes, lottery=lottery,
                                 resales=ResaleSettlement()),
        tickets=TicketService(db, clock),
        admin=AdminService(db, clock, access),
        lottery=lottery,
        access=access,
        organizer=OrganizerService(db, clock, access, lottery),
        checkin=CheckinService(db, clock, access),
        wizard=EventWizardService(db, clock, access),
        returns=ReturnsService(db, clock),
        groups=GroupService(db, clock),
        clock=clock,
        transfers=TransferService(db, clock),
        provider_token=provider_token,
        languages=LanguageService(db, clock, i18n.supported(), i18n.DEFAULT),
    )
    if wake_outbox is not None:
        services.wake_outbox = wake_outbox
    return services


def beacon_for(settings: Settings) -> HttpBeacon | None:
    """The public randomness beacon mixed into draws, if one is configured."""
    return HttpBeacon(settings.beacon_url) if settings.beacon_url else None


def charge_reconciler(settings: Settings, db: SqlDatabase, clock: Clock, *,
                      wake_outbox: Callable[[], None] | None = None) -> ChargeReconciler:
    """Matches Stripe's charges to payments (``ticketq reconcile`` and the scheduler)."""
    return ChargeReconciler(
        db, StripeChargeLedger(settings.secret("stripe_secret_key"),
                               api_base=settings.stripe_api_base),
        clock, grace=timedelta(minutes=settings.reconcile_grace_minutes),
        lookback=timedelta(hours=settings.reconcile_lookback_hours),
        admin_ids=settings.admin_ids, refund=settings.reconcile_refunds,
        **({"wake_outbox": wake_outbox} if wake_outbox is not None else {}))


def console_text(error: DomainError) -> str:
    """A domain error as the command line prints it (plain text from handlers' catalogue)."""
    return plain(error_text(error))


def console_spec_issues(error: DomainError) -> list[str]:
    """One plain line per problem of an ``invalid_event_spec`` error."""
    return [spec_issue_text(issue, plain=True) for issue in error.params["issues"]]


async def build_runtime(settings: Settings, *, clock: Clock | None = None,
                        refund_gateway: RefundGateway | None = None,
                        migrate: bool = True) -> TicketQRuntime:
    """Build (but do not start) the bot from settings; migrates the database first."""
    settings.require_bot_secrets()
    clock = clock or SystemClock()
    db = SqlDatabase(settings.database_url, pool_size=settings.database_pool_size)
    if migrate:
        await upgrade_to_head(db)
    gateway = refund_gateway or StripeRefundGateway(
        settings.secret("stripe_secret_key"), api_base=settings.stripe_api_base)
    refunds = RefundService(db, gateway, clock)
    # PostgreSQL: any number of workers share the outbox (claims with leases) and elect one
    # scheduler leader; SQLite: one process, the old single-worker claims, always leader.
    worker_id = settings.worker_id or default_worker_id()
    several = db.dialect == "postgresql"
    lease = settings.outbox_lease_seconds
    # Several workers claim what the shared budget lets them send in about two seconds, so
    # one worker does not take a whole fan-out while the others idle.
    batch = max(10, int(settings.send_rate * 2)) if several else 200
    worker = OutboxWorker(
        SqlOutboxStore(db, worker_id=worker_id if several else None, lease=lease), {}, clock,
        batch_size=batch, renew_every=max(1.0, lease / 4))
    election = LeaderElection(settings.database_url,
                              retry_every=settings.leader_retry_seconds)
    services = build_services(
        db, clock, admin_ids=settings.admin_ids, hold_minutes=settings.hold_minutes,
        beacon=beacon_for(settings), phone_key=_phone_key(settings),
        provider_token=settings.secret("payment_provider_token"), wake_outbox=worker.wake,
        loser_batch=settings.loser_refund_batch)
    builder = (
        ApplicationBuilder()
        .token(settings.secret("bot_token"))
        .context_types(ContextTypes(context=TicketQContext))
        .concurrent_updates(64)
        .connection_pool_size(64)
        .get_updates_read_timeout(30)
        .rate_limiter(sending_path_for(settings, db))
    )
    if settings.bot_api_url:
        builder = builder.base_url(settings.bot_api_url)
    if settings.bot_file_url:
        builder = builder.base_file_url(settings.bot_file_url)
    reconciler = charge_reconciler(settings, db, clock, wake_outbox=worker.wake)
    application = builder.build()
    application.bot_data["services"] = services
    handlers.register(application)
    mini_app = mini_app_mount(settings, services, clock)
    return TicketQRuntime(settings=settings, db=db, application=application,
                          services=services, refunds=refunds, worker=worker, clock=clock,
                          reconciler=reconciler, election=election, worker_id=worker_id,
                          leader=lambda: election.is_leader, mini_app=mini_app)


def mini_app_mount(settings: Settings, services: Services, clock: Clock) -> Mount | None:
    """The Mini App's routes, when ``TICKETQ_HTTP_PORT`` is set (they share the HTTP server
    with the webhook and /healthz); its buttons appear in the chat when
    ``TICKETQ_PUBLIC_URL`` says where Telegram reaches it."""
    if settings.http_port is None:
        return None
    if settings.public_url:
        services.miniapp_url = settings.public_url.rstrip("/") + MINIAPP_PREFIX
    return MiniApp(checkin=services.checkin, organizer=services.organizer, clock=clock,
                   bot_token=settings.secret("bot_token"),
                   max_age=settings.miniapp_auth_max_age,
                   bot_username=lambda: services.bot_username).mount
