"""Long polling with a durable inbox: an update is acknowledged only once it is stored.

python-telegram-bot's ``Updater`` confirms a batch (the next ``getUpdates`` carries
``offset = last id + 1``) as soon as it has queued it, before any handler ran. A crash in that
window loses the updates for good; a lost ``successful_payment`` is money taken with no ticket
and no refund.

:class:`InboxPoller` stores each fetched batch in the ``inbox`` table in one transaction
before asking for the next one (which acknowledges it), handles the updates concurrently, and
deletes them once handled. At start-up, whatever a crash left in the inbox is handled first.
Handlers are idempotent (payments are unique by charge id, scans by nonce), so an update
replayed after a crash between handling and deleting changes nothing twice.

Payments (pre-checkout queries and successful payments) never wait behind a crowd's taps:
Telegram drops a pre-checkout query not answered within 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from telegram import Update
from telegram.error import InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application

from bot.sending import spawn_in_turn
from bot.storage.inbox_store import SqlInbox
from core.clock import Clock

log = logging.getLogger(__name__)


class InboxPoller:
    """Fetches updates, stores them, runs them through the Application, forgets them."""

    def __init__(self, app: Application[Any, Any, Any, Any, Any, Any], inbox: SqlInbox,
                 clock: Clock, *, timeout: int, concurrency: int = 64,
                 max_backoff: float = 30.0, backlog: int = 2000,
                 flush_every: float = 0.2) -> None:
        self._app = app
        self._inbox = inbox
        self._clock = clock
        self._timeout = timeout
        self._slots = asyncio.Semaphore(concurrency)
        self._max_backoff = max_backoff
        self._backlog = backlog
        self._flush_every = flush_every
        self._next: int | None = None  # one past the highest update id stored
        self._in_hand: set[int] = set()
        self._done: list[int] = []
        self._room = asyncio.Event()
        self._room.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._fetcher: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Remove any webhook, replay what a crash left behind, then poll in the background."""
        await self._app.bot.delete_webhook(drop_pending_updates=False)
        leftovers = await self._inbox.pending()
        if leftovers:
            log.info("replaying %d update(s) left unhandled by the previous run",
                     len(leftovers))
        for data in leftovers:
            update = Update.de_json(data, self._app.bot)
            if update is not None:
                self._next = max(self._next or 0, update.update_id + 1)
                self._dispatch(update)
        self._fetcher = asyncio.create_task(self._fetch(), name="ticketq-polling")
        self._flusher = asyncio.create_task(self._flush_loop(), name="ticketq-inbox-flush")

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop fetching, let updates in hand finish, forget them, acknowledge the rest."""
        for task in (self._fetcher, self._flusher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._fetcher = self._flusher = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        with contextlib.suppress(Exception):
            await self._flush()
        if self._next is not None:  # everything fetched is stored: safe to acknowledge
            with contextlib.suppress(TelegramError):
                await self._app.bot.get_updates(offset=self._next, timeout=0, limit=1)

    def _dispatch(self, update: Update) -> None:
        if update.update_id in self._in_hand:
            return
        self._in_hand.add(update.update_id)
        if len(self._in_hand) >= self._backlog:
            self._room.clear()
        # In its chat's turn: replies keep the order of the updates (bot.sending).
        task = spawn_in_turn(self._app.bot, update,
                             self._handle(update, urgent=_is_payment(update)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fetch(self) -> None:
        failures = 0
        while True:
            await self._room.wait()  # enough in hand: let Telegram keep the rest for now
            try:
                updates = await self._app.bot.get_updates(
                    offset=self._next, timeout=self._timeout,
                    allowed_updates=Update.ALL_TYPES, read_timeout=self._timeout + 10)
                fresh = [u for u in updates if self._next is None or u.update_id >= self._next]
                # Stored before the next getUpdates acknowledges them.
                await self._inbox.store([u.to_dict() for u in fresh], now=self._clock.now())
            except InvalidToken:
                log.error("the Bot API refused the token; polling stops")
                raise
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
                continue
            except Exception as exc:  # Bot API or database trouble: back off, refetch
                failures += 1
                delay = min(self._max_backoff, 0.5 * 2 ** min(failures, 8))
                log.warning("fetching updates failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            for update in fresh:
                self._next = max(self._next or 0, update.update_id + 1)
                self._dispatch(update)

    async def _handle(self, update: Update, *, urgent: bool) -> None:
        try:
            if urgent:
                await self._app.process_update(update)
            else:
                async with self._slots:
                    await self._app.process_update(update)
        except Exception:
            log.exception("update %s could not be processed", update.update_id)
        finally:
            self._done.append(update.update_id)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_every)
            try:
                await self._flush()
            except Exception:
                log.warning("could not clear handled updates from the inbox; retrying",
                            exc_info=True)

    async def _flush(self) -> None:
        done, self._done = self._done, []
        try:
            await self._inbox.forget(done)
        except Exception:
            self._done.extend(done)
            raise
        self._in_hand.difference_update(done)
        if len(self._in_hand) < self._backlog:
            self._room.set()


def _seconds(value: Any) -> float:
    return float(value.total_seconds() if hasattr(value, "total_seconds") else value)


def _is_payment(update: Update) -> bool:
    """A pre-checkout query or a successful payment."""
    message = update.message
    return update.pre_checkout_query is not None or (
        message is not None and message.successful_payment is not None)
