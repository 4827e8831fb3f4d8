"""The outbox shared by several workers: claims with leases, each chat's order across workers
(memory, SQLite and PostgreSQL run the same specs)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.kernel import outbox
from core.kernel.ports import OutboxStore
from tests.fakes import InMemoryDatabase


def worker_store(db: Any, name: str, lease: float = 30.0) -> OutboxStore:
    """The outbox as worker ``name`` sees it."""
    if isinstance(db, InMemoryDatabase):
        return db.outbox_store.for_worker(name, lease=lease)
    from bot.storage.outbox_store import SqlOutboxStore

    return SqlOutboxStore(db, worker_id=name, lease=lease)


async def _queue(db: Any, now: Any, items: list[tuple[str, int | None]]) -> None:
    async with db.write() as uow:
        for key, chat in items:
            await uow.outbox.put(outbox.MESSAGE, {"key": key, "params": {}}, dedupe_key=key,
                                 now=now, chat_id=chat)


def keys(items: list[Any]) -> list[str]:
    return [i.payload["key"] for i in items]


async def test_worker_claims_are_exclusive_until_the_lease_runs_out(db, clock) -> None:
    now = clock.now()
    await _queue(db, now, [("a1", 1), ("b1", 2), ("n", None)])
    a, b = worker_store(db, "a"), worker_store(db, "b")
    assert keys(await a.claim_due(now=now, limit=10)) == ["a1", "b1", "n"]
    assert await b.claim_due(now=now, limit=10) == []
    # Worker a renews while it works: still nothing for b.
    assert await a.renew_leases(now=now + timedelta(seconds=20)) == 3
    assert await b.claim_due(now=now + timedelta(seconds=40), limit=10) == []
    # Worker a died: its lease runs out and b takes every item over, in order.
    taken = await b.claim_due(now=now + timedelta(seconds=51), limit=10)
    assert keys(taken) == ["a1", "b1", "n"]
    await b.mark_done(taken[0].id, now=now)
    assert await b.renew_leases(now=now + timedelta(seconds=52)) == 2
    assert await a.renew_leases(now=now + timedelta(seconds=52)) == 0


async def test_worker_never_claims_a_chats_later_item_while_an_earlier_one_is_in_flight(
        db, clock) -> None:
    now = clock.now()
    await _queue(db, now, [("a1", 1), ("a2", 1)])
    a, b = worker_store(db, "a"), worker_store(db, "b")
    first = await a.claim_due(now=now, limit=1)
    assert keys(first) == ["a1"]
    await _queue(db, now, [("b1", 2), ("a3", 1)])
    # a1 is in flight on worker a: a2 and a3 wait for it; chat 2 goes on.
    (other,) = await b.claim_due(now=now, limit=10)
    assert other.payload["key"] == "b1"
    await b.mark_done(other.id, now=now)
    await a.mark_done(first[0].id, now=now)
    assert keys(await b.claim_due(now=now, limit=10)) == ["a2", "a3"]


async def test_worker_retry_of_an_earlier_item_holds_the_chat_on_every_worker(
        db, clock) -> None:
    now = clock.now()
    await _queue(db, now, [("a1", 1)])
    a, b = worker_store(db, "a"), worker_store(db, "b")
    (item,) = await a.claim_due(now=now, limit=10)
    await a.retry_later(item.id, error="429", at=now + timedelta(seconds=5))
    await _queue(db, now, [("a2", 1)])
    assert await b.claim_due(now=now + timedelta(seconds=1), limit=10) == []
    again = await b.claim_due(now=now + timedelta(seconds=5), limit=10)
    assert [(i.payload["key"], i.attempts) for i in again] == [("a1", 1), ("a2", 0)]


async def test_worker_finishing_an_item_late_does_not_undo_another_workers_result(
        db, clock) -> None:
    now = clock.now()
    await _queue(db, now, [("a1", 1)])
    a, b = worker_store(db, "a", lease=5), worker_store(db, "b", lease=5)
    (slow,) = await a.claim_due(now=now, limit=10)
    (taken,) = await b.claim_due(now=now + timedelta(seconds=6), limit=10)
    await b.mark_done(taken.id, now=now + timedelta(seconds=6))
    # Worker a comes back from a long pause and reports a failure: the item stays done.
    await a.retry_later(slow.id, error="timeout", at=now + timedelta(seconds=60))
    assert await a.pending_count() == 0


async def test_worker_claims_again_what_its_own_last_pass_left_behind_a_failure(
        db, clock) -> None:
    now = clock.now()
    await _queue(db, now, [("a1", 1), ("a2", 1), ("a3", 1)])
    a, b = worker_store(db, "a"), worker_store(db, "b")
    first, second, _third = await a.claim_due(now=now, limit=10)
    await a.mark_done(first.id, now=now)
    await a.retry_later(second.id, error="network", at=now + timedelta(seconds=2))
    # a3 was left unsent behind a2's retry: nobody takes it before a2 ...
    assert await a.claim_due(now=now + timedelta(seconds=1), limit=10) == []
    assert await b.claim_due(now=now + timedelta(seconds=1), limit=10) == []
    # ... and worker a, whose claim on a3 still runs, sends both in order when a2 is due.
    assert keys(await a.claim_due(now=now + timedelta(seconds=2), limit=10)) == ["a2", "a3"]
