"""The Mini App's pages are served by TicketQ from the package, load nothing from the internet
but Telegram's bridge script, and the server refuses anything that is not one of its files."""

from __future__ import annotations

import re

import aiohttp
import pytest

from tests.console_world import ORGANIZER
from tests.fakes import InMemoryDatabase
from tests.miniapp.world import mini_app_world


@pytest.fixture
async def world(clock):
    async with mini_app_world(InMemoryDatabase(), clock) as running:
        yield running


async def _get(url: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text(), dict(response.headers)


async def test_mini_app_pages_load_only_their_own_files(world) -> None:
    for page in ("/app/scanner", "/app/dashboard?event=1"):
        status, html, headers = await _get(world.base + page)
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert "connect-src 'self'" in headers["Content-Security-Policy"]
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources and all(s.startswith("/app/static/")
                               or s == "https://telegram.org/js/telegram-web-app.js"
                               for s in sources), sources
        assert "<script>" not in html  # no inline script: the CSP allows none
        for source in sources:
            if source.startswith("/app/static/"):
                code, body, _ = await _get(world.base + source)
                assert code == 200 and body
                assert not re.search(r"https?://", body), source  # nothing fetched from afar


async def test_mini_app_static_refuses_anything_but_its_files(world) -> None:
    for path in ("/app/static/../routes.py", "/app/static/%2e%2e%2froutes.py",
                 "/app/static/routes.py", "/app/static/missing.js", "/app/static/STYLE.CSS"):
        status, _, _ = await _get(world.base + path)
        assert status == 404, path


async def test_mini_app_dashboard_json_holds_the_figures_and_escaped_charts(world) -> None:
    import json

    status, body = await world.call("GET", f"/app/api/events/{world.event.id}/dashboard",
                                    init_data=world.init_data(ORGANIZER, "Olga"))
    assert status == 200
    data = json.loads(body)
    assert (data["sold"], data["capacity"], data["checked_in"]) == (3, 10, 0)
    assert data["revenue"] == [{"minor": 7500, "currency": "EUR", "text": "75.00"}]
    assert data["charts"]["sales"].startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert "GA: 3" in data["charts"]["sales"]


def test_mini_app_charts_escape_what_organizers_typed() -> None:
    from datetime import UTC, datetime

    from bot.web.miniapp.charts import step_chart
    from core.organizer.dashboard import cumulative

    at = datetime(2030, 1, 1, tzinfo=UTC)
    svg = step_chart([cumulative('<script>alert("x")</script>', [(at, 2)])], title="<b>")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "<b>" not in svg


async def test_mini_app_dashboard_of_a_lottery_shows_entries_and_oversubscription(
        world) -> None:
    import json

    from tests.contract.test_lottery import enter
    from tests.factories import lottery_doc

    services, clock = world.services, world.clock
    event = await services.admin.import_event(lottery_doc(clock.now(), seats=2), actor_id=1)
    type_id = (await services.admin.sales(event.id, actor_id=1)).types[0].ticket_type.id
    for user in (71, 72, 73):
        await enter(services.lottery, services.purchase, user, type_id, 2)
    status, body = await world.call("GET", f"/app/api/events/{event.id}/dashboard",
                                    init_data=world.init_data(1, "Ada"))  # an admin
    assert status == 200
    lottery = json.loads(body)["lottery"]
    held = await services.lottery.figures(event.id)
    assert (lottery["entries"], lottery["tickets_asked"], lottery["seats"]) == (
        held.entries, held.tickets_asked, held.seats)
    assert held.entries >= 2 and lottery["oversubscription"] == round(
        held.tickets_asked / held.seats, 2) > 1
