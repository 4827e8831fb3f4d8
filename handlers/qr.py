"""Ticket QR codes: a ``t.me`` deep link any phone camera opens, rendered as PNG."""

from __future__ import annotations

import io

import segno

from core.tickets.model import deep_link_payload

QR_SCALE = 8
QR_BORDER = 4


def ticket_link(bot_username: str, token: str) -> str:
    """The deep link a ticket's QR code holds: ``https://t.me/<bot>?start=t_<token>``."""
    return f"https://t.me/{bot_username.lstrip('@')}?start={deep_link_payload(token)}"


def ticket_qr_png(bot_username: str, token: str) -> bytes:
    """PNG image of the QR code for a ticket's deep link (error correction level M).

    Always a full QR code (``segno.make_qr``), never a Micro QR that phone cameras ignore.
    """
    qr = segno.make_qr(ticket_link(bot_username, token), error="m")
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=QR_SCALE, border=QR_BORDER)
    return buffer.getvalue()
