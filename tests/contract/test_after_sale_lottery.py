"""After a lottery's draw (on the fake, SQLite and PostgreSQL): a winner's ticket moves only
if the organizer allowed it, and the organizer can refund one winner's ticket from the
entry's payment."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from bot.app import build_services
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.lottery.service import LotteryService
from core.payments.model import IncomingPayment
from core.sales.model import entry_payload
from core.sales.service import PurchaseService
from core.tickets.actions import HolderAction
from tests.factories import lottery_doc

ADMIN = 1
WINNER = 500
_charges = itertools.count(1)


async def _won_ticket(db, clock, **transfers):
    services = build_services(db, clock, admin_ids=frozenset({ADMIN}))
    doc = lottery_doc(clock.now(), seats=1)
    if transfers:
        doc["transfers"] = transfers
    event = await services.admin.import_event(doc, actor_id=ADMIN)
    type_id = (await services.admin.sales(event.id, actor_id=ADMIN)).types[0].ticket_type.id
    lottery = LotteryService(db, clock)
    purchase = PurchaseService(db, clock, lottery=lottery)
    pending = await lottery.start_entry(user_id=WINNER, chat_id=WINNER,
                                        ticket_type_id=type_id, quantity=1)
    n = next(_charges)
    await purchase.confirm_payment(IncomingPayment(
        WINNER, WINNER, f"tg_l{n}", f"ch_l{n}", entry_payload(pending.entry.id),
        pending.entry.total))
    clock.advance(timedelta(hours=2))
    assert await lottery.run_due() == [event.id]
    (view,) = await services.tickets.my_tickets(WINNER)
    return services, view


async def test_a_lottery_ticket_stays_with_the_winner_unless_the_organizer_allows(
        db, clock) -> None:
    services, view = await _won_ticket(db, clock)
    assert view.actions == ()
    with pytest.raises(DomainError) as refused:
        await services.transfers.make_link(user_id=WINNER, ticket_id=view.ticket.id)
    assert refused.value.code is ErrorCode.TRANSFERS_OFF


async def test_an_allowed_lottery_ticket_can_be_given_and_refunded(db, clock) -> None:
    services, view = await _won_ticket(db, clock, allowed=True)
    assert view.actions == (HolderAction.TRANSFER,)
    link = (await services.transfers.make_link(user_id=WINNER,
                                               ticket_id=view.ticket.id)).transfer
    new = (await services.transfers.claim(user_id=WINNER + 1, transfer_id=link.id,
                                          confirm_code=link.confirm_code)).ticket
    started = await services.organizer.refund_ticket(actor_id=ADMIN, code=new.short_code,
                                                     reason="Cannot come")
    assert started.amount == Money(3000, "EUR")  # paid through the entry
