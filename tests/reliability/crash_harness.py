"""Crash-anywhere harness: TicketQ as a real ``ticketq run`` process, killed with SIGKILL at
random points and restarted on the same database, against an in-test sandbox.

The sandbox (Telegram Bot API + Stripe emulator + beacon) lives in the test's event loop, so
virtual users, the Stripe ledger and the chats survive every crash of the bot. Only the bot
dies: whatever it had in memory is gone, whatever it committed stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.sandbox import Sandbox
from bot.sandbox.harness import SANDBOX_PROVIDER_TOKEN, SANDBOX_STRIPE_KEY, SANDBOX_TOKEN

REPO = Path(__file__).resolve().parents[2]


def crash_trials(default: int) -> int:
    """Trials per scenario and backend for the full (slow) run: ``TICKETQ_CRASH_TRIALS``."""
    return max(1, int(os.environ.get("TICKETQ_CRASH_TRIALS", default)))


def crash_throttle() -> float:
    """Share of the time the bot process is kept stopped, to behave as on a loaded machine:
    ``TICKETQ_CRASH_THROTTLE`` (0 to 0.9; 0, the default, leaves it alone)."""
    value = float(os.environ.get("TICKETQ_CRASH_THROTTLE", "0"))
    if not 0 <= value <= 0.9:
        raise ValueError("TICKETQ_CRASH_THROTTLE must be between 0 and 0.9")
    return value


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
        # A draw's losers are refunded two per transaction, so the kills land between (and
        # inside) the batches of that expansion, not only before or after it.
        "TICKETQ_LOSER_REFUND_BATCH": "2",
        # A killed bot's outbox claims pass to its successor after the lease (PostgreSQL).
        "TICKETQ_OUTBOX_LEASE_SECONDS": "4",
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
    throttle: float = field(default_factory=lambda: crash_throttle())
    _proc: asyncio.subprocess.Process | None = None
    _log: Path | None = None
    _baseline: int = 0
    _throttler: asyncio.Task[None] | None = None

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
        if self.throttle > 0:
            self._throttler = asyncio.create_task(self._slow_down(self._proc))

    async def _slow_down(self, proc: asyncio.subprocess.Process) -> None:
        """A loaded machine, without loading it: the bot is stopped (SIGSTOP) for
        ``throttle`` of every 50 ms, so everything it does takes longer."""
        period = 0.05
        try:
            while proc.returncode is None:
                await asyncio.sleep(period * (1 - self.throttle))
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGSTOP)
                await asyncio.sleep(period * self.throttle)
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGCONT)
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGCONT)

    async def _unthrottle(self) -> None:
        task, self._throttler = self._throttler, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def kill(self) -> None:
        """SIGKILL: no clean-up, no finally blocks, open transactions just vanish."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
        await proc.wait()
        await self._unthrottle()
        self.kills += 1

    async def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, the way an operator stops it; SIGKILL if it hangs."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        await self._unthrottle()
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


# Kill windows: what the chaos waits for before it kills, and how long after it at most.
# "time" is a plain random life; the others aim at the moments a race would hide in.
WINDOWS: dict[str, float] = {
    "time": 0.0,
    "payment": 0.4,   # a successful_payment was emitted: fetch, store, confirm, commit
    "send": 0.03,     # a message or photo was sent: the outbox's mark-done is next
    "poll": 0.05,     # getUpdates answered: store the batch, acknowledge it, forget handled
    "stripe": 0.05,   # a Stripe request was answered: the refund's bookkeeping is next
}


def crash_windows() -> tuple[str, ...]:
    """Kill windows of the full run: ``TICKETQ_CRASH_WINDOWS`` (comma-separated names of
    :data:`WINDOWS`, or ``all``); plain random lives by default."""
    raw = os.environ.get("TICKETQ_CRASH_WINDOWS", "time").strip()
    names = tuple(WINDOWS) if raw == "all" else tuple(n.strip() for n in raw.split(","))
    unknown = [n for n in names if n not in WINDOWS]
    if unknown:
        raise ValueError(f"TICKETQ_CRASH_WINDOWS: unknown window(s) {unknown}")
    return names


@dataclass
class Chaos:
    """Kills the bot at random moments and restarts it right away, until stopped.

    Each life of the bot lasts a random time between ``min_life`` and ``max_life`` seconds
    (start-up included, so some kills land while it connects or catches up on the backlog).
    With ``windows`` other than ``("time",)`` each life picks one window at random and, once
    the bot is up for ``min_life``, kills it a random instant (up to the window's width) after
    the next thing of that kind happens (see :data:`WINDOWS`); a life in which nothing of the
    kind happens ends after ``2 * max_life``.
    """

    bot: BotProcess
    rng: random.Random
    kills: int
    min_life: float = 0.3
    max_life: float = 2.5
    windows: tuple[str, ...] = ("time",)
    kill_times: list[float] = field(default_factory=list)
    kill_windows: list[str] = field(default_factory=list)
    last_start: float | None = None  # monotonic time the last bot (never killed) started
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run in the background."""
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        t0 = time.monotonic()
        for _ in range(self.kills):
            await self.bot.start()
            window = self.rng.choice(self.windows)
            if window == "time":
                await asyncio.sleep(self.rng.uniform(self.min_life, self.max_life))
            else:
                await asyncio.sleep(self.min_life)
                await self._wait_for(window, deadline=time.monotonic() + 2 * self.max_life)
                await asyncio.sleep(self.rng.uniform(0.0, WINDOWS[window]))
            await self.bot.kill()
            self.kill_times.append(round(time.monotonic() - t0, 3))
            self.kill_windows.append(window)
        await self.bot.start()
        self.last_start = time.monotonic()

    def calm_for(self, seconds: float) -> Callable[[], bool]:
        """A stop condition for people: the last bot has been running for ``seconds``. A
        person's patience is counted from when a bot is there to answer, not from the
        trial's start: on a loaded machine the kills alone can outlast a fixed deadline."""
        def calm() -> bool:
            return self.last_start is not None and time.monotonic() > self.last_start + seconds
        return calm

    def _counter(self, window: str) -> int:
        sandbox = self.bot.sandbox
        calls = sandbox.method_calls
        if window == "payment":
            return sum(1 for u in sandbox.users.values() for p in u.payments if p.delivered)
        if window == "send":
            return sum(calls.get(m, 0) for m in ("sendmessage", "sendphoto", "editmessagetext",
                                                  "sendinvoice"))
        if window == "poll":
            return calls.get("getupdates", 0)
        return sandbox.stripe.requests

    async def _wait_for(self, window: str, *, deadline: float) -> None:
        start = self._counter(window)
        # Polls the sandbox's counters: no event to wait on without changing the sandbox.
        while self._counter(window) == start and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.002)

    async def finish(self) -> None:
        """Wait until every planned kill happened and a last bot is running."""
        if self._task is not None:
            await self._task


# --------------------------------------------------------------------------- artefacts
def artefacts_root(tmp_path: Path) -> Path:
    """Where failed trials keep their artefacts: ``TICKETQ_CRASH_ARTEFACTS`` or pytest's
    tmp path."""
    raw = os.environ.get("TICKETQ_CRASH_ARTEFACTS")
    return Path(raw) if raw else tmp_path / "artefacts"


def announce(root: Path, line: str, *, log: str = "failures.log") -> None:
    """Say it now: print (flushed) and append to ``root/log`` (flushed and synced), so a long
    run shows a failure the moment it happens, not when pytest reports at the end."""
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    print(f"[{stamp}] {line}", flush=True)
    root.mkdir(parents=True, exist_ok=True)
    with (root / log).open("a", encoding="utf-8") as out:
        out.write(f"[{stamp}] {line}\n")
        out.flush()
        os.fsync(out.fileno())


def keep_artefacts(directory: Path, *, label: str, seed: int, bot: BotProcess,
                         chaos: Chaos | None, error: BaseException,
                         database_url: str) -> Path:
    """Copy what explains a failed trial into ``directory`` and return it: the database (a
    consistent SQLite backup, or a pg_dump), every bot log, the Stripe ledger and objects as
    JSON, each user's chat and payments, the kill times and windows, the seed, the error."""
    directory.mkdir(parents=True, exist_ok=True)
    sandbox = bot.sandbox
    (directory / "trial.json").write_text(json.dumps({
        "label": label, "seed": seed, "starts": bot.starts, "kills": bot.kills,
        "kill_times": chaos.kill_times if chaos else [],
        "kill_windows": chaos.kill_windows if chaos else [],
        "error": f"{type(error).__name__}: {error}",
        "database_url": database_url,
    }, indent=2))
    (directory / "error.txt").write_text("".join(traceback.format_exception(error)))
    for log in sorted(bot.workdir.glob("bot-*.log")):
        shutil.copy2(log, directory / log.name)
    stripe = sandbox.stripe
    (directory / "stripe.json").write_text(json.dumps({
        "ledger": [dataclasses.asdict(e) for e in stripe.ledger],
        "charges": stripe.charges, "refunds": stripe.refunds}, indent=2, default=str))
    chats = []
    for user in sandbox.users.values():
        chats.append(user.dump(last=200))
        chats.extend(f"  payment: {p}" for p in user.payments)
    (directory / "chats.txt").write_text("\n".join(chats))
    if database_url.startswith("sqlite"):
        source = database_url.split("///", 1)[1]
        if Path(source).exists():
            src = sqlite3.connect(source)
            dst = sqlite3.connect(directory / "ticketq.sqlite3")
            with contextlib.closing(src), contextlib.closing(dst):
                src.backup(dst)
    else:
        dump = subprocess.run(["pg_dump", "--no-owner", "-f", str(directory / "ticketq.pg.sql"),
                               database_url], capture_output=True, timeout=60, check=False)
        if dump.returncode != 0:
            (directory / "pg_dump.err").write_bytes(dump.stderr)
    return directory


async def wait_until(predicate: Callable[[], Awaitable[bool]], *, timeout: float,
                     what: str, interval: float = 0.1) -> None:
    """Poll an async predicate."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached within {timeout}s: {what}")
        await asyncio.sleep(interval)
