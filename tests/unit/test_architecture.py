"""core/ is the domain: it must not know about Telegram, Stripe, SQL or schedulers."""

import ast
from pathlib import Path

FORBIDDEN = {"telegram", "stripe", "sqlalchemy", "aiosqlite", "asyncpg", "apscheduler",
             "aiohttp", "httpx", "bot", "handlers", "scheduler"}
CORE = Path(__file__).resolve().parents[2] / "core"


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_imports_no_infrastructure() -> None:
    files = list(CORE.rglob("*.py"))
    assert len(files) > 5
    offenders = {str(f.relative_to(CORE)): sorted(imported_roots(f) & FORBIDDEN)
                 for f in files if imported_roots(f) & FORBIDDEN}
    assert offenders == {}


def test_the_checker_would_catch_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from telegram import Bot\nimport sqlalchemy.orm\n")
    assert imported_roots(bad) & FORBIDDEN == {"telegram", "sqlalchemy"}
