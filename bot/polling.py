"""Long polling that confirms an update to Telegram only after it has been handled.

python-telegram-bot's ``Updater`` asks for the next batch (``getUpdates`` with
``offset = last id + 1``) as soon as it has queued the previous one, which tells Telegram to
forget those updates before any handler ran. A crash in that window loses them for good: a
``successful_payment`` lost this way is money taken with no ticket and no refund.

:class:`ProcessThenAckPoller` keeps the offset at the oldest update still being handled, so a
crash makes Telegram deliver it again to the next process (handlers are idempotent: payments
are unique by charge id, scans by nonce). Updates run concurrently, as with
``concurrent_updates``; ones already handed out are skipped when Telegram repeats them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from telegram import Update
from telegram.error import InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application

log = logging.getLogger(__name__)


class ProcessThenAckPoller:
    """Fetches updates, runs them through the Application, confirms them when done."""

    def __init__(self, app: Application[Any, Any, Any, Any, Any, Any], *, timeout: int,
                 concurrency: int = 64, max_backoff: float = 30.0) -> None:
        self._app = app
        self._timeout = timeout
        self._slots = asyncio.Semaphore(concurrency)
        self._max_backoff = max_backoff
        self._next: int | None = None  # one past the highest update id handed out
        self._in_flight: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    def _offset(self) -> int | None:
        return min(self._in_flight) if self._in_flight else self._next

    async def start(self) -> None:
        """Remove any webhook (as the Updater does) and start polling in the background."""
        await self._app.bot.delete_webhook(drop_pending_updates=False)
        self._task = asyncio.create_task(self._run(), name="ticketq-polling")

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop fetching, let updates in hand finish, then confirm them."""
        if self._task is None:
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("polling had stopped with an error")
        self._task = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        offset = self._offset()
        if offset is not None:
            with contextlib.suppress(TelegramError):
                await self._app.bot.get_updates(offset=offset, timeout=0, limit=1)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                updates = await self._app.bot.get_updates(
                    offset=self._offset(), timeout=self._timeout,
                    allowed_updates=Update.ALL_TYPES, read_timeout=self._timeout + 10)
            except InvalidToken:
                log.error("the Bot API refused the token; polling stops")
                raise
            except RetryAfter as exc:
                await asyncio.sleep(float(exc.retry_after if isinstance(exc.retry_after, int)
                                          else exc.retry_after.total_seconds()))
                continue
            except TelegramError as exc:
                failures += 1
                delay = min(self._max_backoff, 0.5 * 2 ** min(failures, 8))
                log.warning("getUpdates failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            fresh = [u for u in updates
                     if self._next is None or u.update_id >= self._next]
            for update in fresh:
                self._next = max(self._next or 0, update.update_id + 1)
                self._in_flight.add(update.update_id)
                await self._slots.acquire()
                task = asyncio.create_task(self._handle(update))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if updates and not fresh:
                # Only updates still being handled came back: don't spin on them.
                await asyncio.sleep(0.05)

    async def _handle(self, update: Update) -> None:
        try:
            await self._app.process_update(update)
        except Exception:
            log.exception("update %s could not be processed", update.update_id)
        finally:
            self._in_flight.discard(update.update_id)
            self._slots.release()
