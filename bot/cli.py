"""The ``ticketq`` command line: run, migrate, copy-to, event import, inbox, reconcile,
demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import ConfigError, Settings, load_settings

EXIT_OK, EXIT_INVALID, EXIT_CONFIG = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ticketq", description="TicketQ: Telegram ticketing with lotteries and QR tickets.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot (long polling, or --webhook)")
    run.add_argument("--webhook", metavar="URL", default=None,
                     help="webhook mode: the public https URL Telegram posts updates to "
                     "(overrides TICKETQ_WEBHOOK_URL); several workers may share one "
                     "PostgreSQL database")
    run.add_argument("--worker-id", default=None,
                     help="this worker's name among the workers (default: hostname:pid)")
    sub.add_parser("migrate", help="apply database migrations")
    event = sub.add_parser("event", help="manage events")
    event_sub = event.add_subparsers(dest="event_command", required=True)
    imp = event_sub.add_parser("import", help="create an event from a YAML or JSON file")
    imp.add_argument("file", type=Path)
    audit = sub.add_parser("audit", help="lottery audits")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    export = audit_sub.add_parser("export", help="write the audit file of a drawn lottery")
    export.add_argument("event", type=int, help="event id")
    export.add_argument("-o", "--output", type=Path, default=None,
                        help="file to write (default: print to stdout)")
    inbox = sub.add_parser("inbox", help="updates waiting for a retry or parked")
    inbox_sub = inbox.add_subparsers(dest="inbox_command")
    inbox_sub.add_parser("list", help="list them (the default)")
    retry = inbox_sub.add_parser("retry", help="run parked updates again")
    retry.add_argument("update_ids", type=int, nargs="*", help="update ids (see `list`)")
    retry.add_argument("--all", action="store_true", help="every parked update")
    forget = inbox_sub.add_parser("forget", help="drop parked updates for good (after a "
                                  "person dealt with them)")
    forget.add_argument("update_ids", type=int, nargs="*", help="update ids (see `list`)")
    forget.add_argument("--taps", action="store_true",
                        help="every parked update that is not a payment")
    reconcile = sub.add_parser("reconcile",
                               help="match Stripe charges to payments now; refund unexplained "
                               "charges older than the grace period")
    reconcile.add_argument("--since", type=_aware_datetime, default=None,
                           help="ISO date-time to list charges from (default: the lookback)")
    copy = sub.add_parser("copy-to", help="copy this install's data (TICKETQ_DATABASE_URL, "
                          "e.g. SQLite) into another, empty database (e.g. PostgreSQL); "
                          "stop the bot first")
    copy.add_argument("--database-url", required=True, dest="target_url",
                      help="the target, e.g. postgresql://ticketq@db.example.org/ticketq")
    verify = sub.add_parser("verify-draw", help="recompute a lottery draw from its audit file")
    verify.add_argument("file", type=Path)
    demo = sub.add_parser("demo", help="play a scripted sale in the loopback sandbox")
    demo.add_argument("--json", action="store_true", help="print only a JSON summary")
    demo.add_argument("--lottery", action="store_true",
                      help="run a whole lottery instead of a direct sale")
    demo.add_argument("--after-sale", action="store_true",
                      help="play transfers, returns with a waiting list, a lottery's groups "
                           "and second chance")
    demo.add_argument("--entrants", type=int, default=200,
                      help="lottery entrants (default 200)")
    demo.add_argument("--buyers", type=int, default=60, help="racing buyers (default 60)")
    demo.add_argument("--audit-out", type=Path, default=Path("ticketq-demo-audit.json"),
                      help="where the lottery demo writes the draw's audit file")
    demo.add_argument("--keep", type=Path, default=None,
                      help="keep the demo database in this directory")
    demo.add_argument("--mini-app", dest="mini_app", type=int, nargs="?", const=8080,
                      default=None, metavar="PORT",
                      help="afterwards serve the Mini App on 127.0.0.1:PORT (default 8080) and "
                      "print URLs that open the door scanner and the dashboard in a browser")
    demo.add_argument("--lang", default="en",
                      help="the attendees' language in the sale demo: en, de, ru, es or ja")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ticketq`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            # Development tools load only for `ticketq demo` (the one way into them).
            from bot.sandbox.demos import run_after_sale_demo, run_demo, run_lottery_demo

            if args.after_sale:
                return asyncio.run(run_after_sale_demo(as_json=args.json, keep_dir=args.keep))
            if args.lottery:
                return asyncio.run(run_lottery_demo(as_json=args.json,
                                                    entrants=args.entrants,
                                                    keep_dir=args.keep,
                                                    audit_out=args.audit_out,
                                                    verify_draw=verify_draw))
            return asyncio.run(run_demo(as_json=args.json, buyers=args.buyers,
                                        keep_dir=args.keep, mini_app_port=args.mini_app,
                                        lang=args.lang))
        if args.command == "verify-draw":
            return verify_draw(args.file)
        settings = load_settings()
        if args.command == "audit" and args.audit_command == "export":
            return asyncio.run(_export_audit(settings, args.event, args.output))
        if args.command == "run":
            overrides = {k: v for k, v in (("webhook_url", args.webhook),
                                           ("worker_id", args.worker_id)) if v}
            if overrides:
                settings = load_settings(**overrides)
            return _run(settings)
        if args.command == "inbox":
            return asyncio.run(_inbox(settings, args))
        if args.command == "reconcile":
            return asyncio.run(_reconcile(settings, args.since))
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        if args.command == "copy-to":
            return asyncio.run(_copy_to(settings, args.target_url))
        if args.command == "event" and args.event_command == "import":
            return asyncio.run(_import_event(settings, args.file))
    except ConfigError as exc:
        print(f"ticketq: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    return EXIT_INVALID


def _run(settings: Settings) -> int:
    from bot.app import build_runtime
    from bot.logging_setup import configure_logging

    settings.require_bot_secrets()
    if settings.webhook_url:
        settings.require_webhook()
    configure_logging(settings.log_level, secrets=[
        settings.secret("bot_token"), settings.secret("payment_provider_token"),
        settings.secret("stripe_secret_key")] + (
        [settings.webhook_secret.get_secret_value()] if settings.webhook_secret else []))

    async def serve() -> None:
        runtime = await build_runtime(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await runtime.start()
        try:
            await stop.wait()
        finally:
            await runtime.stop()

    asyncio.run(serve())
    return EXIT_OK


async def _migrate(settings: Settings) -> int:
    from bot.storage.database import SqlDatabase
    from bot.storage.migrate import upgrade_to_head

    db = SqlDatabase(settings.database_url)
    try:
        revision = await upgrade_to_head(db)
    finally:
        await db.dispose()
    print(f"database at revision {revision}")
    return EXIT_OK


async def _copy_to(settings: Settings, target_url: str) -> int:
    """``ticketq copy-to --database-url URL``: see :mod:`bot.storage.copy`."""
    from bot.storage.copy import TargetNotEmpty, copy_database
    from bot.storage.database import SqlDatabase

    source, target = SqlDatabase(settings.database_url), SqlDatabase(target_url)
    try:
        copied = await copy_database(source, target)
    except TargetNotEmpty as exc:
        print(f"ticketq: {exc}; nothing was copied (copy into an empty database)",
              file=sys.stderr)
        return EXIT_INVALID
    finally:
        await source.dispose()
        await target.dispose()
    for name, count in copied.items():
        if count:
            print(f"{name:>16}: {count} row(s)")
    print(f"copied {sum(copied.values())} row(s); point TICKETQ_DATABASE_URL at the target "
          "and start the bot")
    return EXIT_OK


def read_event_file(path: Path) -> Any:
    """The document in a YAML or JSON event file (decoded by :func:`core.catalog.spec.
    decode_event_file`, as the chat's import does).

    Raises:
        ValueError: with a one-line reason when it cannot be read or parsed.
    """
    from core.catalog.spec import UnreadableEventFile, decode_event_file

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return decode_event_file(data, path.name)
    except UnreadableEventFile as exc:
        if exc.code == "not_utf8":
            raise ValueError(f"{path} is not UTF-8 text") from None
        if exc.code == "too_deep":
            raise ValueError(f"{path} is nested too deeply") from None
        where = (f" at line {exc.line}, column {exc.column}" if exc.line is not None else "")
        problem = exc.problem or "syntax error"
        raise ValueError(f"invalid {exc.syntax}{where}: {problem}") from None


async def _import_event(settings: Settings, path: Path) -> int:
    from bot.app import build_services, console_spec_issues
    from bot.storage.database import SqlDatabase
    from bot.storage.migrate import upgrade_to_head
    from core.kernel.clock import SystemClock
    from core.kernel.errors import DomainError, ErrorCode

    try:
        raw = read_event_file(path)
    except ValueError as exc:
        print(f"ticketq: {exc}", file=sys.stderr)
        return EXIT_INVALID
    db = SqlDatabase(settings.database_url)
    try:
        await upgrade_to_head(db)
        admin = build_services(db, SystemClock(), admin_ids=settings.admin_ids).admin
        try:
            event = await admin.import_event(raw, actor_id=None)
        except DomainError as exc:
            if exc.code is not ErrorCode.INVALID_EVENT_SPEC:
                raise
            print(f"ticketq: {path} is not a valid event file; nothing was imported:",
                  file=sys.stderr)
            for line in console_spec_issues(exc):
                print(f"  - {line}", file=sys.stderr)
            return EXIT_INVALID
    finally:
        await db.dispose()
    print(f"imported event #{event.id}: {event.title} ({event.status.value})")
    return EXIT_OK


def _aware_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _inbox(settings: Settings, args: argparse.Namespace) -> int:
    """``ticketq inbox [list]`` and ``ticketq inbox retry IDS|--all``."""
    from bot.storage.database import SqlDatabase
    from bot.storage.inbox_store import SqlInbox
    from bot.storage.migrate import upgrade_to_head

    db = SqlDatabase(settings.database_url)
    try:
        await upgrade_to_head(db)
        inbox = SqlInbox(db)
        if args.inbox_command == "retry":
            if not args.all and not args.update_ids:
                print("ticketq: name the update ids to retry, or --all", file=sys.stderr)
                return EXIT_INVALID
            count = await inbox.retry(None if args.all else args.update_ids)
            print(f"{count} parked update(s) will run again (a running bot picks them up "
                  "within 30 s, a stopped one when it starts)")
            return EXIT_OK
        if args.inbox_command == "forget":
            if not args.taps and not args.update_ids:
                print("ticketq: name the update ids to forget, or --taps", file=sys.stderr)
                return EXIT_INVALID
            count = await inbox.forget_parked(None if args.taps else args.update_ids,
                                              keep_payments=args.taps)
            print(f"{count} parked update(s) forgotten")
            return EXIT_OK
        entries = [e for e in await inbox.entries() if e.parked or e.attempts > 0]
    finally:
        await db.dispose()
    if not entries:
        print("no update is waiting for a retry or parked")
        return EXIT_OK
    print(f"{'update':>10}  {'state':<8} {'kind':<12} {'chat':>12} {'tries':>5}  "
          f"{'received (UTC)':<19}  charge / last error")
    for e in entries:
        state = "PARKED" if e.parked else "retrying"
        detail = e.charge_id or ""
        if e.last_error:
            detail = (detail + "  " if detail else "") + e.last_error.splitlines()[0][:120]
        print(f"{e.update_id:>10}  {state:<8} {e.kind:<12} {e.chat_id or '-':>12} "
              f"{e.attempts:>5}  {e.received_at:%Y-%m-%d %H:%M:%S}  {detail}")
    parked = sum(e.parked for e in entries)
    if parked:
        print(f"{parked} parked: `ticketq inbox retry ID...` (or --all) runs them again")
    return EXIT_OK


async def _reconcile(settings: Settings, since: datetime | None) -> int:
    """``ticketq reconcile``: one pass now (see ``bot.reconcile.ChargeReconciler``)."""
    from bot.app import charge_reconciler
    from bot.storage.database import SqlDatabase
    from bot.storage.migrate import upgrade_to_head
    from core.kernel.clock import SystemClock
    from core.payments.model import GatewayError

    if settings.stripe_secret_key is None:
        raise ConfigError("TICKETQ_STRIPE_SECRET_KEY is required but not set")
    db = SqlDatabase(settings.database_url)
    try:
        await upgrade_to_head(db)
        reconciler = charge_reconciler(settings, db, SystemClock())
        try:
            report = await reconciler.run_once(since=since)
        except GatewayError as exc:
            print(f"ticketq: could not list Stripe charges: {exc}", file=sys.stderr)
            return EXIT_INVALID
    finally:
        await db.dispose()
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(report.by_verdict.items())) or "-"
    print(f"{report.listed} charge(s) listed; {counts}")
    for charge_id in report.refunded:
        print(f"  refunding {charge_id} (no payment explains it); the bot's outbox sends it")
    return EXIT_OK


def verify_draw(path: Path) -> int:
    """``ticketq verify-draw FILE``: 0 and "verified", or 1 and what does not match."""
    from core.lottery.audit import verify_audit

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"ticketq: cannot read {path} as an audit file: {exc}", file=sys.stderr)
        return EXIT_INVALID
    problems = verify_audit(doc)
    if problems:
        print(f"NOT verified: {path}")
        for problem in problems:
            print(f"  - {problem}")
        return EXIT_INVALID
    event = doc.get("event", {})
    beacon = doc.get("beacon")
    print(f"verified: {event.get('title')} — {len(doc['entries'])} entries, "
          f"{len(doc['winners'])} winners; seed matches commitment {doc['commitment'][:16]}…, "
          f"list hash {doc['list_hash'][:16]}…"
          + (f", beacon round {beacon['round']}" if beacon else ""))
    return EXIT_OK


async def _export_audit(settings: Settings, event_id: int, output: Path | None) -> int:
    from bot.app import beacon_for, build_services, console_text
    from bot.storage.database import SqlDatabase
    from core.kernel.clock import SystemClock
    from core.kernel.errors import DomainError

    db = SqlDatabase(settings.database_url)
    try:
        lottery = build_services(db, SystemClock(), admin_ids=settings.admin_ids,
                                 beacon=beacon_for(settings)).lottery
        try:
            doc = await lottery.audit(event_id)
        except DomainError as exc:
            print(f"ticketq: {console_text(exc)}", file=sys.stderr)
            return EXIT_INVALID
    finally:
        await db.dispose()
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        print(text, end="")
    else:
        await asyncio.to_thread(output.write_text, text, encoding="utf-8")
        print(f"audit of event #{event_id} written to {output}")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
