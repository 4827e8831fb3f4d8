"""A Mini App world without Telegram: the real web server and routes on services built by
``bot.app.build_services`` over a database (the in-memory fake or a real one), an event with
sold tickets, door staff, and signed initData for anyone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.app import build_services
from bot.web.miniapp.init_data import init_data_for
from bot.web.miniapp.routes import MiniApp
from bot.web.server import WebServer
from core.kernel.clock import Clock
from core.tickets.model import Ticket
from handlers.context import Services
from tests.console_world import ADMIN, ORGANIZER, STAFF, buy, organizer_event, staff_for

TOKEN = "123456:MINIAPP-TEST-TOKEN"
BOT = "ticketq_test_bot"
MAX_AGE = 3600.0


@dataclass
class World:
    """The running server and what the tests poke at."""

    server: WebServer
    services: Services
    clock: Clock
    event: Any
    tickets: list[Ticket]

    @property
    def base(self) -> str:
        return self.server.base_url

    def init_data(self, user_id: int, first_name: str = "Sam", **kwargs: Any) -> str:
        kwargs.setdefault("auth_date", int(self.clock.now().timestamp()))
        return init_data_for(TOKEN, user_id=user_id, first_name=first_name, **kwargs)

    def link(self, ticket: Ticket) -> str:
        return f"https://t.me/{BOT}?start=t_{ticket.token}"

    async def call(self, method: str, path: str, *, init_data: str | None,
                   json: Any = None, scheme: str = "tma") -> tuple[int, Any]:
        headers = {} if init_data is None else {"Authorization": f"{scheme} {init_data}"}
        async with aiohttp.ClientSession() as session, session.request(
                method, self.base + path, json=json, headers=headers) as response:
            body = await response.text()
            return response.status, body


@asynccontextmanager
async def mini_app_world(db: Any, clock: Clock, *, tickets: int = 3,
                         **event: Any) -> AsyncIterator[World]:
    """Services, an event (``event``: :func:`tests.factories.event_doc` arguments) with
    ``tickets`` sold to Bea and staff Sam, and the server on a free port."""
    services = build_services(db, clock, admin_ids=frozenset({ADMIN}))
    services.bot_username = BOT
    from core.access.model import Role

    invite = await services.access.create_invite(actor_id=ADMIN, role=Role.ORGANIZER)
    await services.access.accept_invite(user_id=ORGANIZER, first_name="Olga",
                                        payload=f"i_{invite.token}")
    event = await organizer_event(db, clock, **event)
    sold = (await buy(services.purchase, db, event, quantity=tickets)).tickets
    await staff_for(services.access, event, STAFF, "Sam")
    server = WebServer("127.0.0.1", 0)
    server.mount(MiniApp(checkin=services.checkin, organizer=services.organizer, clock=clock,
                         bot_token=TOKEN, max_age=MAX_AGE,
                         bot_username=lambda: services.bot_username).mount)
    await server.start()
    try:
        yield World(server, services, clock, event, sold)
    finally:
        await server.stop()
