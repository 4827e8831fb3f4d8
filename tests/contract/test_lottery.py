"""Lottery rules (entry, payment, close, draw, settlement, my entries, fairness and audit) on
the in-memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest

from bot.app import build_services
from core.catalog.model import LotteryState
from core.kernel import outbox
from core.kernel.errors import DomainError, ErrorCode
from core.lottery.model import EntryStatus
from core.lottery.service import LotteryService
from core.payments.model import IncomingPayment
from core.payments.outcomes import PaymentOutcome
from core.payments.plans import RefundReason
from core.payments.refunds import RefundService
from core.sales.model import entry_payload
from core.sales.service import PurchaseService
from tests.factories import lottery_doc

ADMIN = 1
_charges = itertools.count(1)


class LedgerGateway:
    """A refund gateway that remembers every refund it made, keyed like Stripe."""

    def __init__(self) -> None:
        self.by_key: dict[str, tuple[str, int]] = {}

    async def refund(self, *, charge_id, amount, idempotency_key, metadata) -> str:
        if idempotency_key not in self.by_key:
            self.by_key[idempotency_key] = (charge_id, amount.amount)
        return f"re_{idempotency_key}"


@pytest.fixture
def services(db, clock):
    lottery = LotteryService(db, clock, loser_batch=2)  # several batches even here
    purchase = PurchaseService(db, clock, lottery=lottery)
    return build_services(db, clock, admin_ids=frozenset({ADMIN})).admin, lottery, purchase


async def enter(lottery, purchase, user: int, type_id: int, quantity: int):
    pending = await lottery.start_entry(user_id=user, chat_id=user, ticket_type_id=type_id,
                                        quantity=quantity)
    n = next(_charges)  # every Telegram payment has its own Stripe charge
    payment = IncomingPayment(
        user_id=user, chat_id=user, telegram_charge_id=f"tg_{n}",
        provider_charge_id=f"ch_{n}", payload=entry_payload(pending.entry.id),
        amount=pending.entry.total)
    await purchase.pre_checkout(user_id=user, payload=payment.payload, amount=payment.amount)
    return pending, payment, await purchase.confirm_payment(payment)


async def settle_all_losers(lottery: LotteryService, event_id: int) -> list[int]:
    """What the outbox worker does with a draw's REFUND_LOSERS items: batch after batch."""
    batches = []
    while settled := await lottery.settle_losers(event_id):
        batches.append(settled)
    return batches


async def lottery_type(admin, clock, **kwargs) -> tuple[int, int]:
    event = await admin.import_event(lottery_doc(clock.now(), **kwargs), actor_id=ADMIN)
    sales = await admin.sales(event.id, actor_id=ADMIN)
    return event.id, sales.types[0].ticket_type.id


async def test_a_full_lottery_tickets_winners_and_refunds_everyone_else(
        services, db, outbox_store, clock) -> None:
    admin, lottery, purchase = services
    event_id, tt = await lottery_type(admin, clock, seats=5)
    for user in range(100, 112):
        _, _, confirmation = await enter(lottery, purchase, user, tt, 1 + user % 2)
        assert confirmation.outcome is PaymentOutcome.ENTERED
    clock.advance(timedelta(hours=1, minutes=1))
    assert await lottery.run_due() == [event_id]
    assert await lottery.run_due() == []  # a second trigger is a no-op
    await settle_all_losers(lottery, event_id)
    figures = await lottery.figures(event_id)
    assert figures.state is LotteryState.DRAWN
    assert figures.entries == 12 and figures.tickets_asked == 18
    assert figures.tickets_won == 5  # every seat filled (1s and 2s always fit)
    losers = figures.entries - figures.winners
    assert figures.refunds_pending[0] == losers
    gateway = LedgerGateway()
    refunds = RefundService(db, gateway, clock)
    items = await outbox_store.claim_due(now=clock.now(), limit=1000)
    for item in items:
        if item.kind == outbox.REFUND:
            await refunds.execute(item.payload["refund_id"])
            await refunds.execute(item.payload["refund_id"])  # a retry changes nothing
    assert len(gateway.by_key) == losers
    figures = await lottery.figures(event_id)
    assert figures.refunds_done == (losers, sum(a for _, a in gateway.by_key.values()))
    assert figures.money_held == figures.tickets_won * 3000
    kinds = [i.kind for i in items]
    assert kinds.count(outbox.TICKET) == 5 and kinds.count(outbox.REFUND) == losers


async def test_one_paid_entry_per_account(services, clock) -> None:
    admin, lottery, purchase = services
    _, tt = await lottery_type(admin, clock)
    await enter(lottery, purchase, 7, tt, 1)
    with pytest.raises(DomainError) as exc:
        await lottery.start_entry(user_id=7, chat_id=7, ticket_type_id=tt, quantity=1)
    assert exc.value.code is ErrorCode.ALREADY_ENTERED


async def test_a_second_invoice_paid_in_parallel_is_refunded(services, clock) -> None:
    admin, lottery, purchase = services
    _, tt = await lottery_type(admin, clock)
    first = await lottery.start_entry(user_id=8, chat_id=8, ticket_type_id=tt, quantity=1)
    second = await lottery.start_entry(user_id=8, chat_id=8, ticket_type_id=tt, quantity=2)
    outcomes = []
    for pending in (second, first):
        n = next(_charges)
        payment = IncomingPayment(8, 8, f"tg_{n}", f"ch_{n}",
                                  entry_payload(pending.entry.id), pending.entry.total)
        outcomes.append(await purchase.confirm_payment(payment))
    assert [o.outcome for o in outcomes] == [PaymentOutcome.ENTERED, PaymentOutcome.REFUNDING]
    assert outcomes[1].refund_reason is RefundReason.DUPLICATE_PAYMENT


async def test_entries_before_open_and_after_close_are_refused(services, clock) -> None:
    admin, lottery, _ = services
    _, tt = await lottery_type(admin, clock, opens_in=600)
    with pytest.raises(DomainError) as early:
        await lottery.entry_choice(user_id=9, ticket_type_id=tt)
    assert early.value.code is ErrorCode.ENTRIES_NOT_OPEN
    clock.advance(timedelta(hours=2))
    with pytest.raises(DomainError) as late:
        await lottery.entry_choice(user_id=9, ticket_type_id=tt)
    assert late.value.code is ErrorCode.ENTRIES_CLOSED


async def test_a_payment_landing_after_the_close_is_refunded(services, clock) -> None:
    admin, lottery, purchase = services
    event_id, tt = await lottery_type(admin, clock)
    pending = await lottery.start_entry(user_id=10, chat_id=10, ticket_type_id=tt, quantity=2)
    payment = IncomingPayment(10, 10, "tg_late", "ch_late", entry_payload(pending.entry.id),
                              pending.entry.total)
    await purchase.pre_checkout(user_id=10, payload=payment.payload, amount=payment.amount)
    clock.advance(timedelta(hours=1))
    await lottery.run_due()  # closes; the unpaid entry becomes void
    with pytest.raises(DomainError):
        await purchase.pre_checkout(user_id=10, payload=payment.payload, amount=payment.amount)
    result = await purchase.confirm_payment(payment)
    assert result.outcome is PaymentOutcome.REFUNDING
    assert result.refund_reason is RefundReason.ENTRY_TOO_LATE
    figures = await lottery.figures(event_id)
    assert figures.entries == 0 and figures.refunds_pending[0] == 1


async def test_the_draw_order_is_stored_whole(services, db, clock) -> None:
    admin, lottery, purchase = services
    _, tt = await lottery_type(admin, clock, seats=2)
    users = range(200, 210)
    for user in users:
        await enter(lottery, purchase, user, tt, 1)
    clock.advance(timedelta(hours=2))
    await lottery.run_due()
    async with db.read() as uow:
        entries = [(await uow.lottery.for_user(user))[0] for user in users]
    assert sorted(e.draw_position for e in entries) == list(range(1, 11))
    assert [e.status for e in entries].count(EntryStatus.WON) == 2
    assert {e.status for e in entries} == {EntryStatus.WON, EntryStatus.LOST}


async def test_the_draw_is_committed_frozen_and_verifiable(services, db, clock) -> None:
    from core.lottery.audit import verify_audit
    from core.lottery.model import commitment

    admin, lottery, purchase = services
    event_id, tt = await lottery_type(admin, clock, seats=3)
    opened = await lottery.fairness_info(event_id)
    assert opened["commitment"] and opened["list_hash"] is None
    for user in range(300, 308):
        await enter(lottery, purchase, user, tt, 1 + user % 2)
    clock.advance(timedelta(hours=1, seconds=1))
    await lottery.run_due()
    closed = await lottery.fairness_info(event_id)
    assert closed["list_hash"] and closed["state"] is LotteryState.CLOSED
    with pytest.raises(DomainError):
        await lottery.audit(event_id)  # the seed stays secret until the draw
    clock.advance(timedelta(minutes=5))
    await lottery.run_due()
    audit = await lottery.audit(event_id)
    assert verify_audit(audit) == []
    assert commitment(bytes.fromhex(audit["seed"])) == opened["commitment"]
    assert audit["list_hash"] == closed["list_hash"]
    assert "user" not in str(audit["entries"]).lower()
    async with db.read() as uow:
        mine = await uow.lottery.for_user(300)
    assert mine[0].ref in audit["order"]
    assert audit["order"].index(mine[0].ref) + 1 == mine[0].draw_position


async def test_one_entry_per_verified_phone(db, clock) -> None:
    lottery = LotteryService(db, clock, phone_key=b"k")
    purchase = PurchaseService(db, clock, lottery=lottery)
    admin = build_services(db, clock, admin_ids=frozenset({ADMIN})).admin
    doc = lottery_doc(clock.now())
    doc["lottery"]["require_phone"] = True
    event = await admin.import_event(doc, actor_id=ADMIN)
    tt = (await admin.sales(event.id, actor_id=ADMIN)).types[0].ticket_type.id
    with pytest.raises(DomainError) as missing:
        await lottery.entry_choice(user_id=20, ticket_type_id=tt)
    assert missing.value.code is ErrorCode.PHONE_REQUIRED
    with pytest.raises(DomainError) as foreign:
        await lottery.verify_phone(user_id=20, contact_user_id=21, phone_number="+441234")
    assert foreign.value.code is ErrorCode.PHONE_NOT_OWN
    await lottery.verify_phone(user_id=20, contact_user_id=20, phone_number="+44 1234 5678")
    await enter(lottery, purchase, 20, tt, 1)
    # A second account with the same number cannot enter again.
    await lottery.verify_phone(user_id=22, contact_user_id=22, phone_number="0044 12345678")
    with pytest.raises(DomainError) as second:
        await lottery.start_entry(user_id=22, chat_id=22, ticket_type_id=tt, quantity=1)
    assert second.value.code is ErrorCode.PHONE_ALREADY_ENTERED
    async with db.read() as uow:
        stored = await uow.lottery.verified_phone(20)
    assert stored and "1234" not in stored  # a keyed hash, not the number


@pytest.fixture
def organizer(db, clock):
    return build_services(db, clock, admin_ids=frozenset({ADMIN})).organizer


async def drawn_lottery(services, clock, *, seats: int, users: range, quantity: int = 1):
    admin, lottery, purchase = services
    event_id, tt = await lottery_type(admin, clock, seats=seats)
    for user in users:
        await enter(lottery, purchase, user, tt, quantity)
    clock.advance(timedelta(hours=2))
    assert await lottery.run_due() == [event_id]
    await settle_all_losers(lottery, event_id)
    return event_id


async def test_winners_get_a_paid_order_and_tickets_and_only_losers_are_refunded(
        services, db, outbox_store, clock) -> None:
    _, lottery, _ = services
    users = range(400, 406)
    await drawn_lottery(services, clock, seats=4, users=users, quantity=2)
    items = await outbox_store.claim_due(now=clock.now(), limit=1000)
    refund_ids = {i.payload["refund_id"] for i in items if i.kind == outbox.REFUND}
    won_messages = {i.chat_id: i for i in items if i.kind == outbox.MESSAGE
                    and i.payload["key"] == "lottery_won"}
    qr_items = {i.payload["ticket_id"]: i for i in items if i.kind == outbox.TICKET}
    async with db.read() as uow:
        refunds = [await uow.refunds.get(refund_id) for refund_id in refund_ids]
        entries = {user: (await uow.lottery.for_user(user))[0] for user in users}
        winners = {user: e for user, e in entries.items() if e.status is EntryStatus.WON}
        orders = {user: await uow.orders.get(e.order_id) for user, e in winners.items()}
        tickets = {user: await uow.tickets.for_order(e.order_id) for user, e in winners.items()}
    assert len(winners) == 2
    losers = set(users) - set(winners)
    assert all(e.order_id is None for user, e in entries.items() if user in losers)
    # Each winner: a paid order of what the entry asked for, its tickets, one message.
    for user, entry in winners.items():
        order = orders[user]
        assert (order.user_id, order.quantity, order.unit_price) == (
            user, 2, entry.unit_price)
        assert order.status.value == "paid"
        assert [(t.owner_user_id, t.status.value) for t in tickets[user]] == [
            (user, "valid")] * 2
        assert all(qr_items[t.id].chat_id == user for t in tickets[user])
        message = won_messages[user].payload["params"]
        assert (message["quantity"], message["total"]) == (2, entry.total)
    assert set(won_messages) == set(winners)
    assert len(qr_items) == 4
    # Each loser, and only they: the whole payment back, for not being selected.
    assert sorted(r.user_id for r in refunds) == sorted(losers)
    assert {(r.reason, r.amount.amount) for r in refunds} == {
        (RefundReason.LOTTERY_NOT_SELECTED, 2 * 3000)}
    # What they see under "my entries": the outcome and their place in the order.
    for user in users:
        (view,) = await lottery.my_entries(user)
        assert view.entry.status is (EntryStatus.WON if user in winners else EntryStatus.LOST)
        assert view.entry.draw_position == entries[user].draw_position


async def test_cancelling_an_open_lottery_refunds_every_paid_entry_and_voids_unpaid_ones(
        services, organizer, db, outbox_store, clock) -> None:
    admin, lottery, purchase = services
    event_id, tt = await lottery_type(admin, clock)
    for user in (500, 501):
        await enter(lottery, purchase, user, tt, 1)
    unpaid = await lottery.start_entry(user_id=502, chat_id=502, ticket_type_id=tt, quantity=1)
    started = await organizer.cancel_event(actor_id=ADMIN, event_id=event_id)
    assert (started.refunds_queued, started.tickets_revoked, started.holders_told) == (2, 0, 2)
    items = await outbox_store.claim_due(now=clock.now(), limit=100)
    told = sorted(i.chat_id for i in items if i.kind == outbox.MESSAGE
                  and i.payload["key"] == "event_cancelled")
    assert told == [500, 501]
    assert sum(1 for i in items if i.kind == outbox.REFUND) == 2
    async with db.read() as uow:
        assert (await uow.lottery.get(unpaid.entry.id)).status is EntryStatus.VOID
    late = IncomingPayment(502, 502, "tg_unpaid", "ch_unpaid", entry_payload(unpaid.entry.id),
                           unpaid.entry.total)
    outcome = await purchase.confirm_payment(late)  # the voided entry cannot be paid now
    assert outcome.outcome is PaymentOutcome.REFUNDING
    figures = await lottery.figures(event_id)
    assert figures.refunds_pending[0] == 3


async def test_cancelling_after_the_draw_refunds_the_winners_and_not_the_losers_again(
        services, organizer, db, outbox_store, clock) -> None:
    event_id = await drawn_lottery(services, clock, seats=2, users=range(600, 605))
    started = await organizer.cancel_event(actor_id=ADMIN, event_id=event_id)
    # Two winners: their payments back and their tickets revoked; losers were refunded once.
    assert (started.refunds_queued, started.tickets_revoked, started.holders_told) == (2, 2, 2)
    items = await outbox_store.claim_due(now=clock.now(), limit=1000)
    async with db.read() as uow:
        refunds = [await uow.refunds.get(i.payload["refund_id"])
                   for i in items if i.kind == outbox.REFUND]
    assert sorted(r.reason.value for r in refunds) == (
        ["event_cancelled"] * 2 + ["lottery_not_selected"] * 3)
    assert len({r.payment_id for r in refunds}) == 5


class FixedBeacon:
    """A beacon whose rounds are numbered by the minute and published when told."""

    url = "https://beacon.test"

    def __init__(self) -> None:
        self.published: dict[int, bytes] = {}

    async def round_after(self, when) -> int:
        return int(when.timestamp() // 60) + 1

    async def value(self, round_number: int) -> bytes | None:
        return self.published.get(round_number)


async def test_a_beacon_lottery_fixes_its_round_while_open_and_draws_once_it_is_published(
        db, clock) -> None:
    from core.lottery.audit import verify_audit

    beacon = FixedBeacon()
    lottery = LotteryService(db, clock, beacon=beacon)
    purchase = PurchaseService(db, clock, lottery=lottery)
    admin = build_services(db, clock, admin_ids=frozenset({ADMIN})).admin
    doc = lottery_doc(clock.now(), seats=2)
    doc["lottery"]["beacon"] = True
    event = await admin.import_event(doc, actor_id=ADMIN)
    tt = (await admin.sales(event.id, actor_id=ADMIN)).types[0].ticket_type.id
    assert await lottery.run_due() == []  # the round is fixed while entries are open
    fixed = await lottery.fairness_info(event.id)
    round_number = fixed["beacon_round"]
    assert round_number == await beacon.round_after(event.lottery.entries_close_at)
    for user in range(700, 705):
        await enter(lottery, purchase, user, tt, 1)
    clock.advance(timedelta(hours=1, seconds=1))
    assert await lottery.run_due() == []  # closed: the entry list is frozen
    assert (await lottery.fairness_info(event.id))["state"] is LotteryState.CLOSED
    clock.advance(timedelta(hours=1))
    assert await lottery.run_due() == []  # due, but the round is not published yet
    beacon.published[round_number] = bytes(range(32))
    assert await lottery.run_due() == [event.id]
    audit = await lottery.audit(event.id)
    assert verify_audit(audit) == []
    assert audit["beacon"]["round"] == round_number
    assert audit["beacon"]["value"] == bytes(range(32)).hex()


async def test_a_draw_queues_one_item_for_its_losers_who_are_settled_in_batches_exactly_once(
        services: Any, organizer: Any, db: Any, outbox_store: Any, clock: Any) -> None:
    _, lottery, _ = services
    admin, _, purchase = services
    event_id, tt = await lottery_type(admin, clock, seats=2)
    users = range(700, 709)
    for user in users:
        await enter(lottery, purchase, user, tt, 1)
    clock.advance(timedelta(hours=2))
    assert await lottery.run_due() == [event_id]
    # The draw itself wrote one work item for all 7 losers, and no refund yet.
    items = await outbox_store.claim_due(now=clock.now(), limit=1000)
    assert [i.payload for i in items if i.kind == outbox.REFUND_LOSERS] == [
        {"event_id": event_id}]
    assert not [i for i in items if i.kind == outbox.REFUND]
    assert (await lottery.figures(event_id)).refunds_pending[0] == 0
    # A loser already reads "not selected" under "my entries".
    views = {user: (await lottery.my_entries(user))[0].entry.status for user in users}
    assert sorted(views.values()).count(EntryStatus.LOST) == 7
    # One batch, then the organizer cancels before the next: the unsettled losers get their
    # money back through the cancellation, and the later batches do not pay them twice.
    assert await lottery.settle_losers(event_id) == 2
    more = await outbox_store.claim_due(now=clock.now(), limit=1000)
    # The draw's item (nobody marked it done here) and the next batch's.
    assert [i.kind for i in more].count(outbox.REFUND_LOSERS) == 2
    assert [i.kind for i in more].count(outbox.REFUND) == 2
    await organizer.cancel_event(actor_id=ADMIN, event_id=event_id)
    assert await settle_all_losers(lottery, event_id) == [2, 2, 1]
    assert await lottery.settle_losers(event_id) == 0  # run again (a crash, a retry): nothing
    async with db.read() as uow:
        refunds = [r for r in [await uow.refunds.get(i) for i in range(1, 50)] if r]
    assert len(refunds) == len({r.payment_id for r in refunds}) == 9  # once per payment
    reasons = sorted(r.reason.value for r in refunds)
    assert reasons == ["event_cancelled"] * 7 + ["lottery_not_selected"] * 2
    for user in users:
        assert (await lottery.my_entries(user))[0].entry.status in (EntryStatus.WON,
                                                                   EntryStatus.LOST)
