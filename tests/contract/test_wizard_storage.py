"""The event wizard (its dialogue over the editor service) and its storage (drafts,
edits), on the in-memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from core.access.model import Role
from core.access.service import AccessService
from core.catalog.model import EventStatus, SaleMode
from core.catalog.service import CatalogService
from core.catalog.spec import parse_event_spec
from core.kernel.errors import DomainError, ErrorCode
from core.lottery.service import LotteryService
from core.organizer.editor import EventWizardService
from core.payments.model import IncomingPayment
from core.sales.model import invoice_payload
from core.sales.service import PurchaseService
from handlers.texts import event_card_text
from handlers.wizard.steps import Dialogue, Step
from tests.factories import event_doc, lottery_doc

ADMIN, ORGANIZER, OTHER, BUYER = 1, 2, 3, 5
_charges = itertools.count(1)

HEAD = ("Harbour Nights", "-", "Pier 4", "Europe/Berlin", "12.12.2030 21:00")
GA = ("GA", "25.00", "EUR", "50", "4")


@pytest.fixture
async def services(db, clock):
    access = AccessService(db, clock, frozenset({ADMIN}))
    for user in (ORGANIZER, OTHER):
        invite = await access.create_invite(actor_id=ADMIN, role=Role.ORGANIZER)
        await access.accept_invite(user_id=user, first_name=f"Org{user}",
                                   payload=f"i_{invite.token}")
    lottery = LotteryService(db, clock)
    return (Dialogue(EventWizardService(db, clock, access)), CatalogService(db, clock),
            PurchaseService(db, clock, lottery=lottery))


async def answer_all(wizard: Dialogue, user: int, *answers: str):
    """Each answer in turn; ``"skip"`` stands for the Skip button."""
    state = None
    for text in answers:
        state = await (wizard.skip(user) if text == "skip" else wizard.answer(user, text))
        assert state is not None and state.issue is None, (text, state)
    return state


async def buy(purchase, type_id: int, quantity: int, user: int = BUYER) -> None:
    hold = await purchase.hold(user_id=user, ticket_type_id=type_id, quantity=quantity)
    n = next(_charges)
    await purchase.confirm_payment(IncomingPayment(
        user, user, f"tg_{n}", f"ch_{n}", invoice_payload(hold.order.id), hold.order.total))


async def stored_event(db, clock, doc=None, created_by: int = ORGANIZER):
    spec = parse_event_spec(doc or event_doc(), now=clock.now())
    async with db.write() as uow:
        return await uow.events.add(spec, created_by=created_by, now=clock.now())


async def test_a_new_event_is_stored_only_at_publish_and_shows_as_previewed(
        services, db) -> None:
    wizard, catalog, _ = services
    await wizard.start(ORGANIZER)
    await answer_all(wizard, ORGANIZER, *HEAD, *GA, "add", "VIP", "80", "skip", "10", "2")
    assert (await catalog.list_events()).items == []
    # A restart: a fresh service on the same database carries on where the draft stands.
    wizard = Dialogue(EventWizardService(db, wizard.editor._clock, wizard.editor._access))
    state = await answer_all(wizard, ORGANIZER, "done", "direct")
    assert state.prompt.step is Step.PREVIEW
    preview = await wizard.editor.preview(ORGANIZER)
    assert preview is not None
    event = await wizard.publish(ORGANIZER)
    assert event is not None and event.status is EventStatus.PUBLISHED
    assert await wizard.current(ORGANIZER) is None
    card = await catalog.event_card(event.id, BUYER)
    assert event_card_text(card) == event_card_text(preview.card)
    assert [(o.ticket_type.name, o.ticket_type.capacity) for o in card.offers] == [
        ("GA", 50), ("VIP", 10)]


async def test_cancel_leaves_nothing_behind(services, db) -> None:
    wizard, _, _ = services
    await wizard.start(ORGANIZER)
    await answer_all(wizard, ORGANIZER, *HEAD, *GA, "done", "direct")
    assert await wizard.editor.cancel(ORGANIZER) is True
    assert await wizard.current(ORGANIZER) is None
    assert await wizard.editor.cancel(ORGANIZER) is False
    async with db.read() as uow:
        assert await uow.events.managed_by(0, all_events=True) == []


async def test_wrong_answers_are_refused_and_the_draft_does_not_move(services) -> None:
    wizard, _, _ = services
    await wizard.start(ORGANIZER)
    await answer_all(wizard, ORGANIZER, *HEAD[:4])
    state = await wizard.answer(ORGANIZER, "01.01.2020 10:00")
    assert state is not None and state.issue is not None and state.issue.code == "in_past"
    assert state.prompt.step is Step.STARTS_AT
    back = await wizard.back(ORGANIZER)
    assert back is not None and back.prompt.current == "Europe/Berlin"


async def test_people_who_are_not_organizers_cannot_start_or_edit(services, db, clock) -> None:
    wizard, _, _ = services
    with pytest.raises(DomainError) as refused:
        await wizard.start(BUYER)
    assert refused.value.code is ErrorCode.NOT_ALLOWED
    event = await stored_event(db, clock)
    for user in (BUYER, OTHER):
        with pytest.raises(DomainError) as foreign:
            await wizard.start(user, event.id)
        assert foreign.value.code is ErrorCode.NOT_ALLOWED
    assert await wizard.answer(BUYER, "hello") is None


async def test_editing_refuses_a_capacity_below_sold_even_when_sales_come_late(
        services, db, clock) -> None:
    wizard, catalog, purchase = services
    event = await stored_event(db, clock, event_doc(capacity=10))
    type_id = (await catalog.event_card(event.id, BUYER)).offers[0].ticket_type.id
    await buy(purchase, type_id, 3)
    state = await wizard.start(ORGANIZER, event.id)
    assert state.prompt.current == "Night Market"
    await answer_all(wizard, ORGANIZER, "Night Market II", *["skip"] * 7)
    refused = await wizard.answer(ORGANIZER, "2")
    assert refused is not None and refused.issue is not None
    assert (refused.issue.code, refused.issue.params) == ("capacity_below_sold",
                                                          {"name": "GA", "sold": 3})
    await answer_all(wizard, ORGANIZER, "4", "skip", "done", "skip")
    await buy(purchase, type_id, 2, user=BUYER + 1)  # meanwhile, two more are sold
    with pytest.raises(DomainError) as below:
        await wizard.publish(ORGANIZER)
    assert below.value.code is ErrorCode.CAPACITY_BELOW_SOLD
    assert (below.value.params["name"], below.value.params["sold"]) == ("GA", 5)
    again = await wizard.current(ORGANIZER)
    assert again is not None and again.prompt.step is Step.TYPE_CAPACITY
    assert (await catalog.event_card(event.id, BUYER)).event.title == "Night Market"
    await answer_all(wizard, ORGANIZER, "6", "skip", "done", "skip")
    updated = await wizard.publish(ORGANIZER)
    assert updated is not None and updated.title == "Night Market II"
    card = await catalog.event_card(event.id, BUYER)
    assert (card.offers[0].stock.capacity, card.offers[0].stock.sold) == (6, 5)
    assert card.offers[0].ticket_type.id == type_id  # the same type, updated in place


async def test_an_edit_can_add_a_type_and_save_as_draft_then_publish_again(
        services, db, clock) -> None:
    wizard, catalog, _ = services
    event = await stored_event(db, clock)
    await wizard.start(ORGANIZER, event.id)
    await answer_all(wizard, ORGANIZER, *["skip"] * 10, "add", "VIP", "99.90", "skip", "5",
                     "1", "done", "skip")
    saved = await wizard.publish(ORGANIZER, publish=False)
    assert saved is not None and saved.status is EventStatus.DRAFT
    assert (await catalog.list_events()).items == []
    published = await wizard.editor.publish_event(ORGANIZER, event.id)
    assert published.status is EventStatus.PUBLISHED
    card = await catalog.event_card(event.id, BUYER)
    assert [o.ticket_type.name for o in card.offers] == ["GA", "VIP"]
    hidden = await wizard.editor.unpublish_event(ORGANIZER, event.id)
    assert hidden.status is EventStatus.DRAFT
    with pytest.raises(DomainError) as foreign:
        await wizard.editor.publish_event(OTHER, event.id)
    assert foreign.value.code is ErrorCode.NOT_ALLOWED


async def test_a_direct_event_becomes_a_lottery_with_a_commitment_before_any_sale(
        services, db, clock) -> None:
    wizard, _, _ = services
    event = await stored_event(db, clock)
    await wizard.start(ORGANIZER, event.id)
    await answer_all(wizard, ORGANIZER, *["skip"] * 10, "done", "lottery",
                     "2030-07-01 10:00", "2030-08-01 10:00", "2030-08-02 10:00", "2", "yes")
    updated = await wizard.publish(ORGANIZER)
    assert updated is not None and updated.sale_mode is SaleMode.LOTTERY
    async with db.read() as uow:
        fairness = await uow.lottery.fairness(event.id)
    assert fairness.commitment and fairness.uses_beacon is True


async def test_an_open_lottery_keeps_its_terms_and_stays_published(services, db,
                                                                  clock) -> None:
    wizard, catalog, _ = services
    event = await stored_event(db, clock, lottery_doc(clock.now()))
    state = await wizard.start(ORGANIZER, event.id)
    assert state.lottery_locked
    with pytest.raises(DomainError) as locked:
        await wizard.editor.unpublish_event(ORGANIZER, event.id)
    assert locked.value.code is ErrorCode.LOTTERY_LOCKED
    await answer_all(wizard, ORGANIZER, "skip", "skip", "Bigger Hall", *["skip"] * 7,
                     "done", *["skip"] * 6)
    moved = await wizard.publish(ORGANIZER)
    assert moved is not None and moved.venue == "Bigger Hall"
    await wizard.start(ORGANIZER, event.id)
    await answer_all(wizard, ORGANIZER, *["skip"] * 8)
    state = await wizard.answer(ORGANIZER, "6")  # one more seat: accepted here ...
    assert state is not None and state.issue is None
    state = await answer_all(wizard, ORGANIZER, "skip", "done", *["skip"] * 5)
    last = await wizard.skip(ORGANIZER)  # ... but not at the preview
    assert last is not None and last.issue is not None
    assert last.issue.code == "lottery_locked" and last.prompt.step is Step.TYPE_CAPACITY
    card = await catalog.event_card(event.id, BUYER)
    assert card.offers[0].ticket_type.capacity == 5


async def test_starting_again_replaces_the_unfinished_draft(services, clock) -> None:
    wizard, _, _ = services
    await wizard.start(ORGANIZER)
    await answer_all(wizard, ORGANIZER, "First try")
    clock.advance(timedelta(minutes=5))
    state = await wizard.start(ORGANIZER)
    assert state.replaced and state.draft.doc == {}
