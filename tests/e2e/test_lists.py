"""Lists are one message with paging buttons, and every button says what tells it apart:
/myevents, /organizers, /staff, /mytickets, through the real bot and the sandbox."""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.sandbox import SandboxMessage, VirtualUser
from core.access.model import Role
from tests.e2e.conftest import ORGANIZER
from tests.e2e.console_steps import admin, invite_payload
from tests.e2e.phone import buy, create_event

# Lists and labels are the subject, not flood control: replies come quickly enough for the
# short "quiet" waits below to catch a second message (test_sending covers pacing).
pytestmark = pytest.mark.chat_pace(10)

PAGE = re.compile(r"page (\d+) of (\d+)")


async def answer_to(user: VirtualUser, command: str) -> list[SandboxMessage]:
    """Everything the bot sent in reply to one command (waits until it is quiet)."""
    mark = user.mark()
    await user.send(command)
    await user.wait_for_message(since=mark)
    await asyncio.sleep(0.3)  # anything sent after the first message would show up here
    return user.inbox_since(mark)


async def tap_and_wait(user: VirtualUser, message: SandboxMessage, button: str,
                       contains: str | None = None) -> SandboxMessage:
    mark = user.mark()
    answer = await user.tap(message, text=button)
    assert not answer.show_alert, answer
    return await user.wait_for_message(contains=contains, since=mark)


def page_of(message: SandboxMessage) -> tuple[int, int]:
    match = PAGE.search(message.text or "")
    assert match, message.text
    return int(match.group(1)), int(match.group(2))


async def test_my_events_with_nine_events_is_one_message_with_paging(live) -> None:
    for n in range(1, 10):
        await create_event(live, title=f"Gig {n}")
    olga = admin(live)
    replies = await answer_to(olga, "/myevents")
    assert len(replies) == 1, [m.text for m in replies]
    listing = replies[0]
    assert page_of(listing) == (1, 2)
    first_page = [b for b in listing.button_texts() if b.startswith("Gig")]
    assert first_page and len(first_page) < 9
    mark = olga.mark()
    after = await tap_and_wait(olga, listing, "Next", "page 2 of 2")
    assert after.message_id == listing.message_id  # paged in place
    assert olga.inbox_since(mark) == [listing]
    second_page = [b for b in after.button_texts() if b.startswith("Gig")]
    assert sorted(first_page + second_page) == sorted(f"Gig {n} · #{n}" for n in range(1, 10))
    # An event's row opens its card with every console button, and Back returns to the list.
    card = await tap_and_wait(olga, after, second_page[0], "(#")
    assert card.message_id == listing.message_id
    for label in ("Stats", "Export", "Staff invite", "Staff", "Cancel event", "All my events"):
        assert any(label in b for b in card.button_texts()), (label, card.button_texts())
    back = await tap_and_wait(olga, card, "All my events", "page 2 of 2")
    assert back.message_id == listing.message_id


async def test_organizers_are_one_message_with_paging_and_say_their_zone(live) -> None:
    access = live.runtime.services.access
    for n in range(12):
        invite = await access.create_invite(actor_id=ORGANIZER, role=Role.ORGANIZER)
        await access.accept_invite(user_id=600 + n, first_name=f"Org{n}",
                                   payload=f"i_{invite.token}")
    boss = admin(live)
    replies = await answer_to(boss, "/organizers")
    assert len(replies) == 1
    listing = replies[0]
    assert page_of(listing) == (1, 2)
    assert "UTC" in listing.text  # no event is involved: the zone is stated
    revokes = [b for b in listing.button_texts() if b.startswith("✖️ Revoke")]
    assert 0 < len(revokes) < 12
    second = await tap_and_wait(boss, listing, "Next", "page 2 of 2")
    assert second.message_id == listing.message_id
    more = [b for b in second.button_texts() if b.startswith("✖️ Revoke")]
    assert len(revokes) + len(more) == 12 and not set(revokes) & set(more)


async def test_the_staff_list_is_one_message_with_paging_in_the_events_zone(live) -> None:
    event = await create_event(live, timezone="America/New_York")
    access = live.runtime.services.access
    for n in range(12):
        invite = await access.create_invite(actor_id=ORGANIZER, role=Role.STAFF,
                                            event_id=event.id)
        await access.accept_invite(user_id=700 + n, first_name=f"Door{n}",
                                   payload=f"i_{invite.token}")
    boss = admin(live)
    replies = await answer_to(boss, f"/staff {event.id}")
    assert len(replies) == 1
    listing = replies[0]
    assert page_of(listing) == (1, 2)
    # "since" in the event's own zone (New York), as the door verdicts and invites show it.
    assert re.search(r"since \w{3}, \d+ \w{3} \d{4}, \d\d:\d\d E[DS]T", listing.text), listing.text
    assert "UTC" not in listing.text
    second = await tap_and_wait(boss, listing, "Next", "page 2 of 2")
    assert second.message_id == listing.message_id
    # The invite link's expiry is in the event's zone too.
    mark = boss.mark()
    await boss.send(f"/staff_invite {event.id}")
    invite_message = await boss.wait_for_message(contains="Door staff invite", since=mark)
    assert invite_payload(invite_message)
    assert re.search(r"valid until .* E[DS]T", invite_message.text), invite_message.text


async def test_my_tickets_is_one_message_with_paging(live) -> None:
    await create_event(live, capacity=30, per_user_limit=12)
    ivy = live.sandbox.user(user_id=801, first_name="Ivy")
    await buy(live, ivy, 6)
    await buy(live, ivy, 6)
    replies = await answer_to(ivy, "/mytickets")
    assert len(replies) == 1
    listing = replies[0]
    assert page_of(listing) == (1, 2)
    codes = re.findall(r"[A-Z0-9]{4}-[A-Z0-9]{4}", listing.text)
    second = await tap_and_wait(ivy, listing, "Next", "page 2 of 2")
    assert second.message_id == listing.message_id
    more = re.findall(r"[A-Z0-9]{4}-[A-Z0-9]{4}", second.text)
    assert len(set(codes) | set(more)) == 12


async def test_two_tickets_of_a_long_titled_event_show_distinct_buttons(live) -> None:
    title = "The Extraordinarily Long Midsummer Night Open Air Festival Of Harbour Lights"
    await create_event(live, title=title, capacity=10)
    kim = live.sandbox.user(user_id=802, first_name="Kim")
    await buy(live, kim, 2, title=title[:30])
    replies = await answer_to(kim, "/mytickets")
    listing = replies[0]
    codes = re.findall(r"[A-Z0-9]{4}-[A-Z0-9]{4}", listing.text)
    assert len(set(codes)) == 2
    ticket_buttons = [b for b in listing.button_texts() if b.startswith("The Extra")]
    assert len(ticket_buttons) == 2 and len(set(ticket_buttons)) == 2, ticket_buttons
    for code in codes:
        assert any(b.endswith(code) for b in ticket_buttons), (code, ticket_buttons)
    assert all(b.startswith("The Extraordinarily") and "…" in b for b in ticket_buttons)


async def test_two_events_of_the_same_name_show_their_days_on_their_buttons(live) -> None:
    long = "The Extraordinarily Long Midsummer Night Open Air Festival Of Harbour Lights"
    for title, day in [("Jazz Night", "2030-12-12T21:00"), ("Jazz Night", "2030-12-19T21:00"),
                       (long, "2030-12-13T20:00"), (long, "2030-12-14T20:00")]:
        await create_event(live, title=title, starts_at=day)
    zoe = live.sandbox.user(user_id=803, first_name="Zoe")
    listing = (await answer_to(zoe, "/events"))[0]
    events = [b for b in listing.button_texts() if "Jazz" in b or "Extra" in b]
    assert len(events) == 4 and len(set(events)) == 4, events
    assert "Jazz Night · Thu 12 Dec" in events and "Jazz Night · Thu 19 Dec" in events
    assert all(b.endswith(("Fri 13 Dec", "Sat 14 Dec")) for b in events if "Extra" in b)
