"""Whatever no other handler took: unknown commands, stray text, and kinds of message the bot
has no use for (stickers, voice, locations, videos, polls, dice ...)."""

from __future__ import annotations

from telegram import Update

from handlers.common import reply
from handlers.context import TicketQContext
from handlers.texts import t


async def on_unknown_command(update: Update, context: TicketQContext) -> None:
    """An unknown ``/command``."""
    await reply(update, context, t("fallback.unknown_command"))


async def on_stray_text(update: Update, context: TicketQContext) -> None:
    """Text the bot does not expect (it works with buttons and commands)."""
    await reply(update, context, t("fallback.text"))


async def on_unsupported(update: Update, context: TicketQContext) -> None:
    """A kind of message nothing else handles: a short pointer to what works."""
    await reply(update, context, t("fallback.unsupported"))
