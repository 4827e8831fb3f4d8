"""Browsing events and a buyer's own tickets (on the in-memory fake, SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import build_services
from core.catalog.service import CatalogService
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.sales.service import PurchaseService
from core.tickets.service import TicketService
from tests.contract.test_direct_sales import ADMIN, payment_for
from tests.factories import event_doc


@pytest.fixture
def services(db, clock):
    admin = build_services(db, clock, admin_ids=frozenset({ADMIN})).admin
    return (admin, CatalogService(db, clock, page_size=2),
            PurchaseService(db, clock), TicketService(db, clock))


async def test_the_event_list_shows_published_upcoming_events_soonest_first_in_pages(
        services, clock) -> None:
    admin, catalog, *_ = services
    later = await admin.import_event(event_doc(title="Later", starts_at="2030-12-20T20:00",
                                               vip_capacity=3), actor_id=ADMIN)
    soon = await admin.import_event(event_doc(title="Soon", starts_at="2030-07-01T20:00"),
                                    actor_id=ADMIN)
    await admin.import_event(event_doc(title="Draft", publish=False), actor_id=ADMIN)
    await admin.import_event(event_doc(title="Middle", starts_at="2030-09-01T20:00"),
                             actor_id=ADMIN)
    first = await catalog.list_events()
    assert [i.event.title for i in first.items] == ["Soon", "Middle"]
    assert (first.page, first.pages) == (0, 2)
    last = await catalog.list_events(page=7)  # clamped to the last page
    assert last.page == 1 and [i.event.id for i in last.items] == [later.id]
    assert (last.items[0].price_min, last.items[0].price_max) == (Money(2500, "EUR"),
                                                                  Money(8000, "EUR"))
    assert last.items[0].available == 13
    clock.set(soon.starts_at + timedelta(minutes=1))  # started: no longer listed
    assert [i.event.title for i in (await catalog.list_events()).items] == ["Middle", "Later"]


async def test_an_event_card_counts_the_users_own_purchases_and_hides_drafts(
        services) -> None:
    admin, catalog, purchase, _ = services
    event = await admin.import_event(event_doc(capacity=6, per_user_limit=4), actor_id=ADMIN)
    tt = (await admin.sales(event.id, actor_id=ADMIN)).types[0].ticket_type.id
    await purchase.confirm_payment(payment_for(
        await purchase.hold(user_id=10, ticket_type_id=tt, quantity=3)))
    await purchase.hold(user_id=10, ticket_type_id=tt, quantity=1)  # own hold: not counted
    await purchase.hold(user_id=11, ticket_type_id=tt, quantity=1)
    card = await catalog.event_card(event.id, 10)
    assert card.on_sale and card.offers[0].stock.available == 2
    assert card.offers[0].max_for_user == 1  # limit 4, 3 bought
    draft = await admin.import_event(event_doc(publish=False), actor_id=ADMIN)
    with pytest.raises(DomainError) as hidden:
        await catalog.event_card(draft.id, 10)
    assert hidden.value.code is ErrorCode.EVENT_NOT_FOUND


async def test_my_tickets_lists_a_buyers_tickets_until_half_a_day_after_the_start(
        services, clock) -> None:
    admin, _, purchase, tickets = services
    late = await admin.import_event(event_doc(title="Late", starts_at="2030-12-20T20:00"),
                                    actor_id=ADMIN)
    early = await admin.import_event(event_doc(title="Early", starts_at="2030-07-01T20:00"),
                                     actor_id=ADMIN)
    for event, quantity in ((late, 1), (early, 2)):
        tt = (await admin.sales(event.id, actor_id=ADMIN)).types[0].ticket_type.id
        await purchase.confirm_payment(payment_for(
            await purchase.hold(user_id=10, ticket_type_id=tt, quantity=quantity)))
    mine = await tickets.my_tickets(10)
    assert [v.event.title for v in mine] == ["Early", "Early", "Late"]
    assert mine[0].ticket.id < mine[1].ticket.id and mine[0].ticket_type.name == "GA"
    assert await tickets.my_tickets(11) == []
    clock.set(early.starts_at + timedelta(hours=11))
    assert len(await tickets.my_tickets(10)) == 3
    clock.set(early.starts_at + timedelta(hours=12, seconds=1))
    assert [v.event.title for v in await tickets.my_tickets(10)] == ["Late"]


async def test_a_ticket_link_shows_the_ticket_to_its_owner_only(services) -> None:
    admin, _, purchase, tickets = services
    event = await admin.import_event(event_doc(), actor_id=ADMIN)
    tt = (await admin.sales(event.id, actor_id=ADMIN)).types[0].ticket_type.id
    ticket = (await purchase.confirm_payment(payment_for(
        await purchase.hold(user_id=10, ticket_type_id=tt, quantity=1)))).tickets[0]
    own = await tickets.open_link(user_id=10, payload=f"t_{ticket.token}")
    assert own.is_owner and own.view is not None and own.view.ticket == ticket
    stranger = await tickets.open_link(user_id=11, payload=f"t_{ticket.token}")
    assert not stranger.is_owner and stranger.view is None
    assert (await tickets.ticket_for_owner(user_id=10, ticket_id=ticket.id)).event == event
    for attempt in (tickets.ticket_for_owner(user_id=11, ticket_id=ticket.id),
                    tickets.open_link(user_id=10, payload="t_" + "A" * 22),
                    tickets.ticket_view(ticket.id + 1000)):
        with pytest.raises(DomainError) as refused:
            await attempt
        assert refused.value.code is ErrorCode.TICKET_NOT_FOUND
