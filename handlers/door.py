"""Door check-in: a staff member's phone camera opens the ticket's deep link, or they send a
photo of the QR code (or a screenshot of it as a file), or type ``/checkin <short code>``;
``/door`` shows the running counts.

The verdict comes from :class:`core.services.checkin.CheckinService` (an append-only log) and
is shown large and unmistakable. Every scan carries a nonce made of the chat and message ids,
so an update Telegram delivers twice is the same scan, not a second one.
"""

from __future__ import annotations

import asyncio
import logging
import re
from io import BytesIO

import PIL.Image
import zxingcpp
from telegram import Document, Message, Update
from telegram.error import TelegramError

from core.door.model import ScanResult, Verdict
from core.kernel.errors import DomainError
from handlers.common import reply, user_id
from handlers.context import TicketQContext
from handlers.texts import t

log = logging.getLogger(__name__)

MAX_PHOTO_BYTES = 10 * 1024 * 1024
# Decompression-bomb guard: phone photos are 12-50 megapixels.
MAX_PHOTO_PIXELS = 80_000_000
DOOR_EVENTS_MAX = 10
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic")
_QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)

# Only our own bot's ticket links count: https://t.me/<bot>?start=t_<token>.
_TICKET_LINK = re.compile(r"https://t\.me/([A-Za-z0-9_]{1,64})\?start=(t_[A-Za-z0-9_-]{1,62})")


def nonce(message: Message) -> str:
    """The scan's idempotency key: the same message is the same scan."""
    return f"{message.chat.id}:{message.message_id}"


def verdict_text(result: ScanResult) -> str:
    """The big verdict message for the door."""
    params = {
        "event": result.event_title, "ticket_type": result.ticket_type,
        "holder": result.holder_first_name, "checked_in": result.checked_in,
        "sold": result.sold, "when": result.first_scan_at, "staff": result.first_scan_staff,
    }
    if result.verdict is Verdict.REVOKED and result.revoked_reason is not None:
        # Why it is no longer valid: given away (a new QR replaced it) or refunded.
        return t(f"door.revoked.{result.revoked_reason}", **params)
    return t(f"door.{result.verdict.value}", **params)


def ticket_payload(texts: list[str], bot_username: str) -> str | None:
    """The ``t_<token>`` payload of the first QR text that is our bot's ticket link."""
    for text in texts:
        match = _TICKET_LINK.fullmatch(text.strip())
        if match and bot_username and match.group(1).lower() == bot_username.lower():
            return match.group(2)
    return None


class PhotoTooLarge(ValueError):
    """The image has too many pixels to decode safely."""


def read_qr_texts(data: bytes) -> list[str]:
    """Texts of the QR codes zxing-cpp finds in an image (rotated, JPEG'd, photographed).

    Raises:
        PhotoTooLarge: the image has more than :data:`MAX_PHOTO_PIXELS` pixels.
    """
    try:
        with PIL.Image.open(BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_PHOTO_PIXELS:
                raise PhotoTooLarge(f"{width}x{height}")
            image.load()
            found = zxingcpp.read_barcodes(image, formats=_QR_ONLY)
    except PhotoTooLarge:
        raise
    except (OSError, ValueError, PIL.Image.DecompressionBombError) as exc:
        log.info("unreadable photo: %s", exc)
        return []
    return [barcode.text for barcode in found if barcode.valid]


async def scan_start_link(update: Update, context: TicketQContext, payload: str) -> bool:
    """``/start t_<token>`` from door staff: check the ticket in and show the verdict.

    Returns:
        False if the user is not door staff (the caller shows the ticket or the hint).
    """
    uid, message = user_id(update), update.effective_message
    if uid is None or message is None:
        return False
    checkin = context.services.checkin
    events = await checkin.staff_events(uid)
    if not events:
        return False
    result = await checkin.scan_link(staff_id=uid, payload=payload, nonce=nonce(message),
                                     staff_events=events)
    await reply(update, context, verdict_text(result))
    return True


async def cmd_checkin(update: Update, context: TicketQContext) -> None:
    """``/checkin <short code>``: the code under the QR, typed by hand (``K7QH-3MZP``)."""
    uid, message = user_id(update), update.effective_message
    if uid is None or message is None:
        return
    checkin = context.services.checkin
    events = await checkin.staff_events(uid)
    if not events:
        await reply(update, context, t("door.not_staff"))
        return
    typed = "".join(context.args or [])
    if not typed:
        await reply(update, context, t("door.usage"))
        return
    result = await checkin.scan_code(staff_id=uid, typed=typed, nonce=nonce(message),
                                     staff_events=events)
    await reply(update, context, verdict_text(result))


async def on_photo(update: Update, context: TicketQContext) -> None:
    """A photo: from door staff, decode the ticket QR in it and check the ticket in."""
    uid, message = user_id(update), update.effective_message
    if uid is None or message is None or not message.photo:
        return
    services = context.services
    events = await services.checkin.staff_events(uid)
    if not events:
        await reply(update, context, t("door.photo_not_staff"))
        return
    largest = max(message.photo, key=lambda size: (size.width * size.height,
                                                   size.file_size or 0))
    await check_image(update, context, uid, events, file_id=largest.file_id,
                      file_unique_id=largest.file_unique_id, file_size=largest.file_size)


def is_image_document(document: Document) -> bool:
    """A file that is a picture (a ticket screenshot sent "as a file" rather than a photo)."""
    mime = (document.mime_type or "").lower()
    name = (document.file_name or "").lower()
    return mime.startswith("image/") or name.endswith(_IMAGE_SUFFIXES)


async def check_image(update: Update, context: TicketQContext, uid: int,
                      events: frozenset[int], *, file_id: str, file_unique_id: str,
                      file_size: int | None) -> None:
    """Download a picture door staff sent (a photo, or an image file), read the ticket QR in
    it and check the ticket in; every outcome gets a reply."""
    message = update.effective_message
    if message is None:
        return
    services = context.services
    if file_size is not None and file_size > MAX_PHOTO_BYTES:
        await _too_large(update, context, file_size)
        return
    try:
        telegram_file = await context.bot.get_file(file_id)
        data = bytes(await telegram_file.download_as_bytearray())
    except TelegramError as exc:
        log.warning("could not download photo %s: %s", file_unique_id, exc)
        await reply(update, context, t("door.photo_failed"))
        return
    if len(data) > MAX_PHOTO_BYTES:
        await _too_large(update, context, len(data))
        return
    try:
        texts = await asyncio.to_thread(read_qr_texts, data)
    except PhotoTooLarge:
        await _too_large(update, context, len(data))
        return
    if not texts:
        await reply(update, context, t("door.no_qr"))
        return
    username = services.bot_username or context.bot.username
    payload = ticket_payload(texts, username) or ""  # anything else is NOT A TICKET
    result = await services.checkin.scan_link(staff_id=uid, payload=payload,
                                              nonce=nonce(message), staff_events=events)
    await reply(update, context, verdict_text(result))


async def _too_large(update: Update, context: TicketQContext, size: int) -> None:
    await reply(update, context,
                t("door.photo_too_large", size_mb=f"{size / (1024 * 1024):.1f}"))


async def cmd_door(update: Update, context: TicketQContext) -> None:
    """``/door``: checked in / sold for each event the staff member works at."""
    uid = user_id(update)
    if uid is None:
        return
    services = context.services
    event_ids = await services.access.staff_event_ids(uid)
    if not event_ids:
        await reply(update, context, t("door.not_staff"))
        return
    lines = [t("door.title")]
    for event_id in sorted(event_ids, reverse=True)[:DOOR_EVENTS_MAX]:
        try:
            event = (await services.catalog.event_card(event_id, uid)).event
            checked_in, sold = await services.checkin.progress(staff_id=uid, event_id=event_id)
        except DomainError:  # a draft, or the duty was just revoked
            continue
        lines.append(t("door.event", event=event.title, event_id=event.id,
                       when=event.local_start(), checked_in=checked_in, sold=sold))
    lines.append(t("door.hint"))
    await reply(update, context, "\n".join(lines))

