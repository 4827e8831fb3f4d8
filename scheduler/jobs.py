"""APScheduler jobs. The database is the truth: every job reloads state from it, so nothing
is lost when the bot restarts, and a lottery whose close or draw time passed while the bot was
down is handled by the first tick after start-up (misfires are never skipped).

Several workers on one PostgreSQL database: every worker builds the same scheduler, but the
jobs that change state (close, draw, reminders, hold screens, reconciliation) run only on the
leader (``runtime.is_leader``, :mod:`bot.leader`); the others skip their ticks until they
lead. Draining the outbox runs on every worker."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

JOB_DEFAULTS = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}
LOTTERY_TICK_SECONDS = 1.0
# How often holds whose deadline passed get their message edited ("expired", no Cancel).
HOLD_SCREENS_SECONDS = 10.0
# How often lapsed waiting-list offers pass to the next person in line.
WAITLIST_SECONDS = 10.0


def build_scheduler(runtime: Any, *, tick_seconds: float = LOTTERY_TICK_SECONDS,
                    reconcile_every: float = 600.0) -> AsyncIOScheduler:
    """A scheduler with TicketQ's jobs, keyed by deterministic ids.

    * ``lottery:tick`` closes entries and runs draws that are due (state transitions are
      idempotent: a repeated or late tick changes nothing twice);
    * ``reminders`` queues the 24 h / 2 h reminders that are due (each once, ever);
    * ``holds:screens`` edits the message of every hold that expired (or was replaced by a
      newer hold) to say so and drop its Cancel button, once per hold;
    * ``waitlist:offers`` lapses waiting-list offers not paid in time and offers the seats
      to the next person in line (each lapse and offer once);
    * ``outbox:wake`` nudges the outbox worker for retries that became due;
    * ``reconcile:charges`` matches Stripe's charges to payments and refunds, exactly once,
      a charge nothing explains after the grace period (``bot.reconcile``). Its first pass
      waits until the poller has caught up with Telegram's backlog: after downtime, the
      successful_payment updates Telegram kept must reach the inbox before their charges
      are judged.

    Args:
        runtime: the :class:`bot.app.TicketQRuntime` whose services the jobs call.
        tick_seconds: seconds between lottery checks.
        reconcile_every: seconds between reconciliation passes.
    """
    scheduler = AsyncIOScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")

    def leading() -> bool:
        return bool(getattr(runtime, "is_leader", True))

    async def lottery_tick() -> None:
        if not leading():
            return
        started = time.perf_counter()
        try:
            drawn = await runtime.services.lottery.run_due()
        except Exception:
            log.exception("lottery tick failed; the next tick retries")
            return
        if drawn:
            observe = getattr(runtime, "observe", None)
            if observe is not None:
                observe("draw", (time.perf_counter() - started) / len(drawn))
            runtime.worker.wake()

    scheduler.add_job(lottery_tick, "interval", seconds=tick_seconds, id="lottery:tick",
                      replace_existing=True, next_run_time=datetime.now(UTC))
    async def reminders() -> None:
        if not leading():
            return
        try:
            if await runtime.services.organizer.send_due_reminders():
                runtime.worker.wake()
        except Exception:
            log.exception("reminder job failed; the next run retries")

    scheduler.add_job(reminders, "interval", seconds=60, id="reminders",
                      replace_existing=True, next_run_time=datetime.now(UTC))
    async def hold_screens() -> None:
        if not leading():
            return
        try:
            if await runtime.services.purchase.close_stale_screens():
                runtime.worker.wake()
        except Exception:
            log.exception("hold screen job failed; the next run retries")

    scheduler.add_job(hold_screens, "interval", seconds=HOLD_SCREENS_SECONDS,
                      id="holds:screens", replace_existing=True)

    async def waitlist_offers() -> None:
        try:
            if await runtime.services.returns.sweep():
                runtime.worker.wake()
        except Exception:
            log.exception("waiting-list job failed; the next run retries")

    scheduler.add_job(waitlist_offers, "interval", seconds=WAITLIST_SECONDS,
                      id="waitlist:offers", replace_existing=True)
    scheduler.add_job(runtime.worker.wake, "interval", seconds=5, id="outbox:wake",
                      replace_existing=True)

    async def reconcile() -> None:
        reconciler = getattr(runtime, "reconciler", None)
        poller = getattr(runtime, "poller", None)
        if reconciler is None or not leading():
            return
        if poller is not None and not poller.caught_up.is_set():
            log.info("reconciliation waits until Telegram's backlog is in the inbox")
            return
        try:
            await reconciler.run_once()
        except Exception:
            log.exception("reconciliation against Stripe failed; the next run retries")

    scheduler.add_job(reconcile, "interval", seconds=reconcile_every, id="reconcile:charges",
                      replace_existing=True,
                      next_run_time=datetime.now(UTC) + timedelta(seconds=min(30.0,
                                                                              reconcile_every)))
    return scheduler
