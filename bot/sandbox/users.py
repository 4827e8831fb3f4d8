"""Virtual Telegram users that talk to the bot under test through the sandbox."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.sandbox.formatting import utf16_len
from bot.sandbox.models import ApiError, CallbackAnswer, PaymentOutcome, SandboxMessage

if TYPE_CHECKING:
    from bot.sandbox.telegram import TelegramBotApi


class VirtualUser:
    """A Telegram user in a private chat with the bot (chat_id == user_id).

    "Next message" semantics of :meth:`wait_for_message`: it returns the first bot message
    event (a new message or an edit) that matches and happened after the later of the
    previously matched event and the start of the user's last action (send/tap/pay...),
    unless ``since`` (from :meth:`mark`) is given.
    """

    def __init__(
        self,
        api: TelegramBotApi,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> None:
        self._api = api
        self.user_id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.blocked = False
        self._bot_messages: list[SandboxMessage] = []
        self._events: list[tuple[SandboxMessage, str, bool]] = []
        self._cursor = 0
        self._event = asyncio.Event()
        self.payments: list[PaymentOutcome] = []

    # ------------------------------------------------------------------ JSON views
    @property
    def user_json(self) -> dict[str, Any]:
        """The ``User`` object Telegram puts in ``from``."""
        out: dict[str, Any] = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            out["last_name"] = self.last_name
        if self.username:
            out["username"] = self.username
        if self.language_code:
            out["language_code"] = self.language_code
        return out

    @property
    def chat_json(self) -> dict[str, Any]:
        """The private ``Chat`` object."""
        out: dict[str, Any] = {
            "id": self.user_id,
            "type": "private",
            "first_name": self.first_name,
        }
        if self.last_name:
            out["last_name"] = self.last_name
        if self.username:
            out["username"] = self.username
        return out

    # ------------------------------------------------------------------ inbox
    @property
    def messages(self) -> list[SandboxMessage]:
        """Bot messages in this chat, in order, current state (deleted ones excluded)."""
        return [m for m in self._bot_messages if not m.deleted]

    @property
    def last_message(self) -> SandboxMessage | None:
        """The most recent bot message still in the chat, if any."""
        msgs = self.messages
        return msgs[-1] if msgs else None

    def mark(self) -> int:
        """A position in this user's event stream, for :meth:`inbox_since`/``since=``."""
        return len(self._events)

    def inbox_since(self, mark: int) -> list[SandboxMessage]:
        """Distinct messages sent or edited after ``mark`` (current state, first-seen order)."""
        seen: dict[int, SandboxMessage] = {}
        for msg, _, _ in self._events[mark:]:
            seen.setdefault(msg.message_id, msg)
        return list(seen.values())

    def on_bot_message(self, msg: SandboxMessage, edited: bool) -> None:
        """Called by the API when the bot sends or edits a message in this chat."""
        if not edited:
            self._bot_messages.append(msg)
        self._events.append((msg, msg.text or "", edited))
        event = self._event
        self._event = asyncio.Event()
        event.set()

    def dump(self, last: int = 20) -> str:
        """Human-readable dump of the end of the chat, for assertion messages."""
        lines = [str(m) for m in self.messages[-last:]]
        return f"chat with user {self.user_id}:\n  " + ("\n  ".join(lines) or "(no messages)")

    async def wait_for_message(
        self,
        contains: str | None = None,
        timeout: float = 5.0,
        *,
        since: int | None = None,
        predicate: Callable[[SandboxMessage], bool] | None = None,
        edited: bool | None = None,
    ) -> SandboxMessage:
        """Wait for the next bot message (sent or edited) matching the filters.

        Args:
            contains: Substring the message text (or caption / invoice title) must contain.
            timeout: Seconds to wait.
            since: Only consider events after this :meth:`mark`.
            predicate: Extra filter on the message.
            edited: True = only edits, False = only new messages, None = both.

        Returns:
            The (live) matching message.

        Raises:
            TimeoutError: Nothing matched in time; the message includes a dump of the chat.
        """
        start = self._cursor if since is None else since
        deadline = time.monotonic() + timeout
        while True:
            for index in range(start, len(self._events)):
                msg, text, was_edit = self._events[index]
                if contains is not None and contains not in text:
                    continue
                if edited is not None and was_edit != edited:
                    continue
                if predicate is not None and not predicate(msg):
                    continue
                self._cursor = index + 1
                return msg
            start = len(self._events)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"no bot message containing {contains!r} within {timeout}s; " + self.dump()
                )
            event = self._event
            try:
                async with asyncio.timeout(remaining):
                    await event.wait()
            except TimeoutError:
                pass

    # ------------------------------------------------------------------ actions
    def _begin_action(self) -> None:
        self._cursor = max(self._cursor, len(self._events))

    def _emit_message(self, fields: dict[str, Any]) -> dict[str, Any]:
        api = self._api
        message = {
            "message_id": api.next_message_id(self.user_id),
            "from": self.user_json,
            "chat": self.chat_json,
            "date": int(time.time()),
            **fields,
        }
        api.user_messages[(self.user_id, message["message_id"])] = message
        api.emit_update("message", message)
        return message

    async def send(self, text: str) -> dict[str, Any]:
        """Send a text message; a leading ``/command`` gets a ``bot_command`` entity.

        Returns:
            The Message JSON delivered to the bot.
        """
        self._begin_action()
        fields: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            fields["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
            ]
        return self._emit_message(fields)

    async def send_document(
        self,
        data: bytes,
        filename: str = "file.bin",
        mime_type: str | None = None,
        caption: str | None = None,
    ) -> dict[str, Any]:
        """Upload a document to the bot (downloadable by the bot via getFile)."""
        self._begin_action()
        try:
            stored = self._api.store_file(
                data, "document", file_name=filename, mime_type=mime_type
            )
        except ApiError as exc:
            raise ValueError(exc.description) from None
        fields: dict[str, Any] = {"document": self._api.document_json(stored)}
        if caption:
            fields["caption"] = caption
        return self._emit_message(fields)

    async def send_photo(self, data: bytes, caption: str | None = None) -> dict[str, Any]:
        """Send a JPEG/PNG photo to the bot.

        Raises:
            ValueError: The bytes are not an image Pillow can read.
        """
        self._begin_action()
        try:
            stored = self._api.store_file(data, "photo")
        except ApiError as exc:
            raise ValueError(exc.description) from None
        fields: dict[str, Any] = {"photo": self._api.photo_sizes(stored)}
        if caption:
            fields["caption"] = caption
        return self._emit_message(fields)

    async def send_contact(
        self,
        phone_number: str,
        user_id: int | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> dict[str, Any]:
        """Share a contact (by default the user's own, as the "share phone" button does)."""
        self._begin_action()
        contact: dict[str, Any] = {
            "phone_number": phone_number,
            "first_name": first_name or self.first_name,
            "user_id": self.user_id if user_id is None else user_id,
        }
        if last_name or (first_name is None and self.last_name):
            contact["last_name"] = last_name or self.last_name
        return self._emit_message({"contact": contact})

    async def send_other(self, kind: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a message of another kind: ``sticker``, ``voice``, ``location``, ``video``,
        ``animation``, ``dice``, ``poll``, ``venue``, ``audio`` or ``video_note``, with
        plausible fields for that kind (``fields`` override them).

        Raises:
            ValueError: an unknown kind.
        """
        unique = secrets.token_hex(6)
        media = {"file_id": f"{kind}-{unique}", "file_unique_id": unique}
        samples: dict[str, dict[str, Any]] = {
            "sticker": {**media, "type": "regular", "width": 512, "height": 512,
                        "is_animated": False, "is_video": False, "emoji": "👍"},
            "voice": {**media, "duration": 3, "mime_type": "audio/ogg"},
            "audio": {**media, "duration": 180, "title": "Song"},
            "video": {**media, "width": 640, "height": 360, "duration": 5},
            "video_note": {**media, "length": 240, "duration": 5},
            "animation": {**media, "width": 320, "height": 240, "duration": 2},
            "location": {"latitude": 53.5413, "longitude": 9.9841},
            "venue": {"location": {"latitude": 53.5413, "longitude": 9.9841},
                      "title": "Old Harbour", "address": "Hamburg"},
            "dice": {"emoji": "🎲", "value": 4},
            "poll": {"id": unique, "question": "Which day?",
                     "options": [{"persistent_id": "0", "text": "Fri", "voter_count": 0},
                                 {"persistent_id": "1", "text": "Sat", "voter_count": 0}],
                     "total_voter_count": 0, "is_closed": False, "is_anonymous": True,
                     "type": "regular", "allows_multiple_answers": False,
                     "allows_revoting": True, "members_only": False},
        }
        if kind not in samples:
            raise ValueError(f"unknown message kind {kind!r}")
        self._begin_action()
        return self._emit_message({kind: {**samples[kind], **(fields or {})}})

    async def tap(
        self,
        msg: SandboxMessage,
        text: str | None = None,
        *,
        data: str | None = None,
        timeout: float = 5.0,
    ) -> CallbackAnswer:
        """Tap an inline button and wait for the bot's answerCallbackQuery.

        Args:
            msg: The bot message carrying the keyboard (its current state is used).
            text: Visible button text (exact match preferred, substring accepted).
            data: Raw callback_data instead of text.
            timeout: Seconds to wait for answerCallbackQuery.

        Returns:
            The bot's answer.

        Raises:
            LookupError: No such callback button (or the message was deleted).
            TimeoutError: The bot did not answer the callback query in time.
        """
        if (text is None) == (data is None):
            raise ValueError("pass exactly one of text= or data=")
        if msg.deleted:
            raise LookupError(f"message {msg.message_id} was deleted")
        button = msg.find_button(text=text, data=data)
        if "callback_data" not in button:
            raise LookupError(f"button {button.get('text')!r} has no callback_data: {button}")
        self._begin_action()
        api = self._api
        qid, query = api.new_callback_query()
        api.emit_update(
            "callback_query",
            {
                "id": qid,
                "from": self.user_json,
                "message": api.message_json(msg),
                "chat_instance": str(self.user_id * 7919 + api.bot_id),
                "data": button["callback_data"],
            },
        )
        try:
            async with asyncio.timeout(timeout):
                answer: CallbackAnswer = await asyncio.shield(query.future)
        except TimeoutError:
            raise TimeoutError(
                f"bot did not answer callback query {qid} (button {button['text']!r}) within "
                f"{timeout}s; " + self.dump()
            ) from None
        return answer

    async def pay(
        self,
        invoice_msg: SandboxMessage,
        timeout: float = 10.0,
        *,
        deliver_success: bool = True,
    ) -> PaymentOutcome:
        """Pay an invoice: pre_checkout_query, Stripe charge, successful_payment message.

        Args:
            invoice_msg: A bot message with an invoice.
            timeout: Max seconds to wait for answerPreCheckoutQuery (capped at Telegram's 10).
            deliver_success: False = return after charging without emitting the
                successful_payment update (see :meth:`deliver_successful_payment`).

        Returns:
            The outcome; ``ok=False`` with ``error_message`` when refused or ``"timeout"``.

        Raises:
            ValueError: The message carries no invoice.
        """
        invoice = invoice_msg.invoice
        if invoice is None:
            raise ValueError(f"message {invoice_msg.message_id} has no invoice")
        self._begin_action()
        api = self._api
        qid, query = api.new_pre_checkout_query()
        api.emit_update(
            "pre_checkout_query",
            {
                "id": qid,
                "from": self.user_json,
                "currency": invoice["currency"],
                "total_amount": invoice["total_amount"],
                "invoice_payload": invoice["payload"],
            },
        )
        outcome = PaymentOutcome(
            ok=False,
            invoice_payload=invoice["payload"],
            amount=invoice["total_amount"],
            currency=invoice["currency"],
            chat_id=self.user_id,
        )
        try:
            async with asyncio.timeout(min(timeout, query.timeout)):
                ok, error_message = await asyncio.shield(query.future)
        except TimeoutError:
            outcome.error_message = "timeout"
            self.payments.append(outcome)
            return outcome
        if not ok:
            outcome.error_message = error_message
            self.payments.append(outcome)
            return outcome
        outcome.ok = True
        outcome.telegram_charge_id = secrets.token_hex(16)
        if invoice["currency"] != "XTR":
            charge = api.stripe.create_charge(
                invoice["total_amount"],
                invoice["currency"],
                metadata={
                    "invoice_payload": invoice["payload"],
                    "telegram_user_id": str(self.user_id),
                },
            )
            outcome.charge_id = charge["id"]
        self.payments.append(outcome)
        if deliver_success:
            await self.deliver_successful_payment(outcome)
        return outcome

    async def deliver_successful_payment(self, outcome: PaymentOutcome) -> dict[str, Any]:
        """Emit the successful_payment message of a payment made with deliver_success=False.

        Raises:
            ValueError: The payment did not succeed or was already delivered.
        """
        if not outcome.ok or outcome.delivered:
            raise ValueError("payment not successful or already delivered")
        outcome.delivered = True
        return self._emit_message(
            {
                "successful_payment": {
                    "currency": outcome.currency,
                    "total_amount": outcome.amount,
                    "invoice_payload": outcome.invoice_payload,
                    "telegram_payment_charge_id": outcome.telegram_charge_id,
                    "provider_payment_charge_id": outcome.charge_id or "",
                }
            }
        )

    def block(self) -> None:
        """Block the bot: further sends answer 403 ``Forbidden: bot was blocked by the user``."""
        self.blocked = True

    def unblock(self) -> None:
        """Unblock the bot."""
        self.blocked = False
