"""One TicketQ worker process for the multi-worker tests: the outbox, the leader election and
the scheduler of the real runtime (``TicketQRuntime.start_without_updates``), configured
from ``TICKETQ_*`` like ``ticketq run``. Updates are not taken here (the webhook's
multi-worker intake is tested with ``ticketq run --webhook``)."""

from __future__ import annotations

import asyncio
import signal
import sys

from bot.app import build_runtime
from bot.config import load_settings
from bot.logging_setup import configure_logging


async def main() -> None:
    settings = load_settings()
    configure_logging(settings.log_level, secrets=[settings.secret("bot_token")])
    runtime = await build_runtime(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start_without_updates()
    print("worker ready", flush=True)
    try:
        await stop.wait()
    finally:
        await runtime.stop()


if __name__ == "__main__":  # pragma: no cover
    asyncio.run(main())
    sys.exit(0)
