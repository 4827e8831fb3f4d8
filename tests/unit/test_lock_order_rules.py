"""The lock order as rules: what a transaction may lock after what (core/locking.py), and
how a write transaction the database aborted for concurrency is run again."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from core.kernel import locking
from core.kernel.errors import ConcurrencyConflict
from core.kernel.locking import LockLedger, LockOrderViolation
from core.transactions import MAX_ATTEMPTS, write_attempts

ROOT = Path(__file__).resolve().parents[2]


def test_lock_order_allows_locks_further_down_the_order() -> None:
    ledger = LockLedger()
    ledger.admit([locking.event(7, shared=True)])
    ledger.admit([locking.ticket_type(3)])
    ledger.admit([locking.order(1)])
    ledger.admit([locking.ticket(2)])
    assert [lock.level for lock in ledger.held] == [
        locking.Level.EVENT, locking.Level.TICKET_TYPE, locking.Level.ORDER,
        locking.Level.TICKET]


def test_lock_order_refuses_an_event_after_an_order() -> None:
    ledger = LockLedger()
    ledger.admit([locking.order(1)])
    with pytest.raises(LockOrderViolation, match="event 7"):
        ledger.admit([locking.event(7)])


def test_lock_order_wants_ascending_keys_within_a_level() -> None:
    ledger = LockLedger()
    ledger.admit([locking.ticket_type(5)])
    with pytest.raises(LockOrderViolation):
        ledger.admit([locking.ticket_type(4)])
    ledger.admit([locking.ticket_type(6)])


def test_lock_order_sorts_one_request_itself() -> None:
    ledger = LockLedger()
    taken = ledger.admit([locking.ticket_type(9), locking.order(2), locking.ticket_type(4),
                          locking.event(1)])
    assert [(lock.level.name, lock.key) for lock in taken] == [
        ("EVENT", 1), ("TICKET_TYPE", 4), ("TICKET_TYPE", 9), ("ORDER", 2)]


def test_lock_order_lets_a_path_take_a_held_lock_again() -> None:
    ledger = LockLedger()
    ledger.admit([locking.event(1), locking.ticket_type(3), locking.order(8)])
    assert ledger.admit([locking.ticket_type(3)]) == []
    assert ledger.admit([locking.event(1, shared=True)]) == []  # exclusive covers shared


def test_lock_order_never_upgrades_a_shared_event_lock() -> None:
    ledger = LockLedger()
    ledger.admit([locking.event(1, shared=True)])
    with pytest.raises(LockOrderViolation, match="upgraded"):
        ledger.admit([locking.event(1)])


def test_lock_order_knows_what_is_held_and_how() -> None:
    ledger = LockLedger()
    ledger.admit([locking.event(1, shared=True)])
    assert ledger.holds(locking.event(1, shared=True))
    assert not ledger.holds(locking.event(1))
    assert not ledger.holds(locking.event(2, shared=True))


class FlakyDatabase:
    """A database whose first ``conflicts`` write transactions abort for concurrency."""

    def __init__(self, conflicts: int) -> None:
        self.conflicts = conflicts
        self.begun = 0
        self.committed = 0

    @asynccontextmanager
    async def write(self) -> AsyncIterator[object]:
        self.begun += 1
        yield object()
        if self.begun <= self.conflicts:
            raise ConcurrencyConflict("deadlock detected")  # at commit
        self.committed += 1


async def test_a_transaction_aborted_for_concurrency_runs_again_unseen() -> None:
    db = FlakyDatabase(conflicts=2)
    runs = 0
    async for attempt in write_attempts(db):
        async with attempt:
            runs += 1
    assert (runs, db.committed) == (3, 1)


async def test_a_transaction_that_keeps_conflicting_gives_up_with_the_conflict() -> None:
    db = FlakyDatabase(conflicts=MAX_ATTEMPTS)
    with pytest.raises(ConcurrencyConflict):
        async for attempt in write_attempts(db):
            async with attempt:
                pass
    assert (db.begun, db.committed) == (MAX_ATTEMPTS, 0)


async def test_a_rule_broken_inside_a_transaction_is_not_retried() -> None:
    db = FlakyDatabase(conflicts=0)
    with pytest.raises(ValueError):
        async for attempt in write_attempts(db):
            async with attempt:
                raise ValueError("sold out")
    assert db.begun == 1


def row_lock_sites(path: Path) -> list[int]:
    """Lines that lock rows (``with_for_update``) in a module."""
    return [node.lineno for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Attribute) and node.attr == "with_for_update"]


def test_lock_order_rows_are_locked_only_through_the_lock_gate() -> None:
    sites = {str(path.relative_to(ROOT)): row_lock_sites(path)
             for folder in ("bot", "core", "handlers", "scheduler")
             for path in (ROOT / folder).rglob("*.py") if row_lock_sites(path)}
    assert list(sites) == ["bot/storage/locks.py"], sites


def test_the_row_lock_finder_would_catch_a_lock_elsewhere(tmp_path: Path) -> None:
    rogue = tmp_path / "rogue.py"
    rogue.write_text("q = select(orders).with_for_update()\n")
    assert row_lock_sites(rogue) == [1]
