"""Security suite: one real bot per test module, a populated world, and a probe that sends one
input, waits until the bot has finished handling it and reports what came back.

Every probe checks the same contract: the handler did not crash (nothing reached PTB's error
handler or was logged at ERROR), the Bot API accepted every call (``sandbox.bot_errors``), and
the user got a reply (a message, or an answer to the tapped button).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa

from bot.sandbox import CallbackAnswer, SandboxMessage, VirtualUser
from bot.sandbox.harness import SandboxedBot, sandboxed_bot, sqlite_url
from bot.storage import tables
from core.kernel.clock import OffsetClock
from tests.e2e.conftest import ORGANIZER
from tests.e2e.console_steps import (
    admin,
    make_organizer,
    make_staff,
    organizer_event,
    organizer_invite,
)
from tests.e2e.phone import buy, create_event, enter_lottery, invoice_for
from tests.factories import lottery_doc

ADMIN = ORGANIZER
OSCAR = 9100  # an invited organizer (manages his own event only)
ANN = 301  # bought tickets
BEN = 302  # holds seats, unpaid
CARA = 303  # entered the lottery
SAM = 304  # door staff for the admin's event
MALLORY = 666  # nobody: no role, no order, no ticket

# Markdown and HTML control characters, in every place a name can appear.
NASTY_TITLE = "<b>Bold</b> & *_[]()~`>#+-=|{}.! &amp; </i> <script>"
NASTY_VENUE = 'Café <Zürich> & "Co" *_[]()~`>#+-=|{}.!'
NASTY_DESCRIPTION = "Desc <pre> & </b> ~~ &lt; &#0; &#x110000;"
NASTY_TYPE = "<i>G&A*_"
NASTY_VIP = "V|P <b>#{}"
NASTY_LOTTERY = "Lotto <u>&</u> *[x](y)*"
NASTY_FIRST_NAME = "<Ann & *Co_> </b>"

# Tables an outsider's input must never change (orders and entries: only the outsider's own).
PROTECTED = ("events", "ticket_types", "payments", "refunds", "tickets", "checkins", "roles",
             "invites", "verified_phones", "draw_order", "event_drafts")


class ErrorLog(logging.Handler):
    """Collects every record at ERROR or above (the error handler logs there)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        """The messages collected since the last call."""
        out = [f"{r.name}: {r.getMessage()}" + (f"\n{r.exc_info[1]!r}" if r.exc_info else "")
               for r in self.records]
        self.records.clear()
        return out


@dataclass
class Outcome:
    """What one probe produced."""

    messages: list[SandboxMessage]
    answer: CallbackAnswer | None = None
    tapped_text: str | None = None  # the text of the message whose button was tapped, after
    errors: list[str] = field(default_factory=list)
    bot_errors: list[Any] = field(default_factory=list)

    @property
    def texts(self) -> str:
        """Every message text (plain, as the user reads it) and the button answer."""
        parts = [m.text or "" for m in self.messages]
        if self.answer is not None and self.answer.text:
            parts.append(self.answer.text)
        return "\n".join(parts)

    def assert_clean(self, what: object) -> None:
        """No crash, no refused Bot API call, and a reply (message or button answer)."""
        assert not self.errors, f"{what!r}: unhandled errors {self.errors}"
        assert not self.bot_errors, f"{what!r}: Bot API refused {self.bot_errors}"
        assert self.messages or self.answer is not None, f"{what!r}: no reply at all"


@dataclass
class World:
    """The bot and the people, events, orders, tickets and invites in it."""

    bot: SandboxedBot
    clock: OffsetClock
    errors: ErrorLog
    users: dict[str, VirtualUser]
    event_ids: dict[str, int]
    type_ids: list[int]
    order_ids: list[int]
    entry_ids: list[int]
    ticket_ids: list[int]
    ticket_tokens: list[str]
    short_codes: list[str]
    invite_ids: list[int]
    invite_tokens: list[str]
    done: set[int] = field(default_factory=set)  # update ids the Application has finished

    @property
    def api(self) -> Any:
        """The emulated Bot API."""
        return self.bot.sandbox.telegram

    def all_ids(self) -> list[int]:
        """Every real id in the world (events, types, orders, entries, tickets, invites,
        users): forged buttons aim at them."""
        return sorted({*self.event_ids.values(), *self.type_ids, *self.order_ids,
                       *self.entry_ids, *self.ticket_ids, *self.invite_ids,
                       *(u.user_id for u in self.users.values())})

    async def handled(self, update_id: int, timeout: float = 10.0) -> None:
        """Wait until the bot has finished handling ``update_id`` (error handler included)."""
        deadline = time.monotonic() + timeout
        while update_id not in self.done:
            if time.monotonic() > deadline:
                raise TimeoutError(f"update {update_id} was not handled within {timeout}s")
            await asyncio.sleep(0.002)

    async def probe(self, user: VirtualUser, action: str, *args: Any, **kwargs: Any) -> Outcome:
        """``user.<action>(*args)`` (send, send_document, send_photo, send_contact), then wait
        until it was handled and collect the reply."""
        mark = user.mark()
        before = len(self.bot.sandbox.bot_errors)
        await getattr(user, action)(*args, **kwargs)
        return await self._finish(user, mark, before, self.api._next_update_id - 1)

    async def emit(self, user: VirtualUser, kind: str, obj: dict[str, Any]) -> Outcome:
        """A raw update (a forged photo, a contact of another user ...)."""
        mark = user.mark()
        before = len(self.bot.sandbox.bot_errors)
        update_id = self.api.emit_update(kind, obj)
        return await self._finish(user, mark, before, update_id)

    def message(self, user: VirtualUser, **fields: Any) -> dict[str, Any]:
        """A Message JSON from ``user`` (registered so that replies to it work)."""
        api = self.api
        message = {"message_id": api.next_message_id(user.user_id), "from": user.user_json,
                   "chat": user.chat_json, "date": int(time.time()), **fields}
        api.user_messages[(user.user_id, message["message_id"])] = message
        return message

    async def tap(self, user: VirtualUser, data: str, *, detached: bool = False) -> Outcome:
        """A callback query with arbitrary ``data`` on the user's last message (forged), or
        with no message at all (``detached``: as from an inline message)."""
        api = self.api
        if user.last_message is None:
            await self.probe(user, "send", "/help")
        mark = user.mark()
        before = len(self.bot.sandbox.bot_errors)
        qid, query = api.new_callback_query()
        where = ({"inline_message_id": "AAAAforged"} if detached
                 else {"message": api.message_json(user.last_message)})
        update_id = api.emit_update("callback_query", {
            "id": qid, "from": user.user_json, **where, "chat_instance": "1", "data": data})
        outcome = await self._finish(user, mark, before, update_id)
        outcome.tapped_text = user.last_message.text if user.last_message else None
        try:
            outcome.answer = await asyncio.wait_for(asyncio.shield(query.future), 5)
        except TimeoutError:
            outcome.answer = None
            outcome.errors.append(f"callback query {data!r} was never answered")
        return outcome

    async def _finish(self, user: VirtualUser, mark: int, before: int,
                      update_id: int) -> Outcome:
        await self.handled(update_id)
        await asyncio.sleep(0)  # let the sandbox record the last HTTP call
        # "message is not modified" (a button that shows what is already there) is the one
        # 400 the bot expects and handles (handlers.common.show); anything else is a bug.
        refused = [e for e in self.bot.sandbox.bot_errors[before:]
                   if "message is not modified" not in e.description]
        return Outcome(messages=user.inbox_since(mark), errors=self.errors.take(),
                       bot_errors=refused)

    async def snapshot(self, outsider: int = MALLORY) -> dict[str, Any]:
        """Every row an outsider must not be able to change."""
        out: dict[str, Any] = {}
        async with self.bot.runtime.db.engine.connect() as conn:
            for name in PROTECTED:
                table = tables.metadata.tables[name]
                rows = (await conn.execute(sa.select(table))).all()
                out[name] = sorted(map(repr, rows))
            for name in ("orders", "entries"):
                table = tables.metadata.tables[name]
                rows = (await conn.execute(
                    sa.select(table).where(table.c.user_id != outsider))).all()
                out[name] = sorted(map(repr, rows))
        return out


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Tables whose rows differ (for assertion messages)."""
    return {name: {"gone": sorted(set(before[name]) - set(after[name]))[:3],
                   "new": sorted(set(after[name]) - set(before[name]))[:3]}
            for name in before if before[name] != after[name]}


async def _build_world(bot: SandboxedBot, clock: OffsetClock, errors: ErrorLog) -> World:
    sandbox, runtime = bot.sandbox, bot.runtime
    users = {
        "admin": admin(bot),
        "oscar": sandbox.user(user_id=OSCAR, first_name="Oscar"),
        "ann": sandbox.user(user_id=ANN, first_name=NASTY_FIRST_NAME),
        "ben": sandbox.user(user_id=BEN, first_name="Ben"),
        "cara": sandbox.user(user_id=CARA, first_name="Cara"),
        "sam": sandbox.user(user_id=SAM, first_name="Sam <&>"),
        "mallory": sandbox.user(user_id=MALLORY, first_name="Mallory"),
    }
    main = await create_event(bot, title=NASTY_TITLE, venue=NASTY_VENUE,
                              description=NASTY_DESCRIPTION, capacity=50, vip_capacity=5,
                              ticket_types=[
                                  {"name": NASTY_TYPE, "price": "25.00", "currency": "EUR",
                                   "capacity": 50, "per_user_limit": 4},
                                  {"name": NASTY_VIP, "price": "80.00", "currency": "EUR",
                                   "capacity": 5, "per_user_limit": 2}])
    lottery = await runtime.services.admin.import_event(
        lottery_doc(clock.now(), title=NASTY_LOTTERY, seats=5, closes_in=86_400,
                    draw_in=90_000), actor_id=ADMIN)
    await make_organizer(bot, users["oscar"])
    oscars = await organizer_event(bot, OSCAR, title="Oscar's Gig", capacity=10)
    await buy(bot, users["ann"], 2, type_label=NASTY_TYPE, title=NASTY_TITLE[:20])
    await invoice_for(users["ben"], 1, type_label=NASTY_VIP, title=NASTY_TITLE[:20])  # unpaid hold
    outcome = await enter_lottery(users["cara"], 2, title=NASTY_LOTTERY)
    assert outcome.ok, outcome
    await make_staff(bot, users["admin"], main.id, users["sam"])
    await organizer_invite(bot)  # one unused organizer invite stays in the world
    await bot.settle()
    async with runtime.db.engine.connect() as conn:
        async def ids(name: str, *cols: str) -> list[Any]:
            table = tables.metadata.tables[name]
            result = await conn.execute(sa.select(*(table.c[c] for c in cols)))
            return [row if len(cols) > 1 else row[0] for row in result.all()]

        type_ids, order_ids = await ids("ticket_types", "id"), await ids("orders", "id")
        entry_ids, ticket_ids = await ids("entries", "id"), await ids("tickets", "id")
        ticket_rows = await ids("tickets", "token", "short_code")
        invite_rows = await ids("invites", "id", "token")
    errors.take()  # set-up noise, if any, is not what the tests look at
    assert sandbox.bot_errors == [], sandbox.bot_errors
    return World(bot=bot, clock=clock, errors=errors, users=users,
                 event_ids={"main": main.id, "lottery": lottery.id, "oscar": oscars.id},
                 type_ids=type_ids, order_ids=order_ids, entry_ids=entry_ids,
                 ticket_ids=ticket_ids, ticket_tokens=[r[0] for r in ticket_rows],
                 short_codes=[r[1] for r in ticket_rows],
                 invite_ids=[r[0] for r in invite_rows],
                 invite_tokens=[r[1] for r in invite_rows])


def track_handled(bot: SandboxedBot) -> set[int]:
    """The ids of the updates the Application has finished processing (whichever poller
    feeds it: both call ``Application.process_update``)."""
    app = bot.runtime.application
    process = app.process_update
    done: set[int] = set()

    async def process_and_note(update: object) -> None:
        try:
            await process(update)
        finally:
            update_id = getattr(update, "update_id", None)
            if update_id is not None:
                done.add(update_id)

    app.process_update = process_and_note  # type: ignore[method-assign]
    return done


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    """A running bot with an admin, an organizer, a buyer, a hold, a lottery entry, door staff
    and an outsider; shared by the tests of one module."""
    errors = ErrorLog()
    root = logging.getLogger()
    root.addHandler(errors)
    clock = OffsetClock()
    try:
        # About access and odd input, not flood control: the fuzzers send hundreds of
        # messages into a few chats, so the flood limits are loosened explicitly.
        async with sandboxed_bot(sqlite_url(tmp_path_factory.mktemp("security")),
                                 admin_ids=frozenset({ADMIN}), clock=clock,
                                 rate_limit_global=None, rate_limit_per_chat=None,
                                 send_rate=1000.0, send_rate_per_chat=100.0,
                                 send_burst_per_chat=100) as bot:
            done = track_handled(bot)
            world = await _build_world(bot, clock, errors)
            world.done = done
            yield world
    finally:
        root.removeHandler(errors)
