"""The reader's language: set for every update before any handler runs, and ``/language``.

:func:`on_any_update` runs first for every update (its own handler group): it asks
``LanguageService.for_reader`` (the stored language, or at first contact the user's Telegram
``language_code``, then stored) and puts it in :data:`handlers.i18n.current`, so every text
rendered while handling the update (replies, edits, alerts, invoices, pre-checkout errors)
is in that reader's language.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from handlers import callbacks as cb
from handlers import i18n, keyboards
from handlers.common import reply, show, user_id
from handlers.context import TicketQContext
from handlers.texts import t

log = logging.getLogger(__name__)

# Runs before the payments' group (-1) and everything else.
GROUP = -100


async def on_any_update(update: Update, context: TicketQContext) -> None:
    """Set the language of whoever sent ``update`` for the handlers that follow."""
    user = update.effective_user
    if user is None or user.is_bot:
        i18n.current.set(i18n.DEFAULT)
        return
    languages = context.services.languages
    if languages is None:
        i18n.current.set(i18n.negotiate(user.language_code))
        return
    try:
        language = await languages.for_reader(user.id, user.first_name, user.language_code)
    except Exception:
        log.warning("could not look up the language of user %s", user.id, exc_info=True)
        language = i18n.negotiate(user.language_code)
    i18n.current.set(language)


def language_markup() -> InlineKeyboardMarkup:
    """One button per language, in its own name; the reader's current one ticked."""
    current = i18n.current.get()
    buttons = [InlineKeyboardButton(
        t("language.button_current" if code == current else "language.button",
          name=i18n.NATIVE_NAMES.get(code, code)),
        callback_data=cb.encode(cb.ChooseLanguage(index)))
        for index, code in enumerate(i18n.supported())]
    return keyboards.markup(keyboards.chunked(buttons, per_row=2))


async def cmd_language(update: Update, context: TicketQContext) -> None:
    """``/language``: the languages to choose from."""
    await reply(update, context, t("language.prompt"), language_markup())


@cb.handles(cb.ChooseLanguage)
async def on_choose_language(update: Update, context: TicketQContext,
                             action: cb.ChooseLanguage) -> None:
    """A language button: store it and confirm in the new language."""
    uid = user_id(update)
    codes = i18n.supported()
    if uid is None or action.index >= len(codes) or context.services.languages is None:
        return
    user = update.effective_user
    first_name = user.first_name if user is not None else ""
    language = await context.services.languages.choose(uid, first_name, codes[action.index])
    i18n.current.set(language)
    await show(update, context, t("language.changed"), language_markup())
