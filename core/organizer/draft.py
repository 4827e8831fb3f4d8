"""What an organizer may set on an event: the draft document and its validation.

A :class:`Draft` holds an unfinished event as a plain dict shaped exactly like the import
document (:mod:`core.catalog.spec`), so finishing it is simply
:func:`~core.catalog.spec.parse_event_spec`; the chat dialogue that fills it in (questions,
choices, skip and back) lives in ``handlers/wizard`` and keeps its place in ``cursor``, which
core stores and never reads.

Editing an existing event starts from its stored values (:func:`draft_from_event`) and must
respect an :class:`EditBase` (:func:`edit_issues`): no capacity below what is sold, no change
of sale mode once anything is sold, and once a lottery's entries have opened its terms
(sale mode, window, draw, ticket types, prices and seats) are fixed, because entrants paid
under them; title, description, venue, start and per-user limits may still change.
"""

from __future__ import annotations

import copy
import re
import zoneinfo
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.catalog.model import (
    DEFAULT_LANGUAGE,
    DIRECT_TRANSFERS,
    NO_TRANSFERS,
    Event,
    LotteryWindow,
    SaleMode,
    TicketType,
)
from core.catalog.spec import EventSpec, SpecIssue, TicketTypeSpec, parse_event_spec
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import currency_exponent

_CAPACITY_PATH = re.compile(r"ticket_types\[(\d+)\]\.capacity")


@dataclass(frozen=True, slots=True)
class Draft:
    """One organizer's unfinished event, as stored.

    Attributes:
        doc: the values so far, shaped exactly like an import document.
        cursor: where the chat dialogue stands (its own notation; empty = the beginning).
        event_id: the event being edited, or None for a new event.
    """

    doc: dict[str, Any]
    cursor: str = ""
    event_id: int | None = None

    @property
    def editing(self) -> bool:
        """True when the draft changes an existing event."""
        return self.event_id is not None


@dataclass(frozen=True, slots=True)
class EditBase:
    """What an edit of a stored event must respect.

    Attributes:
        sale_mode: the stored sale mode.
        lottery: the stored lottery window (with its beacon flag).
        types: the stored ticket types, in display order.
        sold: tickets sold per stored type (same order); lottery winners count as sold.
        lottery_locked: the lottery's entries have opened: its terms are fixed.
        entries: paid lottery entries so far.
    """

    sale_mode: SaleMode
    lottery: LotteryWindow | None
    types: tuple[TicketTypeSpec, ...]
    sold: tuple[int, ...] = ()
    lottery_locked: bool = False
    entries: int = 0


@dataclass(frozen=True, slots=True)
class Rules:
    """The checks an answer is held to at one moment: the clock and, for edits, the base."""

    now: datetime
    base: EditBase | None = None

    def field_issues(self, doc: dict[str, Any], paths: Collection[str]) -> list[SpecIssue]:
        """The problems of the fields at ``paths`` in ``doc`` (the import validator's, then
        for edits a capacity below what is sold), in that order."""
        issues = [i for i in validation_issues(doc, self.now) if i.path in paths]
        if issues or self.base is None:
            return issues
        for path in paths:
            match = _CAPACITY_PATH.fullmatch(path)
            if match is None:
                continue
            index = int(match.group(1))
            types = doc.get("ticket_types")
            typed = types[index] if isinstance(types, list) and index < len(types) else {}
            value = typed.get("capacity") if isinstance(typed, dict) else None
            base = self.base
            if index < len(base.sold) and isinstance(value, int) and value < base.sold[index]:
                name = typed.get("name") or base.types[index].name
                issues.append(SpecIssue(path, "capacity_below_sold",
                                        {"name": name, "sold": base.sold[index]}))
        return issues

    def problems(self, doc: dict[str, Any]) -> list[SpecIssue]:
        """Every issue of the whole document (the import validator's, then the edit rules')."""
        return problems(doc, now=self.now, base=self.base)


@dataclass(frozen=True, slots=True)
class Revision:
    """A draft after one change, and the problem that refused or redirected it, if any."""

    draft: Draft
    issue: SpecIssue | None = None


# ----------------------------------------------------------------------------- starting

def local_text(when: datetime, tz: str) -> str:
    """``when`` as a document holds it: local, no zone, no zero seconds."""
    local = when.astimezone(zoneinfo.ZoneInfo(tz)).replace(tzinfo=None)
    if local.second == 0 and local.microsecond == 0:
        return local.strftime("%Y-%m-%dT%H:%M")
    return local.isoformat()


def price_text(amount: int, currency: str) -> str:
    """Minor units as the decimal an organizer types (2500 EUR -> ``25.00``)."""
    return str(Decimal(amount).scaleb(-currency_exponent(currency)))


def draft_from_event(event: Event, types: list[TicketType], *, beacon: bool = False) -> Draft:
    """A draft holding a stored event's current values, to edit it (at the beginning)."""
    doc: dict[str, Any] = {
        "title": event.title, "description": event.description, "venue": event.venue,
        "timezone": event.timezone, "starts_at": local_text(event.starts_at, event.timezone),
        "sale_mode": event.sale_mode.value,
        "ticket_types": [
            {"name": t.name, "price": price_text(t.price.amount, t.price.currency),
             "currency": t.price.currency, "capacity": t.capacity,
             "per_user_limit": t.per_user_limit} for t in types],
    }
    if event.language != DEFAULT_LANGUAGE or event.translations:
        doc["language"] = event.language
        doc["translations"] = {code: {"title": text.title, "description": text.description}
                               for code, text in event.translations}
    if event.lottery is not None:
        window = event.lottery
        doc["lottery"] = {
            "entries_open_at": local_text(window.entries_open_at, event.timezone),
            "entries_close_at": local_text(window.entries_close_at, event.timezone),
            "draw_at": local_text(window.draw_at, event.timezone),
            "max_per_entry": window.max_per_entry, "beacon": beacon,
        }
    # A transfer policy other than the sale mode's default (set in the event file) is kept
    # as it is; the default is left to follow the sale mode if the organizer changes it.
    policy = event.transfers
    if policy != (DIRECT_TRANSFERS if event.sale_mode is SaleMode.DIRECT else NO_TRANSFERS):
        doc["transfers"] = {"allowed": policy.allowed, "max_per_ticket": policy.max_per_ticket}
        if policy.until is not None:
            doc["transfers"]["until"] = local_text(policy.until, event.timezone)
    return Draft(doc, "", event.id)


# ----------------------------------------------------------------------------- checking

def validation_issues(doc: dict[str, Any], now: datetime) -> list[SpecIssue]:
    """The import validator's issues with the document (a direct sale ignores its lottery)."""
    try:
        parse_event_spec(_final_doc(doc), now=now)
    except DomainError as err:
        return list(err.params.get("issues") or [])
    return []


def problems(doc: dict[str, Any], *, now: datetime,
             base: EditBase | None = None) -> list[SpecIssue]:
    """Every issue of the whole document (the import validator's, then the edit rules')."""
    try:
        spec = parse_event_spec(_final_doc(doc), now=now)
    except DomainError as err:
        return list(err.params.get("issues") or [])
    return edit_issues(spec, base) if base is not None else []


def finish(doc: dict[str, Any], *, now: datetime, base: EditBase | None = None,
           publish: bool = True) -> EventSpec:
    """The validated event of a complete document (the preview and publish use this).

    Raises:
        DomainError: ``capacity_below_sold`` (``name``, ``sold``) when an edit would sell
            more than a type holds, else ``invalid_event_spec`` with every issue.
    """
    final = _final_doc(doc)
    final["publish"] = publish
    spec = parse_event_spec(final, now=now)
    if base is not None:
        issues = edit_issues(spec, base)
        below = next((i for i in issues if i.code == "capacity_below_sold"), None)
        if below is not None:
            raise DomainError(ErrorCode.CAPACITY_BELOW_SOLD, path=below.path, **below.params)
        if issues:
            raise DomainError(ErrorCode.INVALID_EVENT_SPEC, issues=issues)
    return spec


def _final_doc(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    if str(out.get("sale_mode", "")).lower() != SaleMode.LOTTERY.value:
        out.pop("lottery", None)
    return out


def edit_issues(spec: EventSpec, base: EditBase) -> list[SpecIssue]:
    """What an edit may not change (see the module docstring).

    Returns:
        Issues with codes ``capacity_below_sold`` (``name``, ``sold``), ``types_removed``,
        ``sale_mode_locked`` and ``lottery_locked``.
    """
    issues: list[SpecIssue] = []
    new = spec.ticket_types
    if len(new) < len(base.types):
        issues.append(SpecIssue("ticket_types", "types_removed"))
    for i, sold in enumerate(base.sold):
        if i < len(new) and new[i].capacity < sold:
            issues.append(SpecIssue(f"ticket_types[{i}].capacity", "capacity_below_sold",
                                    {"name": new[i].name, "sold": sold}))
    if spec.sale_mode is not base.sale_mode:
        if any(base.sold) or base.lottery_locked or base.entries:
            issues.append(SpecIssue("sale_mode", "sale_mode_locked"))
        return issues
    if not base.lottery_locked:
        return issues
    old, now_window = base.lottery, spec.lottery
    if old is not None and now_window is not None:
        for key, path in (("entries_open_at", "entries_open_at"),
                          ("entries_close_at", "entries_close_at"), ("draw_at", "draw_at"),
                          ("max_per_entry", "max_per_entry"), ("beacon", "beacon")):
            if getattr(old, key) != getattr(now_window, key):
                issues.append(SpecIssue(f"lottery.{path}", "lottery_locked"))
    if len(new) != len(base.types):
        issues.append(SpecIssue("ticket_types", "lottery_locked"))
    for i, (before, after) in enumerate(zip(base.types, new, strict=False)):
        if before.price != after.price:
            issues.append(SpecIssue(f"ticket_types[{i}].price", "lottery_locked"))
        if before.capacity != after.capacity:
            issues.append(SpecIssue(f"ticket_types[{i}].capacity", "lottery_locked"))
    return issues
