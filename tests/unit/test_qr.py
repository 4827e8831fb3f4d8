"""Ticket QR codes decode back to the ticket's deep link."""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image

from core.tickets.model import new_token, token_from_payload
from handlers.qr import ticket_link, ticket_qr_png


def test_qr_png_decodes_to_the_deep_link() -> None:
    token = new_token()
    png = ticket_qr_png("TicketQBot", token)
    assert png.startswith(b"\x89PNG")
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert [r.text for r in results] == [f"https://t.me/TicketQBot?start=t_{token}"]
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode


def test_deep_link_payload_is_a_valid_start_parameter_carrying_the_token() -> None:
    token = new_token()
    link = ticket_link("@TicketQBot", token)
    payload = link.split("?start=", 1)[1]
    assert link.startswith("https://t.me/TicketQBot?start=")
    assert len(payload) <= 64
    assert token_from_payload(payload) == token


def test_qr_survives_a_poor_jpeg_shrunk_to_half_size() -> None:
    token = new_token()
    image = Image.open(io.BytesIO(ticket_qr_png("TicketQBot", token))).convert("L")
    image = image.resize((image.width // 2, image.height // 2))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=30)
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(buffer.getvalue())))
    assert [r.text for r in results] == [ticket_link("TicketQBot", token)]
