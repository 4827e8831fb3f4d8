"""What every storage behind the ports promises (the in-memory fake, SQLite and PostgreSQL):
transactions, the lock order, stock derived from the orders, and the unique keys that make
payments, refunds and outbox items happen once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.catalog.model import EventStatus, LotteryState
from core.catalog.spec import parse_event_spec
from core.kernel import locking, outbox
from core.kernel.locking import LockOrderViolation
from core.kernel.money import Money
from core.organizer.plans import cancellation_plan
from core.payments.model import IncomingPayment
from core.payments.plans import RefundReason
from core.sales.model import Stock
from tests.factories import event_doc


async def new_event(db, clock, **kwargs):
    spec = parse_event_spec(event_doc(**kwargs), now=clock.now())
    async with db.write() as uow:
        event = await uow.events.add(spec, created_by=1, now=clock.now())
        types = await uow.events.ticket_types(event.id)
    return event, types


def charge(n: int, order_id: int | None = None, *, provider: str | None = None,
           user: int = 10) -> IncomingPayment:
    return IncomingPayment(user_id=user, chat_id=user, telegram_charge_id=f"tg_{n}",
                           provider_charge_id=f"ch_{n}" if provider is None else provider,
                           payload=f"tq1:o:{order_id}", amount=Money(2500, "EUR"))


class Boom(Exception):
    pass


async def test_a_write_that_fails_leaves_nothing_behind(db, clock) -> None:
    _, types = await new_event(db, clock)
    with pytest.raises(Boom):
        async with db.write() as uow:
            order = await uow.orders.add_hold(user_id=10, ticket_type=types[0], quantity=2,
                                              now=clock.now(),
                                              expires_at=clock.now() + timedelta(minutes=10))
            await uow.outbox.put(outbox.MESSAGE, {"key": "x"}, dedupe_key="k1",
                                 now=clock.now(), chat_id=10)
            assert await uow.orders.get(order.id) == order  # visible inside the block
            raise Boom
    async with db.read() as uow:
        assert await uow.orders.get(order.id) is None
        stock = await uow.events.stock([types[0].id], now=clock.now())
    assert stock[types[0].id] == Stock(10, 0, 0)


async def test_a_write_is_invisible_to_other_transactions_until_it_commits(db, clock) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def someone_is_seen() -> None:
        async with db.write() as uow:
            await uow.users.seen(user_id=77, first_name="Ola", language_code=None,
                                 now=clock.now())
            inside.set()
            await release.wait()

    writer = asyncio.create_task(someone_is_seen())
    await asyncio.wait([writer, asyncio.create_task(inside.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    assert inside.is_set(), writer.exception()
    async with db.read() as uow:
        assert await uow.users.first_name(77) is None
    release.set()
    await writer
    async with db.read() as uow:
        assert await uow.users.first_name(77) == "Ola"


async def test_lock_order_a_path_that_locks_an_order_before_its_event_fails(
        db, clock) -> None:
    _, types = await new_event(db, clock)
    async with db.write() as uow:
        order = await uow.orders.add_hold(user_id=10, ticket_type=types[0], quantity=1,
                                          now=clock.now(),
                                          expires_at=clock.now() + timedelta(minutes=10))
    with pytest.raises(LockOrderViolation):
        async with db.write() as uow:
            await uow.orders.get(order.id, lock=True)
            await uow.events.lock(order.event_id, shared=True)
    with pytest.raises(LockOrderViolation):
        async with db.write() as uow:
            await uow.locks.take(locking.ticket_type(types[0].id))
            await uow.locks.take(locking.event(order.event_id))


async def test_lock_order_an_event_is_changed_only_under_its_exclusive_lock(
        db, clock) -> None:
    event, _ = await new_event(db, clock)
    with pytest.raises(LockOrderViolation):
        async with db.write() as uow:
            await uow.events.set_status(event.id, EventStatus.CANCELLED, now=clock.now())
    with pytest.raises(LockOrderViolation):
        async with db.write() as uow:
            await uow.events.lock(event.id, shared=True)
            await uow.events.set_status(event.id, EventStatus.CANCELLED, now=clock.now())
    async with db.read() as uow:
        assert (await uow.events.get(event.id)).status is EventStatus.PUBLISHED


@pytest.mark.parametrize("write", ["cancel_everything", "update", "lottery_state",
                                   "list_hash", "beacon_round", "beacon_value"])
async def test_lock_order_every_write_of_an_event_row_needs_its_exclusive_lock(
        db, clock, write) -> None:
    event, _ = await new_event(db, clock)
    spec = parse_event_spec(event_doc(title="Renamed"), now=clock.now())
    writes = {
        "cancel_everything": lambda uow: uow.events.cancel_everything(
            cancellation_plan(event), now=clock.now()),
        "update": lambda uow: uow.events.update(event.id, spec, now=clock.now()),
        "lottery_state": lambda uow: uow.lottery.set_state(event.id, LotteryState.CLOSED,
                                                           now=clock.now()),
        "list_hash": lambda uow: uow.lottery.record_list_hash(event.id, "00" * 32),
        "beacon_round": lambda uow: uow.lottery.fix_beacon_round(event.id, 7),
        "beacon_value": lambda uow: uow.lottery.record_beacon_value(event.id, "ab"),
    }
    for shared in (None, True):
        with pytest.raises(LockOrderViolation):
            async with db.write() as uow:
                if shared:
                    await uow.events.lock(event.id, shared=True)
                await writes[write](uow)
    async with db.write() as uow:  # under the exclusive lock it is fine
        await uow.events.lock(event.id)
        await writes[write](uow)


async def test_stock_counts_paid_seats_and_live_holds_only(db, clock) -> None:
    _, (ga, vip) = await new_event(db, clock, capacity=20, vip_capacity=5)
    now = clock.now()
    soon, past = now + timedelta(minutes=10), now - timedelta(seconds=1)
    async with db.write() as uow:
        paid = await uow.orders.add_hold(user_id=10, ticket_type=ga, quantity=3, now=now,
                                         expires_at=past)
        await uow.orders.mark_paid(paid.id, now=now)
        await uow.orders.add_hold(user_id=11, ticket_type=ga, quantity=2, now=now,
                                  expires_at=soon)  # live
        await uow.orders.add_hold(user_id=12, ticket_type=ga, quantity=4, now=now,
                                  expires_at=now)  # expires exactly now: not live
        released = await uow.orders.add_hold(user_id=13, ticket_type=ga, quantity=1, now=now,
                                             expires_at=soon)
        await uow.orders.release(released.id)
        rejected = await uow.orders.add_hold(user_id=14, ticket_type=ga, quantity=1, now=now,
                                             expires_at=soon)
        await uow.orders.mark_rejected(rejected.id)
        vip_paid = await uow.orders.add_hold(user_id=11, ticket_type=vip, quantity=2, now=now,
                                             expires_at=soon)
        await uow.orders.mark_paid(vip_paid.id, now=now)
    async with db.read() as uow:
        assert await uow.events.stock([ga.id, vip.id, 999_999], now=now) == {
            ga.id: Stock(20, 3, 2), vip.id: Stock(5, 2, 0)}
        assert await uow.events.stock([ga.id], now=now, exclude_user_id=11) == {
            ga.id: Stock(20, 3, 0)}
        assert await uow.events.stock([], now=now) == {}
        assert await uow.orders.seats_owned(user_id=10, ticket_type_id=ga.id) == 3
        assert await uow.orders.seats_owned(user_id=11, ticket_type_id=ga.id) == 0
        assert await uow.orders.seats_owned(user_id=11, ticket_type_id=vip.id) == 2


async def test_replacing_a_hold_releases_only_the_users_live_holds_for_that_event(
        db, clock) -> None:
    _, (ga,) = await new_event(db, clock)
    _, (other,) = await new_event(db, clock, title="Other")
    now = clock.now()
    soon = now + timedelta(minutes=10)
    async with db.write() as uow:
        keep = await uow.orders.add_hold(user_id=10, ticket_type=ga, quantity=1, now=now,
                                         expires_at=soon)
        mine = await uow.orders.add_hold(user_id=10, ticket_type=ga, quantity=1, now=now,
                                         expires_at=soon)
        await uow.orders.add_hold(user_id=10, ticket_type=ga, quantity=1, now=now,
                                  expires_at=now)  # expired: not live, left alone
        await uow.orders.add_hold(user_id=10, ticket_type=other, quantity=1, now=now,
                                  expires_at=soon)
        await uow.orders.add_hold(user_id=11, ticket_type=ga, quantity=1, now=now,
                                  expires_at=soon)
        assert await uow.orders.release_live_holds(user_id=10, event_id=ga.event_id, now=now,
                                                   except_order_id=keep.id) == 1
        assert (await uow.orders.get(mine.id)).status.value == "released"
    async with db.read() as uow:
        stock = await uow.events.stock([ga.id, other.id], now=now)
    assert (stock[ga.id].held, stock[other.id].held) == (2, 1)


async def test_a_charge_is_recorded_once_and_a_claimed_stripe_charge_is_not_taken_twice(
        db, clock) -> None:
    _, (ga,) = await new_event(db, clock)
    now = clock.now()
    async with db.write() as uow:
        order = await uow.orders.add_hold(user_id=10, ticket_type=ga, quantity=1, now=now,
                                          expires_at=now + timedelta(minutes=10))
        first, created = await uow.payments.record(charge(1, order.id), order_id=order.id,
                                                   now=now)
        assert created
        again, created = await uow.payments.record(charge(1, order.id), order_id=order.id,
                                                   now=now)
        assert (again, created) == (first, False)
        # Another Telegram charge id carrying an already recorded Stripe charge: the first.
        claimed, created = await uow.payments.record(charge(2, order.id, provider="ch_1"),
                                                     order_id=order.id, now=now)
        assert (claimed, created) == (first, False)
        # Stars payments carry no Stripe charge: empty ids never collide.
        stars_a, created_a = await uow.payments.record(charge(3, None, provider=""),
                                                       order_id=None, now=now)
        stars_b, created_b = await uow.payments.record(charge(4, None, provider=""),
                                                       order_id=None, now=now)
        assert created_a and created_b and stars_a.id != stars_b.id
        assert [p.id for p in await uow.payments.for_order(order.id)] == [first.id]


async def test_a_payment_is_refunded_once_and_counted_per_event(db, clock) -> None:
    event, (ga,) = await new_event(db, clock)
    now = clock.now()
    async with db.write() as uow:
        order = await uow.orders.add_hold(user_id=10, ticket_type=ga, quantity=1, now=now,
                                          expires_at=now + timedelta(minutes=10))
        payment, _ = await uow.payments.record(charge(5, order.id), order_id=order.id, now=now)
        refund = await uow.refunds.request(payment, amount=payment.amount,
                                           reason=RefundReason.SEATS_GONE, now=now)
        twice = await uow.refunds.request(payment, amount=Money(1, "EUR"),
                                          reason=RefundReason.DUPLICATE_PAYMENT, now=now)
        assert twice == refund
        await uow.refunds.mark_attempt(refund.id, error="x" * 600, final=False, now=now)
    async with db.read() as uow:
        counts = await uow.refunds.counts(event.id)
        stored = await uow.refunds.get(refund.id)
        assert (await uow.refunds.counts(event.id + 1))[stored.status] == (0, 0)
    assert counts[stored.status] == (1, 2500)
    assert stored.attempts == 1 and stored.last_error == "x" * 500
    assert stored.reason is RefundReason.SEATS_GONE


async def test_the_outbox_keeps_one_item_per_key_and_each_chats_order(
        db, outbox_store, clock) -> None:
    now = clock.now()
    async with db.write() as uow:
        for key, chat in (("a1", 1), ("b1", 2), ("a1", 1), ("a2", 1), ("b2", 2), ("n", None)):
            await uow.outbox.put(outbox.MESSAGE, {"key": key, "params": {
                "total": Money(100, "EUR"), "at": now}}, dedupe_key=key, now=now,
                chat_id=chat)
    items = await outbox_store.claim_due(now=now, limit=10)
    assert [i.payload["key"] for i in items] == ["a1", "b1", "a2", "b2", "n"]
    assert items[0].payload["params"] == {"total": Money(100, "EUR"), "at": now}
    assert await outbox_store.pending_count() == 5
    # Chat 1's first message fails for now: its later one waits; chat 2 and no-chat go on.
    await outbox_store.retry_later(items[0].id, error="429", at=now + timedelta(seconds=30))
    later = await outbox_store.claim_due(now=now + timedelta(seconds=1), limit=10)
    assert [i.payload["key"] for i in later] == ["b1", "b2", "n"]
    await outbox_store.mark_done(items[1].id, now=now)
    await outbox_store.mark_dead(items[3].id, error="blocked", now=now)
    retried = await outbox_store.claim_due(now=now + timedelta(seconds=30), limit=10)
    assert [(i.payload["key"], i.attempts) for i in retried] == [("a1", 1), ("a2", 0),
                                                                 ("n", 0)]
    assert await outbox_store.pending_count() == 3
