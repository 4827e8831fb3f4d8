"""The lock order on PostgreSQL: every pair of write paths, run concurrently with delays
injected between the statements of their transactions, never deadlocks, never surfaces a
serialization error to a user, and leaves the books consistent.

SQLite serializes writers, so a wrong order only shows on PostgreSQL; the order itself is
checked on both engines by :class:`core.locking.LockLedger` in every test that writes.
Full-size run: ``TICKETQ_LOCK_ROUNDS=20 pytest tests/integration/test_lock_order.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.storage import tables as t
from bot.storage.database import SqlDatabase
from core.access.model import Role
from core.access.service import AccessService
from core.catalog.spec import parse_event_spec
from core.door.service import CheckinService
from core.kernel.clock import ManualClock
from core.kernel.errors import DomainError
from core.lottery.service import LotteryService
from core.organizer.editor import EventWizardService
from core.organizer.service import OrganizerService
from core.payments.model import IncomingPayment
from core.sales.model import entry_payload, invoice_payload
from core.sales.service import PurchaseService
from core.tickets.model import format_short_code
from core.transfers.service import TransferService
from tests.factories import event_doc, lottery_doc
from tests.reliability.invariants import assert_checkin_log_consistent, assert_nothing_oversold

ADMIN, ORGANIZER = 1, 2
ROUNDS = int(os.environ.get("TICKETQ_LOCK_ROUNDS", "1"))
MAX_DELAY = 0.015  # seconds between two statements of a transaction
_ids = itertools.count(1000)

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


class _Slowed:
    """A repository (or the lock gate) whose every call first waits a random moment, so
    that concurrent transactions interleave at every statement."""

    def __init__(self, target: Any, rng: random.Random) -> None:
        self._target = target
        self._rng = rng

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr

        async def slowed(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(self._rng.uniform(0, MAX_DELAY))
            return await attr(*args, **kwargs)
        return slowed


class _SlowUnitOfWork:
    def __init__(self, uow: Any, rng: random.Random) -> None:
        self._uow = uow
        self._rng = rng

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._uow, name)
        return _Slowed(attr, self._rng) if hasattr(attr, "conn") or name == "locks" else attr


class SlowDatabase:
    """The real database, with random delays inside every write transaction (before each
    statement and before the commit)."""

    def __init__(self, db: SqlDatabase, rng: random.Random) -> None:
        self._db = db
        self._rng = rng

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Any]:
        async with self._db.write() as uow:
            yield _SlowUnitOfWork(uow, self._rng)
            await asyncio.sleep(self._rng.uniform(0, MAX_DELAY))

    def read(self) -> Any:
        return self._db.read()


@dataclass
class Scene:
    """A direct-sale event and a lottery, each with something in every state a write path
    can meet: live holds, a paid ticket, pending and paid entries."""

    direct_id: int
    ga_id: int
    holds: list[Any]
    ticket_code: str
    lottery_id: int
    lottery_type_id: int
    entries: list[Any]
    ticket_id: int = 0
    ticket_owner: int = 0


async def _payment(user: int, payload: str, amount: Any) -> IncomingPayment:
    n = next(_ids)
    return IncomingPayment(user, user, f"tg_lock_{n}", f"ch_lock_{n}", payload, amount,
                           first_name="Pat")


async def build_scene(db: SqlDatabase, clock: ManualClock, purchase: PurchaseService,
                      lottery: LotteryService) -> Scene:
    starts = (clock.now() + timedelta(hours=20)).replace(tzinfo=None).isoformat(
        timespec="minutes")
    spec = parse_event_spec(event_doc(capacity=6, per_user_limit=2, starts_at=starts,
                                      timezone="UTC"), now=clock.now())
    lottery_spec = parse_event_spec(lottery_doc(clock.now(), seats=2), now=clock.now())
    async with db.write() as uow:
        direct = await uow.events.add(spec, created_by=ORGANIZER, now=clock.now())
        drawn = await uow.events.add(lottery_spec, created_by=ORGANIZER, now=clock.now())
        ga = (await uow.events.ticket_types(direct.id))[0]
        lottery_type = (await uow.events.ticket_types(drawn.id))[0]
    holds = [await purchase.hold(user_id=next(_ids), ticket_type_id=ga.id, quantity=1)
             for _ in range(4)]
    paid = holds.pop()
    confirmation = await purchase.confirm_payment(
        await _payment(paid.order.user_id, invoice_payload(paid.order.id), paid.order.total))
    entries = []
    for _ in range(3):
        pending = await lottery.start_entry(user_id=next(_ids), chat_id=1,
                                            ticket_type_id=lottery_type.id, quantity=1)
        entries.append(pending.entry)
    first = entries.pop()
    await lottery.confirm_payment(
        await _payment(first.user_id, entry_payload(first.id), first.total), first.id)
    ticket = confirmation.tickets[0]
    return Scene(direct.id, ga.id, holds, format_short_code(ticket.short_code),
                 drawn.id, lottery_type.id, entries, ticket.id, ticket.owner_user_id)


Path = Callable[["Paths", Scene], Awaitable[object]]


class Paths:
    """Every write path, as the product runs it, on the delayed database."""

    def __init__(self, db: SlowDatabase, clock: ManualClock, at_draw: ManualClock) -> None:
        access = AccessService(db, clock, frozenset({ADMIN}))  # type: ignore[arg-type]
        self.lottery = LotteryService(db, clock)  # type: ignore[arg-type]
        self.drawing = LotteryService(db, at_draw)  # type: ignore[arg-type]  # another worker
        self.purchase = PurchaseService(db, clock, lottery=self.lottery)  # type: ignore[arg-type]
        self.organizer = OrganizerService(db, clock, access, self.lottery)  # type: ignore[arg-type]
        self.checkin = CheckinService(db, clock, access)  # type: ignore[arg-type]
        self.wizard = EventWizardService(db, clock, access)  # type: ignore[arg-type]
        self.transfers = TransferService(db, clock)  # type: ignore[arg-type]

    async def hold(self, s: Scene) -> object:
        return await self.purchase.hold(user_id=next(_ids), ticket_type_id=s.ga_id, quantity=1)

    async def pre_checkout(self, s: Scene) -> object:
        order = s.holds[0].order
        return await self.purchase.pre_checkout(
            user_id=order.user_id, payload=invoice_payload(order.id), amount=order.total)

    async def pay(self, s: Scene) -> object:
        order = s.holds[1].order
        return await self.purchase.confirm_payment(
            await _payment(order.user_id, invoice_payload(order.id), order.total))

    async def release(self, s: Scene) -> object:
        order = s.holds[2].order
        return await self.purchase.release(user_id=order.user_id, order_id=order.id)

    async def check_in(self, s: Scene) -> object:
        return await self.checkin.scan_code(staff_id=ORGANIZER, typed=s.ticket_code,
                                            nonce=f"n{next(_ids)}")

    async def edit_event(self, s: Scene) -> object:
        await self.wizard.start(ORGANIZER, s.direct_id)
        return await self.wizard.publish(ORGANIZER)

    async def reminders(self, s: Scene) -> object:
        return await self.organizer.send_due_reminders()

    async def cancel(self, s: Scene) -> object:
        return await self.organizer.cancel_event(actor_id=ORGANIZER, event_id=s.direct_id)

    async def enter_lottery(self, s: Scene) -> object:
        return await self.lottery.start_entry(user_id=next(_ids), chat_id=1,
                                              ticket_type_id=s.lottery_type_id, quantity=1)

    async def pay_entry(self, s: Scene) -> object:
        entry = s.entries[0]
        return await self.purchase.confirm_payment(
            await _payment(entry.user_id, entry_payload(entry.id), entry.total))

    async def close_lottery(self, s: Scene) -> object:
        return await self.drawing.close(s.lottery_id)

    async def draw(self, s: Scene) -> object:
        return await self.drawing.draw(s.lottery_id)

    async def cancel_lottery(self, s: Scene) -> object:
        return await self.organizer.cancel_event(actor_id=ORGANIZER, event_id=s.lottery_id)

    async def transfer(self, s: Scene) -> object:
        link = await self.transfers.make_link(user_id=s.ticket_owner, ticket_id=s.ticket_id)
        return await self.transfers.claim(user_id=next(_ids), transfer_id=link.transfer.id,
                                          confirm_code=link.transfer.confirm_code)

    async def refund_ticket(self, s: Scene) -> object:
        return await self.organizer.refund_ticket(actor_id=ORGANIZER, code=s.ticket_code,
                                                  reason="lock order")


WRITE_PATHS: list[str] = ["hold", "pre_checkout", "pay", "release", "check_in", "edit_event",
                          "reminders", "cancel", "enter_lottery", "pay_entry",
                          "close_lottery", "draw", "cancel_lottery", "transfer",
                          "refund_ticket"]


@pytest.fixture
async def world(db: SqlDatabase, clock: ManualClock) -> AsyncIterator[tuple[Any, ...]]:
    access = AccessService(db, clock, frozenset({ADMIN}))
    invite = await access.create_invite(actor_id=ADMIN, role=Role.ORGANIZER)
    await access.accept_invite(user_id=ORGANIZER, first_name="Org", payload=f"i_{invite.token}")
    yield db, clock


async def assert_books_consistent(db: SqlDatabase) -> None:
    """The crash harness's invariants that hold without Stripe: nothing oversold, each
    ticket admitted once, and every recorded payment ended in tickets, an entry or a
    refund; a cancelled event has no valid ticket left."""
    await assert_nothing_oversold(db)
    await assert_checkin_log_consistent(db)
    p, o, en, r, tk, e = (t.payments.c, t.orders.c, t.entries.c, t.refunds.c, t.tickets.c,
                          t.events.c)
    async with db.read() as uow:
        rows = (await uow.conn.execute(
            select(p.id, o.status.label("order"), en.status.label("entry"),
                   func.count(r.id).label("refunds"),
                   func.count(r.id).filter(r.ticket_id.is_(None)).label("whole"))
            .select_from(t.payments.outerjoin(t.orders, o.id == p.order_id)
                         .outerjoin(t.entries, en.id == p.entry_id)
                         .outerjoin(t.refunds, r.payment_id == p.id))
            .group_by(p.id, o.status, en.status))).all()
        revoked_late = (await uow.conn.execute(
            select(func.count()).select_from(t.tickets.join(t.events, e.id == tk.event_id))
            .where(e.status == "cancelled", tk.status == "valid"))).scalar_one()
    # One refund of a payment as a whole at most (a ticket refunded on its own has its own).
    unsettled = [tuple(row) for row in rows if row.whole > 1 or (
        row.refunds == 0 and row.order != "paid" and row.entry not in ("entered", "won",
                                                                        "lost"))]
    assert not unsettled, f"payments neither honoured nor refunded once: {unsettled}"
    assert revoked_late == 0, "a cancelled event kept valid tickets"


async def run_together(paths: Paths, names: tuple[str, ...], scene: Scene) -> list[str]:
    """Run the paths at once; return what went wrong (a refusal of the product is fine)."""
    results = await asyncio.gather(*(getattr(paths, n)(scene) for n in names),
                                   return_exceptions=True)
    return [f"{name}: {result!r}" for name, result in zip(names, results, strict=True)
            if isinstance(result, BaseException) and not isinstance(result, DomainError)]


async def _round(world: tuple[Any, ...], names: tuple[str, ...], seed: int,
                 caplog: pytest.LogCaptureFixture) -> None:
    db, clock = world
    rng = random.Random(seed)
    at_draw = ManualClock(clock.now() + timedelta(seconds=3700))
    scene = await build_scene(db, clock, PurchaseService(db, clock, lottery=LotteryService(
        db, clock)), LotteryService(db, clock))
    caplog.clear()
    failures = await run_together(Paths(SlowDatabase(db, rng), clock, at_draw), names, scene)
    assert not failures, f"{names} (seed {seed}): {failures}"
    conflicts = [r.getMessage() for r in caplog.records if "concurrency conflict" in
                 r.getMessage()]
    assert not conflicts, f"{names} (seed {seed}) deadlocked or conflicted: {conflicts}"
    await assert_books_consistent(db)


async def test_lock_order_no_pair_of_write_paths_deadlocks(world, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="core.transactions")
    pairs = list(itertools.combinations_with_replacement(WRITE_PATHS, 2))
    for round_number in range(ROUNDS):
        for index, pair in enumerate(pairs):
            await _round(world, pair, round_number * 1000 + index, caplog)


async def test_lock_order_holds_with_every_write_path_at_once(world, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="core.transactions")
    for round_number in range(ROUNDS * 4):
        order = list(WRITE_PATHS)
        random.Random(round_number).shuffle(order)
        await _round(world, tuple(order), 50_000 + round_number, caplog)
