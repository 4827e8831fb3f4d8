"""The Mini App in a real headless Chromium against the real server (aiohttp, the routes, the
services, SQLite), with a fake ``Telegram.WebApp``: the door scanner online and offline, and
the organizer's dashboard. Screenshots at 360x740 and 1280x800 are written to
``test-artefacts/`` (``TICKETQ_ARTEFACTS``); the README shows copies from ``docs/img/``."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.door.model import Verdict
from core.door.offline import DUPLICATE_MESSAGE, OfflineScan
from core.kernel.clock import OffsetClock
from core.payments.model import IncomingPayment
from core.sales.model import invoice_payload
from core.tickets.model import format_short_code
from tests.conftest import migrated_database
from tests.console_world import ORGANIZER, STAFF, staff_for
from tests.miniapp.browser import (
    LiveServer,
    new_driver,
    prepare_tab,
    require_browser,
    screenshot,
    set_offline,
)
from tests.miniapp.world import BOT, World, mini_app_world

KIM = STAFF + 10
_charges = itertools.count(1)


async def _buy(world: World, db: Any, user: int, type_index: int, quantity: int,
               name: str) -> list[Any]:
    purchase = world.services.purchase
    async with db.read() as uow:
        type_id = (await uow.events.ticket_types(world.event.id))[type_index].id
    hold = await purchase.hold(user_id=user, ticket_type_id=type_id, quantity=quantity)
    n = next(_charges)
    paid = await purchase.confirm_payment(IncomingPayment(
        user, user, f"tg_b{n}", f"ch_b{n}", invoice_payload(hold.order.id), hold.order.total,
        first_name=name))
    return list(paid.tickets)


class Live:
    """The running world seen from a synchronous test."""

    def __init__(self, tmp: Path) -> None:
        self.server = LiveServer()
        self.clock = OffsetClock()
        self.clock.offset = -timedelta(hours=6)
        self._stack = AsyncExitStack()
        self.world: World = self.server.run(self._start(tmp))

    async def _start(self, tmp: Path) -> World:
        self.db = db = await self._stack.enter_async_context(
            migrated_database(f"sqlite:///{tmp / 'miniapp.sqlite3'}"))
        world = await self._stack.enter_async_context(
            mini_app_world(db, self.clock, tickets=4, capacity=60, vip_capacity=12))
        await staff_for(world.services.access, world.event, KIM, "Kim")
        # Sales through the afternoon, then the doors open now.
        pool = list(world.tickets)
        for hours, user, type_index, quantity in ((5, 601, 0, 4), (4, 602, 1, 2),
                                                  (3, 603, 0, 4), (2, 604, 0, 3),
                                                  (1.5, 605, 1, 2), (1, 606, 0, 4)):
            self.clock.offset = -timedelta(hours=hours)
            pool += await _buy(world, db, user, type_index, quantity, f"Guest{user}")
        self.clock.offset = timedelta(0)
        self.pool = pool
        # Some earlier admissions, one of them twice (an offline phone at another gate).
        checkin = world.services.checkin
        for i, ticket in enumerate(pool[8:14]):
            await checkin.scan_link(staff_id=STAFF, payload=f"t_{ticket.token}", nonce=f"e{i}")
        await checkin.sync_offline(staff_id=KIM, scans=[OfflineScan(
            "kimphone-1", pool[8].token, self.clock.now() - timedelta(minutes=20),
            Verdict.VALID)])
        return world

    async def outbox(self) -> list[Any]:
        """Everything queued for the outbox worker (nothing sends it here)."""
        from bot.storage.outbox_store import SqlOutboxStore

        return await SqlOutboxStore(self.db).claim_due(
            now=self.clock.now() + timedelta(days=1), limit=500)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.world.server.port}{path}"

    def close(self) -> None:
        self.server.run(self._stack.aclose())
        self.server.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    require_browser()
    running = Live(tmp_path_factory.mktemp("miniapp"))
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def driver(live: Live) -> Iterator[Any]:
    browser = new_driver()
    try:
        yield browser
    finally:
        browser.quit()


def wait(driver: Any, script: str, timeout: float = 10.0) -> Any:
    """Poll a JavaScript expression until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {script}")
        time.sleep(0.05)


def open_scanner(driver: Any, live: Live, user: int, name: str, host: str = "127.0.0.1",
                 new_tab: bool = False) -> str:
    if new_tab:
        driver.switch_to.new_window("tab")
    prepare_tab(driver, live.world.init_data(user, name))
    driver.get(live.url("/app/scanner", host))
    wait(driver, "document.body.dataset.ready === 'yes'", timeout=30)
    driver.find_element("id", "scan").click()
    assert wait(driver, "window.__scanner.open")
    return str(driver.current_window_handle)


def present(driver: Any, text: str) -> str:
    """Show a code to the camera; the verdict the page then shows."""
    before = driver.execute_script("return document.querySelectorAll('#log li').length")
    returned = driver.execute_script("return window.__present(arguments[0])", text)
    assert returned is not True  # the popup stays open for the next ticket
    wait(driver, f"document.querySelectorAll('#log li').length > {before}")
    return str(driver.execute_script("return document.getElementById('verdict').dataset.verdict"))


def link(ticket: Any) -> str:
    return f"https://t.me/{BOT}?start=t_{ticket.token}"


def test_mini_app_scanner_valid_then_already_used_then_forged(driver: Any, live: Live) -> None:
    ticket = live.pool[0]
    open_scanner(driver, live, STAFF, "Sam")
    assert present(driver, link(ticket)) == "valid"
    assert driver.execute_script("return window.__haptics") == ["success"]
    word = driver.find_element("id", "verdict-word").text
    assert word == "VALID" and driver.find_element("id", "verdict").is_displayed()
    screenshot(driver, "scanner-valid", 360, 740)
    screenshot(driver, "scanner-valid", 1280, 800)
    # The camera still sees the same code a moment later: not a second scan.
    driver.execute_script("return window.__present(arguments[0])", link(ticket))
    assert driver.execute_script("return window.__haptics.length") == 1
    assert driver.execute_script("return window.__scanner.open") is True  # VALID: keep going
    forged = f"https://t.me/{BOT}?start=t_" + "Zz9" * 7 + "Q"
    assert present(driver, forged) == "not_a_ticket"
    # Anything but VALID closes the camera so the verdict can be read; a tap brings it back.
    assert driver.execute_script("return window.__scanner.open") is False
    driver.find_element("id", "verdict").click()
    assert driver.execute_script("return window.__scanner.open && window.__scanner.opened") == 2
    assert present(driver, link(ticket)) == "already_used"
    detail = driver.find_element("id", "verdict-detail").text
    assert "by Sam" in detail and "first scanned" in detail
    screenshot(driver, "scanner-already-used", 360, 740)
    assert driver.execute_script("return window.__haptics") == ["success", "error", "warning"]
    driver.find_element("id", "verdict").click()
    assert not driver.find_element("id", "verdict").is_displayed()
    assert driver.execute_script("return window.__scanner.open && window.__scanner.opened") == 3
    assert [li.get_attribute("data-verdict") for li in driver.find_elements(
        "css selector", "#log li")] == ["already_used", "not_a_ticket", "valid"]
    screenshot(driver, "scanner", 360, 740)
    # The same log as the chat: the chat path sees the admission the Mini App made.
    chat = live.server.run(live.world.services.checkin.scan_link(
        staff_id=KIM, payload=f"t_{ticket.token}", nonce="chat-after-app"))
    assert chat.verdict is Verdict.ALREADY_USED and chat.first_scan_staff == "Sam"


def test_offline_three_tickets_one_twice_at_two_devices_then_sync(
        driver: Any, live: Live) -> None:
    one, two, three = live.pool[1:4]
    services = live.world.services
    before, _ = live.server.run(services.checkin.progress(staff_id=STAFF,
                                                          event_id=live.world.event.id))
    sam = open_scanner(driver, live, STAFF, "Sam", new_tab=True)
    # Another phone: another origin, so its own storage (as two devices are).
    kim = open_scanner(driver, live, KIM, "Kim", host="localhost", new_tab=True)
    for tab in (sam, kim):
        driver.switch_to.window(tab)
        set_offline(driver, True)
    driver.switch_to.window(sam)
    assert present(driver, link(one)) == "valid"
    assert driver.execute_script("return document.body.dataset.online") == "no"
    assert present(driver, link(two)) == "valid"
    time.sleep(0.05)  # Kim's scan of the same ticket comes later than Sam's
    driver.switch_to.window(kim)
    assert present(driver, link(one)) == "valid"  # Kim's phone cannot know
    assert present(driver, link(three)) == "valid"
    screenshot(driver, "scanner-offline", 360, 740)
    driver.switch_to.window(sam)
    assert present(driver, link(one)) == "already_used"  # Sam's phone knows its own scan
    assert driver.execute_script("return document.body.dataset.queued") == "3"
    # Nothing reached the server yet.
    now, _ = live.server.run(services.checkin.progress(staff_id=STAFF,
                                                       event_id=live.world.event.id))
    assert now == before
    # Back online: each phone sends its queue.
    set_offline(driver, False)
    wait(driver, "document.body.dataset.synced === '3'", timeout=40)
    assert driver.execute_script("return document.body.dataset.queued") == "0"
    assert driver.execute_script("return document.body.dataset.duplicates") == "0"
    driver.switch_to.window(kim)
    set_offline(driver, False)
    wait(driver, "document.body.dataset.synced === '2'", timeout=40)
    assert driver.execute_script("return document.body.dataset.duplicates") == "1"
    assert "organizer has been told" in driver.find_element("id", "notice").text

    async def check() -> tuple[list[Any], list[Any], int]:
        async with live.db.read() as uow:
            rows = await uow.checkins.admissions(one.id)
        items = await live.outbox()
        checked, _ = await services.checkin.progress(staff_id=STAFF,
                                                     event_id=live.world.event.id)
        return rows, items, checked

    rows, items, checked = live.server.run(check())
    assert [r.staff_user_id for r in rows] == [STAFF, KIM]  # first admission: Sam's
    assert all(r.synced_at is not None for r in rows)
    assert checked == before + 3
    dup = [i for i in items if i.payload.get("key") == DUPLICATE_MESSAGE
           and i.payload["params"]["code"] == format_short_code(one.short_code)]
    assert len(dup) == 1 and dup[0].chat_id == ORGANIZER
    # Online again, the next scan of that ticket is ALREADY USED, first by Sam.
    assert present(driver, link(one)) == "already_used"
    assert "by Sam" in driver.find_element("id", "verdict-detail").text


def test_mini_app_dashboard_shows_the_figures_the_database_holds(driver: Any, live: Live) -> None:
    event_id = live.world.event.id
    driver.switch_to.new_window("tab")
    prepare_tab(driver, live.world.init_data(ORGANIZER, "Olga"))
    driver.get(live.url(f"/app/dashboard?event={event_id}&refresh=2"))
    wait(driver, "parseInt(document.body.dataset.loaded || '0', 10) >= 1")

    def shown() -> dict[str, str]:
        ids = ("sold", "revenue", "held", "checked-in", "refunds-succeeded",
               "refunds-pending", "refunds-failed")
        return {i: driver.find_element("id", i).text for i in ids}

    def expected() -> dict[str, str]:
        board = live.server.run(live.world.services.organizer.dashboard(
            actor_id=ORGANIZER, event_id=event_id))
        figures = board.figures
        revenue = sum(r.revenue.amount for r in figures.types)
        refunds = {s.value: n for s, (n, _) in figures.refunds.items()}
        return {"sold": f"{figures.sold} / {sum(r.stock.capacity for r in figures.types)}",
                "revenue": f"{revenue // 100}.{revenue % 100:02d} EUR",
                "held": str(sum(r.stock.held for r in figures.types)),
                "checked-in": str(figures.checked_in),
                "refunds-succeeded": str(refunds.get("succeeded", 0)),
                "refunds-pending": str(refunds.get("pending", 0)),
                "refunds-failed": str(refunds.get("failed", 0))}

    assert shown() == expected()
    rows = [[td.text for td in tr.find_elements("tag name", "td")]
            for tr in driver.find_elements("css selector", "#types tr")]
    assert [r[0] for r in rows] == ["GA", "VIP"]
    # The charts are the server's SVG, with one series per ticket type.
    assert driver.execute_script(
        "const svg = document.querySelector('#chart-sales svg');"
        "return svg instanceof SVGSVGElement && svg.getBoundingClientRect().height > 100"
        " && document.querySelectorAll('#chart-sales path.line').length === 2")
    legends = [e.text for e in driver.find_elements("css selector", "#chart-sales .legend")]
    assert legends == [f"GA: {rows[0][1].split(' / ')[0]}", f"VIP: {rows[1][1].split(' / ')[0]}"]
    dups = driver.find_element("id", "duplicates").text
    assert format_short_code(live.pool[8].short_code) in dups and "Kim" in dups and "Sam" in dups
    # Follows the theme: the page background is Telegram's bg_color.
    assert driver.execute_script(
        "return getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
    screenshot(driver, "dashboard", 360, 740)
    screenshot(driver, "dashboard", 1280, 800)
    # A 320 px phone: nothing wider than the screen.
    screenshot(driver, "dashboard", 320, 640)
    assert driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth")
    # Live: a sale made while the dashboard is open shows up without reloading.
    sold_before = shown()["sold"]
    live.server.run(_buy(live.world, live.db, 607, 0, 2, "Late"))
    wait(driver, f"document.getElementById('sold').textContent !== {sold_before!r}", 10)
    assert shown() == expected()
