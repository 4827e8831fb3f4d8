"""The console's callback actions and the door's QR and verdict rendering, without a bot."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import PIL.Image
import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st

from core.door.model import ScanResult, Verdict
from handlers import callbacks as cb
from handlers.door import read_qr_texts, ticket_payload, verdict_text
from handlers.texts import plain

ids = st.integers(min_value=1, max_value=cb.MAX_ID)
console_actions = st.one_of(
    *(st.builds(kind, ids) for kind in (cb.ConsoleStats, cb.ConsoleExport, cb.StaffInvite,
                                        cb.StaffList, cb.CancelAsk, cb.CancelConfirm,
                                        cb.CancelKeep, cb.RevokeOrganizer, cb.WithdrawInvite)),
    st.builds(cb.RevokeStaff, ids, ids),
)
TOKEN = "A" * 22


@pytest.mark.parametrize(("action", "wire"), [
    (cb.ConsoleStats(42), "v1:cs:42"), (cb.ConsoleExport(42), "v1:cx:42"),
    (cb.StaffInvite(42), "v1:ci:42"), (cb.StaffList(42), "v1:cl:42"),
    (cb.CancelAsk(42), "v1:cc:42"), (cb.CancelConfirm(42), "v1:cy:42"),
    (cb.CancelKeep(42), "v1:cn:42"), (cb.RevokeStaff(42, 7), "v1:rs:42:7"),
    (cb.RevokeOrganizer(7), "v1:ro:7"), (cb.WithdrawInvite(3), "v1:wi:3"),
])
def test_console_buttons_have_their_documented_wire_forms(action: cb.Action, wire: str) -> None:
    assert cb.encode(action) == wire and cb.decode(wire) == action


@given(console_actions)
def test_console_buttons_round_trip_within_64_bytes(action: cb.Action) -> None:
    data = cb.encode(action)
    assert len(data.encode("ascii")) <= cb.MAX_BYTES and cb.decode(data) == action


@pytest.mark.parametrize("data", ["v1:cy", "v1:cy:0", "v1:cy:-1", "v1:cy:1:2", "v1:rs:1",
                                  "v1:rs:1:0", "v1:ro:x", f"v1:wi:{cb.MAX_ID + 1}",
                                  "v2:cy:1", "v1:CY:1"])
def test_forged_console_buttons_decode_to_none(data: str) -> None:
    assert cb.decode(data) is None


def test_only_our_own_bots_ticket_link_counts() -> None:
    ours = f"https://t.me/TicketQ_bot?start=t_{TOKEN}"
    assert ticket_payload([ours], "ticketq_bot") == f"t_{TOKEN}"
    assert ticket_payload(["hello", ours], "ticketq_bot") == f"t_{TOKEN}"
    for other in (f"https://t.me/other_bot?start=t_{TOKEN}",
                  f"http://t.me/ticketq_bot?start=t_{TOKEN}",
                  f"https://t.me.evil/ticketq_bot?start=t_{TOKEN}",
                  f"https://t.me/ticketq_bot?start=i_{TOKEN}",
                  f"https://t.me/ticketq_bot?start=t_{TOKEN}&x=1"):
        assert ticket_payload([other], "ticketq_bot") is None, other
    assert ticket_payload([ours], "") is None


def test_a_qr_is_read_from_a_rotated_jpeg_and_junk_reads_as_nothing() -> None:
    png = io.BytesIO()
    segno.make_qr(f"https://t.me/ticketq_bot?start=t_{TOKEN}").save(png, kind="png", scale=6)
    image = PIL.Image.open(io.BytesIO(png.getvalue())).convert("RGB").rotate(90, expand=True)
    jpeg = io.BytesIO()
    image.save(jpeg, format="JPEG", quality=50)
    assert read_qr_texts(jpeg.getvalue()) == [f"https://t.me/ticketq_bot?start=t_{TOKEN}"]
    assert read_qr_texts(b"not an image") == []


@pytest.mark.parametrize(("verdict", "headline"), [
    (Verdict.VALID, "VALID"), (Verdict.ALREADY_USED, "ALREADY USED"),
    (Verdict.REVOKED, "REVOKED"), (Verdict.CANCELLED, "EVENT CANCELLED"),
    (Verdict.WRONG_EVENT, "WRONG EVENT"), (Verdict.NOT_A_TICKET, "NOT A TICKET"),
])
def test_every_verdict_has_a_big_headline(verdict: Verdict, headline: str) -> None:
    result = ScanResult(verdict, event_title="<Gala>", ticket_type="GA", holder_first_name="Bea",
                        first_scan_at=datetime(2030, 12, 12, 20, 5, tzinfo=UTC),
                        first_scan_staff="Sam", checked_in=37, sold=120)
    text = verdict_text(result)
    assert headline in plain(text).split("\n", 1)[0]
    if verdict is Verdict.VALID:
        assert "checked in 37 / 120" in text and "&lt;Gala&gt;" in text
    if verdict is Verdict.ALREADY_USED:
        assert "20:05" in text and "Sam" in text
