"""Thin python-telegram-bot handlers: parse the update, call one service, render the result.

:func:`register` installs the whole handler graph on an Application built with
``ContextTypes(context=TicketQContext)`` whose ``bot_data["services"]`` holds the
:class:`~handlers.context.Services`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    PreCheckoutQueryHandler,
    TypeHandler,
    filters,
)

from handlers import (
    admin,
    browse,
    console,
    door,
    fairness,
    fallback,
    groups,
    i18n,
    language,
    my_tickets,
    purchase,
    returns,
    router,
    start,
    texts,
)
from handlers import help as help_
from handlers.common import guarded
from handlers.errors import on_error
from handlers.wizard import chat as wizard

# The command menu (setMyCommands); organizer commands are left out of the menu. Each
# description is the text ``command.<name>`` in the menu's language.
MENU_COMMANDS: tuple[str, ...] = ("events", "mytickets", "return", "help", "language",
                                   "start")


@dataclass(frozen=True, slots=True)
class BotProfile:
    """What Telegram shows of the bot to users of one language."""

    commands: list[tuple[str, str]]
    description: str
    short_description: str


def bot_profiles() -> dict[str, BotProfile]:
    """The command menu and descriptions in every supported language (plain text)."""
    profiles = {}
    for code in i18n.supported():
        with i18n.use(code):
            profiles[code] = BotProfile(
                commands=[(c, texts.plain(texts.t(f"command.{c}"))) for c in MENU_COMMANDS],
                description=texts.plain(texts.t("bot.description")),
                short_description=texts.plain(texts.t("bot.short_description")))
    return profiles


# English menu, for callers that want the plain list.
BOT_COMMANDS: list[tuple[str, str]] = bot_profiles()[i18n.DEFAULT].commands

# A message that is neither text nor a payment nor a service message (members joining, a
# pinned message ...): a photo, a file, a sticker, a voice message, a location, a contact ...
_OTHER_KINDS = (filters.UpdateType.MESSAGE & ~filters.TEXT & ~filters.SUCCESSFUL_PAYMENT
                & ~filters.StatusUpdate.ALL)

# Payments first: they must never be shadowed by another handler.
PAYMENT_GROUP = -1
MAIN_GROUP = 0


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add every TicketQ handler and the error handler to ``application``."""
    # First of all, for every update: the reader's language (handlers.language).
    application.add_handler(TypeHandler(Update, language.on_any_update), group=language.GROUP)
    application.add_handlers([
        PreCheckoutQueryHandler(purchase.on_pre_checkout),
        MessageHandler(filters.SUCCESSFUL_PAYMENT, guarded(purchase.on_successful_payment)),
    ], group=PAYMENT_GROUP)
    # The event wizard takes text only from someone with an open draft, then stops further
    # handling; in the payments' group (after them) it runs before the stray-text fallback.
    application.add_handler(MessageHandler(
        filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND, wizard.on_text),
        group=PAYMENT_GROUP)
    # Any other kind of message during the wizard: the question again (never a dead end).
    application.add_handler(MessageHandler(_OTHER_KINDS, guarded(wizard.on_other)),
                            group=PAYMENT_GROUP)
    application.add_handlers([
        CommandHandler("start", guarded(start.cmd_start)),
        CommandHandler("events", guarded(browse.cmd_events)),
        CommandHandler("mytickets", guarded(my_tickets.cmd_my_tickets)),
        CommandHandler("return", guarded(returns.cmd_return)),
        CommandHandler("group", guarded(groups.cmd_group)),
        CommandHandler("help", guarded(help_.cmd_help)),
        CommandHandler("language", guarded(language.cmd_language)),
        CommandHandler("import", guarded(admin.cmd_import)),
        CommandHandler("newevent", guarded(wizard.cmd_new_event)),
        CommandHandler("editevent", guarded(wizard.cmd_edit_event)),
        CommandHandler("cancel", guarded(wizard.cmd_cancel)),
        CommandHandler("back", guarded(wizard.cmd_back)),
        CommandHandler("skip", guarded(wizard.cmd_skip)),
        CommandHandler("publish", guarded(wizard.cmd_publish)),
        CommandHandler("unpublish", guarded(wizard.cmd_unpublish)),
        # Organizer console and door staff (each refuses everyone without the role).
        CommandHandler("stats", guarded(console.cmd_stats)),
        CommandHandler("fairness", guarded(fairness.cmd_fairness)),
        CommandHandler("audit", guarded(fairness.cmd_audit)),
        MessageHandler(filters.CONTACT, guarded(fairness.on_contact)),
        CommandHandler(["myevents", "events_admin"], guarded(console.cmd_my_events)),
        CommandHandler("export", guarded(console.cmd_export)),
        CommandHandler("cancel_event", guarded(console.cmd_cancel_event)),
        CommandHandler("refund_ticket", guarded(console.cmd_refund_ticket)),
        CommandHandler("refund_order", guarded(console.cmd_refund_order)),
        CommandHandler("staff_invite", guarded(console.cmd_staff_invite)),
        CommandHandler("staff", guarded(console.cmd_staff)),
        CommandHandler("invite_organizer", guarded(console.cmd_invite_organizer)),
        CommandHandler("organizers", guarded(console.cmd_organizers)),
        CommandHandler("checkin", guarded(door.cmd_checkin)),
        CommandHandler("door", guarded(door.cmd_door)),
        # Photos are ticket QR codes from door staff (documents stay the admin's import).
        MessageHandler(filters.PHOTO, guarded(door.on_photo)),
        CallbackQueryHandler(router.on_callback),
        MessageHandler(filters.Document.ALL, guarded(admin.on_document)),
        MessageHandler(filters.COMMAND, guarded(fallback.on_unknown_command)),
        MessageHandler(filters.TEXT & ~filters.COMMAND, guarded(fallback.on_stray_text)),
        # Stickers, voice, locations, videos, polls, dice ...: a short help, never silence.
        MessageHandler(_OTHER_KINDS & filters.ChatType.PRIVATE,
                       guarded(fallback.on_unsupported)),
    ], group=MAIN_GROUP)
    application.add_error_handler(on_error)
