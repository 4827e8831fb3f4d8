"""Group entries for lotteries, as the rules read (on the in-memory fake, SQLite and
PostgreSQL): the lead enters and pays for the group and invites companions by a link; each
confirms in their own chat; one person is in one entry per lottery; the group wins or loses
as one; a winning group's tickets go one to each member, each QR code to its own chat."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest

from bot.app import build_services
from core.kernel import outbox
from core.kernel.clock import ManualClock
from core.kernel.errors import DomainError, ErrorCode
from core.payments.model import IncomingPayment
from core.payments.outcomes import PaymentOutcome
from core.sales.model import entry_payload
from tests.factories import lottery_doc

ADMIN = 1
_charges = itertools.count(1)
LEAD_A, LEAD_B = 300, 310
FRIENDS_A, FRIENDS_B = (301, 302), (311, 312)


class World:
    def __init__(self, db: Any, clock: ManualClock, outbox_store: Any) -> None:
        self.db, self.clock, self.outbox_store = db, clock, outbox_store
        self.services = build_services(db, clock, admin_ids=frozenset({ADMIN}))

    async def lottery(self, *, seats: int = 3, group_size: int = 3) -> None:
        doc = lottery_doc(self.clock.now(), seats=seats, max_per_entry=3)
        doc["lottery"]["group_size"] = group_size
        event = await self.services.admin.import_event(doc, actor_id=ADMIN)
        self.event_id = event.id
        self.tt = (await self.services.admin.sales(event.id, actor_id=ADMIN)
                   ).types[0].ticket_type.id

    async def enter(self, user: int, quantity: int) -> None:
        pending = await self.services.lottery.start_entry(
            user_id=user, chat_id=user, ticket_type_id=self.tt, quantity=quantity)
        n = next(_charges)
        done = await self.services.purchase.confirm_payment(IncomingPayment(
            user_id=user, chat_id=user, telegram_charge_id=f"tg_g{n}",
            provider_charge_id=f"ch_g{n}", payload=entry_payload(pending.entry.id),
            amount=pending.entry.total))
        assert done.outcome is PaymentOutcome.ENTERED

    async def group(self, lead: int, friends: tuple[int, ...]) -> str:
        invite = await self.services.groups.invite(user_id=lead, event_id=self.event_id)
        for friend in friends:
            joined = await self.services.groups.open_link(user_id=friend, chat_id=friend,
                                                          payload=f"g_{invite.token}")
            await self.services.groups.confirm(user_id=friend, entry_id=joined.entry.id)
        return invite.token

    async def items(self) -> list[Any]:
        return await self.outbox_store.claim_due(now=self.clock.now() + timedelta(days=1),
                                                 limit=1000)


@pytest.fixture
def world(db, clock: ManualClock, outbox_store) -> World:
    return World(db, clock, outbox_store)


async def test_companions_join_by_link_once_per_person_and_the_group_size_holds(
        world: World) -> None:
    await world.lottery()
    await world.enter(LEAD_A, 3)
    token = await world.group(LEAD_A, FRIENDS_A)
    invite = await world.services.groups.invite(user_id=LEAD_A, event_id=world.event_id)
    assert invite.token == token and invite.spots == 0
    assert [m.user_id for m in invite.members] == list(FRIENDS_A)
    with pytest.raises(DomainError) as full:
        await world.services.groups.open_link(user_id=399, chat_id=399, payload=f"g_{token}")
    assert full.value.code is ErrorCode.GROUP_FULL
    with pytest.raises(DomainError) as alone:  # a companion cannot also enter alone
        await world.services.lottery.start_entry(user_id=FRIENDS_A[0], chat_id=FRIENDS_A[0],
                                                 ticket_type_id=world.tt, quantity=1)
    assert alone.value.code is ErrorCode.ALREADY_IN_GROUP
    await world.enter(LEAD_B, 3)
    other = await world.services.groups.invite(user_id=LEAD_B, event_id=world.event_id)
    for someone in (FRIENDS_A[0], LEAD_A):  # nor join a second group, nor an entrant one
        with pytest.raises(DomainError) as twice:
            await world.services.groups.open_link(user_id=someone, chat_id=someone,
                                                  payload=f"g_{other.token}")
        assert twice.value.code in (ErrorCode.ALREADY_IN_GROUP, ErrorCode.ALREADY_ENTERED)
    with pytest.raises(DomainError) as forged:
        await world.services.groups.open_link(user_id=398, chat_id=398,
                                              payload="g_" + "x" * 22)
    assert forged.value.code is ErrorCode.GROUP_NOT_FOUND


async def test_the_group_wins_or_loses_as_one_and_each_member_gets_their_own_qr(
        world: World, clock: ManualClock) -> None:
    await world.lottery(seats=3)
    await world.enter(LEAD_A, 3)
    await world.group(LEAD_A, FRIENDS_A)
    await world.enter(LEAD_B, 3)
    await world.group(LEAD_B, FRIENDS_B)
    clock.advance(timedelta(hours=1, minutes=1))
    assert await world.services.lottery.run_due() == [world.event_id]
    # The outbox worker settles the draw's losers in batches (REFUND_LOSERS).
    while await world.services.lottery.settle_losers(world.event_id):
        pass
    assert await world.services.groups.counts(world.event_id) == (1, 1)
    items = await world.items()
    tickets_to = sorted(i.chat_id for i in items if i.kind == outbox.TICKET)
    messages = [(i.chat_id, i.payload.get("key")) for i in items if i.kind == outbox.MESSAGE]
    winners = (LEAD_A, *FRIENDS_A) if LEAD_A in tickets_to else (LEAD_B, *FRIENDS_B)
    losers = (LEAD_B, *FRIENDS_B) if winners[0] == LEAD_A else (LEAD_A, *FRIENDS_A)
    assert tickets_to == sorted(winners)  # one QR code each, in each member's own chat
    async with world.db.read() as uow:
        for member in winners:
            owned = await uow.tickets.for_owner(member, upcoming_after=clock.now())
            assert len(owned) == 1
    assert all((friend, "group.won") in messages for friend in winners[1:])
    assert all((friend, "group.lost") in messages for friend in losers[1:])
    refunds = [i for i in items if i.kind == outbox.REFUND]
    assert len(refunds) == 1  # the losing lead paid for the group: one refund
