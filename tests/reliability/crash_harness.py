"""Crash-anywhere harness: TicketQ as a real ``ticketq run`` process, killed with SIGKILL at
random points and restarted on the same database, against an in-test sandbox.

The sandbox (Telegram Bot API + Stripe emulator + beacon) lives in the test's event loop, so
virtual users, the Stripe ledger and the chats survive every crash of the bot. Only the bot
dies: whatever it had in memory is gone, whatever it committed stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.harness import SANDBOX_PROVIDER_TOKEN, SANDBOX_STRIPE_KEY, SANDBOX_TOKEN
from bot.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[2]


def crash_trials(default: int) -> int:
    """Trials per scenario and backend for the full (slow) run: ``TICKETQ_CRASH_TRIALS``."""
    return max(1, int(os.environ.get("TICKETQ_CRASH_TRIALS", default)))


def bot_env(sandbox: Sandbox, database_url: str, admin_ids: frozenset[int]) -> dict[str, str]:
    """The environment of ``ticketq run`` pointed at the sandbox (nothing inherited from the
    test's own ``TICKETQ_*`` variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETQ_")}
    env.update({
        "TICKETQ_BOT_TOKEN": SANDBOX_TOKEN,
        "TICKETQ_PAYMENT_PROVIDER_TOKEN": SANDBOX_PROVIDER_TOKEN,
        "TICKETQ_STRIPE_SECRET_KEY": SANDBOX_STRIPE_KEY,
        "TICKETQ_DATABASE_URL": database_url,
        "TICKETQ_ADMIN_IDS": ",".join(str(i) for i in sorted(admin_ids)),
        "TICKETQ_BOT_API_URL": sandbox.bot_api_base_url,
        "TICKETQ_BOT_FILE_URL": sandbox.bot_file_base_url,
        "TICKETQ_STRIPE_API_BASE": sandbox.stripe_api_base,
        "TICKETQ_BEACON_URL": sandbox.beacon_url,
        "TICKETQ_SEND_RATE": "1000",
        "TICKETQ_SEND_RATE_PER_CHAT": "100",
        "TICKETQ_LOG_LEVEL": "INFO",
        "PYTHONPATH": str(REPO),
    })
    return env


@dataclass
class BotProcess:
    """One bot: started, SIGKILLed and restarted on the same database.

    Attributes:
        starts: how many times a process was started.
        kills: how many times one was killed with SIGKILL.
    """

    sandbox: Sandbox
    database_url: str
    workdir: Path
    admin_ids: frozenset[int] = frozenset()
    starts: int = 0
    kills: int = 0
    _proc: asyncio.subprocess.Process | None = None
    _log: Path | None = None
    _baseline: int = 0

    @property
    def running(self) -> bool:
        """A process is alive."""
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        """Start ``python -m bot.cli run`` (no-op if one is running)."""
        if self.running:
            return
        self.starts += 1
        self._baseline = self.sandbox.method_calls.get("setmycommands", 0)
        self._log = self.workdir / f"bot-{self.starts:03d}.log"
        with self._log.open("wb") as out:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "run", cwd=self.workdir,
                env=bot_env(self.sandbox, self.database_url, self.admin_ids),
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out)

    async def kill(self) -> None:
        """SIGKILL: no clean-up, no finally blocks, open transactions just vanish."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
        await proc.wait()
        self.kills += 1

    async def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, the way an operator stops it; SIGKILL if it hangs."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            await self.kill()

    async def wait_ready(self, timeout: float = 20.0) -> None:
        """Until the current process polls for updates (it has connected and migrated)."""
        deadline = time.monotonic() + timeout
        while self.sandbox.method_calls.get("setmycommands", 0) <= self._baseline:
            if not self.running:
                raise RuntimeError(f"the bot exited: {self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bot did not start: {self.tail()}")
            await asyncio.sleep(0.02)

    def tail(self, lines: int = 30) -> str:
        """The end of the current process's log, for failure messages."""
        if self._log is None or not self._log.exists():
            return "(no log)"
        text = self._log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def logs(self) -> str:
        """Every process's log, concatenated."""
        return "\n".join(p.read_text(errors="replace")
                         for p in sorted(self.workdir.glob("bot-*.log")))


@dataclass
class Chaos:
    """Kills the bot at random moments and restarts it right away, until stopped.

    Each life of the bot lasts a random time between ``min_life`` and ``max_life`` seconds
    (start-up included, so some kills land while it connects or catches up on the backlog).
    """

    bot: BotProcess
    rng: random.Random
    kills: int
    min_life: float = 0.3
    max_life: float = 2.5
    kill_times: list[float] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run in the background."""
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        t0 = time.monotonic()
        for _ in range(self.kills):
            await self.bot.start()
            await asyncio.sleep(self.rng.uniform(self.min_life, self.max_life))
            await self.bot.kill()
            self.kill_times.append(round(time.monotonic() - t0, 2))
        await self.bot.start()

    async def finish(self) -> None:
        """Wait until every planned kill happened and a last bot is running."""
        if self._task is not None:
            await self._task


async def wait_until(predicate: Callable[[], Awaitable[bool]], *, timeout: float,
                     what: str, interval: float = 0.1) -> None:
    """Poll an async predicate."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached within {timeout}s: {what}")
        await asyncio.sleep(interval)
