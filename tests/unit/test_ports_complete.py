"""Every port method exists, with the port's signature, in the in-memory fake
(tests/fakes.py) and in the SQL storage (bot/storage): a method added to a port in
``core/<feature>/ports.py`` or ``core/kernel/ports.py`` cannot be forgotten in either.

Compared with :mod:`inspect`: the method names, whether they are coroutines, and the
parameters (name, kind, default, annotation as written) and return annotation.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from pathlib import Path
from typing import Any

import pytest

from bot.storage.database import SqlDatabase
from bot.storage.outbox_store import SqlOutboxStore
from bot.storage.repositories import SqlUnitOfWork
from core.unit_of_work import Database, UnitOfWork
from tests.fakes import (
    InMemoryDatabase,
    InMemoryOutboxStore,
    InMemoryUnitOfWork,
    _Sequences,
    _Tables,
    _Tx,
)

CORE = Path(__file__).resolve().parents[2] / "core"
PORT_MODULES = sorted(
    ".".join(path.relative_to(CORE.parent).with_suffix("").parts)
    for path in CORE.glob("*/ports.py"))

# Ports that a provider implements (Stripe, a randomness beacon), not storage: the fake
# storage has nothing to do with them. A new port must be listed here or be storage.
PROVIDER_PORTS = {"Beacon", "ChargeLedger", "RefundGateway"}


def _protocols() -> dict[str, type]:
    found = {}
    for name in PORT_MODULES:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (inspect.isclass(value) and value.__module__ == name
                    and getattr(value, "_is_protocol", False)):
                found[attr] = value
    return found


def _uow_ports() -> dict[str, type]:
    """UnitOfWork attribute -> the port it returns."""
    ports = {}
    for name, member in vars(UnitOfWork).items():
        if isinstance(member, property) and member.fget is not None:
            ports[name] = typing.get_type_hints(member.fget)["return"]
    return ports


def _implementations() -> list[tuple[type, type, type]]:
    """(port, fake class, SQL class) for every storage port."""
    fake_uow = InMemoryUnitOfWork(_Tx(_Tables(), _Sequences(), writable=False))
    sql_uow = SqlUnitOfWork(None, "sqlite")  # type: ignore[arg-type] (no connection needed)
    pairs = [(port, type(getattr(fake_uow, attr)), type(getattr(sql_uow, attr)))
             for attr, port in _uow_ports().items()
             if hasattr(fake_uow, attr) and hasattr(sql_uow, attr)]  # else: the test below
    pairs.append((_protocols()["OutboxStore"], InMemoryOutboxStore, SqlOutboxStore))
    pairs.append((Database, InMemoryDatabase, SqlDatabase))
    return pairs


def _port_methods(port: type) -> dict[str, Any]:
    return {name: member for name, member in vars(port).items()
            if not name.startswith("_") and (inspect.isfunction(member)
                                             or isinstance(member, property))}


def _shape(function: Any) -> tuple[bool, list[tuple[str, Any, Any, Any]], Any]:
    signature = inspect.signature(function)
    params = [(p.name, p.kind, p.default, p.annotation)
              for p in signature.parameters.values()]
    returns = signature.return_annotation
    # ``@asynccontextmanager`` over ``-> AsyncIterator[X]`` is what a port writes as
    # ``-> AbstractAsyncContextManager[Port]`` (mypy checks X against the port).
    wrapped = hasattr(function, "__wrapped__") and str(returns).startswith("AsyncIterator[")
    if wrapped or str(returns).startswith("AbstractAsyncContextManager["):
        returns = "AbstractAsyncContextManager"
    return inspect.iscoroutinefunction(function), params, returns


def _differences(port: type, implementation: type) -> list[str]:
    problems = []
    for name, member in _port_methods(port).items():
        mine = inspect.getattr_static(implementation, name, None)
        if mine is None:
            problems.append(f"{implementation.__name__}.{name} is missing")
            continue
        if isinstance(member, property):
            continue  # a property of the port may be a property or a plain attribute
        if isinstance(mine, (staticmethod, classmethod)):
            mine = mine.__func__
        if not callable(mine):
            problems.append(f"{implementation.__name__}.{name} is not a method")
            continue
        wanted, got = _shape(member), _shape(mine)
        if wanted != got:
            problems.append(f"{implementation.__name__}.{name}{inspect.signature(mine)} "
                            f"!= {port.__name__}.{name}{inspect.signature(member)}")
    return problems


def test_every_port_is_storage_in_the_unit_of_work_or_a_provider() -> None:
    storage = {port.__name__ for port in _uow_ports().values()} | {"OutboxStore", "Database"}
    unknown = set(_protocols()) - storage - PROVIDER_PORTS
    assert not unknown, (f"ports neither in the unit of work nor listed as a provider's: "
                         f"{sorted(unknown)}")
    assert set(_protocols()) >= PROVIDER_PORTS  # the list names ports that exist


def test_the_fake_and_the_sql_storage_are_complete_units_of_work() -> None:
    fake_uow = InMemoryUnitOfWork(_Tx(_Tables(), _Sequences(), writable=False))
    sql_uow = SqlUnitOfWork(None, "sqlite")  # type: ignore[arg-type]
    for attr in _uow_ports():
        assert hasattr(fake_uow, attr), f"InMemoryUnitOfWork has no {attr}"
        assert hasattr(sql_uow, attr), f"SqlUnitOfWork has no {attr}"


@pytest.mark.parametrize("port, fake, sql", _implementations(),
                         ids=lambda value: getattr(value, "__name__", str(value)))
def test_every_port_method_is_in_the_fake_and_the_sql_storage_with_its_signature(
        port: type, fake: type, sql: type) -> None:
    assert _port_methods(port), f"{port.__name__} has no methods?"
    problems = _differences(port, fake) + _differences(port, sql)
    assert not problems, "\n".join(problems)
