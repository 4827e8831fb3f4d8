"""What admins, organizers and door staff do on their phones, for the end-to-end tests."""

from __future__ import annotations

import asyncio
import io
import re

import PIL.Image
import zxingcpp

from bot.sandbox import CallbackAnswer, SandboxMessage, VirtualUser
from bot.sandbox.harness import SandboxedBot
from core.catalog.model import Event
from core.catalog.spec import parse_event_spec
from tests.e2e.conftest import ORGANIZER
from tests.factories import event_doc

_INVITE = re.compile(r"https://t\.me/[A-Za-z0-9_]+\?start=(i_[A-Za-z0-9_-]+)")


def admin(live: SandboxedBot) -> VirtualUser:
    """The configured admin (``tests.e2e.conftest.ORGANIZER``)."""
    return live.sandbox.user(user_id=ORGANIZER, first_name="Olga")


def invite_payload(message: SandboxMessage) -> str:
    """The ``i_<token>`` payload of the invite link in a bot message."""
    match = _INVITE.search(message.text or "")
    assert match, message.text
    return match.group(1)


async def organizer_invite(live: SandboxedBot) -> SandboxMessage:
    """The admin asks for an organizer invite link."""
    boss = admin(live)
    mark = boss.mark()
    await boss.send("/invite_organizer")
    return await boss.wait_for_message(contains="Organizer invite", since=mark)


async def accept(user: VirtualUser, payload: str) -> SandboxMessage:
    """Open an invite link: returns the bot's answer."""
    mark = user.mark()
    await user.send(f"/start {payload}")
    return await user.wait_for_message(since=mark)


async def make_organizer(live: SandboxedBot, user: VirtualUser) -> None:
    """Invite ``user`` as an organizer and accept the invite."""
    answer = await accept(user, invite_payload(await organizer_invite(live)))
    assert "You are now an organizer" in (answer.text or ""), answer


async def event_card(user: VirtualUser, event_id: int) -> SandboxMessage:
    """``/myevents``, then a tap on the event's row: its card (the list, edited in place)."""
    mark = user.mark()
    await user.send("/myevents")
    listing = await user.wait_for_message(contains="Your events", since=mark)
    while True:
        row = next((data for row in listing.buttons for _, data in row
                    if data and data.startswith(f"v1:ce:{event_id}:")), None)
        if row is not None:
            break
        mark = user.mark()
        await user.tap(listing, text="Next")  # the event is on a later page
        listing = await user.wait_for_message(contains="Your events", since=mark)
    mark = user.mark()
    await user.tap(listing, data=row)
    return await user.wait_for_message(contains=f"(#{event_id})", since=mark)


async def tap_for(user: VirtualUser, message: SandboxMessage, button: str,
                  contains: str | None = None) -> SandboxMessage:
    """Tap a button and wait for the next message (or edit) it causes."""
    mark = user.mark()
    await user.tap(message, text=button)
    return await user.wait_for_message(contains=contains, since=mark)


async def make_staff(live: SandboxedBot, manager: VirtualUser, event_id: int,
                     staff: VirtualUser) -> None:
    """The event's manager taps "Staff invite"; ``staff`` opens the link."""
    card = await event_card(manager, event_id)
    invite = await tap_for(manager, card, "Staff invite", "Door staff invite")
    answer = await accept(staff, invite_payload(invite))
    assert "You are now door staff" in (answer.text or ""), answer


async def organizer_event(live: SandboxedBot, created_by: int, **kwargs) -> Event:
    """An event created by an invited organizer (what the event wizard stores)."""
    runtime = live.runtime
    spec = parse_event_spec(event_doc(**kwargs), now=runtime.clock.now())
    async with runtime.db.write() as uow:
        return await uow.events.add(spec, created_by=created_by, now=runtime.clock.now())


def qr_link(photo: bytes) -> str:
    """The text of the QR code in a ticket image."""
    return zxingcpp.read_barcodes(PIL.Image.open(io.BytesIO(photo)))[0].text


def ticket_payload(photo: bytes) -> str:
    """The ``t_<token>`` payload of a ticket's QR code."""
    return qr_link(photo).split("?start=", 1)[1]


def short_code(ticket: SandboxMessage) -> str:
    """The ``K7QH-3MZP`` code printed under a ticket's QR."""
    match = re.search(r"Code: ([A-Z0-9]{4}-[A-Z0-9]{4})", ticket.text or "")
    assert match, ticket.text
    return match.group(1)


async def scan(staff: VirtualUser, payload: str) -> SandboxMessage:
    """The staff member's camera opens a ticket link: returns the verdict."""
    mark = staff.mark()
    await staff.send(f"/start {payload}")
    return await staff.wait_for_message(since=mark)


async def forge_tap(live: SandboxedBot, user: VirtualUser, data: str) -> CallbackAnswer:
    """A callback query with arbitrary data on the user's last message (a forged button)."""
    api = live.sandbox.telegram
    qid, query = api.new_callback_query()
    api.emit_update("callback_query", {
        "id": qid, "from": user.user_json, "message": api.message_json(user.last_message),
        "chat_instance": "1", "data": data})
    answer: CallbackAnswer = await asyncio.wait_for(asyncio.shield(query.future), 5)
    return answer
