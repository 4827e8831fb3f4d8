"""Plain data objects shared by the sandbox modules."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class SandboxMessage:
    """A bot -> user message as the virtual user currently sees it (edits applied in place).

    Attributes:
        message_id: Per-chat message id.
        chat_id: The private chat (== user id).
        text: Plain text after entity parsing, or the caption for photo/document messages.
        html: Raw text/caption exactly as sent by the bot.
        parse_mode: parse_mode as sent (``"HTML"``, ``"MarkdownV2"``...) or None.
        reply_markup: The reply markup dict or None.
        photo: Bytes of the largest photo size, if a photo message.
        document: Bytes of the document, if a document message.
        document_name: File name of the document.
        invoice: Invoice details (title, description, payload, currency, prices,
            total_amount, provider_token, start_parameter, ...) for invoice messages.
        edits: How many times the bot edited this message.
        date: Unix time the message was sent.
        entities: Entities computed from the formatted text.
        deleted: True once the bot deleted the message.
    """

    message_id: int
    chat_id: int
    text: str | None = None
    html: str | None = None
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    photo: bytes | None = None
    document: bytes | None = None
    document_name: str | None = None
    invoice: dict[str, Any] | None = None
    edits: int = 0
    date: int = field(default_factory=lambda: int(time.time()))
    entities: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    edit_date: int | None = None
    photo_sizes: list[dict[str, Any]] | None = None
    document_json: dict[str, Any] | None = None

    @property
    def buttons(self) -> list[list[tuple[str, str | None]]]:
        """Inline keyboard as rows of ``(text, callback_data, url or Mini App url)``."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [
            [(b.get("text", ""), b.get("callback_data", b.get("url", (b.get("web_app") or {})
                                                                 .get("url")))) for b in row]
            for row in rows
        ]

    def button_texts(self) -> list[str]:
        """All inline button texts, flattened in reading order."""
        return [text for row in self.buttons for text, _ in row]

    def find_button(self, text: str | None = None, data: str | None = None) -> dict[str, Any]:
        """Find an inline button by visible text (exact first, then substring) or callback_data.

        Raises:
            LookupError: No such button.
        """
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        flat: list[dict[str, Any]] = [b for row in rows for b in row]
        if data is not None:
            for b in flat:
                if b.get("callback_data") == data:
                    return b
        elif text is not None:
            for b in flat:
                if b.get("text") == text:
                    return b
            for b in flat:
                if text in b.get("text", ""):
                    return b
        raise LookupError(
            f"no button text={text!r} data={data!r} in message {self.message_id}; "
            f"buttons: {self.buttons}"
        )

    def __str__(self) -> str:
        kind = (
            "invoice"
            if self.invoice
            else "photo"
            if self.photo
            else ("document" if self.document is not None else "text")
        )
        extra = f" buttons={self.button_texts()}" if self.reply_markup else ""
        return f"#{self.message_id} [{kind}, edits={self.edits}] {self.text!r}{extra}"


@dataclass(frozen=True)
class CallbackAnswer:
    """What the bot answered to a callback query (answerCallbackQuery)."""

    text: str | None
    show_alert: bool = False
    url: str | None = None


@dataclass
class PaymentOutcome:
    """Result of :meth:`VirtualUser.pay`.

    Attributes:
        ok: True if the bot accepted the pre-checkout query and the charge was made.
        charge_id: Stripe charge id (also ``provider_payment_charge_id``).
        telegram_charge_id: ``telegram_payment_charge_id`` of the successful_payment.
        amount: Charged amount in minor units.
        currency: Upper-case currency as in the invoice.
        error_message: The bot's error_message when refused, or ``"timeout"``.
        invoice_payload: The invoice payload.
        delivered: True once the successful_payment update was emitted.
    """

    ok: bool
    charge_id: str | None = None
    telegram_charge_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    error_message: str | None = None
    invoice_payload: str | None = None
    delivered: bool = False
    chat_id: int | None = None


@dataclass(frozen=True)
class BotError:
    """A 4xx answer given to the bot (bad API usage)."""

    method: str
    status: int
    description: str
    params: dict[str, Any] = field(default_factory=dict)


class ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


class ChatUser(Protocol):
    """What the emulated Bot API needs of a person in a private chat (a ``VirtualUser``)."""

    user_id: int
    blocked: bool

    @property
    def chat_json(self) -> dict[str, Any]:
        """The private ``Chat`` object."""

    def on_bot_message(self, msg: SandboxMessage, edited: bool) -> None:
        """The bot sent (or edited) ``msg`` in this chat."""
