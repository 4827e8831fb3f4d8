"""Admin commands: ``/import`` (send a YAML/JSON event file). ``/stats`` lives in
:mod:`handlers.console` with the rest of the organizer console."""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.error import TelegramError

from core.catalog.model import EventStatus
from core.catalog.spec import UnreadableEventFile, decode_event_file
from core.kernel.errors import DomainError, ErrorCode
from handlers import door
from handlers.browse import send_event_card
from handlers.common import reply, user_id
from handlers.context import TicketQContext
from handlers.texts import Html, error_text, spec_issues_text, t

log = logging.getLogger(__name__)

MAX_IMPORT_BYTES = 256 * 1024


def unreadable_reason(exc: UnreadableEventFile) -> str:
    """Why an event file could not be read, in the chat's words."""
    if exc.code == "not_utf8":
        return "the file is not UTF-8 text"
    if exc.code == "too_deep":
        return "the document is nested too deeply"
    problem = exc.problem or f"invalid {exc.syntax}"
    where = f"line {exc.line}, column {exc.column}: " if exc.line is not None else ""
    return f"{where}{problem}"


async def cmd_import(update: Update, context: TicketQContext) -> None:
    """``/import``: explain how to send an event file (organizers only)."""
    uid = user_id(update)
    if uid is None or not await context.services.access.is_organizer(uid):
        await reply(update, context, error_text(DomainError(ErrorCode.NOT_ALLOWED)))
        return
    await reply(update, context, t("import.hint", max_kb=MAX_IMPORT_BYTES // 1024))


async def on_document(update: Update, context: TicketQContext) -> None:
    """A document: organizers import it as an event; a picture from door staff is read as a
    ticket QR (a screenshot sent as a file); others get a hint or a polite refusal.

    Raises:
        DomainError: ``not_allowed`` or ``invalid_event_spec`` (rendered by the caller).
    """
    message = update.effective_message
    uid = user_id(update)
    if message is None or message.document is None or uid is None:
        return
    services = context.services
    document = message.document
    if door.is_image_document(document):
        # A ticket screenshot sent as a file: door staff get it read like a photo.
        events = await services.checkin.staff_events(uid)
        if events:
            await door.check_image(update, context, uid, events, file_id=document.file_id,
                                   file_unique_id=document.file_unique_id,
                                   file_size=document.file_size)
        elif await services.access.is_organizer(uid):
            await reply(update, context, t("import.image"))
        else:
            await reply(update, context, t("door.photo_not_staff"))
        return
    if not await services.access.is_organizer(uid):
        staff = await services.checkin.staff_events(uid)
        await reply(update, context, t("door.document_hint" if staff else "import.not_admin"))
        return
    if document.file_size is not None and document.file_size > MAX_IMPORT_BYTES:
        await reply(update, context, t("import.too_large", size_kb=-(-document.file_size // 1024),
                                       max_kb=MAX_IMPORT_BYTES // 1024))
        return
    try:
        telegram_file = await context.bot.get_file(document.file_id)
        data = bytes(await telegram_file.download_as_bytearray())
    except TelegramError as exc:
        log.warning("could not download document %s: %s", document.file_unique_id, exc)
        await reply(update, context, t("import.failed_download"))
        return
    if len(data) > MAX_IMPORT_BYTES:
        await reply(update, context, t("import.too_large", size_kb=-(-len(data) // 1024),
                                       max_kb=MAX_IMPORT_BYTES // 1024))
        return
    try:
        raw = await asyncio.to_thread(decode_event_file, data, document.file_name or "")
    except UnreadableEventFile as exc:
        await reply(update, context, t("import.unreadable", reason=unreadable_reason(exc)))
        return
    try:
        event = await services.admin.import_event(raw, actor_id=uid)
    except DomainError as err:
        if err.code is not ErrorCode.INVALID_EVENT_SPEC:
            raise
        issues = spec_issues_text(err.params.get("issues") or [])
        await reply(update, context, t("import.issues", issues=Html(issues)))
        return
    username = services.bot_username or context.bot.username
    await reply(update, context, t("import.created", event_id=event.id, title=event.title,
                                   status=event.status.value,
                                   link=f"https://t.me/{username}?start=ev_{event.id}"))
    if event.status is EventStatus.PUBLISHED:
        await send_event_card(update, context, event.id)

