"""APScheduler set-up. The database is the truth: jobs are re-armed from it at start-up, and
missed jobs run as soon as the bot is back (no misfire grace limit, coalesced)."""

from __future__ import annotations

from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

JOB_DEFAULTS = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}


def build_scheduler(runtime: Any) -> AsyncIOScheduler:
    """A scheduler with TicketQ's periodic jobs (outbox safety-net wake-up).

    Args:
        runtime: the :class:`bot.app.TicketQRuntime` whose services the jobs call.
    """
    scheduler = AsyncIOScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")
    scheduler.add_job(runtime.worker.wake, "interval", seconds=5, id="outbox:wake",
                      replace_existing=True)
    return scheduler
