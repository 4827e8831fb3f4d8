"""Offline door scanning and the organizer's dashboard (on the in-memory fake, SQLite and
PostgreSQL): what a scanner may keep, how its queued scans join the append-only log, who is
told about a ticket admitted twice, and the figures the dashboard draws."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from core.door.model import Verdict
from core.door.offline import (
    DUPLICATE_MESSAGE,
    OfflineScan,
    PackState,
    log_nonce,
    token_digest,
)
from core.kernel import outbox
from core.kernel.errors import DomainError, ErrorCode
from tests.console_world import (
    BUYER,
    ORGANIZER,
    STAFF,
    buy,
    make_console,
    organizer_event,
    staff_for,
)

KIM = STAFF + 10


@pytest.fixture
async def door(db, clock):
    access, organizer, purchase, checkin = await make_console(db, clock)
    event = await organizer_event(db, clock)
    tickets = (await buy(purchase, db, event, quantity=3)).tickets
    await staff_for(access, event, STAFF, "Sam")
    await staff_for(access, event, KIM, "Kim")
    return organizer, purchase, checkin, event, tickets


async def _messages(outbox_store, clock):
    items = await outbox_store.claim_due(now=clock.now() + timedelta(days=1), limit=100)
    return [i for i in items if i.kind == outbox.MESSAGE]


async def test_offline_pack_holds_keyed_hashes_and_states_never_tokens(door, clock) -> None:
    _, _, checkin, event, tickets = door
    await checkin.scan_link(staff_id=STAFF, payload=f"t_{tickets[0].token}", nonce="n1")
    pack = await checkin.door_pack(staff_id=KIM)
    key = bytes.fromhex(pack.key)
    by_digest = {e.digest: e for e in pack.entries}
    assert len(by_digest) == 3
    assert by_digest[token_digest(key, tickets[0].token)].state is PackState.ADMITTED
    assert by_digest[token_digest(key, tickets[0].token)].admitted_by == "Sam"
    assert by_digest[token_digest(key, tickets[1].token)].state is PackState.VALID
    text = repr(pack)
    assert not any(t.token in text for t in tickets)
    assert (await checkin.door_pack(staff_id=KIM)).key != pack.key  # a key per download
    assert [(e.title, e.checked_in, e.sold) for e in pack.events] == [(event.title, 1, 3)]


async def test_offline_pack_is_refused_to_someone_who_is_not_door_staff(door) -> None:
    _, _, checkin, _, _ = door
    with pytest.raises(DomainError) as refused:
        await checkin.door_pack(staff_id=BUYER)
    assert refused.value.code is ErrorCode.NOT_ALLOWED


async def test_offline_scans_join_the_log_first_admission_by_scan_time(
        door, clock, outbox_store) -> None:
    _, _, checkin, event, tickets = door
    offline_at = clock.now()
    clock.advance(timedelta(minutes=10))
    online = await checkin.scan_link(staff_id=STAFF, payload=f"t_{tickets[0].token}",
                                     nonce="online-1")
    assert online.verdict is Verdict.VALID  # the server did not know about the offline scan
    clock.advance(timedelta(minutes=20))
    synced = await checkin.sync_offline(staff_id=KIM, scans=[
        OfflineScan("kim-dev-1", tickets[0].token, offline_at, Verdict.VALID),
        OfflineScan("kim-dev-2", tickets[1].token, offline_at + timedelta(minutes=1),
                    Verdict.VALID)])
    assert [(s.recorded, s.verdict, s.duplicate) for s in synced] == [
        (True, Verdict.VALID, False), (True, Verdict.VALID, False)]
    # The offline admission is the first (scanned earlier); the later one is the duplicate.
    again = await checkin.scan_link(staff_id=STAFF, payload=f"t_{tickets[0].token}",
                                    nonce="online-2")
    assert again.verdict is Verdict.ALREADY_USED and again.first_scan_staff == "Kim"
    assert again.first_scan_at == offline_at.astimezone(event.tz)
    messages = await _messages(outbox_store, clock)
    dups = [m for m in messages if m.payload["key"] == DUPLICATE_MESSAGE]
    assert len(dups) == 1 and dups[0].chat_id == ORGANIZER
    params = dups[0].payload["params"]
    assert params["first_staff"] == "Kim" and params["second_staff"] == "Sam"
    assert (again.checked_in, again.sold) == (2, 3)


async def test_offline_ticket_admitted_at_two_devices_is_one_duplicate_reported_once(
        door, clock, outbox_store) -> None:
    _, _, checkin, _, tickets = door
    at = clock.now()
    clock.advance(timedelta(minutes=5))
    first = await checkin.sync_offline(staff_id=STAFF, scans=[
        OfflineScan("sam-dev-1", tickets[2].token, at, Verdict.VALID)])
    second = await checkin.sync_offline(staff_id=KIM, scans=[
        OfflineScan("kim-dev-1", tickets[2].token, at + timedelta(seconds=30), Verdict.VALID)])
    assert (first[0].duplicate, second[0].duplicate) == (False, True)
    # The same queue sent again (the answer was lost): nothing new, no second message.
    replay = await checkin.sync_offline(staff_id=KIM, scans=[
        OfflineScan("kim-dev-1", tickets[2].token, at + timedelta(seconds=30), Verdict.VALID)])
    assert replay[0].recorded and replay[0].duplicate
    dups = [m for m in await _messages(outbox_store, clock)
            if m.payload["key"] == DUPLICATE_MESSAGE]
    assert len(dups) == 1


async def test_offline_sync_refuses_forged_foreign_and_malformed_scans(door, db, clock) -> None:
    _, purchase, checkin, _, tickets = door
    other = await organizer_event(db, clock, title="Other night")
    foreign = (await buy(purchase, db, other, user=BUYER + 1)).tickets[0]
    now = clock.now()
    synced = await checkin.sync_offline(staff_id=STAFF, scans=[
        OfflineScan("forged-01", "A" * 22, now, Verdict.VALID),
        OfflineScan("foreign-1", foreign.token, now, Verdict.VALID),
        OfflineScan("bad nonce!", tickets[0].token, now, Verdict.VALID),
        OfflineScan("toolate-1", tickets[0].token, now - timedelta(days=4), Verdict.VALID),
        OfflineScan("wrong-ev1", tickets[0].token, now, Verdict.WRONG_EVENT)])
    assert [s.recorded for s in synced] == [False] * 5
    result = await checkin.scan_link(staff_id=STAFF, payload=f"t_{tickets[0].token}", nonce="x")
    assert result.verdict is Verdict.VALID  # none of them admitted the ticket


async def test_offline_scan_time_in_the_future_is_kept_as_the_sync_time(door, clock) -> None:
    _, _, checkin, event, tickets = door
    await checkin.sync_offline(staff_id=STAFF, scans=[
        OfflineScan("future-01", tickets[0].token, clock.now() + timedelta(hours=5),
                    Verdict.VALID)])
    again = await checkin.scan_link(staff_id=KIM, payload=f"t_{tickets[0].token}", nonce="y")
    assert again.first_scan_at == clock.now().astimezone(event.tz)


async def test_mini_app_dashboard_shows_sales_and_admissions_over_time_and_duplicates(
        door, db, clock) -> None:
    organizer, purchase, checkin, event, tickets = door
    clock.advance(timedelta(hours=1))
    await buy(purchase, db, event, user=BUYER + 2, quantity=2)
    await checkin.scan_link(staff_id=STAFF, payload=f"t_{tickets[0].token}", nonce="d1")
    clock.advance(timedelta(minutes=3))
    await checkin.sync_offline(staff_id=KIM, scans=[
        OfflineScan("kim-dev-9", tickets[0].token, clock.now(), Verdict.VALID),
        OfflineScan("kim-dev-8", tickets[1].token, clock.now(), Verdict.VALID)])
    board = await organizer.dashboard(actor_id=ORGANIZER, event_id=event.id)
    assert board.figures.sold == 5
    assert [s.total for s in board.sales] == [5]
    assert [total for _, total in board.sales[0].points] == [3, 5]
    assert board.admissions.total == 2  # two tickets in, one of them twice
    assert [d.short_code for d in board.duplicates] == [tickets[0].short_code]
    assert [staff for _, staff in board.duplicates[0].admissions] == ["Sam", "Kim"]
    with pytest.raises(DomainError):
        await organizer.dashboard(actor_id=STAFF, event_id=event.id)


async def test_offline_admission_first_by_scan_time_is_the_one_the_csv_export_names(
        door, clock) -> None:
    organizer, _, checkin, event, tickets = door
    offline_at = clock.now()
    clock.advance(timedelta(minutes=10))
    await checkin.scan_link(staff_id=STAFF, payload=f"t_{tickets[0].token}", nonce="on-1")
    await checkin.sync_offline(staff_id=KIM, scans=[
        OfflineScan("kim-dev-7", tickets[0].token, offline_at, Verdict.VALID)])
    exported = (await organizer.export_csv(actor_id=ORGANIZER, event_id=event.id)).decode()
    row = next(row for row in csv.DictReader(io.StringIO(exported))
               if row["short_code"] == tickets[0].short_code)
    assert row["checked_in_by"] == "Kim"


async def test_offline_copy_of_a_scan_the_server_already_got_is_not_logged_twice(
        door, clock, outbox_store) -> None:
    _, _, checkin, _, tickets = door
    link = f"https://t.me/bot?start=t_{tickets[0].token}"
    online = await checkin.scan_text(staff_id=STAFF, text=link, bot_username="bot",
                                     nonce=log_nonce(STAFF, "sam-dev-5"))
    assert online.verdict is Verdict.VALID  # ...but the answer never reached the phone
    synced = await checkin.sync_offline(staff_id=STAFF, scans=[
        OfflineScan("sam-dev-5", tickets[0].token, clock.now(), Verdict.VALID)])
    assert [(s.recorded, s.verdict, s.duplicate) for s in synced] == [
        (True, Verdict.VALID, False)]
    assert (await checkin.progress(staff_id=STAFF, event_id=tickets[0].event_id))[0] == 1
    assert not [m for m in await _messages(outbox_store, clock)
                if m.payload["key"] == DUPLICATE_MESSAGE]
    # The same nonce cannot be spent on another ticket.
    other = await checkin.sync_offline(staff_id=STAFF, scans=[
        OfflineScan("sam-dev-5", tickets[1].token, clock.now(), Verdict.VALID)])
    assert not other[0].recorded
