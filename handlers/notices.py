"""How the outbox's notices look in the chat: the texts, buttons and QR codes that
``bot.messenger`` sends (the composition root hands it :data:`LOOK`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from telegram import InlineKeyboardMarkup

from core.tickets.service import TicketView
from handlers import i18n
from handlers.common import INVOICE_DESCRIPTION_MAX, INVOICE_TITLE_MAX, cut
from handlers.keyboards import screen_markup
from handlers.qr import ticket_qr_png
from handlers.texts import plain, render_outbox_message, ticket_caption


class NoticeLook:
    """Texts (by key), screen buttons (by name) and ticket photos of outbox notices."""

    def text(self, key: str, params: Mapping[str, Any], language: str = i18n.DEFAULT) -> str:
        """HTML text of message ``key`` in ``language`` (the recipient's); KeyError for a
        key without a text."""
        with i18n.use(language):
            return render_outbox_message(key, params)

    def buttons(self, name: str | None,
                language: str = i18n.DEFAULT) -> InlineKeyboardMarkup | None:
        """The named set of buttons of an edited screen (None: no buttons)."""
        with i18n.use(language):
            return screen_markup(name)

    def ticket_photo(self, bot_username: str, token: str) -> bytes:
        """PNG of a ticket's QR code (its deep link)."""
        return ticket_qr_png(bot_username, token)

    def invoice_parts(self, item: Mapping[str, Any],
                      language: str = i18n.DEFAULT) -> tuple[str, str, str]:
        """Title, description and price label of an INVOICE item (a waiting-list offer) in
        ``language``, plain and cut to Telegram's limits, as ``handlers.common.send_invoice``
        does."""
        with i18n.use(language):
            title, description, label = (
                plain(render_outbox_message(item[part]["key"], item[part]["params"]))
                for part in ("title", "description", "label"))
        return (cut(title, INVOICE_TITLE_MAX), cut(description, INVOICE_DESCRIPTION_MAX),
                label)

    def ticket_caption(self, view: TicketView, language: str = i18n.DEFAULT) -> str:
        """Caption under a ticket's QR code, in ``language``."""
        with i18n.use(language):
            return ticket_caption(view)


LOOK = NoticeLook()
