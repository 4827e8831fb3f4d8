"""Transfers against the door, on PostgreSQL with real concurrent transactions (a pool of
connections, the rows locked by the database itself): a ticket that was given away admits
only its new holder, however the two phones are timed."""

from __future__ import annotations

import asyncio

import pytest

from core.door.model import Verdict
from core.kernel.errors import DomainError, ErrorCode
from core.transfers.service import TransferService
from tests.console_world import BUYER, STAFF, buy, make_console, organizer_event, staff_for

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)

ROUNDS = 12
FRIEND = 70
GATE_B = STAFF + 100


async def _world(db, clock):
    access, _, purchase, checkin = await make_console(db, clock)
    event = await organizer_event(db, clock, capacity=ROUNDS, per_user_limit=ROUNDS,
                                  transfers={"max_per_ticket": 1})
    tickets = (await buy(purchase, db, event, quantity=ROUNDS)).tickets
    await staff_for(access, event, STAFF, "Sam")
    await staff_for(access, event, GATE_B, "Kim")
    return checkin, TransferService(db, clock), tickets


async def test_transferred_ticket_admits_only_the_new_holder_at_two_gates_at_once(
        db, clock) -> None:
    checkin, transfers, tickets = await _world(db, clock)
    for n, old in enumerate(tickets):
        link = (await transfers.make_link(user_id=BUYER, ticket_id=old.id)).transfer
        new = (await transfers.claim(user_id=FRIEND + n, transfer_id=link.id,
                                     confirm_code=link.confirm_code)).ticket
        # The giver's screenshot and the friend's phone, at two gates at the same moment.
        at_a, at_b = await asyncio.gather(
            checkin.scan_link(staff_id=STAFF, payload=f"t_{old.token}", nonce=f"a{n}"),
            checkin.scan_link(staff_id=GATE_B, payload=f"t_{new.token}", nonce=f"b{n}"))
        assert at_a.verdict is Verdict.REVOKED and at_a.revoked_reason == "transferred"
        assert at_b.verdict is Verdict.VALID


async def test_a_claim_racing_the_old_qr_at_the_door_lets_exactly_one_in(db, clock) -> None:
    checkin, transfers, tickets = await _world(db, clock)
    outcomes = set()
    for n, old in enumerate(tickets):
        link = (await transfers.make_link(user_id=BUYER, ticket_id=old.id)).transfer
        claim, door = await asyncio.gather(
            transfers.claim(user_id=FRIEND + n, transfer_id=link.id,
                            confirm_code=link.confirm_code),
            checkin.scan_link(staff_id=STAFF, payload=f"t_{old.token}", nonce=f"r{n}"),
            return_exceptions=True)
        assert not isinstance(door, BaseException), door
        if isinstance(claim, BaseException):
            # The door was first: the old QR is in, and the seat never changes hands.
            assert isinstance(claim, DomainError), claim
            assert claim.code is ErrorCode.TICKET_ALREADY_USED
            assert door.verdict is Verdict.VALID
            outcomes.add("door first")
            continue
        # The claim was first: the old QR is refused, the new one admits, once.
        assert door.verdict is Verdict.REVOKED
        new = await checkin.scan_link(staff_id=GATE_B, payload=f"t_{claim.ticket.token}",
                                      nonce=f"n{n}")
        assert new.verdict is Verdict.VALID
        outcomes.add("claim first")
    checked_in, sold = await checkin.progress(staff_id=STAFF, event_id=tickets[0].event_id)
    assert (checked_in, sold) == (ROUNDS, ROUNDS)  # one admission per seat, never two
    assert outcomes  # (which orders happened varies with the machine's timing)
