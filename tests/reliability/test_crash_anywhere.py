"""Crash anywhere: the real ``ticketq run`` process is SIGKILLed at random points during
purchases, a lottery's close, draw and settlement, an event's cancellation and door check-in,
then restarted on the same database until the scenario completes. After every trial, by the
database and the Stripe emulator's ledger: nothing oversold; every successful payment ticketed
or refunded exactly once; every lottery entrant told their result; the check-in log admits
each ticket at most once.

Quick (CI, unmarked): one trial per scenario on each backend (two per scenario), ~60 s.
Full: ``TICKETQ_CRASH_TRIALS=20 pytest tests/reliability -m slow`` (20 is the default).

A failing trial is announced at once (output and ``failures.log``) with its seed, kills and
kill windows, and keeps its artefacts under ``TICKETQ_CRASH_ARTEFACTS`` (default: the pytest
tmp path); passing ones are listed in ``trials.log`` there. ``TICKETQ_CRASH_WINDOWS=all`` (or
``payment,send,poll,stripe,time``) aims the kills; ``TICKETQ_CRASH_THROTTLE=0.6`` keeps the bot
stopped 60 % of the time, as on a loaded machine.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import build_services
from bot.sandbox import PaymentOutcome, Sandbox, VirtualUser
from bot.sandbox.harness import new_sandbox
from bot.storage import tables as t
from bot.storage.database import SqlDatabase
from bot.storage.inbox_store import SqlInbox
from bot.storage.migrate import upgrade_to_head
from core.access.model import Role
from core.access.service import AccessService
from core.kernel.clock import SystemClock
from core.lottery.service import LotteryService
from core.organizer.service import OrganizerService
from tests.factories import event_doc, lottery_doc
from tests.reliability import people
from tests.reliability.crash_harness import (
    BotProcess,
    Chaos,
    announce,
    artefacts_root,
    crash_trials,
    crash_windows,
    keep_artefacts,
    wait_until,
)
from tests.reliability.invariants import (
    assert_checkin_log_consistent,
    assert_nothing_oversold,
    assert_nothing_parked,
    inbox_unhandled,
    inbox_unhandled_payments,
    outbox_pending,
    settle_charges,
)

ORGANIZER = 9000
QUICK_TRIALS = 1  # per backend
FULL_TRIALS = crash_trials(20)


@dataclass
class Trial:
    """One run of a scenario: the sandbox, the killable bot and the test's own connection."""

    sandbox: Sandbox
    bot: BotProcess
    db: SqlDatabase
    rng: random.Random
    kills: int
    windows: tuple[str, ...] = ("time",)
    chaos_run: Chaos | None = None
    # Where the settling used before the inbox check would have stopped the last bot: the
    # acknowledged updates, and the payments among them, still unhandled at that moment
    # (None: not reached).
    old_settle_left: tuple[int, int] | None = None
    # The first looks of the settling: (seconds after the last bot was up, updates pending at
    # Telegram, unhandled in the inbox, pending in the outbox).
    settle_trace: list[tuple[float, int, int, int]] = field(default_factory=list)

    def chaos(self, **kwargs) -> Chaos:
        kwargs.setdefault("windows", self.windows)
        self.chaos_run = Chaos(self.bot, self.rng, self.kills, **kwargs)
        return self.chaos_run

    async def settle(self, timeout: float = 40.0) -> None:
        """Let the last bot finish: no update unread or unhandled, nothing left in the outbox.

        Checked in the order an update travels (Telegram, then the inbox, then the outbox the
        handler's transaction filled before its inbox row was forgotten), so an update on its
        way is always seen somewhere. Telegram alone is not enough: the last bot may still be
        replaying an acknowledged update from its inbox.
        """
        await self.bot.wait_ready()
        loop = asyncio.get_running_loop()
        first_old_quiet: list[float] = []

        up = loop.time()

        async def quiet() -> bool:
            pending = self.sandbox.pending_updates()
            telegram_done = pending == 0
            unhandled = await inbox_unhandled(self.db)
            queued = await outbox_pending(self.db)
            outbox_done = queued == 0
            if len(self.settle_trace) < 8:
                self.settle_trace.append((round(loop.time() - up, 2), pending, unhandled,
                                          queued))
            if telegram_done and outbox_done and self.old_settle_left is None:
                # The old settling (Telegram and the outbox only) stopped the bot at its
                # second quiet look, at least 0.3 s after the first: record what it missed.
                if not first_old_quiet:
                    first_old_quiet.append(loop.time())
                elif loop.time() - first_old_quiet[0] >= 0.3:
                    self.old_settle_left = (unhandled,
                                            await inbox_unhandled_payments(self.db))
            return telegram_done and unhandled == 0 and outbox_done

        await wait_until(quiet, timeout=timeout, what="updates read and outbox drained",
                         interval=0.2)
        await asyncio.sleep(0.3)
        await wait_until(quiet, timeout=timeout, what="still quiet", interval=0.2)
        await self.bot.stop()
        await assert_nothing_parked(self.db)


def _label(database_url: str, scenario: str, seed: int) -> str:
    engine = "sqlite" if database_url.startswith("sqlite") else "postgres"
    return f"{scenario}-{engine}-seed{seed}"


@asynccontextmanager
async def trial(database_url: str, tmp_path: Path, seed: int, kills: int, *,
                scenario: str = "trial", windows: tuple[str, ...] = ("time",)
                ) -> AsyncIterator[Trial]:
    """A migrated database, a started sandbox and a (not yet started) bot process.

    A failure is announced at once (see :func:`announce`) with the trial's label and seed,
    and its artefacts are kept in a directory named in the failure message.
    """
    label = _label(database_url, scenario, seed)
    root = artefacts_root(tmp_path)
    started = time.monotonic()
    db = SqlDatabase(database_url)
    await upgrade_to_head(db)
    # About crashes, not flood control: as loose as the bot process's TICKETQ_SEND_RATE*.
    sandbox = new_sandbox(rate_limit_global=None, rate_limit_per_chat=None)
    await sandbox.start()
    bot = BotProcess(sandbox, database_url, tmp_path, admin_ids=frozenset({ORGANIZER}))
    tr = Trial(sandbox, bot, db, random.Random(seed), kills, windows)
    try:
        yield tr
    except BaseException as exc:
        await bot.kill()
        kept = keep_artefacts(root / label, label=label, seed=seed, bot=bot,
                              chaos=tr.chaos_run, error=exc, database_url=database_url)
        chaos = tr.chaos_run
        announce(root, f"FAILED {label} after {time.monotonic() - started:.1f}s "
                 f"(kills={bot.kills} starts={bot.starts} "
                 f"windows={chaos.kill_windows if chaos else []} "
                 f"at={chaos.kill_times if chaos else []}): "
                 f"{type(exc).__name__}: {str(exc)[:2000]}\n  artefacts: {kept}")
        print(f"--- last bot log:\n{bot.tail(60)}", flush=True)
        exc.add_note(f"crash trial {label}: artefacts kept in {kept}")
        raise
    else:
        chaos = tr.chaos_run
        announce(root, f"passed {label} in {time.monotonic() - started:.1f}s "
                 f"(kills={bot.kills} windows={chaos.kill_windows if chaos else []}"
                 f" at={chaos.kill_times if chaos else []} "
                 f"old-settle-left={tr.old_settle_left} settle={tr.settle_trace})",
                 log="trials.log")
    finally:
        await bot.kill()
        await sandbox.stop()
        await db.dispose()


async def import_event(tr: Trial, doc: dict) -> int:
    admin = build_services(tr.db, SystemClock(), admin_ids=frozenset({ORGANIZER})).admin
    return (await admin.import_event(doc, actor_id=ORGANIZER)).id


def buyers(tr: Trial, count: int, base: int) -> list[VirtualUser]:
    return [tr.sandbox.user(user_id=base + i, first_name=f"Pat{base + i}") for i in range(count)]


# --------------------------------------------------------------------------- scenarios
async def purchases(database_url: str, tmp_path: Path, seed: int, kills: int,
                    people_count: int, capacity: int,
                    windows: tuple[str, ...] = ("time",)) -> None:
    """Many people buy through the chat while the bot keeps dying."""
    async with trial(database_url, tmp_path, seed, kills, scenario="purchases",
                     windows=windows) as tr:
        await import_event(tr, event_doc(capacity=capacity, per_user_limit=2))
        chaos = tr.chaos()
        chaos.start()
        # People keep trying until the last bot has been up for 15 s (at most 2 minutes):
        # a fixed 25 s deadline failed trials on a loaded machine ("nobody managed to pay")
        # when the kills and slow restarts used it all up.
        deadline = time.monotonic() + 120
        crowd = buyers(tr, people_count, 1000)
        outcomes = await asyncio.gather(*(
            people.patiently(u, people.buy_one("Night Market", tr.rng.choice([1, 1, 2])),
                             deadline=deadline, stop=chaos.calm_for(15.0)) for u in crowd))
        await chaos.finish()
        await tr.settle()
        await assert_nothing_oversold(tr.db)
        fate = await settle_charges(tr.db, tr.sandbox)
        await assert_buyers_told(tr, fate)
        assert any(o is not None for o in outcomes), "nobody managed to pay at all"


async def assert_buyers_told(tr: Trial, fate: dict[str, str]) -> None:
    """Each payer saw their QR tickets (one per seat) or their refund."""
    for user in tr.sandbox.users.values():
        for payment in user.payments:
            if not payment.ok:
                continue
            texts = [m.text or "" for m in user.messages]
            if fate[payment.charge_id] == "refunded":
                assert any("refund of" in x and "issued" in x for x in texts), user.dump()
            elif fate[payment.charge_id] == "returned":  # resold to the waiting list
                assert any("were bought by someone" in x for x in texts), user.dump()
                assert any("refund of" in x and "issued" in x for x in texts), user.dump()
            else:
                assert any("Payment received" in x for x in texts), user.dump()
                assert any(m.photo is not None for m in user.messages), user.dump()


async def lottery(database_url: str, tmp_path: Path, seed: int, kills: int,
                  people_count: int, seats: int, close_in: int,
                  windows: tuple[str, ...] = ("time",)) -> None:
    """Entries, close, draw and settlement of a lottery with real seconds-long windows."""
    async with trial(database_url, tmp_path, seed, kills, scenario="lottery",
                     windows=windows) as tr:
        now = datetime.now(UTC)
        event_id = await import_event(tr, lottery_doc(now, seats=seats, closes_in=close_in,
                                                      draw_in=close_in + 1))
        tr.sandbox.stripe.processing_delay = 0.02  # settlement takes a little while
        chaos = tr.chaos(min_life=0.5, max_life=2.5)
        chaos.start()
        deadline = time.monotonic() + close_in
        crowd = buyers(tr, people_count, 2000)
        await asyncio.gather(*(
            people.patiently(u, people.enter_lottery("Sold-Out Show", tr.rng.choice([1, 2])),
                             deadline=deadline) for u in crowd))
        await chaos.finish()

        async def drawn() -> bool:
            async with tr.db.read() as uow:
                event = await uow.events.get(event_id)
            return event is not None and event.lottery_state is not None \
                and event.lottery_state.value == "drawn"

        await wait_until(drawn, timeout=30, what="the lottery is drawn")
        await tr.settle()
        await assert_nothing_oversold(tr.db)
        await settle_charges(tr.db, tr.sandbox)
        async with tr.db.read() as uow:
            entries = (await uow.conn.execute(select(t.entries.c.user_id, t.entries.c.status)
                       .where(t.entries.c.event_id == event_id))).all()
        assert not [e for e in entries if e.status == "entered"], "entries left undrawn"
        results = [e for e in entries if e.status in ("won", "lost")]
        for entry in results:
            user = tr.sandbox.users[entry.user_id]
            word = "You won" if entry.status == "won" else "Not selected"
            assert any(word in (m.text or "") for m in user.messages), user.dump()


async def cancellation(database_url: str, tmp_path: Path, seed: int, kills: int,
                       people_count: int, windows: tuple[str, ...] = ("time",)) -> None:
    """The organizer cancels while people are still buying and the bot keeps dying: every
    payment, before or after the cancellation, is refunded exactly once."""
    async with trial(database_url, tmp_path, seed, kills, scenario="cancellation",
                     windows=windows) as tr:
        event_id = await import_event(tr, event_doc(capacity=people_count * 2))
        tr.sandbox.stripe.processing_delay = 0.05
        chaos = tr.chaos()
        chaos.start()
        cancelled = asyncio.Event()
        deadline = time.monotonic() + 20

        async def organizer() -> None:
            await asyncio.sleep(tr.rng.uniform(2.0, 5.0))
            clock = SystemClock()
            access = AccessService(tr.db, clock, frozenset({ORGANIZER}))
            service = OrganizerService(tr.db, clock, access, LotteryService(tr.db, clock))
            await service.cancel_event(actor_id=ORGANIZER, event_id=event_id)
            cancelled.set()

        crowd = buyers(tr, people_count, 3000)
        outcomes = await asyncio.gather(organizer(), *(
            people.patiently(u, people.buy_one("Night Market"), deadline=deadline,
                             stop=cancelled.is_set) for u in crowd))
        await chaos.finish()
        await tr.settle()
        fate = await settle_charges(tr.db, tr.sandbox)
        assert set(fate.values()) <= {"refunded"}, fate
        async with tr.db.read() as uow:
            statuses = set((await uow.conn.execute(select(t.tickets.c.status))).scalars())
        assert statuses <= {"revoked"}, statuses
        await assert_buyers_told(tr, fate)
        assert any(isinstance(o, PaymentOutcome) for o in outcomes[1:]) or not fate


async def checkin(database_url: str, tmp_path: Path, seed: int, kills: int,
                  holders: int, windows: tuple[str, ...] = ("time",)) -> None:
    """Two door staff scan every ticket (the camera opening ``/start t_<token>``) while the
    bot keeps dying; each retries until the verdict names the holder."""
    async with trial(database_url, tmp_path, seed, kills, scenario="checkin",
                     windows=windows) as tr:
        event_id = await import_event(tr, event_doc(capacity=holders))
        await tr.bot.start()
        await tr.bot.wait_ready()
        crowd = buyers(tr, holders, 4000)
        paid = await asyncio.gather(*(
            people.patiently(u, people.buy_one("Night Market"),
                             deadline=time.monotonic() + 20) for u in crowd))
        assert all(paid), "setup: every holder buys one ticket"
        clock = SystemClock()
        access = AccessService(tr.db, clock, frozenset({ORGANIZER}))
        staff = [tr.sandbox.user(user_id=4900 + i, first_name=f"Gate{i}") for i in range(2)]
        for member in staff:
            invite = await access.create_invite(actor_id=ORGANIZER, role=Role.STAFF,
                                                event_id=event_id)
            await access.accept_invite(user_id=member.user_id, first_name=member.first_name,
                                       payload=f"i_{invite.token}")
        tickets: list = []

        async def all_issued() -> bool:
            nonlocal tickets
            async with tr.db.read() as uow:
                tickets = list((await uow.conn.execute(select(
                    t.tickets.c.id, t.tickets.c.token, t.tickets.c.owner_user_id))).all())
            return len(tickets) == holders

        await wait_until(all_issued, timeout=20, what="every holder's ticket issued")
        await tr.bot.kill()
        chaos = tr.chaos()
        chaos.start()
        deadline = time.monotonic() + 40
        seen: dict[int, list[tuple[int, str]]] = {}

        async def gate(member: VirtualUser) -> None:
            order = list(tickets)
            tr.rng.shuffle(order)
            for ticket in order:
                holder = tr.sandbox.users[ticket.owner_user_id].first_name
                verdict = await people.scan_until_verdict(member, f"t_{ticket.token}", holder,
                                                          deadline=deadline)
                seen.setdefault(ticket.id, []).append((member.user_id, verdict))

        await asyncio.gather(*(gate(m) for m in staff))
        await chaos.finish()
        await tr.settle()
        admitted = await assert_checkin_log_consistent(tr.db)
        assert set(admitted) == {tk.id for tk in tickets}, "a scanned ticket has no admission"
        for ticket_id, verdicts in seen.items():
            assert all("VALID" in v or "ALREADY USED" in v for _, v in verdicts), verdicts
            said_valid = {staff_id for staff_id, v in verdicts if "✅✅✅" in v}
            assert len(said_valid) <= 1, f"ticket {ticket_id} admitted at two gates"
            assert said_valid <= {admitted[ticket_id]}


async def returns(database_url: str, tmp_path: Path, seed: int, kills: int, holders: int,
                  windows: tuple[str, ...] = ("time",)) -> None:
    """A sold-out event: people join its waiting list, then holders return their tickets and
    the waiting people pay the offers while the bot keeps dying. Each return is resold at
    most once, each resale refunds its returner once (minus the fee) and revokes the old
    ticket, every other payment is ticketed or refunded once, nothing is oversold."""
    async with trial(database_url, tmp_path, seed, kills, scenario="returns",
                     windows=windows) as tr:
        await import_event(tr, event_doc(capacity=holders, per_user_limit=2,
                                         returns={"fee": "2.00", "offer_minutes": 10}))
        await tr.bot.start()
        await tr.bot.wait_ready()
        owners = buyers(tr, holders, 6000)
        paid = await asyncio.gather(*(
            people.patiently(u, people.buy_one("Night Market"),
                             deadline=time.monotonic() + 20) for u in owners))
        assert all(paid), "setup: every holder buys one ticket"
        waiting = buyers(tr, holders + 1, 6100)
        for user in waiting:  # in a known order: the waiting list serves it
            joined = await people.patiently(user, people.join_waitlist("Night Market"),
                                            deadline=time.monotonic() + 20)
            assert joined, "setup: everyone joins the waiting list"
        await tr.bot.kill()
        chaos = tr.chaos()
        chaos.start()
        deadline = time.monotonic() + 60
        returned, offers_paid = await asyncio.gather(
            asyncio.gather(*(people.patiently(u, people.return_tickets(), deadline=deadline)
                             for u in owners)),
            asyncio.gather(*(people.patiently(u, people.pay_offer(), deadline=deadline,
                                              stop=chaos.calm_for(15.0)) for u in waiting)))
        await chaos.finish()
        await tr.settle()
        await assert_nothing_oversold(tr.db)
        fate = await settle_charges(tr.db, tr.sandbox)
        async with tr.db.read() as uow:
            rows = (await uow.conn.execute(select(
                t.ticket_returns.c.user_id, t.ticket_returns.c.status))).all()
            revoked = set((await uow.conn.execute(select(t.tickets.c.owner_user_id).where(
                t.tickets.c.status == "revoked"))).scalars())
        resold = {r.user_id for r in rows if r.status == "resold"}
        assert list(fate.values()).count("returned") == len(resold)
        assert revoked == resold, (revoked, resold)
        for user_id in resold:
            user = tr.sandbox.users[user_id]
            assert any("were bought by someone" in (m.text or "") for m in user.messages), \
                user.dump()
            assert any("refund of €23.00 has been issued" in (m.text or "")
                       for m in user.messages), user.dump()
        await assert_buyers_told(tr, fate)
        assert any(returned), "nobody managed to return a ticket"
        assert resold, "no return was resold"
        assert len(resold) == sum(1 for o in offers_paid if o is not None and
                                  fate.get(o.charge_id or "") == "ticketed")


# --------------------------------------------------------------------------- a pinned crash
async def test_a_payment_whose_handler_was_killed_is_recorded_after_restart(tmp_path) -> None:
    """The crash the random trials found: the bot had fetched the successful_payment update
    (and, polling on, told Telegram it had it) but died before committing it. Telegram never
    sends a confirmed update again, so the money was taken and nothing was ever recorded.
    Here the bot is held inside that window by a writer lock on the SQLite file, then killed."""
    url = f"sqlite:///{tmp_path / 'ticketq.sqlite3'}"
    async with trial(url, tmp_path, 0, kills=0, scenario="pinned") as tr:
        await import_event(tr, event_doc(capacity=2))
        await tr.bot.start()
        await tr.bot.wait_ready()
        ann = tr.sandbox.user(user_id=700, first_name="Ann")
        outcome = None
        while outcome is None:
            outcome = await people.patiently(ann, _invoice_then_charge("Night Market"),
                                             deadline=time.monotonic() + 15)
        lock = sqlite3.connect(tmp_path / "ticketq.sqlite3", isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # the bot's next write waits here
        try:
            await ann.deliver_successful_payment(outcome)
            await asyncio.sleep(1.5)  # fetched, handler blocked on the database
            await tr.bot.kill()
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        await tr.bot.start()
        await tr.settle()
        fate = await settle_charges(tr.db, tr.sandbox)
        assert fate == {outcome.charge_id: "ticketed"}
        await ann.wait_for_message(contains="Payment received", since=0, timeout=1)


async def test_settling_waits_for_a_payment_the_last_bot_replays_from_its_inbox(
        tmp_path) -> None:
    """The harness itself: the last kill of a trial can land after a successful_payment was
    stored and acknowledged but before it was handled. Telegram then has nothing pending and
    the outbox is empty, yet the payment is still to be replayed from the inbox by the last
    bot. Settling must wait for it (here the replay is held up by a writer lock on the SQLite
    file for two seconds), or the bot is stopped before the buyer hears anything."""
    url = f"sqlite:///{tmp_path / 'ticketq.sqlite3'}"
    async with trial(url, tmp_path, 0, kills=0, scenario="replay") as tr:
        await import_event(tr, event_doc(capacity=2))
        await tr.bot.start()
        await tr.bot.wait_ready()
        ann = tr.sandbox.user(user_id=701, first_name="Ann")
        outcome = None
        while outcome is None:
            outcome = await people.patiently(ann, _invoice_then_charge("Night Market"),
                                             deadline=time.monotonic() + 15)
        await tr.bot.kill()
        await _stored_and_acknowledged(tr, ann, outcome)
        lock = sqlite3.connect(tmp_path / "ticketq.sqlite3", isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # the replayed payment waits here
        try:
            await tr.bot.start()
            settling = asyncio.create_task(tr.settle())
            await asyncio.sleep(2.0)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        await settling
        fate = await settle_charges(tr.db, tr.sandbox)
        assert fate == {outcome.charge_id: "ticketed"}
        await assert_buyers_told(tr, fate)


async def _stored_and_acknowledged(tr: Trial, user: VirtualUser,
                                   outcome: PaymentOutcome) -> None:
    """Leave the state a bot killed right after storing (and so acknowledging) the
    successful_payment update leaves: the update in the inbox, nothing pending at Telegram."""
    api = tr.sandbox.telegram
    update_id = api.emit_update("message", {
        "message_id": api.next_message_id(user.user_id), "from": user.user_json,
        "chat": user.chat_json, "date": int(time.time()),
        "successful_payment": {
            "currency": outcome.currency, "total_amount": outcome.amount,
            "invoice_payload": outcome.invoice_payload,
            "telegram_payment_charge_id": outcome.telegram_charge_id,
            "provider_payment_charge_id": outcome.charge_id}})
    outcome.delivered = True
    update = api._history[update_id]
    api._updates.remove(update)  # acknowledged by the bot that was killed
    await SqlInbox(tr.db).store([update], now=datetime.now(UTC))


def _invoice_then_charge(title: str):
    """Get an invoice and pay it, but hold back the successful_payment update."""
    async def attempt(user: VirtualUser) -> PaymentOutcome | None:
        invoice = await people.invoice(user, title)
        outcome = await user.pay(invoice, timeout=people.STEP, deliver_success=False)
        return outcome if outcome.ok else None
    return attempt


# --------------------------------------------------------------------------- quick (CI)
QUICK = pytest.mark.parametrize("trial_no", range(QUICK_TRIALS))


@QUICK
async def test_purchases_survive_the_bot_being_killed(database_url, tmp_path, trial_no):
    await purchases(database_url, tmp_path, 10 + trial_no, kills=2, people_count=8,
                    capacity=6)


@QUICK
async def test_a_lottery_draws_and_settles_once_through_kills(database_url, tmp_path, trial_no):
    await lottery(database_url, tmp_path, 20 + trial_no, kills=3, people_count=6, seats=3,
                  close_in=6)


@QUICK
async def test_cancellation_refunds_everyone_once_through_kills(database_url, tmp_path,
                                                                 trial_no):
    await cancellation(database_url, tmp_path, 30 + trial_no, kills=2, people_count=6)


@QUICK
async def test_returns_and_the_waiting_list_settle_once_through_kills(database_url, tmp_path,
                                                                      trial_no):
    await returns(database_url, tmp_path, 50 + trial_no, kills=2, holders=3)


@QUICK
async def test_checkin_admits_each_ticket_once_through_kills(database_url, tmp_path, trial_no):
    await checkin(database_url, tmp_path, 40 + trial_no, kills=2, holders=4)


# --------------------------------------------------------------------------- full (slow)
FULL = pytest.mark.parametrize("trial_no", range(FULL_TRIALS))


@pytest.mark.slow
@FULL
async def test_full_purchases_through_kills(database_url, tmp_path, trial_no):
    await purchases(database_url, tmp_path, 1000 + trial_no, kills=6, people_count=24,
                    capacity=16, windows=crash_windows())


@pytest.mark.slow
@FULL
async def test_full_lottery_through_kills(database_url, tmp_path, trial_no):
    await lottery(database_url, tmp_path, 2000 + trial_no, kills=7, people_count=16, seats=8,
                  close_in=12, windows=crash_windows())


@pytest.mark.slow
@FULL
async def test_full_cancellation_through_kills(database_url, tmp_path, trial_no):
    await cancellation(database_url, tmp_path, 3000 + trial_no, kills=5, people_count=16,
                       windows=crash_windows())


@pytest.mark.slow
@FULL
async def test_full_returns_through_kills(database_url, tmp_path, trial_no):
    await returns(database_url, tmp_path, 5000 + trial_no, kills=5, holders=6,
                  windows=crash_windows())


@pytest.mark.slow
@FULL
async def test_full_checkin_through_kills(database_url, tmp_path, trial_no):
    await checkin(database_url, tmp_path, 4000 + trial_no, kills=5, holders=10,
                  windows=crash_windows())
