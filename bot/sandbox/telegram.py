"""Telegram Bot API emulation: state, request parsing, method implementations."""

from __future__ import annotations

import asyncio
import io
import json
import math
import mimetypes
import re
import secrets
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import ClientSession, ClientTimeout, web
from aiohttp.web_request import FileField

from bot.sandbox.faults import FaultInjector
from bot.sandbox.formatting import EntityParseError, check_markdown_v2, parse_html, utf16_len
from bot.sandbox.models import ApiError, BotError, CallbackAnswer, ChatUser, SandboxMessage
from bot.sandbox.webhook import LoadBalancer, WebhookDelivery

if TYPE_CHECKING:
    from bot.sandbox.stripe_emulator import StripeEmulator

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WRONG_FILE = "Bad Request: wrong file identifier/HTTP URL specified"
SEND_METHODS = frozenset({"sendmessage", "sendphoto", "senddocument", "sendinvoice"})
CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)  # fmt: skip
UPDATE_TYPES_DEFAULT_OFF = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)  # fmt: skip
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _chat_of(update: dict[str, Any]) -> int | None:
    """The chat whose order an update keeps in webhook delivery (the sender for queries)."""
    for key, value in update.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        chat = value.get("chat") or (value.get("message") or {}).get("chat")
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            return int(chat["id"])
        sender = value.get("from")
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            return int(sender["id"])
    return None


# Telegram opens a Mini App only over HTTPS, on a host with a dot (no loopback, no bare names).
_WEB_APP_URL = re.compile(r"^https://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:\d+)?(/\S*)?$")
_LANGUAGE_CODE_RE = re.compile(r"[a-z]{2}")
MAX_BOT_DESCRIPTION = 512
MAX_BOT_SHORT_DESCRIPTION = 120
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
# Lengths as Telegram counts them: UTF-16 code units of the text after entity parsing.
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_ANSWER = 200
MAX_INVOICE_TITLE = 32
MAX_INVOICE_DESCRIPTION = 255
MAX_INLINE_BUTTONS = 100
# Telegram re-encodes every photo as JPEG and serves it in these sizes (longest side).
PHOTO_BOXES = (90, 320, 800, 1280, 2560)
PHOTO_JPEG_QUALITY = 87
PRE_CHECKOUT_TIMEOUT = 10.0
CALLBACK_QUERY_TTL = 15.0


def bad_request(description: str) -> ApiError:
    """Build a 400 error; ``description`` is given without the ``Bad Request: `` prefix."""
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class StoredFile:
    """A file known to the emulated Telegram server."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    kind: str
    mime_type: str | None = None
    file_name: str | None = None
    width: int = 0
    height: int = 0


@dataclass
class _ChatFlood:
    """Flood control of one chat: a token bucket, and a ban after a 429 until retry_after."""

    tokens: float
    updated: float
    blocked_until: float = 0.0


@dataclass
class _PendingQuery:
    future: asyncio.Future[Any]
    created: float
    answered: bool = False
    timeout: float = CALLBACK_QUERY_TTL


@dataclass
class Params:
    """Request parameters, converted lazily per parameter type like Telegram does."""

    raw: dict[str, Any]
    files: dict[str, FileField] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        """Whether the parameter was given (and is not an empty string)."""
        return self.raw.get(name) not in (None, "")

    def get_str(self, name: str, default: str | None = None) -> str | None:
        """String parameter."""
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            return value
        return json.dumps(value) if isinstance(value, dict | list) else str(value)

    def get_int(self, name: str, default: int | None = None) -> int | None:
        """Integer parameter (JSON number or decimal string)."""
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value).strip())
        except ValueError:
            if name == "chat_id":
                raise bad_request("chat not found") from None
            raise bad_request(f"invalid {name} specified") from None

    def get_float(self, name: str, default: float | None = None) -> float | None:
        """Float parameter."""
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def get_bool(self, name: str, default: bool = False) -> bool:
        """Boolean parameter (``true``/``false``/``1``/``0``)."""
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("true", "1", "yes", "on")

    def get_json(self, name: str, what: str | None = None) -> Any:
        """JSON-serialized parameter (already-decoded values from JSON bodies pass through)."""
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {what or name} JSON object") from None


class TelegramBotApi:
    """The emulated Bot API server for one bot."""

    def __init__(
        self,
        *,
        bot_token: str,
        bot_username: str,
        provider_token: str,
        rate_limit_global: float | None,
        rate_limit_per_chat: float | None,
        stripe: StripeEmulator,
        burst_per_chat: int = 3,
        faults: FaultInjector,
        strict_html: bool = True,
        bot_first_name: str = "TicketQ",
    ) -> None:
        self.token = bot_token
        self.bot_username = bot_username
        self.provider_token = provider_token
        self.strict_html = strict_html
        self.stripe = stripe
        self.faults = faults
        prefix = bot_token.split(":", 1)[0]
        self.bot_id = int(prefix) if prefix.isdigit() else 1
        self.bot_user: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.rate_limit_global = rate_limit_global
        self.rate_limit_per_chat = rate_limit_per_chat
        self.burst_per_chat = burst_per_chat
        self.users: dict[int, ChatUser] = {}
        self.messages: dict[tuple[int, int], SandboxMessage] = {}
        self.user_messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._next_message_id: dict[int, int] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self._updates: deque[dict[str, Any]] = deque()
        self._history: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._history_limit = 100_000
        self._redeliver: list[dict[str, Any]] = []
        self._dup_ids: set[int] = set()
        self._next_update_id = 700_000_001
        self._allowed_updates: set[str] | None = None
        self._updates_event = asyncio.Event()
        self._poll_generation = 0
        self._closing = False
        self.callback_queries: dict[str, _PendingQuery] = {}
        self.pre_checkout_queries: dict[str, _PendingQuery] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.menu_buttons: dict[int, dict[str, Any]] = {}  # chat id (0: the default)
        # The bot's descriptions by language_code ("" = everyone without their own).
        self.descriptions: dict[str, str] = {}
        self.short_descriptions: dict[str, str] = {}
        self._global_window: deque[float] = deque()
        self._chat_flood: dict[int, _ChatFlood] = {}
        self.photo_groups: dict[str, list[StoredFile]] = {}
        self.sent_messages_count = 0
        self.rate_limited_count = 0
        self.rate_limited_chats: Counter[int] = Counter()
        # Every flood-counted request Telegram accepted: (arrival, chat), monotonic seconds.
        self.send_times: list[tuple[float, int]] = []
        self.method_calls: Counter[str] = Counter()
        self.bot_errors: list[BotError] = []
        self.balancer = LoadBalancer()
        self.webhook = WebhookDelivery(lambda: self._updates, self._redeliver, _chat_of,
                                       self.balancer, on_ack=self._acknowledged)
        self._handlers: dict[str, Callable[[Params], Awaitable[Any]]] = {
            "getme": self.get_me,
            "setwebhook": self.set_webhook,
            "deletewebhook": self.delete_webhook,
            "getwebhookinfo": self.get_webhook_info,
            "setmycommands": self.set_my_commands,
            "getmycommands": self.get_my_commands,
            "setchatmenubutton": self.set_chat_menu_button,
            "deletemycommands": self.delete_my_commands,
            "setmydescription": self.set_my_description,
            "getmydescription": self.get_my_description,
            "setmyshortdescription": self.set_my_short_description,
            "getmyshortdescription": self.get_my_short_description,
            "getupdates": self.get_updates,
            "sendmessage": self.send_message,
            "editmessagetext": self.edit_message_text,
            "editmessagereplymarkup": self.edit_message_reply_markup,
            "editmessagecaption": self.edit_message_caption,
            "deletemessage": self.delete_message,
            "answercallbackquery": self.answer_callback_query,
            "sendphoto": self.send_photo,
            "senddocument": self.send_document,
            "sendchataction": self.send_chat_action,
            "sendinvoice": self.send_invoice,
            "answerprecheckoutquery": self.answer_pre_checkout_query,
            "getfile": self.get_file,
        }

    # ------------------------------------------------------------------ HTTP layer
    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for ``/bot{token}/{method}``."""
        method = request.match_info["method"].lower()
        token = request.match_info["token"]
        self.method_calls[method] += 1
        if token != self.token:
            return self._error_response(method, ApiError(401, "Unauthorized"), {})
        if method not in self._handlers:
            return self._error_response(method, ApiError(404, "Not Found"), {})
        fault = self.faults.take(method)
        if fault is not None and fault.kind == "fail":
            body = {"ok": False, "error_code": fault.status, "description": fault.description}
            return web.json_response(body, status=fault.status)
        if fault is not None and fault.kind == "drop" and not fault.after_processing:
            return self._drop(request)
        try:
            params = await self._read_params(request)
        except ApiError as exc:
            return self._error_response(method, exc, {})
        try:
            result = await self._handlers[method](params)
        except ApiError as exc:
            return self._error_response(method, exc, params.raw)
        if fault is not None and fault.kind == "drop":
            return self._drop(request)
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)

    def _error_response(self, method: str, exc: ApiError, raw: dict[str, Any]) -> web.Response:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": exc.status,
            "description": exc.description,
        }
        if exc.parameters:
            body["parameters"] = exc.parameters
        if exc.status == 429:
            self.rate_limited_count += 1
        elif 400 <= exc.status < 500:
            shown = {k: v for k, v in raw.items() if not isinstance(v, FileField | bytes)}
            self.bot_errors.append(BotError(method, exc.status, exc.description, shown))
        return web.json_response(body, status=exc.status)

    async def _read_params(self, request: web.Request) -> Params:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, FileField] = {}
        if request.method == "POST" and request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise bad_request("can't parse JSON request body") from None
                if isinstance(body, dict):
                    raw.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, FileField):
                        files[key] = value
                        raw[key] = value
                    else:
                        raw[key] = value
        return Params(raw, files)

    # ------------------------------------------------------------------ helpers
    def _chat(self, params: Params, name: str = "chat_id") -> ChatUser:
        if not params.has(name):
            raise bad_request(f"{name} is empty")
        chat_id = params.get_int(name)
        user = self.users.get(chat_id) if chat_id is not None else None
        if user is None:
            raise bad_request("chat not found")
        if user.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return user

    def next_message_id(self, chat_id: int) -> int:
        """Allocate the next message id of a private chat (shared by both sides)."""
        mid = self._next_message_id.get(chat_id, 0) + 1
        self._next_message_id[chat_id] = mid
        return mid

    def _check_rate(self, chat_id: int) -> None:
        """Flood control as Telegram applies it to a bot.

        * Bot-wide: at most ``rate_limit_global`` requests in any sliding second.
        * Per chat: a token bucket of ``burst_per_chat`` tokens refilled at
          ``rate_limit_per_chat`` a second (a short burst is allowed, then about one a
          second). An empty bucket answers 429 ``retry after N``, and the chat stays refused
          until those N seconds have passed: ignoring ``retry_after`` only earns more 429s.
        """
        now = time.monotonic()
        window = self._global_window
        limit = self.rate_limit_global
        while window and window[0] <= now - 1.0:
            window.popleft()
        if limit is not None and limit > 0 and len(window) >= max(limit, 1):
            self._too_many(chat_id, max(1, math.ceil(window[0] + 1.0 - now)))
        rate = self.rate_limit_per_chat
        if rate:
            burst = float(max(1, self.burst_per_chat))
            flood = self._chat_flood.get(chat_id)
            if flood is None:
                flood = self._chat_flood[chat_id] = _ChatFlood(burst, now)
            if now < flood.blocked_until:
                self._too_many(chat_id, max(1, math.ceil(flood.blocked_until - now)))
            level = min(burst, flood.tokens + (now - flood.updated) * rate)
            flood.tokens, flood.updated = level, now
            if level < 1.0:
                retry = max(1, math.ceil((1.0 - level) / rate))
                flood.blocked_until = now + retry
                self._too_many(chat_id, retry)
            flood.tokens = level - 1.0
        window.append(now)
        self.send_times.append((now, chat_id))

    def _too_many(self, chat_id: int, retry: int) -> None:
        self.rate_limited_chats[chat_id] += 1
        raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})

    def _format(
        self, text: str, parse_mode: str | None, entities: Any
    ) -> tuple[str, list[dict[str, Any]]]:
        mode = (parse_mode or "").lower()
        try:
            if mode == "html":
                return parse_html(text, strict_ampersand=self.strict_html)
            if mode == "markdownv2":
                return check_markdown_v2(text), []
        except EntityParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
        if mode not in ("", "markdown"):
            raise bad_request(f"unsupported parse_mode {parse_mode!r}")
        if entities is not None and not isinstance(entities, list):
            raise bad_request("can't parse entities JSON object")
        return text, list(entities or [])

    def _markup(self, params: Params) -> dict[str, Any] | None:
        markup = params.get_json("reply_markup", "reply keyboard markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request(
                    'can\'t parse inline keyboard button: field "inline_keyboard" '
                    "must be of type Array of Array"
                )
            if sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
                raise bad_request("REPLY_MARKUP_TOO_LONG")
            for row in rows:
                for button in row:
                    self._check_button(button)
        elif not any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
            raise bad_request("can't parse reply keyboard markup JSON object")
        return markup

    @staticmethod
    def _check_button(button: Any) -> None:
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            raise bad_request(
                'can\'t parse inline keyboard button: Field "text" must be of type String'
            )
        actions = [a for a in _BUTTON_ACTIONS if a in button]
        if not actions:
            raise bad_request(
                "can't parse inline keyboard button: Text buttons are unallowed "
                "in the inline keyboard"
            )
        if "callback_data" in button:
            data = button["callback_data"]
            if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                raise bad_request("BUTTON_DATA_INVALID")
        if "url" in button:
            url = button["url"]
            if not isinstance(url, str) or not re.match(r"^(https?|tg)://\S+$", url):
                raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
        if "web_app" in button:
            info = button["web_app"]
            url = info.get("url") if isinstance(info, dict) else None
            if not isinstance(url, str) or not _WEB_APP_URL.match(url):
                raise bad_request(f"inline keyboard button Web App URL '{url}' is invalid: "
                                  "Only HTTPS links are allowed")
        if not button["text"].strip():
            raise bad_request("BUTTON_TEXT_INVALID")

    def _store_and_notify(self, user: ChatUser, msg: SandboxMessage) -> dict[str, Any]:
        self.messages[(msg.chat_id, msg.message_id)] = msg
        self.sent_messages_count += 1
        user.on_bot_message(msg, edited=False)
        return self.message_json(msg)

    def message_json(self, msg: SandboxMessage) -> dict[str, Any]:
        """The Message object the Bot API returns for a bot message."""
        user = self.users.get(msg.chat_id)
        out: dict[str, Any] = {
            "message_id": msg.message_id,
            "from": self.bot_user,
            "chat": user.chat_json if user else {"id": msg.chat_id, "type": "private"},
            "date": msg.date,
        }
        if msg.edit_date is not None:
            out["edit_date"] = msg.edit_date
        if msg.invoice is not None:
            inv = msg.invoice
            out["invoice"] = {
                k: inv[k]
                for k in ("title", "description", "start_parameter", "currency", "total_amount")
            }
        elif msg.photo_sizes is not None or msg.document_json is not None:
            if msg.photo_sizes is not None:
                out["photo"] = msg.photo_sizes
            else:
                out["document"] = msg.document_json
            if msg.text:
                out["caption"] = msg.text
                if msg.entities:
                    out["caption_entities"] = msg.entities
        else:
            out["text"] = msg.text
            if msg.entities:
                out["entities"] = msg.entities
        if msg.reply_markup is not None and "inline_keyboard" in msg.reply_markup:
            out["reply_markup"] = msg.reply_markup
        return out

    def _find_bot_message(self, params: Params, verb: str = "edit") -> SandboxMessage:
        if params.has("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        user = self._chat(params)
        mid = params.get_int("message_id")
        if mid is None:
            raise bad_request("message identifier is not specified")
        key = (user.user_id, mid)
        msg = self.messages.get(key)
        if msg is None or msg.deleted:
            if verb == "edit" and key in self.user_messages:
                raise bad_request("message can't be edited")
            raise bad_request(f"message to {verb} not found")
        return msg

    # ------------------------------------------------------------------ updates
    def emit_update(self, kind: str, obj: dict[str, Any]) -> int:
        """Queue a new update for the bot and wake long-pollers.

        Returns:
            The new update_id.
        """
        update_id = self._next_update_id
        self._next_update_id += 1
        update = {"update_id": update_id, kind: obj}
        self._updates.append(update)
        self._history[update_id] = update
        if len(self._history) > self._history_limit:
            self._history.popitem(last=False)
        if self.faults.duplicate_pending > 0:
            self.faults.duplicate_pending -= 1
            self._dup_ids.add(update_id)
        self._wake_pollers()
        return update_id

    def redeliver(self, update_id: int | None = None) -> int:
        """Deliver an already-emitted update again (same update_id).

        Args:
            update_id: The update to redeliver; None = the last emitted update.

        Returns:
            The redelivered update_id.

        Raises:
            KeyError: Unknown update_id.
        """
        if update_id is None:
            if not self._history:
                raise KeyError("no update was emitted yet")
            update_id = next(reversed(self._history))
        self._redeliver.append(self._history[update_id])
        self._wake_pollers()
        return update_id

    def pending_updates(self) -> int:
        """Number of updates not yet confirmed by the bot (plus pending redeliveries)."""
        return len(self._updates) + len(self._redeliver)

    def _wake_pollers(self) -> None:
        event = self._updates_event
        self._updates_event = asyncio.Event()
        event.set()
        self.webhook.wake()

    def _acknowledged(self, update: dict[str, Any]) -> None:
        """A webhook delivery was answered 2xx (a duplicate fault delivers it once more)."""
        uid = update["update_id"]
        if uid in self._dup_ids:
            self._dup_ids.discard(uid)
            self._redeliver.append(update)

    def close(self) -> None:
        """Release long-pollers and pending queries (server shutdown)."""
        self._closing = True
        self._wake_pollers()

    def _confirm(self, offset: int | None) -> None:
        if offset is None:
            return
        if offset < 0:
            keep = -offset
            while len(self._updates) > keep:
                self._updates.popleft()
            return
        while self._updates and self._updates[0]["update_id"] < offset:
            self._updates.popleft()

    def _collect(self, limit: int) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        while self._redeliver and len(batch) < limit:
            batch.append(self._redeliver.pop(0))
        allowed = self._allowed_updates
        kept: deque[dict[str, Any]] = deque()
        for update in self._updates:
            kind = next(k for k in update if k != "update_id")
            if allowed is not None and kind not in allowed:
                continue  # dropped for good, as Telegram does
            kept.append(update)
            if len(batch) < limit:
                batch.append(update)
        self._updates = kept
        for update in batch:
            uid = update["update_id"]
            if uid in self._dup_ids:
                self._dup_ids.discard(uid)
                self._redeliver.append(update)
        return batch

    # ------------------------------------------------------------------ methods
    async def get_me(self, params: Params) -> Any:
        """getMe."""
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def delete_webhook(self, params: Params) -> Any:
        """deleteWebhook (drop_pending_updates supported)."""
        self.webhook.remove()
        if params.get_bool("drop_pending_updates"):
            self._updates.clear()
            self._redeliver.clear()
        return True

    async def set_webhook(self, params: Params) -> Any:
        """setWebhook with Telegram's checks; delivery starts at once (bot.sandbox.webhook).

        The URL must be HTTPS on port 443, 80, 88 or 8443; the sandbox delivers to it
        through its load balancer (``Sandbox.balance``), never over the network.
        """
        url = params.get_str("url")
        if url is None:
            raise bad_request("parameter \"url\" is required")
        if url == "":
            self.webhook.remove()
            return True
        parts = urlsplit(url)
        if parts.scheme.lower() != "https" or not parts.hostname:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        try:
            port = parts.port or 443
        except ValueError:
            raise bad_request("bad webhook: Failed to resolve host") from None
        if port not in (80, 88, 443, 8443):
            raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, "
                              "443 or 8443")
        max_connections = params.get_int("max_connections", 40) or 40
        if not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        secret = params.get_str("secret_token")
        if secret is not None and not _SECRET_RE.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        allowed = params.get_json("allowed_updates")
        if allowed is not None and not isinstance(allowed, list):
            raise bad_request("can't parse allowed_updates JSON object")
        if params.get_bool("drop_pending_updates"):
            self._updates.clear()
            self._redeliver.clear()
        self._poll_generation += 1  # a long-poll still waiting ends (with 409)
        self._wake_pollers()
        self.webhook.configure(url, secret=secret or None, max_connections=max_connections,
                               allowed_updates=allowed)
        return True

    async def get_webhook_info(self, params: Params) -> Any:
        """getWebhookInfo: url, pending_update_count, last error, max_connections..."""
        return self.webhook.info(self.pending_updates())

    @staticmethod
    def _language_code(params: Params) -> str:
        """``language_code``: a two-letter ISO 639-1 code, or empty for everyone else."""
        code = params.get_str("language_code") or ""
        if code and not _LANGUAGE_CODE_RE.fullmatch(code):
            raise bad_request("LANG_CODE_INVALID")
        return code

    def _commands_key(self, params: Params) -> tuple[str, str]:
        scope = params.get_json("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), self._language_code(params)

    async def set_my_description(self, params: Params) -> Any:
        """setMyDescription: 0-512 characters per language (empty removes it)."""
        language = self._language_code(params)
        text = params.get_str("description") or ""
        if utf16_len(text) > MAX_BOT_DESCRIPTION:
            raise bad_request("BOT_DESCRIPTION_INVALID")
        if text:
            self.descriptions[language] = text
        else:
            self.descriptions.pop(language, None)
        return True

    async def get_my_description(self, params: Params) -> Any:
        """getMyDescription: the language's own, else the default one."""
        language = self._language_code(params)
        return {"description": self.descriptions.get(language,
                                                     self.descriptions.get("", ""))}

    async def set_my_short_description(self, params: Params) -> Any:
        """setMyShortDescription: 0-120 characters per language (empty removes it)."""
        language = self._language_code(params)
        text = params.get_str("short_description") or ""
        if utf16_len(text) > MAX_BOT_SHORT_DESCRIPTION:
            raise bad_request("BOT_ABOUT_INVALID")
        if text:
            self.short_descriptions[language] = text
        else:
            self.short_descriptions.pop(language, None)
        return True

    async def get_my_short_description(self, params: Params) -> Any:
        """getMyShortDescription: the language's own, else the default one."""
        language = self._language_code(params)
        return {"short_description": self.short_descriptions.get(
            language, self.short_descriptions.get("", ""))}

    async def set_my_commands(self, params: Params) -> Any:
        """setMyCommands with Telegram's validation."""
        commands = params.get_json("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for cmd in commands:
            if not isinstance(cmd, dict) or not _COMMAND_RE.match(str(cmd.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            desc = cmd.get("description")
            if not isinstance(desc, str) or not 1 <= len(desc) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def set_chat_menu_button(self, params: Params) -> Any:
        """setChatMenuButton: commands, default, or a Mini App (HTTPS only, as Telegram)."""
        chat_id = params.get_int("chat_id")
        if chat_id is not None and chat_id not in self.users:
            raise bad_request("chat not found")
        button = params.get_json("menu_button", "menu button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
                "commands", "default", "web_app"):
            raise bad_request("can't parse menu button JSON object")
        if button["type"] == "web_app":
            text, info = button.get("text"), button.get("web_app")
            url = info.get("url") if isinstance(info, dict) else None
            if not isinstance(text, str) or not text.strip():
                raise bad_request("BUTTON_TEXT_INVALID")
            if not isinstance(url, str) or not _WEB_APP_URL.match(url):
                raise bad_request(f"menu button Web App URL '{url}' is invalid: "
                                  "Only HTTPS links are allowed")
        self.menu_buttons[chat_id or 0] = button
        return True

    async def get_my_commands(self, params: Params) -> Any:
        """getMyCommands."""
        return self.commands.get(self._commands_key(params), [])

    async def delete_my_commands(self, params: Params) -> Any:
        """deleteMyCommands."""
        self.commands.pop(self._commands_key(params), None)
        return True

    async def get_updates(self, params: Params) -> Any:
        """getUpdates with long polling and offset confirmation semantics (409 while a
        webhook is set, as Telegram answers)."""
        if self.webhook.active:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is "
                           "active; use deleteWebhook to delete the webhook first")
        offset = params.get_int("offset")
        limit = params.get_int("limit", 100) or 100
        limit = min(max(limit, 1), 100)
        timeout = params.get_float("timeout", 0.0) or 0.0
        allowed = params.get_json("allowed_updates")
        if allowed is not None:
            if not isinstance(allowed, list):
                raise bad_request("can't parse allowed_updates JSON object")
            self._allowed_updates = set(allowed) if allowed else None
        self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()  # a previous long-poll gets terminated with 409
        deadline = time.monotonic() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one "
                    "bot instance is running",
                )
            batch = self._collect(limit)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0 or self._closing:
                return batch
            event = self._updates_event
            try:
                async with asyncio.timeout(remaining):
                    await event.wait()
            except TimeoutError:
                pass

    async def send_message(self, params: Params) -> Any:
        """sendMessage."""
        user = self._chat(params)
        text = params.get_str("text") or ""
        if not text.strip():
            raise bad_request("message text is empty")
        parse_mode = params.get_str("parse_mode")
        plain, entities = self._format(text, parse_mode, params.get_json("entities"))
        if not plain.strip():
            raise bad_request("message text is empty")
        if utf16_len(plain) > MAX_TEXT:
            raise bad_request("message is too long")
        markup = self._markup(params)
        self._check_reply(user.user_id, params)
        self._check_rate(user.user_id)
        msg = SandboxMessage(
            message_id=self.next_message_id(user.user_id),
            chat_id=user.user_id,
            text=plain,
            html=text,
            parse_mode=parse_mode,
            reply_markup=markup,
            entities=entities,
        )
        return self._store_and_notify(user, msg)

    def _check_reply(self, chat_id: int, params: Params) -> None:
        reply = params.get_json("reply_parameters")
        mid = params.get_int("reply_to_message_id")
        allow = params.get_bool("allow_sending_without_reply")
        if isinstance(reply, dict):
            mid = reply.get("message_id", mid)
            allow = allow or bool(reply.get("allow_sending_without_reply"))
        if mid is None or allow:
            return
        key = (chat_id, int(mid))
        if key not in self.user_messages and key not in self.messages:
            raise bad_request("message to be replied not found")

    def _caption(self, params: Params) -> tuple[str | None, str | None, list[dict[str, Any]]]:
        caption = params.get_str("caption")
        parse_mode = params.get_str("parse_mode")
        if not caption:
            return caption, parse_mode, []
        plain, entities = self._format(caption, parse_mode, params.get_json("caption_entities"))
        if utf16_len(plain) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        return caption, parse_mode, entities

    async def _input_file(self, params: Params, name: str, kind: str) -> StoredFile:
        value = params.raw.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.files.get(value[len("attach://") :])
        if isinstance(value, FileField):
            data = value.file.read()
            if not data:
                raise bad_request("file must be non-empty")
            return self.store_file(
                data, kind, file_name=value.filename, mime_type=value.content_type
            )
        if not value:
            raise bad_request(f"there is no {name} in the request")
        value = str(value)
        if value.startswith(("http://", "https://")):
            data = await self._fetch_url(value)
            name_guess = urlsplit(value).path.rsplit("/", 1)[-1] or "file"
            return self.store_file(data, kind, file_name=name_guess)
        stored = self.files.get(value)
        if stored is None:
            raise bad_request(WRONG_FILE)
        if (stored.kind == "photo") != (kind == "photo"):
            raise bad_request("type of file mismatch")
        return stored

    async def _fetch_url(self, url: str) -> bytes:
        host = urlsplit(url).hostname or ""
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise bad_request(WRONG_FILE + " (sandbox: only loopback URLs can be fetched)")
        try:
            async with (
                ClientSession(timeout=ClientTimeout(total=10)) as session,
                session.get(url) as resp,
            ):
                if resp.status != 200:
                    raise bad_request("failed to get HTTP URL content")
                return await resp.read()
        except (OSError, TimeoutError):
            raise bad_request("failed to get HTTP URL content") from None

    def store_file(
        self,
        data: bytes,
        kind: str,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> StoredFile:
        """Register file bytes on the emulated server (used for uploads in both directions).

        A photo is re-encoded as Telegram does (:meth:`store_photo`); the largest size is
        returned.

        Args:
            data: File content.
            kind: ``"photo"`` or ``"document"``.
            file_name: Original file name (documents).
            mime_type: MIME type; guessed from the name when missing.

        Returns:
            The stored file, with ``file_id`` and a ``file_path`` for downloads.
        """
        if kind == "photo":
            return self.store_photo(data)[-1]
        if mime_type in (None, "", "application/octet-stream") and file_name:
            mime_type = mimetypes.guess_type(file_name)[0] or mime_type
        ext = "." + file_name.rsplit(".", 1)[-1] if file_name and "." in file_name else ""
        return self._register(data, "document", ext, file_name=file_name, mime_type=mime_type)

    def _register(self, data: bytes, kind: str, ext: str, **extra: Any) -> StoredFile:
        unique = secrets.token_hex(8)
        folder = "photos" if kind == "photo" else "documents"
        stored = StoredFile(
            file_id=f"SBX{kind[:3].upper()}{secrets.token_urlsafe(24)}",
            file_unique_id=f"AQAD{unique}",
            data=data,
            file_path=f"{folder}/file_{len(self.files)}_{unique}{ext}",
            kind=kind,
            **extra,
        )
        self.files[stored.file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    def store_photo(self, data: bytes) -> list[StoredFile]:
        """Store a photo as Telegram serves it: JPEG re-encodings, smallest first.

        One size per box of :data:`PHOTO_BOXES` smaller than the photo's longest side, plus
        the photo at its own size (at most 2560 px); never enlarged. EXIF orientation is
        applied and transparency flattened onto white, as Telegram's clients show it.

        Raises:
            ApiError: ``IMAGE_PROCESS_FAILED`` (not an image) or ``PHOTO_INVALID_DIMENSIONS``.
        """
        from PIL import Image, ImageOps

        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                image = ImageOps.exif_transpose(img)
                if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                    rgba = image.convert("RGBA")
                    image = Image.new("RGB", rgba.size, (255, 255, 255))
                    image.paste(rgba, mask=rgba.getchannel("A"))
                else:
                    image = image.convert("RGB")
        except Exception:
            raise bad_request("IMAGE_PROCESS_FAILED") from None
        width, height = image.size
        if width + height > 10000 or max(width, height) > 20 * min(width, height):
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        longest = max(width, height)
        sizes: list[StoredFile] = []
        for box in PHOTO_BOXES:
            side = min(box, longest)
            scale = side / longest
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            scaled = image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            scaled.save(buffer, format="JPEG", quality=PHOTO_JPEG_QUALITY)
            sizes.append(self._register(buffer.getvalue(), "photo", ".jpg",
                                        mime_type="image/jpeg", width=size[0],
                                        height=size[1]))
            if box >= longest:
                break
        for stored in sizes:
            self.photo_groups[stored.file_id] = sizes
        return sizes

    def photo_sizes(self, stored: StoredFile) -> list[dict[str, Any]]:
        """PhotoSize list of a stored photo (every size Telegram made of it, smallest first)."""
        return [
            {
                "file_id": size.file_id,
                "file_unique_id": size.file_unique_id,
                "width": size.width,
                "height": size.height,
                "file_size": len(size.data),
            }
            for size in self.photo_groups.get(stored.file_id, [stored])
        ]

    @staticmethod
    def document_json(stored: StoredFile) -> dict[str, Any]:
        """Document object for a stored file."""
        out: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
        }
        if stored.file_name:
            out["file_name"] = stored.file_name
        if stored.mime_type:
            out["mime_type"] = stored.mime_type
        return out

    async def send_photo(self, params: Params) -> Any:
        """sendPhoto (multipart upload, file_id or loopback URL)."""
        user = self._chat(params)
        caption, parse_mode, entities = self._caption(params)
        markup = self._markup(params)
        stored = await self._input_file(params, "photo", "photo")
        self._check_reply(user.user_id, params)
        self._check_rate(user.user_id)
        msg = SandboxMessage(
            message_id=self.next_message_id(user.user_id),
            chat_id=user.user_id,
            text=self._plain_caption(caption, parse_mode, entities),
            html=caption,
            parse_mode=parse_mode,
            reply_markup=markup,
            photo=self.photo_groups.get(stored.file_id, [stored])[-1].data,
            entities=entities,
            photo_sizes=self.photo_sizes(stored),
        )
        return self._store_and_notify(user, msg)

    def _plain_caption(
        self, caption: str | None, parse_mode: str | None, entities: list[dict[str, Any]]
    ) -> str | None:
        if not caption:
            return None
        return self._format(caption, parse_mode, entities if not parse_mode else None)[0]

    async def send_document(self, params: Params) -> Any:
        """sendDocument."""
        user = self._chat(params)
        caption, parse_mode, entities = self._caption(params)
        markup = self._markup(params)
        stored = await self._input_file(params, "document", "document")
        self._check_reply(user.user_id, params)
        self._check_rate(user.user_id)
        msg = SandboxMessage(
            message_id=self.next_message_id(user.user_id),
            chat_id=user.user_id,
            text=self._plain_caption(caption, parse_mode, entities),
            html=caption,
            parse_mode=parse_mode,
            reply_markup=markup,
            document=stored.data,
            document_name=stored.file_name,
            entities=entities,
            document_json=self.document_json(stored),
        )
        return self._store_and_notify(user, msg)

    async def send_chat_action(self, params: Params) -> Any:
        """sendChatAction."""
        self._chat(params)
        if params.get_str("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    async def edit_message_text(self, params: Params) -> Any:
        """editMessageText. Like Telegram, omitting reply_markup removes the inline keyboard."""
        msg = self._find_bot_message(params)
        if msg.photo_sizes is not None or msg.document_json is not None or msg.invoice:
            raise bad_request("there is no text in the message to edit")
        text = params.get_str("text") or ""
        parse_mode = params.get_str("parse_mode")
        plain, entities = self._format(text, parse_mode, params.get_json("entities"))
        if not plain.strip():
            raise bad_request("message text is empty")
        if utf16_len(plain) > MAX_TEXT:
            raise bad_request("message is too long")
        markup = self._markup(params)
        if plain == msg.text and entities == msg.entities and markup == msg.reply_markup:
            raise bad_request(NOT_MODIFIED[len("Bad Request: ") :])
        self._check_rate(msg.chat_id)
        msg.text, msg.html, msg.parse_mode, msg.entities = plain, text, parse_mode, entities
        msg.reply_markup = markup
        return self._edited(msg)

    def _edited(self, msg: SandboxMessage) -> dict[str, Any]:
        msg.edits += 1
        msg.edit_date = int(time.time())
        user = self.users.get(msg.chat_id)
        if user is not None:
            user.on_bot_message(msg, edited=True)
        return self.message_json(msg)

    async def edit_message_reply_markup(self, params: Params) -> Any:
        """editMessageReplyMarkup."""
        msg = self._find_bot_message(params)
        markup = self._markup(params)
        if markup == msg.reply_markup:
            raise bad_request(NOT_MODIFIED[len("Bad Request: ") :])
        self._check_rate(msg.chat_id)
        msg.reply_markup = markup
        return self._edited(msg)

    async def edit_message_caption(self, params: Params) -> Any:
        """editMessageCaption."""
        msg = self._find_bot_message(params)
        if msg.photo_sizes is None and msg.document_json is None:
            raise bad_request("there is no caption in the message to edit")
        caption, parse_mode, entities = self._caption(params)
        plain = self._plain_caption(caption, parse_mode, entities)
        markup = self._markup(params)
        if plain == msg.text and entities == msg.entities and markup == msg.reply_markup:
            raise bad_request(NOT_MODIFIED[len("Bad Request: ") :])
        self._check_rate(msg.chat_id)
        msg.text, msg.html, msg.parse_mode, msg.entities = plain, caption, parse_mode, entities
        msg.reply_markup = markup
        return self._edited(msg)

    async def delete_message(self, params: Params) -> Any:
        """deleteMessage (bot messages and, in private chats, user messages)."""
        user = self._chat(params)
        mid = params.get_int("message_id")
        key = (user.user_id, mid or 0)
        msg = self.messages.get(key)
        if msg is not None and not msg.deleted:
            msg.deleted = True
            return True
        if self.user_messages.pop(key, None) is not None:
            return True
        raise bad_request("message to delete not found")

    async def answer_callback_query(self, params: Params) -> Any:
        """answerCallbackQuery."""
        qid = params.get_str("callback_query_id") or ""
        query = self.callback_queries.get(qid)
        now = time.monotonic()
        if query is None or query.answered or now - query.created > query.timeout:
            raise bad_request(QUERY_TOO_OLD[len("Bad Request: ") :])
        text = params.get_str("text")
        if text is not None and utf16_len(text) > MAX_CALLBACK_ANSWER:
            raise bad_request("MESSAGE_TOO_LONG")
        query.answered = True
        if not query.future.done():
            query.future.set_result(
                CallbackAnswer(text or None, params.get_bool("show_alert"), params.get_str("url"))
            )
        return True

    def new_callback_query(self) -> tuple[str, _PendingQuery]:
        """Register a callback query that the bot must answer."""
        qid = str(secrets.randbits(63))
        query = _PendingQuery(asyncio.get_running_loop().create_future(), time.monotonic())
        self.callback_queries[qid] = query
        return qid, query

    def new_pre_checkout_query(self) -> tuple[str, _PendingQuery]:
        """Register a pre-checkout query (10 s answer limit)."""
        qid = str(secrets.randbits(63))
        query = _PendingQuery(
            asyncio.get_running_loop().create_future(),
            time.monotonic(),
            timeout=PRE_CHECKOUT_TIMEOUT,
        )
        self.pre_checkout_queries[qid] = query
        return qid, query

    async def send_invoice(self, params: Params) -> Any:
        """sendInvoice with Telegram's validation of the invoice fields."""
        user = self._chat(params)
        title = params.get_str("title") or ""
        description = params.get_str("description") or ""
        payload = params.get_str("payload") or ""
        currency = params.get_str("currency") or ""
        provider_token = params.get_str("provider_token") or ""
        if not 1 <= utf16_len(title) <= MAX_INVOICE_TITLE:
            raise bad_request("INVOICE_TITLE_INVALID" if title else "title is empty")
        if not 1 <= utf16_len(description) <= MAX_INVOICE_DESCRIPTION:
            raise bad_request(
                "INVOICE_DESCRIPTION_INVALID" if description else "description is empty"
            )
        if not 1 <= len(payload.encode("utf-8")) <= 128:
            raise bad_request("PAYLOAD_INVALID" if payload else "payload is empty")
        if not _CURRENCY_RE.match(currency):
            raise bad_request("CURRENCY_INVALID")
        if currency == "XTR":
            if provider_token:
                raise bad_request("PAYMENT_PROVIDER_INVALID")
        elif provider_token != self.provider_token:
            raise bad_request("PAYMENT_PROVIDER_INVALID")
        prices = params.get_json("prices")
        if not isinstance(prices, list) or not prices:
            raise bad_request("can't parse prices JSON object")
        for price in prices:
            if (
                not isinstance(price, dict)
                or not isinstance(price.get("label"), str)
                or not isinstance(price.get("amount"), int)
                or isinstance(price.get("amount"), bool)
            ):
                raise bad_request("can't parse prices JSON object")
        if currency == "XTR" and len(prices) != 1:
            raise bad_request("STARS_INVOICE_INVALID")
        total = sum(p["amount"] for p in prices)
        if total <= 0:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        tips = params.get_json("suggested_tip_amounts")
        max_tip = params.get_int("max_tip_amount", 0) or 0
        if tips is not None and (
            not isinstance(tips, list)
            or len(tips) > 4
            or any(not isinstance(t, int) or t <= 0 or t > max_tip for t in tips)
            or tips != sorted(set(tips))
        ):
            raise bad_request("SUGGESTED_TIP_AMOUNTS_INVALID")
        markup = self._markup(params)
        if markup and "inline_keyboard" in markup:
            first = (markup["inline_keyboard"] or [[]])[0]
            if not first or not first[0].get("pay"):
                raise bad_request("REPLY_MARKUP_BUY_EMPTY")
        self._check_rate(user.user_id)
        invoice = {
            "title": title,
            "description": description,
            "payload": payload,
            "currency": currency,
            "prices": prices,
            "total_amount": total,
            "provider_token": provider_token,
            "start_parameter": params.get_str("start_parameter") or "",
            "max_tip_amount": max_tip,
            "suggested_tip_amounts": tips or [],
            "need_name": params.get_bool("need_name"),
            "need_email": params.get_bool("need_email"),
            "need_phone_number": params.get_bool("need_phone_number"),
            "is_flexible": params.get_bool("is_flexible"),
        }
        msg = SandboxMessage(
            message_id=self.next_message_id(user.user_id),
            chat_id=user.user_id,
            text=title,
            reply_markup=markup,
            invoice=invoice,
        )
        return self._store_and_notify(user, msg)

    async def answer_pre_checkout_query(self, params: Params) -> Any:
        """answerPreCheckoutQuery (10 s limit, answer once, error_message needed if not ok)."""
        qid = params.get_str("pre_checkout_query_id") or ""
        query = self.pre_checkout_queries.get(qid)
        if query is None or query.answered or time.monotonic() - query.created > query.timeout:
            raise bad_request(QUERY_TOO_OLD[len("Bad Request: ") :])
        ok = params.get_bool("ok")
        error_message = params.get_str("error_message")
        if not ok and not error_message:
            raise bad_request("ERROR_MESSAGE_EMPTY")
        query.answered = True
        if not query.future.done():
            query.future.set_result((ok, error_message))
        return True

    async def get_file(self, params: Params) -> Any:
        """getFile."""
        stored = self.files.get(params.get_str("file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.data) > 20 * 1024 * 1024:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    async def handle_file(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for ``/file/bot{token}/{file_path}``."""
        self.method_calls["<file download>"] += 1
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        stored = self.files_by_path.get(request.match_info["file_path"])
        if stored is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )
