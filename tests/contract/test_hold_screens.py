"""Hold screens (on the in-memory fake, SQLite and PostgreSQL): the message that shows a
hold is edited (through the outbox, in the same transaction as the change) exactly once when
the hold is paid, released, replaced or expires, and never when it shows a newer hold."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import build_services
from core.kernel import outbox
from core.kernel.clock import ManualClock
from core.sales.model import ScreenState
from core.sales.service import PurchaseService
from tests.contract.test_direct_sales import ADMIN, ga_type_id, payment_for

CHAT = 10


@pytest.fixture
async def shop(db, clock: ManualClock):
    admin = build_services(db, clock, admin_ids=frozenset({ADMIN})).admin
    return admin, PurchaseService(db, clock,
                                                                        hold_minutes=10)


async def edits(store, clock: ManualClock) -> list[tuple[int, str, str | None]]:
    """(message id, text key, buttons) of every screen edit queued and not yet sent."""
    items = await store.claim_due(now=clock.now() + timedelta(days=1), limit=500)
    for item in items:
        await store.mark_done(item.id, now=clock.now())
    return [(i.payload["message_id"], i.payload["key"], i.payload["buttons"])
            for i in items if i.kind == outbox.EDIT]


async def screen_state(db, order_id: int) -> ScreenState | None:
    async with db.read() as uow:
        screen = await uow.orders.screen(order_id)
    return screen.state if screen else None


async def test_a_paid_hold_queues_one_paid_edit_after_its_tickets(
        shop, db, outbox_store, clock) -> None:
    admin, purchase = shop
    tt = await ga_type_id(admin)
    hold = await purchase.hold(user_id=CHAT, ticket_type_id=tt, quantity=2, screen=(CHAT, 41))
    await purchase.confirm_payment(payment_for(hold))
    items = await outbox_store.claim_due(now=clock.now() + timedelta(seconds=1),
                                         limit=50)
    assert [i.kind for i in items] == [outbox.MESSAGE, outbox.TICKET, outbox.TICKET,
                                       outbox.EDIT]
    edit = items[-1]
    assert edit.chat_id == CHAT and edit.payload["message_id"] == 41
    assert edit.payload["key"] == "hold_screen.paid" and edit.payload["buttons"] == "my_tickets"
    assert edit.payload["params"]["quantity"] == 2
    assert await screen_state(db, hold.order.id) is ScreenState.PAID
    clock.advance(timedelta(minutes=30))
    assert await purchase.close_stale_screens() == 0  # paid: nothing left for the job


async def test_an_expired_hold_is_edited_once_by_the_job(shop, db, outbox_store, clock) -> None:
    admin, purchase = shop
    tt = await ga_type_id(admin)
    hold = await purchase.hold(user_id=CHAT, ticket_type_id=tt, quantity=1, screen=(CHAT, 42))
    assert await purchase.close_stale_screens() == 0  # alive: "reserved" is still true
    clock.advance(timedelta(minutes=10, seconds=1))
    assert await purchase.close_stale_screens() == 1
    assert await purchase.close_stale_screens() == 0
    assert await edits(outbox_store, clock) == [(42, "hold_screen.expired", "events")]
    # Paid late (seats still free): the same message then says paid.
    await purchase.confirm_payment(payment_for(hold))
    assert (42, "hold_screen.paid", "my_tickets") in await edits(outbox_store, clock)


async def test_cancel_closes_the_screen_so_the_job_leaves_it_to_the_handler(
        shop, db, outbox_store, clock) -> None:
    admin, purchase = shop
    tt = await ga_type_id(admin)
    hold = await purchase.hold(user_id=CHAT, ticket_type_id=tt, quantity=1, screen=(CHAT, 43))
    await purchase.release(user_id=CHAT, order_id=hold.order.id)
    assert await screen_state(db, hold.order.id) is ScreenState.RELEASED
    clock.advance(timedelta(minutes=11))
    assert await purchase.close_stale_screens() == 0
    assert await edits(outbox_store, clock) == []


async def test_a_replaced_hold_is_edited_but_never_a_message_showing_a_newer_hold(
        shop, db, outbox_store, clock) -> None:
    admin, purchase = shop
    tt = await ga_type_id(admin, capacity=10)
    first = await purchase.hold(user_id=CHAT, ticket_type_id=tt, quantity=1, screen=(CHAT, 44))
    # A second hold on another message releases the first: its message says so.
    await purchase.hold(user_id=CHAT, ticket_type_id=tt, quantity=2, screen=(CHAT, 45))
    # A double tap: a third hold shown on the same message as the second.
    second_again = await purchase.hold(user_id=CHAT, ticket_type_id=tt, quantity=3,
                                       screen=(CHAT, 45))
    assert await purchase.close_stale_screens() == 1
    assert await edits(outbox_store, clock) == [(44, "hold_screen.released", "events")]
    # Paying the first (released) order still works, and its own message says paid.
    await purchase.confirm_payment(payment_for(first))
    assert (44, "hold_screen.paid", "my_tickets") in await edits(outbox_store, clock)
    # Message 45 shows the third hold: the superseded second hold never edits it.
    clock.advance(timedelta(minutes=11))
    assert await purchase.close_stale_screens() == 1
    assert await edits(outbox_store, clock) == [(45, "hold_screen.expired", "events")]
    assert await screen_state(db, second_again.order.id) is ScreenState.EXPIRED


async def test_a_payment_that_cannot_be_honoured_says_so_on_the_screen(
        shop, db, outbox_store, clock) -> None:
    admin, purchase = shop
    tt = await ga_type_id(admin, capacity=1)
    slow = await purchase.hold(user_id=CHAT, ticket_type_id=tt, quantity=1, screen=(CHAT, 46))
    clock.advance(timedelta(minutes=11))
    quick = await purchase.hold(user_id=11, ticket_type_id=tt, quantity=1, screen=(11, 7))
    await purchase.confirm_payment(payment_for(quick))
    await purchase.confirm_payment(payment_for(slow))  # seats gone: refunded
    found = await edits(outbox_store, clock)
    assert (46, "hold_screen.rejected", "events") in found
    assert (7, "hold_screen.paid", "my_tickets") in found
    assert await purchase.close_stale_screens() == 0


async def test_a_hold_moved_to_another_message_is_edited_there(
        shop, db, outbox_store, clock) -> None:
    admin, purchase = shop
    tt = await ga_type_id(admin)
    hold = await purchase.hold(user_id=CHAT, ticket_type_id=tt, quantity=1, screen=(CHAT, 47))
    await purchase.move_hold_screen(user_id=CHAT, order_id=hold.order.id, chat_id=CHAT,
                                    message_id=48)
    clock.advance(timedelta(minutes=11))
    await purchase.close_stale_screens()
    assert await edits(outbox_store, clock) == [(48, "hold_screen.expired", "events")]
