"""The layout is the architecture: who may import whom, checked on the import graph.

The graph holds every import of every project module (bot/, core/, handlers/, scheduler/):
module-level, inside functions and under ``TYPE_CHECKING``, with relative imports resolved.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("bot", "core", "handlers", "scheduler")
FORBIDDEN_IN_CORE = {"telegram", "stripe", "sqlalchemy", "aiosqlite", "asyncpg", "apscheduler",
                     "aiohttp", "httpx", "bot", "handlers", "scheduler"}
CORE = ROOT / "core"
# Development tools (sandbox, harness, demos): never part of what runs in production.
DEV_TOOLS = "bot.sandbox"
# The one door from production to the development tools: `ticketq demo`.
DEMO_ENTRY = ("bot.cli", "bot.sandbox.demos")
# The one composition root: the only production module of bot/ that knows handlers/.
COMPOSITION_ROOT = "bot.app"

Graph = dict[str, set[str]]


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path, packages: Iterable[str] = PROJECT) -> Graph:
    """Module -> the project modules it imports (anywhere in the file)."""
    files = {module_name(root, p): p for pkg in packages for p in (root / pkg).rglob("*.py")}

    def known(name: str) -> str | None:  # the module that ``name`` is, or is defined in
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: Graph = {}
    for module, path in files.items():
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges |= {m for a in node.names if (m := known(a.name))}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[:len(package) - node.level + 1]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                for alias in node.names:  # ``from pkg import submodule`` imports the submodule
                    target = known(f"{source}.{alias.name}") if source else None
                    if target is None or target == module:
                        target = known(source)
                    if target:
                        edges.add(target)
        edges.discard(module)
        graph[module] = edges
    return graph


def import_cycles(graph: Graph) -> list[list[str]]:
    """Groups of modules that import each other, directly or around a loop (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


def inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def imports_from(graph: Graph, source: str, target: str) -> list[str]:
    """``a -> b`` for every module ``a`` in package ``source`` importing one in ``target``."""
    return sorted(f"{a} -> {b}" for a, bs in graph.items() if inside(a, source)
                  for b in bs if inside(b, target))


def production_importing_dev_tools(graph: Graph) -> list[str]:
    return sorted(f"{a} -> {b}" for a, bs in graph.items() if not inside(a, DEV_TOOLS)
                  for b in bs if inside(b, DEV_TOOLS) and (a, b) != DEMO_ENTRY)


def bot_importing_handlers(graph: Graph) -> list[str]:
    return [edge for edge in imports_from(graph, "bot", "handlers")
            if edge.split(" -> ")[0] != COMPOSITION_ROOT
            and not inside(edge.split(" -> ")[0], DEV_TOOLS)]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


# ---------------------------------------------------------------------------- core is pure


def test_core_imports_no_infrastructure() -> None:
    files = list(CORE.rglob("*.py"))
    assert len(files) > 5
    offenders = {str(f.relative_to(CORE)): sorted(imported_roots(f) & FORBIDDEN_IN_CORE)
                 for f in files if imported_roots(f) & FORBIDDEN_IN_CORE}
    assert offenders == {}


def test_the_checker_would_catch_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from telegram import Bot\nimport sqlalchemy.orm\n")
    assert imported_roots(bad) & FORBIDDEN_IN_CORE == {"telegram", "sqlalchemy"}


# ---------------------------------------------------------------------------- no cycles


def test_no_project_modules_import_each_other_in_a_cycle() -> None:
    graph = import_graph(ROOT)
    assert len(graph) > 80
    assert import_cycles(graph) == []


def test_the_cycle_checker_sees_cycles_through_functions_type_checking_and_relative_imports(
        tmp_path: Path) -> None:
    write(tmp_path, {
        "core/__init__.py": "",
        "core/a.py": "def f():\n    from core.b import g\n",
        "core/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from .c import h\n",
        "core/c.py": "from . import a\n",
        "core/d.py": "import core.a\n",
        "handlers/__init__.py": "", "bot/__init__.py": "", "scheduler/__init__.py": "",
    })
    graph = import_graph(tmp_path)
    assert graph["core.c"] == {"core.a"}
    assert import_cycles(graph) == [["core.a", "core.b", "core.c"]]


# ---------------------------------------------------------------------------- layers


def test_handlers_never_import_bot() -> None:
    assert imports_from(import_graph(ROOT), "handlers", "bot") == []


def test_bot_imports_handlers_only_in_the_composition_root() -> None:
    graph = import_graph(ROOT)
    assert imports_from(graph, COMPOSITION_ROOT, "handlers")  # the root does wire them
    assert bot_importing_handlers(graph) == []


def test_the_layer_checker_would_catch_handlers_and_bot_knowing_each_other(
        tmp_path: Path) -> None:
    write(tmp_path, {
        "bot/__init__.py": "", "bot/app.py": "import handlers.x\n",
        "bot/messenger.py": "def f():\n    from handlers.x import y\n",
        "bot/sandbox/__init__.py": "", "bot/sandbox/demo.py": "from handlers import x\n",
        "handlers/__init__.py": "", "handlers/x.py": "from bot import messenger\n",
        "core/__init__.py": "", "scheduler/__init__.py": "",
    })
    graph = import_graph(tmp_path)
    assert imports_from(graph, "handlers", "bot") == ["handlers.x -> bot.messenger"]
    assert bot_importing_handlers(graph) == ["bot.messenger -> handlers.x"]


def test_production_code_never_imports_the_development_tools() -> None:
    graph = import_graph(ROOT)
    assert DEMO_ENTRY[1] in graph[DEMO_ENTRY[0]]  # `ticketq demo` is the one way in
    assert production_importing_dev_tools(graph) == []


def test_the_dev_tools_checker_would_catch_production_code_using_the_sandbox(
        tmp_path: Path) -> None:
    write(tmp_path, {
        "bot/__init__.py": "", "bot/cli.py": "from bot.sandbox.demos import run\n",
        "bot/app.py": "from bot.sandbox import harness\n",
        "bot/sandbox/__init__.py": "", "bot/sandbox/harness.py": "import bot.app\n",
        "bot/sandbox/demos/__init__.py": "run = 1\n",
        "scheduler/__init__.py": "", "scheduler/jobs.py": "from bot.sandbox.harness import x\n",
        "core/__init__.py": "", "handlers/__init__.py": "",
    })
    assert production_importing_dev_tools(import_graph(tmp_path)) == [
        "bot.app -> bot.sandbox.harness", "scheduler.jobs -> bot.sandbox.harness"]


# ---------------------------------------------------------------------------- one place builds


def service_classes(root: Path) -> set[str]:
    """The use-case classes of core (``...Service`` in any feature folder)."""
    return {node.name for path in (root / "core").rglob("*.py")
            for node in ast.parse(path.read_text(encoding="utf-8")).body
            if isinstance(node, ast.ClassDef) and node.name.endswith("Service")}


def service_constructions(root: Path, packages: Iterable[str] = PROJECT) -> list[str]:
    """``module: Class`` for every production module outside the composition root that calls
    a service class."""
    services = service_classes(root)
    found = set()
    for pkg in packages:
        for path in (root / pkg).rglob("*.py"):
            module = module_name(root, path)
            if module == COMPOSITION_ROOT or inside(module, DEV_TOOLS):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    func = node.func
                    name = (func.id if isinstance(func, ast.Name)
                            else func.attr if isinstance(func, ast.Attribute) else "")
                    if name in services:
                        found.add(f"{module}: {name}")
    return sorted(found)


def test_only_the_composition_root_builds_services() -> None:
    assert len(service_classes(ROOT)) >= 10
    assert service_constructions(ROOT) == []


def test_the_builder_checker_would_catch_a_service_built_elsewhere(tmp_path: Path) -> None:
    write(tmp_path, {
        "core/__init__.py": "", "core/services/__init__.py": "",
        "core/services/x.py": "class LotteryService: ...\nclass Helper: ...\n",
        "core/services/y.py": "from core.services import x\n"
                              "def f(db):\n    return x.LotteryService(db)\n",
        "bot/__init__.py": "", "bot/app.py": "from core.services.x import LotteryService\n"
                                             "LotteryService(1)\n",
        "bot/cli.py": "from core.services.x import LotteryService, Helper\n"
                      "def main():\n    LotteryService(2).audit(1)\n    Helper()\n",
        "handlers/__init__.py": "", "scheduler/__init__.py": "",
    })
    assert service_constructions(tmp_path) == ["bot.cli: LotteryService",
                                               "core.services.y: LotteryService"]
