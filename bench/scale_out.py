"""Benchmark 10: purchases per second and CPU per purchase with 1, 2 and 3 worker processes
on one PostgreSQL database (issue 11).

Processes (nothing shares an event loop with a worker):

* **the sandbox side** (``python -m bench.scale_out --sandbox-side``): the loopback Bot API
  and Stripe emulator, its webhook delivery and load balancer, and the buyers; it measures
  the purchases and reports them on stdout;
* **N workers**: ``ticketq run --webhook URL`` each, on its own port behind the sandbox's
  load balancer, sharing the inbox (claims), the outbox (claims) and the send budget
  (PostgreSQL);
* **PostgreSQL**, the machine's server (a fresh database per run).

Closed loop: C buyers at a time (each a fresh user) tap ``/events`` -> event -> GA -> 1 ->
invoice -> pay and wait for their QR ticket, until B purchases finished. Purchases/s =
B / (last ticket - first tap). CPU-ms per purchase: the CPU time (user + system, from
/proc) the workers, the database's backends and the sandbox side spent during the run,
divided by B. Runs alternate 1, 2, 3, 1, 2, 3... workers so load drifts hit all alike; the
machine's load average is recorded with every run.

    python -m bench.scale_out              # 2 rounds of 1, 2, 3 workers, 300 buyers each
    python -m bench.scale_out --quick      # 1 round, 60 buyers
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    create_pg_database,
    drop_pg_database,
    percentile,
    quiet_logging,
    table,
    write_results,
)
from bench.purchase_vs_echo import STEPS, Samples, event_doc, purchase_once

REPO = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------- sandbox side
async def sandbox_side(ports: list[int], buyers: int, concurrency: int) -> None:
    """Serve the sandbox, wait for ``go``, run the buyers, print the figures (JSON)."""
    import resource

    from bot.sandbox.harness import WEBHOOK_ORIGIN, new_sandbox

    quiet_logging()
    sandbox = new_sandbox(rate_limit_global=None, rate_limit_per_chat=None)
    await sandbox.start()
    sandbox.balance(WEBHOOK_ORIGIN, [f"http://127.0.0.1:{p}" for p in ports])
    print(json.dumps({"bot_api": sandbox.bot_api_base_url, "files": sandbox.bot_file_base_url,
                      "stripe": sandbox.stripe_api_base, "beacon": sandbox.beacon_url}),
          flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "go": the workers are up
    samples = Samples()
    next_id = iter(range(1_000_000, 2_000_000))
    left = buyers
    failures: list[str] = []

    async def buyer_loop() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            user = sandbox.user(next(next_id), first_name="Buyer")
            try:
                await purchase_once(user, samples)
            except Exception as exc:  # counted, not fatal: the figures say how many
                failures.append(f"{type(exc).__name__}: {str(exc)[:80]}")

    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    started = loop.time()
    await asyncio.gather(*(buyer_loop() for _ in range(concurrency)))
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    ended = max(samples.finished) if samples.finished else loop.time()
    latencies = samples.all_latencies(STEPS)
    print(json.dumps({
        "purchases": len(samples.finished), "failures": len(failures),
        "failure_examples": failures[:3], "seconds": ended - started,
        "sandbox_cpu_s": (usage1.ru_utime + usage1.ru_stime)
        - (usage0.ru_utime + usage0.ru_stime),
        "step_p50_ms": percentile(latencies, 50) * 1000,
        "step_p95_ms": percentile(latencies, 95) * 1000,
        "rate_limited": sandbox.rate_limited_count}), flush=True)
    await sandbox.stop()


# ---------------------------------------------------------------------------- orchestrator
def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def backend_pids(url: str) -> list[int]:
    import asyncpg

    from bot.leader import plain_dsn

    conn = await asyncpg.connect(plain_dsn(url))
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = "
                                "current_database() AND pid <> pg_backend_pid()")
    finally:
        await conn.close()
    return [int(r["pid"]) for r in rows]


async def one_run(workers: int, buyers: int, concurrency: int, logs: Path) -> dict[str, Any]:
    """B purchases through N workers; returns the figures."""
    from bot.app import build_services
    from bot.sandbox.harness import (
        SANDBOX_PROVIDER_TOKEN,
        SANDBOX_STRIPE_KEY,
        SANDBOX_TOKEN,
        WEBHOOK_SECRET,
        WEBHOOK_URL,
        free_port,
    )
    from bot.storage.database import SqlDatabase
    from bot.storage.migrate import upgrade_to_head
    from core.kernel.clock import SystemClock

    url = await create_pg_database()
    procs: list[asyncio.subprocess.Process] = []
    side: asyncio.subprocess.Process | None = None
    try:
        db = SqlDatabase(url, pool_size=2)
        await upgrade_to_head(db)
        await build_services(db, SystemClock(), admin_ids=frozenset({1})).admin \
            .import_event(event_doc(), actor_id=1)
        ports = [free_port() for _ in range(workers)]
        side = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.scale_out", "--sandbox-side",
            "--ports", ",".join(map(str, ports)), "--buyers", str(buyers),
            "--concurrency", str(concurrency), cwd=REPO,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert side.stdout is not None and side.stdin is not None
        urls = json.loads(await side.stdout.readline())
        env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETQ_")}
        env.update({
            "TICKETQ_BOT_TOKEN": SANDBOX_TOKEN, "TICKETQ_PAYMENT_PROVIDER_TOKEN":
            SANDBOX_PROVIDER_TOKEN, "TICKETQ_STRIPE_SECRET_KEY": SANDBOX_STRIPE_KEY,
            "TICKETQ_DATABASE_URL": url, "TICKETQ_BOT_API_URL": urls["bot_api"],
            "TICKETQ_BOT_FILE_URL": urls["files"], "TICKETQ_STRIPE_API_BASE": urls["stripe"],
            "TICKETQ_BEACON_URL": urls["beacon"], "TICKETQ_SEND_RATE": "1000",
            "TICKETQ_SEND_RATE_PER_CHAT": "100", "TICKETQ_SEND_BURST_PER_CHAT": "100",
            "TICKETQ_WEBHOOK_SECRET": WEBHOOK_SECRET, "TICKETQ_DATABASE_POOL_SIZE": "10",
            "TICKETQ_LOG_LEVEL": "INFO", "PYTHONPATH": str(REPO)})
        for n, port in enumerate(ports):
            log = logs / f"workers{workers}-w{n}.log"
            with log.open("wb") as out:
                procs.append(await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot.cli", "run", "--webhook", WEBHOOK_URL,
                    cwd=REPO, env={**env, "TICKETQ_HTTP_PORT": str(port),
                                   "TICKETQ_WORKER_ID": f"w{n}"},
                    stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out))
        deadline = time.monotonic() + 120
        for n in range(workers):
            log = logs / f"workers{workers}-w{n}.log"
            while b"webhook mode: worker" not in log.read_bytes():
                if time.monotonic() > deadline or procs[n].returncode is not None:
                    raise RuntimeError(f"worker {n} did not start: {log.read_text()[-2000:]}")
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # the leader's first ticks, setWebhook of the last one
        backends = await backend_pids(url)
        load = os.getloadavg()[0]
        cpu0 = {p.pid: cpu_seconds(p.pid) for p in procs}
        pg0 = {pid: cpu_seconds(pid) for pid in backends}
        side.stdin.write(b"go\n")
        await side.stdin.drain()
        figures = json.loads(await side.stdout.readline())
        worker_cpu = sum(cpu_seconds(p.pid) - cpu0[p.pid] for p in procs)
        pg_cpu = sum(cpu_seconds(pid) - pg0.get(pid, 0.0) for pid in await backend_pids(url))
        await db.dispose()
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
        if side is not None and side.returncode is None:
            side.kill()
            await side.wait()
        await drop_pg_database(url)
    done = max(1, figures["purchases"])
    return {
        "workers": workers, "purchases": figures["purchases"], "failures": figures["failures"],
        "failure_examples": figures["failure_examples"],
        "seconds": round(figures["seconds"], 2),
        "purchases_per_s": round(figures["purchases"] / figures["seconds"], 1),
        "worker_cpu_ms_per_purchase": round(worker_cpu * 1000 / done, 1),
        "postgres_cpu_ms_per_purchase": round(pg_cpu * 1000 / done, 1),
        "sandbox_cpu_ms_per_purchase": round(figures["sandbox_cpu_s"] * 1000 / done, 1),
        "step_p50_ms": round(figures["step_p50_ms"], 1),
        "step_p95_ms": round(figures["step_p95_ms"], 1),
        "rate_limited": figures["rate_limited"], "load_1min_at_start": round(load, 2),
        "load_1min_at_end": round(os.getloadavg()[0], 2)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    counts = [int(n) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="tq-scale-") as tmp:
        logs = Path(args.logs) if args.logs else Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        for round_ in range(args.rounds):
            for workers in counts:
                result = await one_run(workers, args.buyers, args.concurrency, logs)
                result["round"] = round_ + 1
                runs.append(result)
                print(f"round {round_ + 1}, {workers} worker(s): "
                      f"{result['purchases_per_s']} purchases/s, "
                      f"{result['worker_cpu_ms_per_purchase']} worker CPU-ms/purchase, "
                      f"load {result['load_1min_at_start']}", flush=True)
    best = {n: max(r["purchases_per_s"] for r in runs if r["workers"] == n) for n in counts}
    return {"buyers": args.buyers, "concurrency": args.concurrency, "rounds": args.rounds,
            "runs": runs, "best_purchases_per_s": best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round, 60 buyers")
    parser.add_argument("--buyers", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--workers", default="1,2,3", help="worker counts (default 1,2,3)")
    parser.add_argument("--logs", default=None, help="keep the workers' logs here")
    parser.add_argument("--sandbox-side", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ports", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sandbox_side:
        asyncio.run(sandbox_side([int(p) for p in args.ports.split(",")], args.buyers,
                                 args.concurrency))
        return
    args.buyers = args.buyers or (60 if args.quick else 300)
    args.rounds = args.rounds or (1 if args.quick else 2)
    quiet_logging()
    out = asyncio.run(run(args))
    rows = [(r["round"], r["workers"], r["purchases"], r["seconds"], r["purchases_per_s"],
             r["worker_cpu_ms_per_purchase"], r["postgres_cpu_ms_per_purchase"],
             r["sandbox_cpu_ms_per_purchase"], r["step_p50_ms"], r["step_p95_ms"],
             r["failures"], r["load_1min_at_start"]) for r in out["runs"]]
    print(table("Scale-out: purchases through N webhook workers on PostgreSQL", rows,
                ("round", "workers", "purchases", "s", "purchases/s", "worker CPU-ms/p",
                 "PG CPU-ms/p", "sandbox CPU-ms/p", "step p50 ms", "step p95 ms",
                 "failed", "load")))
    path = write_results("scale_out", out, quick=args.quick)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
