"""Event files (the YAML/JSON import format): decoding and validation.

:func:`decode_event_file` is the one place an event file's bytes become a document, for the
command line and the chat alike (same rules for a byte-order mark, the JSON/YAML choice and
deep nesting). :func:`parse_event_spec` turns an untrusted mapping into an
:class:`EventSpec`, or raises one :class:`~core.errors.DomainError` listing every problem with
its field path, so an organizer can fix the whole file in one go. Nothing here touches storage.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from core.catalog.model import (
    DEFAULT_LANGUAGE,
    DIRECT_TRANSFERS,
    NO_TRANSFERS,
    EventText,
    LotteryWindow,
    SaleMode,
    TransferPolicy,
)
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money, currency_exponent
from core.returns.model import DEFAULT_OFFER_MINUTES, ReturnPolicy


class UnreadableEventFile(ValueError):
    """An event file that is not a document at all (before any field is looked at).

    Attributes:
        code: ``not_utf8``, ``syntax`` or ``too_deep``.
        syntax: ``JSON`` or ``YAML`` for a syntax error.
        line: 1-based line of a syntax error, when the parser knows it.
        column: 1-based column of a syntax error, when the parser knows it.
        problem: the parser's own words for a syntax error.
    """

    def __init__(self, code: str, *, syntax: str | None = None, line: int | None = None,
                 column: int | None = None, problem: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.syntax = syntax
        self.line = line
        self.column = column
        self.problem = problem


def decode_event_file(data: bytes, file_name: str = "") -> Any:
    """The document in an event file: JSON for a ``.json`` name, else YAML (a superset of JSON).

    A UTF-8 byte-order mark is ignored; a document nested too deeply for the parser is
    refused like a syntax error (never a crash).

    Raises:
        UnreadableEventFile: the file is not UTF-8, not JSON/YAML, or nested too deeply.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableEventFile("not_utf8") from None
    try:
        if file_name.lower().endswith(".json"):
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise UnreadableEventFile("syntax", syntax="JSON", line=exc.lineno, column=exc.colno,
                                  problem=exc.msg) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise UnreadableEventFile(
            "syntax", syntax="YAML", line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            problem=getattr(exc, "problem", None)) from None
    except RecursionError:
        raise UnreadableEventFile("too_deep") from None


TITLE_MAX = 120
TEXT_MAX = 2000
NAME_MAX = 32
MAX_CAPACITY = 1_000_000
MAX_PER_USER = 50
MAX_TRANSFERS_PER_TICKET = 10
MAX_PRICE_MINOR = 10_000_000_00
# Telegram Stars are not paid through Stripe, so Stripe cannot refund them.
UNSUPPORTED_CURRENCIES = frozenset({"XTR"})


@dataclass(frozen=True, slots=True)
class SpecIssue:
    """One problem in an event file: where (dotted path) and what (stable code + params)."""

    path: str
    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TicketTypeSpec:
    """A validated ticket type to create."""

    name: str
    price: Money
    capacity: int
    per_user_limit: int


@dataclass(frozen=True, slots=True)
class EventSpec:
    """A validated event to create."""

    title: str
    description: str
    venue: str
    starts_at: datetime
    timezone: str
    sale_mode: SaleMode
    ticket_types: tuple[TicketTypeSpec, ...]
    publish: bool
    lottery: LotteryWindow | None = None
    # The ``returns:`` block: returns with a waiting list (None: no returns).
    returns: ReturnPolicy | None = None
    # A lottery's ``group_size``: one entry for up to this many people (1: no groups).
    group_size: int = 1
    transfers: TransferPolicy = NO_TRANSFERS
    language: str = DEFAULT_LANGUAGE
    translations: tuple[tuple[str, EventText], ...] = ()


class _Collector:
    def __init__(self) -> None:
        self.issues: list[SpecIssue] = []

    def add(self, path: str, code: str, **params: Any) -> None:
        self.issues.append(SpecIssue(path, code, params))


def _text(raw: dict[str, Any], key: str, errs: _Collector, *, limit: int,
          required: bool = True, path: str = "") -> str:
    where = f"{path}{key}"
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errs.add(where, "required")
        return ""
    if not isinstance(value, str):
        errs.add(where, "not_text")
        return ""
    value = value.strip()
    if len(value) > limit:
        errs.add(where, "too_long", max=limit, length=len(value))
    return value


def _int(raw: dict[str, Any], key: str, errs: _Collector, *, low: int, high: int,
         path: str, default: int | None = None) -> int:
    where = f"{path}{key}"
    value = raw.get(key, default)
    if value is None:
        errs.add(where, "required")
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        errs.add(where, "not_integer", value=str(value))
        return 0
    if not low <= value <= high:
        errs.add(where, "out_of_range", min=low, max=high, value=value)
    return value


def _zone(raw: dict[str, Any], errs: _Collector) -> ZoneInfo | None:
    name = raw.get("timezone")
    if not isinstance(name, str) or not name.strip():
        errs.add("timezone", "required")
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        errs.add("timezone", "unknown_timezone", value=name)
        return None


def _datetime(raw: dict[str, Any], key: str, tz: ZoneInfo | None, errs: _Collector,
              path: str = "") -> datetime | None:
    where = f"{path}{key}"
    value = raw.get(key)
    if value is None:
        errs.add(where, "required")
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            errs.add(where, "bad_datetime", value=value)
            return None
    else:
        errs.add(where, "bad_datetime", value=str(value))
        return None
    if parsed.tzinfo is None:
        if tz is None:
            return None
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


def _price(raw: dict[str, Any], currency: str, errs: _Collector, path: str,
           key: str = "price") -> int:
    """Price from ``price_minor`` (int) or ``price`` (decimal "25.00"); never float math."""
    if f"{key}_minor" in raw:
        return _int(raw, f"{key}_minor", errs, low=0, high=MAX_PRICE_MINOR, path=path)
    value = raw.get(key)
    where = f"{path}{key}"
    if value is None:
        errs.add(where, "required")
        return 0
    if isinstance(value, bool):
        errs.add(where, "bad_price", value=str(value))
        return 0
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        errs.add(where, "bad_price", value=str(value))
        return 0
    if not amount.is_finite() or amount < 0:
        errs.add(where, "bad_price", value=str(value))
        return 0
    exponent = currency_exponent(currency) if currency else 2
    minor = amount.scaleb(exponent)
    if minor != minor.to_integral_value():
        errs.add(where, "too_many_decimals", value=str(value), decimals=exponent)
        return 0
    if minor > MAX_PRICE_MINOR:
        errs.add(where, "out_of_range", min=0, max=MAX_PRICE_MINOR, value=str(value))
    return int(minor)


def _ticket_types(raw: dict[str, Any], errs: _Collector) -> list[TicketTypeSpec]:
    items = raw.get("ticket_types")
    if not isinstance(items, list) or not items:
        errs.add("ticket_types", "required_list")
        return []
    if len(items) > 10:
        errs.add("ticket_types", "too_many", max=10)
    out: list[TicketTypeSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        path = f"ticket_types[{i}]."
        if not isinstance(item, dict):
            errs.add(f"ticket_types[{i}]", "not_mapping")
            continue
        name = _text(item, "name", errs, limit=NAME_MAX, path=path)
        if name and name.casefold() in seen:
            errs.add(f"{path}name", "duplicate_name", value=name)
        seen.add(name.casefold())
        currency = item.get("currency", raw.get("currency"))
        if not isinstance(currency, str) or len(currency.strip()) != 3 \
                or not currency.strip().isalpha() or not currency.isascii():
            errs.add(f"{path}currency", "bad_currency", value=str(currency))
            currency = ""
        currency = currency.strip().upper()
        if currency in UNSUPPORTED_CURRENCIES:
            errs.add(f"{path}currency", "unsupported_currency", value=currency)
            currency = ""
        price = _price(item, currency, errs, path)
        capacity = _int(item, "capacity", errs, low=1, high=MAX_CAPACITY, path=path)
        limit = _int(item, "per_user_limit", errs, low=1, high=MAX_PER_USER, path=path,
                     default=4)
        if currency:
            out.append(TicketTypeSpec(name, Money(price, currency), capacity, limit))
    currencies = {t.price.currency for t in out}
    if len(currencies) > 1:
        errs.add("ticket_types", "mixed_currencies", values=sorted(currencies))
    return out


def _lottery(raw: dict[str, Any], tz: ZoneInfo | None, starts_at: datetime | None,
             errs: _Collector) -> LotteryWindow | None:
    block = raw.get("lottery")
    if not isinstance(block, dict):
        errs.add("lottery", "required_for_lottery")
        return None
    p = "lottery."
    opens = _datetime(block, "entries_open_at", tz, errs, p)
    closes = _datetime(block, "entries_close_at", tz, errs, p)
    draw = _datetime(block, "draw_at", tz, errs, p)
    max_per_entry = _int(block, "max_per_entry", errs, low=1, high=MAX_PER_USER, path=p,
                         default=1)
    if opens and closes and closes <= opens:
        errs.add(f"{p}entries_close_at", "close_before_open")
    if closes and draw and draw < closes:
        errs.add(f"{p}draw_at", "draw_before_close")
    if draw and starts_at and draw >= starts_at:
        errs.add(f"{p}draw_at", "draw_after_start")
    beacon = block.get("beacon", False)
    if not isinstance(beacon, bool):
        errs.add(f"{p}beacon", "not_boolean", value=str(beacon))
        beacon = False
    require_phone = block.get("require_phone", False)
    if not isinstance(require_phone, bool):
        errs.add(f"{p}require_phone", "not_boolean", value=str(require_phone))
        require_phone = False
    if opens and closes and draw:
        return LotteryWindow(opens, closes, draw, max_per_entry, beacon, require_phone)
    return None


def _returns(raw: dict[str, Any], tz: ZoneInfo | None, currency: str,
             errs: _Collector) -> ReturnPolicy | None:
    """The optional ``returns:`` block: ``until`` (default: the start), ``fee`` per ticket
    (default 0), ``offer_minutes`` (how long a waiting-list offer stands, default 30)."""
    block = raw.get("returns")
    if block is None:
        return None
    if not isinstance(block, dict):
        errs.add("returns", "not_mapping")
        return None
    p = "returns."
    until = _datetime(block, "until", tz, errs, p) if "until" in block else None
    fee = _price({"fee": "0", **block}, currency, errs, p, key="fee")
    minutes = _int(block, "offer_minutes", errs, low=1, high=7 * 24 * 60, path=p,
                   default=DEFAULT_OFFER_MINUTES)
    return ReturnPolicy(until=until, fee_minor=fee, offer_minutes=minutes)


def _transfers(raw: dict[str, Any], sale_mode: SaleMode, tz: ZoneInfo | None,
               starts_at: datetime | None, lottery: LotteryWindow | None,
               errs: _Collector) -> TransferPolicy:
    """The ``transfers`` block: ``allowed`` (default: yes for a direct sale, no for a
    lottery), ``until`` (local time, default the start) and ``max_per_ticket`` (default 1).
    A lottery that verifies phones (one entry per person) keeps its tickets with the winners.
    """
    default = DIRECT_TRANSFERS if sale_mode is SaleMode.DIRECT else NO_TRANSFERS
    block = raw.get("transfers")
    if block is None:
        return default
    p = "transfers."
    if not isinstance(block, dict):
        errs.add("transfers", "not_mapping")
        return default
    allowed = block.get("allowed", default.allowed)
    if not isinstance(allowed, bool):
        errs.add(f"{p}allowed", "not_boolean", value=str(allowed))
        allowed = False
    if allowed and lottery is not None and lottery.require_phone:
        errs.add(f"{p}allowed", "phone_bound")
    until = _datetime(block, "until", tz, errs, p) if block.get("until") is not None else None
    if until is not None and starts_at is not None and until > starts_at:
        errs.add(f"{p}until", "transfer_after_start")
    most = _int(block, "max_per_ticket", errs, low=1, high=MAX_TRANSFERS_PER_TICKET, path=p,
                default=default.max_per_ticket)
    return TransferPolicy(allowed=allowed, until=until, max_per_ticket=most)


_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
TRANSLATIONS_MAX = 20


def _language(value: object, where: str, errs: _Collector) -> str | None:
    code = str(value).strip().lower().replace("_", "-") if isinstance(value, str) else ""
    if not _LANGUAGE.match(code):
        errs.add(where, "bad_language", value=str(value))
        return None
    return code


def _translations(raw: dict[str, Any], language: str,
                  errs: _Collector) -> tuple[tuple[str, EventText], ...]:
    """``translations: {de: {title: ..., description: ...}, ...}``: the title and description
    in other languages (the event's own are ``title`` and ``description`` in ``language``)."""
    value = raw.get("translations")
    if value is None:
        return ()
    if not isinstance(value, dict):
        errs.add("translations", "not_mapping")
        return ()
    if len(value) > TRANSLATIONS_MAX:
        errs.add("translations", "too_many", max=TRANSLATIONS_MAX)
    out: list[tuple[str, EventText]] = []
    for key, item in value.items():
        where = f"translations.{key}"
        code = _language(key, where, errs)
        if not isinstance(item, dict):
            errs.add(where, "not_mapping")
            continue
        title = _text(item, "title", errs, limit=TITLE_MAX, path=f"{where}.")
        description = _text(item, "description", errs, limit=TEXT_MAX, required=False,
                            path=f"{where}.")
        if code is not None and code != language:
            out.append((code, EventText(title, description)))
    return tuple(sorted(out))



def parse_event_spec(raw: object, *, now: datetime) -> EventSpec:
    """Validate an event description.

    Args:
        raw: the decoded YAML/JSON document.
        now: current time; events must start in the future.

    Returns:
        The validated spec.

    Raises:
        DomainError: ``invalid_event_spec`` with ``issues`` (a list of :class:`SpecIssue`).
    """
    errs = _Collector()
    if not isinstance(raw, dict):
        raise DomainError(ErrorCode.INVALID_EVENT_SPEC,
                          issues=[SpecIssue("", "not_mapping")])
    title = _text(raw, "title", errs, limit=TITLE_MAX)
    description = _text(raw, "description", errs, limit=TEXT_MAX, required=False)
    venue = _text(raw, "venue", errs, limit=TITLE_MAX)
    tz = _zone(raw, errs)
    starts_at = _datetime(raw, "starts_at", tz, errs)
    if starts_at and starts_at <= now:
        errs.add("starts_at", "in_past")
    mode_raw = raw.get("sale_mode", "direct")
    try:
        sale_mode = SaleMode(str(mode_raw).strip().lower())
    except ValueError:
        errs.add("sale_mode", "bad_choice", value=str(mode_raw),
                 choices=[m.value for m in SaleMode])
        sale_mode = SaleMode.DIRECT
    publish = raw.get("publish", True)
    if not isinstance(publish, bool):
        errs.add("publish", "not_boolean", value=str(publish))
        publish = False
    types = _ticket_types(raw, errs)
    lottery = _lottery(raw, tz, starts_at, errs) if sale_mode is SaleMode.LOTTERY else None
    returns = _returns(raw, tz, types[0].price.currency if types else "", errs)
    group_size = 1
    if lottery is not None and isinstance(raw.get("lottery"), dict):
        group_size = _int(raw["lottery"], "group_size", errs, low=1,
                          high=lottery.max_per_entry, path="lottery.", default=1)
    transfers = _transfers(raw, sale_mode, tz, starts_at, lottery, errs)
    language = (_language(raw["language"], "language", errs) if raw.get("language")
                is not None else None) or DEFAULT_LANGUAGE
    translations = _translations(raw, language, errs)
    if errs.issues:
        raise DomainError(ErrorCode.INVALID_EVENT_SPEC, issues=errs.issues)
    assert starts_at is not None and tz is not None
    return EventSpec(
        title=title, description=description, venue=venue, starts_at=starts_at,
        timezone=tz.key, sale_mode=sale_mode, ticket_types=tuple(types), publish=publish,
        lottery=lottery, transfers=transfers, returns=returns, group_size=group_size,
        language=language, translations=translations,
    )
