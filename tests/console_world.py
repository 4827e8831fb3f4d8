"""The organizer console and the door, set up as the specs need them: two invited organizers,
events created by one of them, purchases and door staff."""

from __future__ import annotations

import itertools
from typing import Any

from core.access.model import Role
from core.access.service import AccessService
from core.door.service import CheckinService
from core.lottery.service import LotteryService
from core.organizer.service import OrganizerService
from core.payments.model import IncomingPayment
from core.sales.model import invoice_payload
from core.sales.service import PurchaseService
from tests.factories import event_doc

ADMIN, ORGANIZER, OTHER_ORGANIZER, STAFF, BUYER = 1, 2, 3, 4, 5
_charges = itertools.count(1)


async def make_console(db: Any, clock: Any) -> tuple[AccessService, OrganizerService,
                                                      PurchaseService, CheckinService]:
    """The services of the console and the door, with two invited organizers."""
    access = AccessService(db, clock, frozenset({ADMIN}))
    lottery = LotteryService(db, clock)
    organizer = OrganizerService(db, clock, access, lottery)
    purchase = PurchaseService(db, clock, lottery=lottery)
    checkin = CheckinService(db, clock, access)
    for user in (ORGANIZER, OTHER_ORGANIZER):
        invite = await access.create_invite(actor_id=ADMIN, role=Role.ORGANIZER)
        await access.accept_invite(user_id=user, first_name=f"Org{user}",
                                   payload=f"i_{invite.token}")
    return access, organizer, purchase, checkin


async def organizer_event(db, clock, *, created_by: int = ORGANIZER, **kwargs):
    from core.catalog.spec import parse_event_spec

    spec = parse_event_spec(event_doc(**kwargs), now=clock.now())
    async with db.write() as uow:
        return await uow.events.add(spec, created_by=created_by, now=clock.now())


async def buy(purchase, db, event, user: int = BUYER, quantity: int = 1, first_name="Bea"):
    async with db.read() as uow:
        type_id = (await uow.events.ticket_types(event.id))[0].id
    hold = await purchase.hold(user_id=user, ticket_type_id=type_id, quantity=quantity)
    n = next(_charges)
    return await purchase.confirm_payment(IncomingPayment(
        user, user, f"tg_{n}", f"ch_{n}", invoice_payload(hold.order.id), hold.order.total,
        first_name=first_name))


async def staff_for(access, event, user: int = STAFF, name: str = "Sam") -> None:
    invite = await access.create_invite(actor_id=ORGANIZER, role=Role.STAFF,
                                        event_id=event.id)
    await access.accept_invite(user_id=user, first_name=name, payload=f"i_{invite.token}")
