"""The ``ticketq`` command line: run, migrate, event import, demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

from bot.config import ConfigError, Settings, load_settings

EXIT_OK, EXIT_INVALID, EXIT_CONFIG = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ticketq", description="TicketQ: Telegram ticketing with lotteries and QR tickets.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the bot (long polling)")
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
    verify = sub.add_parser("verify-draw", help="recompute a lottery draw from its audit file")
    verify.add_argument("file", type=Path)
    demo = sub.add_parser("demo", help="play a scripted sale in the loopback sandbox")
    demo.add_argument("--json", action="store_true", help="print only a JSON summary")
    demo.add_argument("--lottery", action="store_true",
                      help="run a whole lottery instead of a direct sale")
    demo.add_argument("--entrants", type=int, default=200,
                      help="lottery entrants (default 200)")
    demo.add_argument("--buyers", type=int, default=60, help="racing buyers (default 60)")
    demo.add_argument("--audit-out", type=Path, default=Path("ticketq-demo-audit.json"),
                      help="where the lottery demo writes the draw's audit file")
    demo.add_argument("--keep", type=Path, default=None,
                      help="keep the demo database in this directory")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ticketq`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            if args.lottery:
                from bot.demo_lottery import run_lottery_demo

                return asyncio.run(run_lottery_demo(as_json=args.json,
                                                    entrants=args.entrants,
                                                    keep_dir=args.keep,
                                                    audit_out=args.audit_out))
            from bot.demo import run_demo

            return asyncio.run(run_demo(as_json=args.json, buyers=args.buyers,
                                        keep_dir=args.keep))
        if args.command == "verify-draw":
            return verify_draw(args.file)
        settings = load_settings()
        if args.command == "audit" and args.audit_command == "export":
            return asyncio.run(_export_audit(settings, args.event, args.output))
        if args.command == "run":
            return _run(settings)
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
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
    configure_logging(settings.log_level, secrets=[
        settings.secret("bot_token"), settings.secret("payment_provider_token"),
        settings.secret("stripe_secret_key")])

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


def read_event_file(path: Path) -> Any:
    """Decode a YAML or JSON event file.

    Raises:
        ValueError: with a one-line reason when it cannot be read or parsed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    return parse_event_text(text, json_first=path.suffix.lower() == ".json")


def parse_event_text(text: str, *, json_first: bool = False) -> Any:
    """Decode event-file text (JSON or YAML; YAML is a superset of JSON).

    Raises:
        ValueError: with the line and column of a syntax error.
    """
    if json_first:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: "
                             f"{exc.msg}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ValueError(f"invalid YAML{where}: {problem}") from None


async def _import_event(settings: Settings, path: Path) -> int:
    from bot.storage.database import SqlDatabase
    from bot.storage.migrate import upgrade_to_head
    from core.clock import SystemClock
    from core.errors import DomainError, ErrorCode
    from core.services.admin import AdminService
    from handlers.texts import spec_issue_text

    try:
        raw = read_event_file(path)
    except ValueError as exc:
        print(f"ticketq: {exc}", file=sys.stderr)
        return EXIT_INVALID
    db = SqlDatabase(settings.database_url)
    try:
        await upgrade_to_head(db)
        admin = AdminService(db, SystemClock(), settings.admin_ids)
        try:
            event = await admin.import_event(raw, actor_id=None)
        except DomainError as exc:
            if exc.code is not ErrorCode.INVALID_EVENT_SPEC:
                raise
            print(f"ticketq: {path} is not a valid event file; nothing was imported:",
                  file=sys.stderr)
            for issue in exc.params["issues"]:
                print(f"  - {spec_issue_text(issue, plain=True)}", file=sys.stderr)
            return EXIT_INVALID
    finally:
        await db.dispose()
    print(f"imported event #{event.id}: {event.title} ({event.status.value})")
    return EXIT_OK


def verify_draw(path: Path) -> int:
    """``ticketq verify-draw FILE``: 0 and "verified", or 1 and what does not match."""
    from core.audit import verify_audit

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
    from bot.beacon import HttpBeacon
    from bot.storage.database import SqlDatabase
    from core.clock import SystemClock
    from core.errors import DomainError
    from core.services.lottery import LotteryService
    from handlers.texts import error_text, plain

    db = SqlDatabase(settings.database_url)
    try:
        beacon = HttpBeacon(settings.beacon_url) if settings.beacon_url else None
        try:
            doc = await LotteryService(db, SystemClock(), beacon).audit(event_id)
        except DomainError as exc:
            print(f"ticketq: {plain(error_text(exc))}", file=sys.stderr)
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
