"""Ticket transfers (on the in-memory fake, SQLite and PostgreSQL): a claim link works once,
expires, can be withdrawn; the friend's new ticket admits and the old one is REVOKED
("transferred"); the organizer's policy decides who may pass a ticket on, and when."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from core.door.model import Verdict
from core.kernel import outbox
from core.kernel.errors import DomainError, ErrorCode
from core.tickets.actions import HolderAction
from core.tickets.service import TicketService
from core.transfers.model import LINK_TTL, claim_payload
from core.transfers.service import TransferService
from tests.console_world import BUYER, STAFF, buy, make_console, organizer_event, staff_for

FRIEND, STRANGER = 60, 61


@pytest.fixture
async def world(db, clock):
    access, organizer, purchase, checkin = await make_console(db, clock)
    return access, organizer, purchase, checkin, TransferService(db, clock)


async def _sold_ticket(world, db, clock, **event):
    access, _, purchase, _, _ = world
    ev = await organizer_event(db, clock, **event)
    ticket = (await buy(purchase, db, ev)).tickets[0]
    await staff_for(access, ev)
    return ev, ticket


async def _refused(code: ErrorCode, call) -> None:
    with pytest.raises(DomainError) as refused:
        await call
    assert refused.value.code is code, refused.value


async def test_a_claimed_ticket_gets_a_new_qr_and_the_old_one_is_revoked(world, db, clock,
                                                                         outbox_store) -> None:
    *_, checkin, transfers = world
    event, ticket = await _sold_ticket(world, db, clock)
    link = await transfers.make_link(user_id=BUYER, ticket_id=ticket.id)
    offer = await transfers.open_link(user_id=FRIEND, payload=link.transfer.payload)
    assert offer.giver_first_name == "Bea" and offer.event.id == event.id
    claimed = await transfers.claim(user_id=FRIEND, transfer_id=offer.transfer.id,
                                    confirm_code=offer.transfer.confirm_code, first_name="Fay")
    new = claimed.ticket
    assert new.owner_user_id == FRIEND and new.token != ticket.token
    assert new.short_code != ticket.short_code and new.transferred_from == ticket.id
    old = await checkin.scan_link(staff_id=STAFF, payload=f"t_{ticket.token}", nonce="old")
    assert old.verdict is Verdict.REVOKED and old.revoked_reason == "transferred"
    fresh = await checkin.scan_link(staff_id=STAFF, payload=f"t_{new.token}", nonce="new")
    assert fresh.verdict is Verdict.VALID and fresh.holder_first_name == "Fay"
    assert (fresh.checked_in, fresh.sold) == (1, 1)  # one seat, one admission
    # The friend gets a welcome and the new QR; the giver is told it is gone.
    items = await outbox_store.claim_due(now=clock.now() + timedelta(hours=1), limit=100)
    mine = [(i.kind, i.chat_id, i.payload.get("key") or i.payload.get("ticket_id"))
            for i in items if i.chat_id in (BUYER, FRIEND) and i.payload.get("key")
            != "payment_confirmed" and i.payload.get("ticket_id") != ticket.id]
    assert (outbox.MESSAGE, FRIEND, "transfer_received") in mine
    assert (outbox.TICKET, FRIEND, new.id) in mine
    assert (outbox.MESSAGE, BUYER, "transfer_done") in mine
    # The giver no longer lists it; the friend does.
    listing = TicketService(db, clock)
    assert [v.ticket.id for v in await listing.my_tickets(BUYER)] == []
    assert [v.ticket.id for v in await listing.my_tickets(FRIEND)] == [new.id]


async def test_a_claim_link_works_once(world, db, clock) -> None:
    *_, transfers = world
    _, ticket = await _sold_ticket(world, db, clock, transfers={"max_per_ticket": 3})
    link = (await transfers.make_link(user_id=BUYER, ticket_id=ticket.id)).transfer
    await transfers.claim(user_id=FRIEND, transfer_id=link.id, confirm_code=link.confirm_code)
    await _refused(ErrorCode.CLAIM_USED, transfers.claim(
        user_id=STRANGER, transfer_id=link.id, confirm_code=link.confirm_code))
    await _refused(ErrorCode.CLAIM_USED, transfers.open_link(user_id=STRANGER,
                                                             payload=link.payload))
    # The giver cannot pass on what is no longer theirs.
    await _refused(ErrorCode.TICKET_NOT_VALID, transfers.make_link(user_id=BUYER,
                                                                   ticket_id=ticket.id))


async def test_two_friends_claiming_at_once_get_one_ticket(world, db, clock) -> None:
    *_, transfers = world
    _, ticket = await _sold_ticket(world, db, clock)
    link = (await transfers.make_link(user_id=BUYER, ticket_id=ticket.id)).transfer
    results = await asyncio.gather(*(
        transfers.claim(user_id=FRIEND + i, transfer_id=link.id,
                        confirm_code=link.confirm_code) for i in range(4)),
        return_exceptions=True)
    won = [r for r in results if not isinstance(r, BaseException)]
    assert len(won) == 1
    assert all(isinstance(r, DomainError) and r.code is ErrorCode.CLAIM_USED
               for r in results if isinstance(r, BaseException))


async def test_a_forged_confirm_button_claims_nothing(world, db, clock) -> None:
    *_, transfers = world
    _, ticket = await _sold_ticket(world, db, clock)
    link = (await transfers.make_link(user_id=BUYER, ticket_id=ticket.id)).transfer
    await _refused(ErrorCode.CLAIM_NOT_FOUND, transfers.claim(
        user_id=STRANGER, transfer_id=link.id, confirm_code=link.confirm_code + 1))
    await _refused(ErrorCode.CLAIM_NOT_FOUND, transfers.open_link(
        user_id=STRANGER, payload=claim_payload("A" * 22)))
    await _refused(ErrorCode.CLAIM_OWN_TICKET, transfers.open_link(user_id=BUYER,
                                                                   payload=link.payload))


async def test_a_link_expires_and_can_be_withdrawn(world, db, clock) -> None:
    *_, transfers = world
    _, ticket = await _sold_ticket(world, db, clock)
    link = (await transfers.make_link(user_id=BUYER, ticket_id=ticket.id)).transfer
    assert link.expires_at == clock.now() + LINK_TTL
    again = (await transfers.make_link(user_id=BUYER, ticket_id=ticket.id)).transfer
    assert again.id == link.id  # one live link per ticket
    await _refused(ErrorCode.CLAIM_NOT_FOUND, transfers.cancel(user_id=STRANGER,
                                                               transfer_id=link.id))
    withdrawn = await transfers.cancel(user_id=BUYER, transfer_id=link.id)
    await _refused(ErrorCode.CLAIM_CANCELLED, transfers.claim(
        user_id=FRIEND, transfer_id=link.id, confirm_code=link.confirm_code))
    assert withdrawn.cancelled_at is not None
    late = (await transfers.make_link(user_id=BUYER, ticket_id=ticket.id)).transfer
    assert late.id != link.id
    clock.advance(LINK_TTL)
    await _refused(ErrorCode.CLAIM_EXPIRED, transfers.open_link(user_id=FRIEND,
                                                                payload=late.payload))
    await _refused(ErrorCode.CLAIM_EXPIRED, transfers.claim(
        user_id=FRIEND, transfer_id=late.id, confirm_code=late.confirm_code))


async def test_no_transfer_after_check_in(world, db, clock) -> None:
    *_, checkin, transfers = world
    _, ticket = await _sold_ticket(world, db, clock)
    link = (await transfers.make_link(user_id=BUYER, ticket_id=ticket.id)).transfer
    await checkin.scan_link(staff_id=STAFF, payload=f"t_{ticket.token}", nonce="in")
    await _refused(ErrorCode.TICKET_ALREADY_USED, transfers.claim(
        user_id=FRIEND, transfer_id=link.id, confirm_code=link.confirm_code))
    await _refused(ErrorCode.TICKET_ALREADY_USED, transfers.make_link(user_id=BUYER,
                                                                      ticket_id=ticket.id))
    assert (await TicketService(db, clock).my_tickets(BUYER))[0].actions == ()


async def test_the_organizer_policy_decides(world, db, clock) -> None:
    *_, transfers = world
    listing = TicketService(db, clock)
    _, off = await _sold_ticket(world, db, clock, title="Off", transfers={"allowed": False})
    await _refused(ErrorCode.TRANSFERS_OFF, transfers.make_link(user_id=BUYER,
                                                                ticket_id=off.id))
    until = datetime(2030, 6, 2, 12, 0, tzinfo=UTC)
    _, soon = await _sold_ticket(world, db, clock, title="Soon",
                                 transfers={"until": until.isoformat()})
    link = (await transfers.make_link(user_id=BUYER, ticket_id=soon.id)).transfer
    assert link.expires_at == until  # never past the organizer's deadline
    views = {v.ticket.id: v.actions for v in await listing.my_tickets(BUYER)}
    assert views == {off.id: (), soon.id: (HolderAction.TRANSFER,)}
    clock.advance(timedelta(days=1))
    await _refused(ErrorCode.TRANSFERS_CLOSED, transfers.make_link(user_id=BUYER,
                                                                   ticket_id=soon.id))
    await _refused(ErrorCode.CLAIM_EXPIRED, transfers.claim(
        user_id=FRIEND, transfer_id=link.id, confirm_code=link.confirm_code))
    assert all(v.actions == () for v in await listing.my_tickets(BUYER))


async def test_a_seat_changes_hands_at_most_as_often_as_allowed(world, db, clock) -> None:
    *_, transfers = world
    _, ticket = await _sold_ticket(world, db, clock, transfers={"max_per_ticket": 2})
    holder, current = BUYER, ticket
    for friend in (FRIEND, FRIEND + 1):
        link = (await transfers.make_link(user_id=holder, ticket_id=current.id)).transfer
        current = (await transfers.claim(user_id=friend, transfer_id=link.id,
                                         confirm_code=link.confirm_code)).ticket
        holder = friend
    assert current.transfer_count == 2
    await _refused(ErrorCode.TRANSFER_LIMIT_REACHED,
                   transfers.make_link(user_id=holder, ticket_id=current.id))
