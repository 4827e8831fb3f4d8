"""``/help``."""

from __future__ import annotations

from telegram import Update

from handlers.common import reply, user_id
from handlers.context import TicketQContext
from handlers.texts import t


async def cmd_help(update: Update, context: TicketQContext) -> None:
    """How buying works; organizers also see their commands."""
    text = t("help") + t("help.language")
    uid = user_id(update)
    if uid is not None and await context.services.access.is_organizer(uid):
        text += t("help.admin")
    await reply(update, context, text)
