"""Everything that is not a purchase: start, help, my tickets, stray input, forged buttons."""

from __future__ import annotations

import asyncio

from bot.sandbox import VirtualUser
from tests.e2e.conftest import ORGANIZER
from tests.e2e.phone import buy, create_event, open_event, photos


async def forge_tap(live, user: VirtualUser, data: str) -> str | None:
    """A callback query with arbitrary data on the user's last message (a forged button)."""
    api = live.sandbox.telegram
    msg = user.last_message
    qid, query = api.new_callback_query()
    api.emit_update("callback_query", {
        "id": qid, "from": user.user_json, "message": api.message_json(msg),
        "chat_instance": "1", "data": data})
    answer = await asyncio.wait_for(asyncio.shield(query.future), 5)
    return answer.text


async def test_start_welcomes_with_buttons_to_browse(live) -> None:
    ann = live.sandbox.user(user_id=301, first_name="Ann")
    await ann.send("/start")
    welcome = await ann.wait_for_message(contains="Hi Ann")
    assert any("Browse" in b for b in welcome.button_texts())


async def test_forged_and_malformed_buttons_get_a_polite_answer_and_change_nothing(
        live) -> None:
    await create_event(live, capacity=3)
    ann = live.sandbox.user(user_id=302, first_name="Ann")
    await open_event(ann)
    for data in ("v1:q:1:999", "v1:q:1:0", "v9:ev:1", "garbage", "v1:ev:99999",
                 "v1:tk:1", "v1:rel:1", "v1:q:99999:1", "v1:ev:-1"):
        assert await forge_tap(live, ann, data), data
    card = await open_event(live.sandbox.user(user_id=303, first_name="Ben"))
    assert "3 left" in card.text


async def test_someone_elses_order_and_ticket_ids_are_refused(live) -> None:
    await create_event(live, capacity=3)
    owner = live.sandbox.user(user_id=304, first_name="Olu")
    await buy(live, owner)
    thief = live.sandbox.user(user_id=305, first_name="Tom")
    await thief.send("/start")
    await thief.wait_for_message(contains="Hi Tom")
    await forge_tap(live, thief, "v1:tk:1")
    await forge_tap(live, thief, "v1:rel:1")
    await asyncio.sleep(0.2)
    assert photos(thief) == []
    sales = await live.runtime.services.admin.sales(1, actor_id=ORGANIZER)
    assert sales.types[0].stock.sold == 1


async def test_my_tickets_lists_tickets_and_resends_the_qr(live) -> None:
    await create_event(live, capacity=3)
    kai = live.sandbox.user(user_id=306, first_name="Kai")
    await buy(live, kai)
    await asyncio.sleep(0.2)
    before = len(photos(kai))
    mark = kai.mark()
    await kai.send("/mytickets")
    listing = await kai.wait_for_message(contains="Your tickets", since=mark)
    await kai.tap(listing, text="Night Market")
    await kai.wait_for_message(predicate=lambda m: m.photo is not None, since=mark)
    assert len(photos(kai)) == before + 1


async def test_a_ticket_link_shows_the_owner_the_ticket_and_others_only_a_hint(live) -> None:
    await create_event(live, capacity=3)
    lou = live.sandbox.user(user_id=307, first_name="Lou")
    await buy(live, lou)
    async with live.runtime.db.read() as uow:
        token = (await uow.tickets.for_owner(307, upcoming_after=live.runtime.clock.now()))[0]
    mark = lou.mark()
    await lou.send(f"/start t_{token.token}")
    await lou.wait_for_message(predicate=lambda m: m.photo is not None, since=mark)
    mia = live.sandbox.user(user_id=308, first_name="Mia")
    await mia.send(f"/start t_{token.token}")
    hint = await mia.wait_for_message(contains="show")
    assert token.short_code not in hint.text
    await mia.send("/start t_" + "A" * 22)
    await mia.wait_for_message()


async def test_unknown_commands_and_stray_text_get_helpful_replies(live) -> None:
    noor = live.sandbox.user(user_id=309, first_name="Noor")
    await noor.send("/frobnicate")
    await noor.wait_for_message(contains="/help")
    await noor.send("hello? " + "ü" * 3000)
    await noor.wait_for_message(contains="/events")
    await noor.send("/help")
    await noor.wait_for_message(contains="How it works")


async def test_an_organizer_creates_an_event_by_sending_the_file(live) -> None:
    olga = live.sandbox.user(user_id=ORGANIZER, first_name="Olga")
    doc = (b"title: Jazz <Night> & Co\nvenue: Cellar\ntimezone: Europe/Paris\n"
           b"starts_at: '2031-02-01T20:00'\nticket_types:\n"
           b"  - {name: GA, price: '15.00', currency: EUR, capacity: 40}\n")
    await olga.send_document(doc, filename="jazz.yaml", mime_type="application/x-yaml")
    await olga.wait_for_message(contains="created")
    card = await open_event(live.sandbox.user(user_id=310, first_name="Pia"),
                            title="Jazz <Night> & Co")
    assert "Jazz <Night> & Co" in card.text and "40 left" in card.text


async def test_an_invalid_event_file_is_explained_and_creates_nothing(live) -> None:
    olga = live.sandbox.user(user_id=ORGANIZER, first_name="Olga")
    await olga.send_document(b"title: X\nticket_types: []\n", filename="bad.yaml")
    reply = await olga.wait_for_message(contains="problems")
    assert "venue" in reply.text and "ticket_types" in reply.text
    await olga.send_document(b"title: [unclosed\n", filename="broken.yaml")
    await olga.wait_for_message(contains="line")
    assert await live.runtime.services.catalog.list_events() is not None
    assert (await live.runtime.services.catalog.list_events()).items == []


async def test_a_stranger_sending_a_file_is_politely_refused(live) -> None:
    quin = live.sandbox.user(user_id=311, first_name="Quin")
    await quin.send_document(b"title: Mine\n", filename="event.yaml")
    await quin.wait_for_message(contains="Only organizers")
    await quin.send("/stats 1")
    await quin.wait_for_message(contains="only organizers")
