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

from telegram import BotCommand
from telegram.ext import Application, ApplicationBuilder, ContextTypes

import handlers
from bot.beacon import HttpBeacon
from bot.config import Settings
from bot.messenger import TelegramMessenger
from bot.payments.stripe_charges import StripeChargeLedger
from bot.payments.stripe_refunds import StripeRefundGateway
from bot.polling import InboxPoller, RetryPolicy
from bot.reconcile import ChargeReconciler
from bot.sending import SendingPath
from bot.storage.database import SqlDatabase
from bot.storage.inbox_store import SqlInbox
from bot.storage.migrate import upgrade_to_head
from bot.storage.outbox_store import SqlOutboxStore
from core.access.service import AccessService
from core.catalog.service import CatalogService
from core.door.service import CheckinService
from core.kernel import outbox
from core.kernel.clock import Clock, SystemClock
from core.kernel.errors import DomainError
from core.kernel.ports import OutboxItem
from core.lottery.ports import Beacon
from core.lottery.service import LotteryService
from core.organizer.admin import AdminService
from core.organizer.editor import EventWizardService
from core.organizer.service import OrganizerService
from core.payments.ports import RefundGateway
from core.payments.refunds import RefundService
from core.sales.service import PurchaseService
from core.tickets.service import TicketService
from core.unit_of_work import Database
from handlers import delivery, notices
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
    _polling: bool = field(default=False)
    _poller: InboxPoller | None = field(default=None)

    async def start(self, *, poll_timeout: float = 10.0) -> None:
        """Connect to the Bot API, start polling, the outbox worker and the scheduler."""
        app = self.application
        await app.initialize()
        self.services.bot_username = app.bot.username
        # Same Bot, so the outbox shares the application's one sending path (bot.sending).
        messenger = TelegramMessenger(
            bot=app.bot, tickets=self.services.tickets, bot_username=app.bot.username,
            look=notices.LOOK)
        self._wire_effects(messenger)
        await app.bot.set_my_commands([BotCommand(c, d) for c, d in handlers.BOT_COMMANDS])
        # Not PTB's Updater: it confirms updates before they are stored (see bot.polling).
        self._poller = InboxPoller(
            app, SqlInbox(self.db), self.clock, timeout=int(poll_timeout),
            policy=RetryPolicy(payment_window=self.settings.payment_retry_minutes * 60),
            delivering=delivery.delivering)
        await app.start()
        await self._poller.start()
        self._polling = True
        self.worker.start()
        self.scheduler = build_scheduler(
            self, reconcile_every=self.settings.reconcile_every_seconds)
        self.scheduler.start()
        log.info("TicketQ running as @%s", app.bot.username)

    async def stop(self) -> None:
        """Stop everything in reverse order and close the database."""
        if getattr(self, "scheduler", None) is not None:
            self.scheduler.shutdown(wait=False)
        await self.worker.stop()
        app = self.application
        if self._polling and self._poller is not None:
            await self._poller.stop()
            self._polling = False
        if app.running:
            await app.stop()
        await app.shutdown()
        await self.db.dispose()

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
             outbox.EDIT: edit_screen, outbox.REFUND_LOSERS: settle_losers},
            give_up={outbox.REFUND: refund_give_up},
        )


def _phone_key(settings: Settings) -> bytes:
    """The phone-hash key: configured, or derived from the bot token (stable per bot)."""
    if settings.phone_hash_key is not None:
        return settings.phone_hash_key.get_secret_value().encode()
    return hashlib.sha256(b"ticketq-phone-hash|" + settings.secret("bot_token").encode()
                          ).digest()


def sending_path_for(settings: Settings) -> SendingPath:
    """The process's one sending path (pacing, order, retries of every Bot API call)."""
    return SendingPath(rate_global=settings.send_rate, rate_per_chat=settings.send_rate_per_chat,
                       burst_per_chat=settings.send_burst_per_chat,
                       reply_give_up=settings.reply_give_up_seconds,
                       before_waiting=delivery.waiting_hook)


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
        purchase=PurchaseService(db, clock, hold_minutes=hold_minutes, lottery=lottery),
        tickets=TicketService(db, clock),
        admin=AdminService(db, clock, access),
        lottery=lottery,
        access=access,
        organizer=OrganizerService(db, clock, access, lottery),
        checkin=CheckinService(db, clock, access),
        wizard=EventWizardService(db, clock, access),
        clock=clock,
        provider_token=provider_token,
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
    db = SqlDatabase(settings.database_url)
    if migrate:
        await upgrade_to_head(db)
    gateway = refund_gateway or StripeRefundGateway(
        settings.secret("stripe_secret_key"), api_base=settings.stripe_api_base)
    refunds = RefundService(db, gateway, clock)
    worker = OutboxWorker(SqlOutboxStore(db), {}, clock)
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
        .rate_limiter(sending_path_for(settings))
    )
    if settings.bot_api_url:
        builder = builder.base_url(settings.bot_api_url)
    if settings.bot_file_url:
        builder = builder.base_file_url(settings.bot_file_url)
    reconciler = charge_reconciler(settings, db, clock, wake_outbox=worker.wake)
    application = builder.build()
    application.bot_data["services"] = services
    handlers.register(application)
    return TicketQRuntime(settings=settings, db=db, application=application,
                          services=services, refunds=refunds, worker=worker, clock=clock,
                          reconciler=reconciler)
