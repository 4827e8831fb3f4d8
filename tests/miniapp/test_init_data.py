"""Every Mini App request is authenticated by its initData, checked as the Bot API documents
(HMAC-SHA256 under the key derived from the bot token with "WebAppData"; auth_date recent).
A forged, altered, expired or another bot's initData gets 401 and nothing else; someone who
is not door staff (or the event's organizer) gets 403."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode

import pytest

from bot.web.miniapp.init_data import InvalidInitData, init_data_for, sign, validate
from tests.console_world import BUYER, ORGANIZER, STAFF
from tests.fakes import InMemoryDatabase
from tests.miniapp.world import MAX_AGE, TOKEN, mini_app_world

NOW = 1_900_000_000


def _fields(init_data: str) -> dict[str, str]:
    return dict(parse_qsl(init_data))


def test_init_data_as_telegram_documents_it_is_accepted() -> None:
    # Built by hand from the documented recipe, independently of sign().
    user = json.dumps({"id": 42, "first_name": "Sam"})
    fields = {"auth_date": str(NOW), "query_id": "AAH", "user": user}
    check = "\n".join(f"{k}={fields[k]}" for k in sorted(fields))
    secret = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    who = validate(urlencode(fields), TOKEN, max_age=MAX_AGE, now=NOW + 10)
    assert (who.id, who.first_name, who.auth_date) == (42, "Sam", NOW)


def test_init_data_with_an_altered_field_is_refused() -> None:
    fields = _fields(init_data_for(TOKEN, user_id=42, first_name="Sam", auth_date=NOW))
    fields["user"] = fields["user"].replace("42", "43")
    with pytest.raises(InvalidInitData):
        validate(urlencode(fields), TOKEN, max_age=MAX_AGE, now=NOW)


def test_init_data_with_a_wrong_or_missing_hash_is_refused() -> None:
    fields = _fields(init_data_for(TOKEN, user_id=42, first_name="Sam", auth_date=NOW))
    wrong = dict(fields, hash=("0" if fields["hash"][0] != "0" else "1") + fields["hash"][1:])
    missing = {k: v for k, v in fields.items() if k != "hash"}
    for forged in (wrong, missing, dict(fields, hash=fields["hash"].upper())):
        with pytest.raises(InvalidInitData):
            validate(urlencode(forged), TOKEN, max_age=MAX_AGE, now=NOW)


def test_init_data_older_than_the_window_or_from_the_future_is_refused() -> None:
    old = init_data_for(TOKEN, user_id=42, first_name="Sam", auth_date=NOW - int(MAX_AGE) - 1)
    with pytest.raises(InvalidInitData, match="expired"):
        validate(old, TOKEN, max_age=MAX_AGE, now=NOW)
    ahead = init_data_for(TOKEN, user_id=42, first_name="Sam", auth_date=NOW + 3600)
    with pytest.raises(InvalidInitData, match="future"):
        validate(ahead, TOKEN, max_age=MAX_AGE, now=NOW)
    edge = init_data_for(TOKEN, user_id=42, first_name="Sam", auth_date=NOW - int(MAX_AGE))
    assert validate(edge, TOKEN, max_age=MAX_AGE, now=NOW).id == 42


def test_init_data_signed_with_another_bots_token_is_refused() -> None:
    other = init_data_for("654321:ANOTHER-BOT", user_id=42, first_name="Sam", auth_date=NOW)
    with pytest.raises(InvalidInitData):
        validate(other, TOKEN, max_age=MAX_AGE, now=NOW)


def test_init_data_with_a_repeated_field_or_garbage_is_refused() -> None:
    good = init_data_for(TOKEN, user_id=42, first_name="Sam", auth_date=NOW)
    for bad in ("", "x", good + "&user=%7B%22id%22%3A1%7D", "a" * 5000,
                sign({"auth_date": str(NOW)}, TOKEN)):  # genuine, but no user
        with pytest.raises(InvalidInitData):
            validate(bad, TOKEN, max_age=MAX_AGE, now=NOW)


@pytest.fixture
async def world(clock):
    async with mini_app_world(InMemoryDatabase(), clock) as running:
        yield running


API = [("POST", "/app/api/scan", {"text": "x", "nonce": "abcdef12"}),
       ("GET", "/app/api/door/pack", None),
       ("POST", "/app/api/door/sync", {"scans": []}),
       ("GET", "/app/api/events/1/dashboard", None)]


async def test_init_data_forged_altered_expired_or_foreign_gets_401_and_nothing_else(
        world) -> None:
    good = world.init_data(STAFF)
    altered = good.replace("Sam", "Eve")
    old = world.init_data(STAFF, auth_date=int((world.clock.now() - timedelta(
        seconds=MAX_AGE + 5)).timestamp()))
    foreign = init_data_for("654321:ANOTHER-BOT", user_id=STAFF, first_name="Sam",
                            auth_date=int(world.clock.now().timestamp()))
    for method, path, body in API:
        for init_data, scheme in ((None, "tma"), ("", "tma"), (altered, "tma"), (old, "tma"),
                                  (foreign, "tma"), (good, "Bearer")):
            status, text = await world.call(method, path, init_data=init_data, json=body,
                                            scheme=scheme)
            assert (status, json.loads(text)) == (401, {"error": "unauthorized"}), (path,)
    # Nothing was scanned by any of them.
    status, text = await world.call("GET", "/app/api/door/pack", init_data=good)
    assert status == 200
    assert [e["checked_in"] for e in json.loads(text)["events"]] == [0]


async def test_init_data_of_someone_who_is_not_staff_gets_403(world) -> None:
    stranger = world.init_data(BUYER, "Bea")
    for method, path, body in API[:3]:
        status, _ = await world.call(method, path, init_data=stranger, json=body)
        assert status == 403, path
    status, _ = await world.call("GET", f"/app/api/events/{world.event.id}/dashboard",
                                 init_data=world.init_data(STAFF))
    assert status == 403  # door staff do not see the organizer's figures
    status, _ = await world.call("GET", f"/app/api/events/{world.event.id}/dashboard",
                                 init_data=world.init_data(ORGANIZER, "Olga"))
    assert status == 200


async def test_init_data_genuine_staff_scans_with_the_same_verdicts_as_the_chat(world) -> None:
    staff = world.init_data(STAFF)
    ticket = world.tickets[0]
    verdicts = []
    for nonce, text in (("scan0001", world.link(ticket)), ("scan0002", world.link(ticket)),
                        ("scan0003", "https://t.me/ticketq_test_bot?start=t_" + "A" * 22),
                        ("scan0004", "https://t.me/someone_else_bot?start=t_" + ticket.token),
                        ("scan0005", world.tickets[1].short_code)):
        status, body = await world.call("POST", "/app/api/scan", init_data=staff,
                                        json={"text": text, "nonce": nonce})
        assert status == 200
        verdicts.append(json.loads(body)["verdict"])
    assert verdicts == ["valid", "already_used", "not_a_ticket", "not_a_ticket", "valid"]
    chat = await world.services.checkin.scan_link(staff_id=STAFF, payload=f"t_{ticket.token}",
                                                  nonce="chat:1")
    assert chat.verdict.value == "already_used" and chat.first_scan_staff == "Sam"
