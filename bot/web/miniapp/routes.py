"""The Mini App's pages and its JSON API, mounted on the shared web server.

Pages (no secrets in them): ``/app/scanner``, ``/app/dashboard?event=<id>`` and
``/app/static/<file>``. API (``/app/api/...``): every request carries
``Authorization: tma <initData>``; a missing, forged, altered, expired or another bot's
initData gets ``401`` and nothing else; someone who is not staff of the event (or its
organizer) gets ``403``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from aiohttp import web

from bot.web.miniapp.charts import step_chart
from bot.web.miniapp.init_data import InvalidInitData, WebAppUser, validate
from core.door.model import ScanResult, Verdict
from core.door.offline import DoorPack, OfflineScan, log_nonce, valid_client_nonce
from core.door.service import CheckinService
from core.kernel.clock import Clock
from core.kernel.errors import DomainError
from core.kernel.money import Money
from core.organizer.service import Dashboard, OrganizerService
from core.tickets.model import format_short_code

log = logging.getLogger(__name__)

PREFIX = "/app"
SCANNER_PATH = f"{PREFIX}/scanner"
DASHBOARD_PATH = f"{PREFIX}/dashboard"
MAX_SYNC = 500
_STATIC_NAME = re.compile(r"^[a-z0-9_-]{1,40}\.(js|css|svg)$")
_TYPES = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml",
          "html": "text/html"}
# The page loads only its own files (and Telegram's bridge script inside Telegram).
_CSP = ("default-src 'self'; script-src 'self' https://telegram.org; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'")

Handler = Callable[[web.Request, WebAppUser], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str),
                             headers={"Cache-Control": "no-store"})


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _money(money: Money | None) -> dict[str, Any] | None:
    if money is None:
        return None
    return {"minor": money.amount, "currency": money.currency, "text": money.decimal_str()}


def scan_json(result: ScanResult) -> dict[str, Any]:
    """A verdict as the scanner page shows it."""
    return {"verdict": result.verdict.value, "event": result.event_title,
            "ticket_type": result.ticket_type, "holder": result.holder_first_name,
            "first_scan_at": _iso(result.first_scan_at),
            "first_scan_staff": result.first_scan_staff,
            "checked_in": result.checked_in, "sold": result.sold}


def pack_json(pack: DoorPack, bot_username: str) -> dict[str, Any]:
    """A door pack as the scanner stores it (digests only: no token leaves the server)."""
    return {
        "key": pack.key, "made_at": _iso(pack.made_at), "bot": bot_username,
        "events": [{"id": e.event_id, "title": e.title, "checked_in": e.checked_in,
                    "sold": e.sold} for e in pack.events],
        "tickets": {e.digest: [e.event_id, e.ticket_type, e.state.value, _iso(e.admitted_at),
                               e.admitted_by] for e in pack.entries},
    }


def dashboard_json(board: Dashboard) -> dict[str, Any]:
    """The organizer's dashboard: figures, server-drawn charts, duplicates."""
    figures = board.figures
    event = figures.event
    revenue: dict[str, int] = {}
    for row in figures.types:
        revenue[row.revenue.currency] = revenue.get(row.revenue.currency, 0) + row.revenue.amount
    lottery = figures.lottery
    refunds = {status.value: {"count": n, "minor": amount}
               for status, (n, amount) in figures.refunds.items()}
    start = min([p[0] for s in board.sales for p in s.points], default=None)
    return {
        "event": {"id": event.id, "title": event.title, "status": event.status.value,
                  "starts_at": _iso(event.local_start()), "venue": event.venue},
        "as_of": _iso(board.as_of),
        "types": [{"name": r.ticket_type.name, "capacity": r.stock.capacity,
                   "sold": r.stock.sold, "held": r.stock.held,
                   "available": r.stock.available, "revenue": _money(r.revenue)}
                  for r in figures.types],
        "sold": figures.sold,
        "held": sum(r.stock.held for r in figures.types),
        "capacity": sum(r.stock.capacity for r in figures.types),
        "revenue": [_money(Money(amount, currency)) for currency, amount in revenue.items()],
        "refunds": refunds,
        "checked_in": figures.checked_in,
        "lottery": None if lottery is None else {
            "state": lottery.state.value, "entries": lottery.entries,
            "tickets_asked": lottery.tickets_asked, "seats": lottery.seats,
            "winners": lottery.winners,
            "oversubscription": round(lottery.oversubscription, 2)},
        "duplicates": [{"code": format_short_code(d.short_code), "admissions": [
            {"at": _iso(at), "staff": staff} for at, staff in d.admissions]}
            for d in board.duplicates],
        "charts": {
            "sales": step_chart(board.sales, title="Seats sold over time"),
            "admissions": step_chart([board.admissions], title="Admitted at the door",
                                     start=start if board.admissions.points else None),
        },
    }


class MiniApp:
    """The Mini App's routes, bound to the services and the bot's token."""

    def __init__(self, *, checkin: CheckinService, organizer: OrganizerService, clock: Clock,
                 bot_token: str, max_age: float,
                 bot_username: Callable[[], str]) -> None:
        self._checkin = checkin
        self._organizer = organizer
        self._clock = clock
        self._token = bot_token
        self._max_age = max_age
        self._username = bot_username

    def mount(self, app: web.Application) -> None:
        """Add the pages and the API (a :data:`bot.web.server.Mount`)."""
        app.router.add_get(SCANNER_PATH, self._page("scanner.html"))
        app.router.add_get(DASHBOARD_PATH, self._page("dashboard.html"))
        app.router.add_get(f"{PREFIX}/static/{{name}}", self._static)
        app.router.add_post(f"{PREFIX}/api/scan", self._authed(self._scan))
        app.router.add_get(f"{PREFIX}/api/door/pack", self._authed(self._pack))
        app.router.add_post(f"{PREFIX}/api/door/sync", self._authed(self._sync))
        app.router.add_get(f"{PREFIX}/api/events/{{event_id:[0-9]{{1,9}}}}/dashboard",
                           self._authed(self._dashboard))

    # ------------------------------------------------------------------ pages
    @staticmethod
    def _read(name: str) -> bytes:
        return (resources.files("bot.web.miniapp") / "static" / name).read_bytes()

    def _page(self, name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def page(request: web.Request) -> web.Response:
            return web.Response(body=self._read(name), content_type="text/html",
                                charset="utf-8", headers={"Cache-Control": "no-cache",
                                                          "Content-Security-Policy": _CSP})
        return page

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not _STATIC_NAME.match(name):
            raise web.HTTPNotFound()
        try:
            body = self._read(name)
        except (FileNotFoundError, IsADirectoryError):
            raise web.HTTPNotFound() from None
        return web.Response(body=body, content_type=_TYPES[name.rsplit(".", 1)[1]],
                            headers={"Cache-Control": "no-cache"})

    # ------------------------------------------------------------------ auth
    def _user(self, request: web.Request) -> WebAppUser:
        header = request.headers.get("Authorization", "")
        scheme, _, init_data = header.partition(" ")
        if scheme.lower() != "tma":
            raise InvalidInitData("no tma authorization")
        return validate(init_data.strip(), self._token, max_age=self._max_age,
                        now=self._clock.now().timestamp())

    def _authed(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                user = self._user(request)
            except InvalidInitData as exc:
                log.info("mini app: refused initData (%s) from %s", exc, request.remote)
                return _json({"error": "unauthorized"}, status=401)
            try:
                return await handler(request, user)
            except DomainError as exc:
                return _json({"error": "forbidden", "code": exc.code.value}, status=403)
        return guarded

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise web.HTTPBadRequest(text="JSON body expected") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="JSON object expected")
        return body

    # ------------------------------------------------------------------ API
    async def _scan(self, request: web.Request, user: WebAppUser) -> web.Response:
        body = await self._body(request)
        text, nonce = body.get("text"), body.get("nonce")
        if not isinstance(text, str) or not isinstance(nonce, str) or len(text) > 512 \
                or not valid_client_nonce(nonce):
            raise web.HTTPBadRequest(text="text and nonce expected")
        result = await self._checkin.scan_text(staff_id=user.id, text=text,
                                               bot_username=self._username(),
                                               nonce=log_nonce(user.id, nonce))
        return _json(scan_json(result))

    async def _pack(self, request: web.Request, user: WebAppUser) -> web.Response:
        pack = await self._checkin.door_pack(staff_id=user.id)
        return _json(pack_json(pack, self._username()))

    async def _sync(self, request: web.Request, user: WebAppUser) -> web.Response:
        body = await self._body(request)
        raw = body.get("scans")
        if not isinstance(raw, list) or len(raw) > MAX_SYNC:
            raise web.HTTPBadRequest(text=f"scans: a list of at most {MAX_SYNC}")
        scans: list[OfflineScan] = []
        for item in raw:
            try:
                scans.append(OfflineScan(
                    client_nonce=str(item["nonce"]), token=str(item["token"]),
                    scanned_at=datetime.fromtimestamp(int(item["scanned_at"]) / 1000, UTC),
                    verdict=Verdict(str(item["verdict"]))))
            except (KeyError, TypeError, ValueError, OverflowError, OSError):
                raise web.HTTPBadRequest(text="malformed scan") from None
        results = await self._checkin.sync_offline(staff_id=user.id, scans=scans)
        return _json({"results": [
            {"nonce": r.client_nonce, "recorded": r.recorded,
             "verdict": r.verdict.value if r.verdict else None, "duplicate": r.duplicate}
            for r in results]})

    async def _dashboard(self, request: web.Request, user: WebAppUser) -> web.Response:
        board = await self._organizer.dashboard(actor_id=user.id,
                                                event_id=int(request.match_info["event_id"]))
        return _json(dashboard_json(board))
