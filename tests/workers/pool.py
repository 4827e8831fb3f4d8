"""Several TicketQ worker processes on one PostgreSQL database, against an in-test sandbox.

Each worker is a real process (``python -m tests.workers.worker_main``) with its own
connections: killing one with SIGKILL closes its sockets, so PostgreSQL ends its session (an
open transaction rolls back, its advisory lock is released) exactly as when a machine's
process dies. The sandbox lives in the test's event loop, so the chats and the Stripe ledger
outlive every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.sandbox import Sandbox
from bot.sandbox.harness import WEBHOOK_ORIGIN, WEBHOOK_SECRET, WEBHOOK_URL, free_port
from tests.reliability.crash_harness import REPO, bot_env


@dataclass(eq=False)
class Worker:
    """One worker process (restartable)."""

    name: str
    env: dict[str, str]
    workdir: Path
    args: tuple[str, ...] = ("-m", "tests.workers.worker_main")
    ready_line: bytes = b"worker ready"
    starts: int = 0
    proc: asyncio.subprocess.Process | None = None
    log: Path | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.running and self.proc is not None else None

    async def start(self) -> None:
        if self.running:
            return
        self.starts += 1
        self.log = self.workdir / f"{self.name}-{self.starts:02d}.log"
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, *self.args, cwd=REPO, env=self.env,
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out)

    @property
    def ready(self) -> bool:
        """Running and done starting (it printed its ready line)."""
        return self.running and self.log is not None and self.log.exists() \
            and self.ready_line in self.log.read_bytes()

    async def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.log is not None and self.ready_line in self.log.read_bytes():
                return
            if not self.running:
                raise RuntimeError(f"{self.name} exited: {self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not start: {self.tail()}")
            await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: no clean-up at all."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                await self.kill()

    def tail(self, lines: int = 40) -> str:
        if self.log is None or not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")
                         for p in sorted(self.workdir.glob(f"{self.name}-*.log")))


@dataclass
class WorkerPool:
    """N workers of one bot; ``settings`` are extra ``TICKETQ_*`` variables."""

    sandbox: Sandbox
    database_url: str
    workdir: Path
    size: int = 3
    settings: dict[str, str] = field(default_factory=dict)
    admin_ids: frozenset[int] = frozenset()
    webhook: bool = False
    workers: list[Worker] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        env = bot_env(self.sandbox, self.database_url, self.admin_ids)
        env.update({"TICKETQ_SEND_RATE": "25", "TICKETQ_SEND_RATE_PER_CHAT": "1",
                    "TICKETQ_LOG_LEVEL": "INFO", "PYTHONPATH": str(REPO)})
        env.update(self.settings)
        for i in range(self.size):
            own = dict(env)
            if not self.webhook:
                self.workers.append(Worker(f"w{i}", own, self.workdir))
                continue
            # `ticketq run --webhook`: each worker on its own port (kept across restarts)
            # behind the sandbox's load balancer, as behind nginx.
            port = free_port()
            own.update({"TICKETQ_HTTP_PORT": str(port), "TICKETQ_WORKER_ID": f"w{i}",
                        "TICKETQ_WEBHOOK_SECRET": WEBHOOK_SECRET})
            self.workers.append(Worker(f"w{i}", own, self.workdir,
                                       args=("-m", "bot.cli", "run", "--webhook", WEBHOOK_URL),
                                       ready_line=b"webhook mode: worker"))
            self.backends.append(f"http://127.0.0.1:{port}")
        if self.webhook:
            self.sandbox.balance(WEBHOOK_ORIGIN, self.backends)

    async def start(self) -> None:
        for worker in self.workers:
            await worker.start()
        for worker in self.workers:
            await worker.wait_ready()

    async def stop(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.workers))

    def by_pid(self, pid: int) -> Worker:
        return next(w for w in self.workers if w.pid == pid)

    def logs(self) -> str:
        return "\n".join(f"===== {w.name}\n{w.logs()}" for w in self.workers)


async def leader_pid(database_url: str) -> int | None:
    """The OS pid of the worker holding the scheduler lock (from its connection's
    application_name, ``ticketq-leader-<pid>``), or None."""
    import asyncpg

    from bot.leader import plain_dsn

    conn = await asyncpg.connect(plain_dsn(database_url))
    try:
        name = await conn.fetchval(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database() "
            "AND a.application_name LIKE 'ticketq-leader-%' LIMIT 1")
    finally:
        await conn.close()
    return int(name.rsplit("-", 1)[1]) if name else None


async def wait_for(predicate, timeout: float, what: str, poll: float = 0.1):  # type: ignore[no-untyped-def]
    """Await ``predicate()`` (sync or async) until truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(poll)
