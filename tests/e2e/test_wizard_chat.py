"""The event wizard through the real bot: questions, wrong answers, preview, publish, cancel."""

from __future__ import annotations

import pytest

from bot.sandbox import SandboxMessage, VirtualUser
from tests.e2e.conftest import ORGANIZER
from tests.e2e.phone import buy, create_event, open_event

# Long conversations typed far faster than a person types: the per-chat rate is loosened
# (the burst and the bot-wide limit stay Telegram's; see tests/e2e/conftest.py).
pytestmark = pytest.mark.chat_pace(10)


async def say(user: VirtualUser, text: str, expect: str) -> SandboxMessage:
    """Send a message and wait for the bot's reply containing ``expect``."""
    mark = user.mark()
    await user.send(text)
    return await user.wait_for_message(contains=expect, since=mark)


async def tap(user: VirtualUser, msg: SandboxMessage, button: str,
              expect: str) -> SandboxMessage:
    """Tap a button and wait for the bot's next message containing ``expect``."""
    mark = user.mark()
    await user.tap(msg, text=button)
    return await user.wait_for_message(contains=expect, since=mark, edited=False)


def card_part(preview_html: str) -> str:
    """The attendee card inside the preview (between its header and, at the end, the
    organizer's transfers line and the footer)."""
    return preview_html.split("\n\n", 1)[1].rsplit("\n\n", 2)[0]


async def test_an_organizer_builds_an_event_with_wrong_answers_and_publishes_it_as_previewed(
        live) -> None:
    olga = live.sandbox.user(user_id=ORGANIZER, first_name="Olga")
    q = await say(olga, "/newevent", "title")
    q = await say(olga, "Rooftop <Jazz> & Co", "description")
    q = await tap(olga, q, "⏭ Skip", "venue")
    q = await say(olga, "Roof 7, Hamburg", "time zone")
    assert {"Europe/Berlin", "Europe/London", "America/New_York"} <= set(q.button_texts())
    q = await say(olga, "Mars/Olympus", "unknown time zone")
    assert "time zone" in q.text  # the question again, under the problem
    q = await tap(olga, q, "Europe/Berlin", "start")
    q = await say(olga, "next friday", "⚠️ Start")
    q = await say(olga, "01.01.2020 20:00", "must be in the future")
    q = await say(olga, "12.12.2031 21:00", "Ticket type 1")
    q = await say(olga, "GA", "price")
    q = await say(olga, "cheap", "⚠️ Price of ticket type 1")
    q = await say(olga, "25,00", "currency")
    q = await tap(olga, q, "EUR", "capacity")
    q = await say(olga, "lots", "must be a whole number")
    q = await say(olga, "40", "one person")
    q = await tap(olga, q, "⏭ Skip", "Add another")
    q = await tap(olga, q, "➕ Add another type", "Ticket type 2")
    q = await say(olga, "ga", "used twice")
    q = await say(olga, "VIP", "price")
    q = await say(olga, "80", "currency")
    assert "Now: EUR" in q.text
    q = await say(olga, "USD", "same currency")
    q = await tap(olga, q, "⏭ Skip", "capacity")
    q = await say(olga, "5", "one person")
    q = await say(olga, "2", "Add another")
    q = await tap(olga, q, "✅ Done", "Sale mode")
    preview = await tap(olga, q, "🛒 Direct sale", "Preview")
    assert "Rooftop <Jazz> & Co" in preview.text and "40 left" in preview.text
    assert await live.runtime.services.catalog.list_events() is not None
    assert (await live.runtime.services.catalog.list_events()).items == []
    await say(olga, "looks good", "Please use the buttons")
    done = await tap(olga, olga.last_message, "✅ Publish", "is published")
    assert "start=ev_1" in done.text
    card = await open_event(live.sandbox.user(user_id=401, first_name="Ann"),
                            title="Rooftop <Jazz> & Co")
    assert card.html == card_part(preview.html)


async def test_a_typed_skip_is_an_answer_like_any_other_and_skipping_is_the_button(
        live) -> None:
    olga = live.sandbox.user(user_id=ORGANIZER, first_name="Olga")
    await say(olga, "/newevent", "title")
    q = await say(olga, "skip", "description")  # "skip" is the title, not a refusal
    q = await say(olga, "Skip", "venue")  # and "Skip" the description
    q = await say(olga, "/back", "Now: Skip")
    q = await tap(olga, q, "⏭ Skip", "venue")  # the button keeps what was typed
    q = await say(olga, "/back", "Now: Skip")
    q = await say(olga, "/back", "Now: skip")
    async with live.runtime.db.read() as uow:
        draft = await uow.drafts.get(ORGANIZER)
    assert draft is not None and (draft.doc["title"], draft.doc["description"]) == (
        "skip", "Skip")


async def test_cancel_in_the_middle_leaves_nothing_and_frees_the_chat(live) -> None:
    olga = live.sandbox.user(user_id=ORGANIZER, first_name="Olga")
    await say(olga, "/newevent", "title")
    await say(olga, "Half-made Event", "description")
    await say(olga, "Almost done", "venue")
    await say(olga, "/cancel", "nothing was saved")
    await say(olga, "Another text", "I only understand buttons")  # no longer a wizard answer
    await say(olga, "/events", "No events")
    await say(olga, "/cancel", "nothing to cancel")
    async with live.runtime.db.read() as uow:
        assert await uow.drafts.get(ORGANIZER) is None
        assert await uow.events.managed_by(ORGANIZER, all_events=True) == []


async def test_editing_refuses_a_capacity_below_what_is_sold(live) -> None:
    await create_event(live, capacity=5)
    await buy(live, live.sandbox.user(user_id=402, first_name="Bea"), quantity=2)
    olga = live.sandbox.user(user_id=ORGANIZER, first_name="Olga")
    q = await say(olga, "/editevent 1", "Editing")
    assert "Now: Night Market" in q.text
    for expect in ("description", "venue", "time zone", "start", "Ticket type 1", "price",
                   "currency", "capacity"):
        q = await tap(olga, q, "⏭ Skip", expect)
    q = await say(olga, "1", "GA already has 2 tickets sold")
    q = await say(olga, "3", "one person")
    q = await tap(olga, q, "⏭ Skip", "Add another")
    q = await tap(olga, q, "✅ Done", "Sale mode")
    preview = await tap(olga, q, "⏭ Skip", "Preview")
    assert "1 left" in preview.text  # 3 seats, 2 sold
    await tap(olga, preview, "✅ Publish", "is published")
    card = await open_event(live.sandbox.user(user_id=403, first_name="Cem"))
    assert card.html == card_part(preview.html)


async def test_people_who_are_not_organizers_are_refused_and_keep_their_chat(live) -> None:
    await create_event(live)
    eve = live.sandbox.user(user_id=404, first_name="Eve")
    for command in ("/newevent", "/editevent 1", "/unpublish 1", "/publish 1"):
        await say(eve, command, "only organizers")
    await say(eve, "Title of my event", "I only understand buttons")
    await open_event(eve)


async def test_publish_and_unpublish_an_event_by_id(live) -> None:
    await create_event(live)
    olga = live.sandbox.user(user_id=ORGANIZER, first_name="Olga")
    await say(olga, "/unpublish 1", "unpublished")
    await say(olga, "/events", "No events")
    await say(olga, "/publish 1", "is published")
    await say(olga, "/events", "Night Market")
    await say(olga, "/publish", "Usage: /publish")
    await say(olga, "/editevent 999", "does not exist")
