"""The event wizard's dialogue: one question at a time, each answer checked at once.

The document and what an organizer may set in it are core's (:mod:`core.organizer.draft`):
every answer is checked by running the import validator over the document with the answer
applied, keeping only the issues that belong to the current question. This module only asks
and reads: which question comes next, the choices offered as buttons, reading what was typed
(dates like ``12.12.2026 21:00``, a decimal comma, a case-insensitive time zone), skip and back.

Steps (``index`` is the ticket type the type steps work on)::

    title -> description -> venue -> timezone -> starts_at
    -> type_name[i] -> type_price[i] -> type_currency[i] -> type_capacity[i] -> type_limit[i]
    -> (next existing type | more_types: "add" -> type_name[n] | "done")
    -> sale_mode: direct -> preview
                  lottery -> lottery_opens -> lottery_closes -> lottery_draw -> lottery_max
                             -> lottery_beacon -> preview

Skip is a button (:func:`skip`), never a typed word, so "skip" is a title like any other.
It keeps the value already in the draft (editing, or after going back), else sets the step's
default (no description, the first type's currency, 4 per user, 1 per entry, no beacon); a
required field without a value cannot be skipped. Entering the preview validates the whole
document; a problem sends the draft back to the step that owns it.
"""

from __future__ import annotations

import copy
import functools
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.catalog.model import Event, SaleMode, TicketType
from core.catalog.spec import SpecIssue
from core.kernel.errors import DomainError, ErrorCode
from core.organizer import draft as rules
from core.organizer.draft import EditBase, Revision, Rules
from core.organizer.editor import EventWizardService

NO_DESCRIPTION = "-"
ADD_TYPE = "add"
DONE = "done"
YES = "yes"
NO = "no"
MAX_TYPES = 10
DEFAULT_PER_USER = 4
DEFAULT_PER_ENTRY = 1
COMMON_TIMEZONES = ("Europe/Berlin", "Europe/London", "America/New_York", "Europe/Paris",
                    "America/Los_Angeles", "UTC")
COMMON_CURRENCIES = ("EUR", "USD", "GBP", "CHF")


class Step(StrEnum):
    """One question of the wizard (stored in the draft row, so never rename one)."""

    TITLE = "title"
    DESCRIPTION = "description"
    VENUE = "venue"
    TIMEZONE = "timezone"
    STARTS_AT = "starts_at"
    TYPE_NAME = "type_name"
    TYPE_PRICE = "type_price"
    TYPE_CURRENCY = "type_currency"
    TYPE_CAPACITY = "type_capacity"
    TYPE_LIMIT = "type_limit"
    MORE_TYPES = "more_types"
    SALE_MODE = "sale_mode"
    LOTTERY_OPENS = "lottery_opens"
    LOTTERY_CLOSES = "lottery_closes"
    LOTTERY_DRAW = "lottery_draw"
    LOTTERY_MAX = "lottery_max"
    LOTTERY_BEACON = "lottery_beacon"
    PREVIEW = "preview"


# Stable small numbers for buttons (callback_data); append only.
STEP_NUMBERS: dict[Step, int] = {step: n for n, step in enumerate(Step)}
TYPE_STEPS = frozenset({Step.TYPE_NAME, Step.TYPE_PRICE, Step.TYPE_CURRENCY,
                        Step.TYPE_CAPACITY, Step.TYPE_LIMIT})
_LINEAR = (Step.TITLE, Step.DESCRIPTION, Step.VENUE, Step.TIMEZONE, Step.STARTS_AT)
_TYPE_ORDER = (Step.TYPE_NAME, Step.TYPE_PRICE, Step.TYPE_CURRENCY, Step.TYPE_CAPACITY,
               Step.TYPE_LIMIT)
_LOTTERY_ORDER = (Step.LOTTERY_OPENS, Step.LOTTERY_CLOSES, Step.LOTTERY_DRAW,
                  Step.LOTTERY_MAX, Step.LOTTERY_BEACON)

# Where each step's answer lives: (container, key); container "" = the document itself.
_FIELDS: dict[Step, tuple[str, str]] = {
    Step.TITLE: ("", "title"),
    Step.DESCRIPTION: ("", "description"),
    Step.VENUE: ("", "venue"),
    Step.TIMEZONE: ("", "timezone"),
    Step.STARTS_AT: ("", "starts_at"),
    Step.TYPE_NAME: ("type", "name"),
    Step.TYPE_PRICE: ("type", "price"),
    Step.TYPE_CURRENCY: ("type", "currency"),
    Step.TYPE_CAPACITY: ("type", "capacity"),
    Step.TYPE_LIMIT: ("type", "per_user_limit"),
    Step.SALE_MODE: ("", "sale_mode"),
    Step.LOTTERY_OPENS: ("lottery", "entries_open_at"),
    Step.LOTTERY_CLOSES: ("lottery", "entries_close_at"),
    Step.LOTTERY_DRAW: ("lottery", "draw_at"),
    Step.LOTTERY_MAX: ("lottery", "max_per_entry"),
    Step.LOTTERY_BEACON: ("lottery", "beacon"),
}
_DATETIME_STEPS = frozenset({Step.STARTS_AT, Step.LOTTERY_OPENS, Step.LOTTERY_CLOSES,
                             Step.LOTTERY_DRAW})
_INTEGER_STEPS = frozenset({Step.TYPE_CAPACITY, Step.TYPE_LIMIT, Step.LOTTERY_MAX})
_TYPE_KEY_STEP = {"name": Step.TYPE_NAME, "price": Step.TYPE_PRICE,
                  "price_minor": Step.TYPE_PRICE, "currency": Step.TYPE_CURRENCY,
                  "capacity": Step.TYPE_CAPACITY, "per_user_limit": Step.TYPE_LIMIT}
_TYPE_PATH = re.compile(r"ticket_types\[(\d+)\](?:\.(\w+))?")
_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})[ T,]+(\d{1,2})[:.](\d{2})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})[ T]+(\d{1,2}):(\d{2})")
_INTEGER = re.compile(r"[+-]?\d+")


@dataclass(frozen=True, slots=True)
class Draft:
    """Where one organizer is in the wizard and what they answered so far.

    Attributes:
        step: the question being asked.
        doc: the answers, shaped exactly like an import document.
        index: the ticket type (0-based) the type steps are about.
        event_id: the event being edited, or None for a new event.
    """

    step: Step
    doc: dict[str, Any]
    index: int = 0
    event_id: int | None = None

    @property
    def cursor(self) -> str:
        """The step as stored: ``type_price:1`` for type steps, else the step name."""
        return f"{self.step.value}:{self.index}" if self.step in TYPE_STEPS else self.step.value

    @classmethod
    def restore(cls, cursor: str, doc: dict[str, Any], event_id: int | None) -> Draft:
        """A draft from its stored form (an unknown cursor restarts at the first step)."""
        name, _, number = cursor.partition(":")
        try:
            step = Step(name)
        except ValueError:
            return cls(Step.TITLE, doc, 0, event_id)
        index = int(number) if number.isdigit() else 0
        index = min(index, len(_types(doc))) if step in TYPE_STEPS else 0
        if step in TYPE_STEPS and step is not Step.TYPE_NAME and index >= len(_types(doc)):
            step = Step.TYPE_NAME
        return cls(step, doc, index, event_id)

    @classmethod
    def of(cls, stored: rules.Draft) -> Draft:
        """The dialogue's view of a stored draft."""
        return cls.restore(stored.cursor, stored.doc, stored.event_id)

    @property
    def stored(self) -> rules.Draft:
        """The draft as core stores it."""
        return rules.Draft(self.doc, self.cursor, self.event_id)

    @property
    def editing(self) -> bool:
        """True when the draft changes an existing event."""
        return self.event_id is not None


@dataclass(frozen=True, slots=True)
class Prompt:
    """What to ask next.

    Attributes:
        step: the question.
        index: the ticket type (0-based) for type steps.
        choices: answers offered as buttons (the answer text of each).
        current: the value the draft holds (what ``skip`` keeps), for display.
        default: what ``skip`` sets when there is no current value.
        skippable: whether ``skip`` is accepted here.
        type_name: the ticket type's name, for type steps after the name.
    """

    step: Step
    index: int = 0
    choices: tuple[str, ...] = ()
    current: str | None = None
    default: str | None = None
    skippable: bool = False
    type_name: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The draft after an answer, and the problem with the answer if there was one."""

    draft: Draft
    issue: SpecIssue | None = None

    @property
    def accepted(self) -> bool:
        """The answer was taken."""
        return self.issue is None


# ----------------------------------------------------------------------------- starting

def new_draft() -> Draft:
    """An empty draft for a new event, at the first question."""
    return Draft(Step.TITLE, {})


def draft_from_event(event: Event, types: list[TicketType], *, beacon: bool = False) -> Draft:
    """A draft holding a stored event's current values, to edit it (at the first question)."""
    return Draft.of(rules.draft_from_event(event, types, beacon=beacon))


# ----------------------------------------------------------------------------- asking

def prompt(draft: Draft) -> Prompt:
    """The question for the draft's current step."""
    step, index, doc = draft.step, draft.index, draft.doc
    if step is Step.PREVIEW:
        return Prompt(step)
    if step is Step.MORE_TYPES:
        return Prompt(step, index, (ADD_TYPE, DONE))
    current = _get(doc, step, index)
    default = _default(doc, step, index)
    choices: tuple[str, ...] = ()
    if step is Step.TIMEZONE:
        choices = COMMON_TIMEZONES
    elif step is Step.TYPE_CURRENCY:
        first = _first_currency(doc, index)
        choices = (first,) if first else COMMON_CURRENCIES
    elif step is Step.SALE_MODE:
        choices = (SaleMode.DIRECT.value, SaleMode.LOTTERY.value)
    elif step is Step.LOTTERY_BEACON:
        choices = (YES, NO)
    types = _types(doc)
    name = str(types[index].get("name") or "") if index < len(types) else ""
    return Prompt(step, index, choices, _display(step, current), default,
                  current is not None or default is not None, name)


def _display(step: Step, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return YES if value else NO
    text = str(value)
    return text.replace("T", " ", 1) if step in _DATETIME_STEPS else text


def _default(doc: dict[str, Any], step: Step, index: int) -> str | None:
    if step is Step.DESCRIPTION:
        return ""
    if step is Step.TYPE_CURRENCY:
        return _first_currency(doc, index)
    if step is Step.TYPE_LIMIT:
        return str(DEFAULT_PER_USER)
    if step is Step.LOTTERY_MAX:
        return str(DEFAULT_PER_ENTRY)
    if step is Step.LOTTERY_BEACON:
        return NO
    return None


def _first_currency(doc: dict[str, Any], index: int) -> str | None:
    types = _types(doc)
    if index == 0 or not types:
        return None
    value = types[0].get("currency")
    return value if isinstance(value, str) and value else None


# ----------------------------------------------------------------------------- answering

def answer(draft: Draft, text: str, *, now: datetime,
           base: EditBase | None = None) -> Outcome:
    """Apply one typed answer (or the value of a choice button): checked, stored and moved
    on, or refused with the issue. Every text is an answer: "skip" is a title like any other
    (skipping is :func:`skip`, a button).

    Args:
        draft: where the organizer is.
        text: what they typed (or the value of the button they tapped).
        now: the current time (the event must start in the future).
        base: for edits, what is stored and sold.

    Returns:
        The new draft (the same one when refused) and the issue, if any. Entering the preview
        validates everything; a problem then moves the draft to the step that owns it.
    """
    text = text.strip()
    if draft.step is Step.PREVIEW:
        return Outcome(draft, SpecIssue("", "use_buttons"))
    if draft.step is Step.MORE_TYPES:
        return _more_types(draft, text, now=now, base=base)
    return _take(draft, _read(draft.step, text), Rules(now, base))


def skip(draft: Draft, *, now: datetime, base: EditBase | None = None) -> Outcome:
    """The Skip button: keep the value the draft holds, else take the step's default; a
    required answer without a value is refused (``required``)."""
    step, index = draft.step, draft.index
    if step is Step.PREVIEW:
        return Outcome(draft, SpecIssue("", "use_buttons"))
    if step is Step.MORE_TYPES:
        return _more_types(draft, DONE, now=now, base=base)
    value: Any = _get(draft.doc, step, index)
    if value is None:
        default = _default(draft.doc, step, index)
        if default is None:
            return Outcome(draft, SpecIssue(_path(step, index), "required"))
        value = _read(step, default)
    return _take(draft, value, Rules(now, base))


def _take(draft: Draft, value: Any, checks: Rules) -> Outcome:
    step, index = draft.step, draft.index
    doc = copy.deepcopy(draft.doc)
    if step is Step.TYPE_NAME and index >= len(_types(doc)):
        doc.setdefault("ticket_types", []).append({})
        first = _first_currency(doc, index)
        if first:
            doc["ticket_types"][index]["currency"] = first
    _set(doc, step, index, value)
    issues = checks.field_issues(doc, _paths(step, index))
    if issues:
        return Outcome(draft, issues[0])
    if step is Step.TYPE_CURRENCY:
        # The currency decides how many decimals the price may have: re-ask the price.
        price_issue = next(iter(checks.field_issues(doc, {_path(Step.TYPE_PRICE, index)})),
                           None)
        if price_issue is not None:
            return Outcome(Draft(Step.TYPE_PRICE, doc, index, draft.event_id), price_issue)
    moved = _forward(Draft(step, doc, index, draft.event_id))
    return _arrive(moved, now=checks.now, base=checks.base)


def _more_types(draft: Draft, text: str, *, now: datetime,
                base: EditBase | None) -> Outcome:
    word = text.casefold()
    count = len(_types(draft.doc))
    if word in (ADD_TYPE, "add another", "another", "more", "+", YES):
        if count >= MAX_TYPES:
            return Outcome(draft, SpecIssue("ticket_types", "too_many", {"max": MAX_TYPES}))
        return Outcome(Draft(Step.TYPE_NAME, draft.doc, count, draft.event_id))
    if word in (DONE, "finish", "ready", NO, "skip"):
        moved = Draft(Step.SALE_MODE, draft.doc, 0, draft.event_id)
        return Outcome(moved)
    return Outcome(draft, SpecIssue("", "bad_choice",
                                    {"value": text, "choices": [ADD_TYPE, DONE]}))


def _forward(draft: Draft) -> Draft:
    step, index, doc = draft.step, draft.index, draft.doc

    def to(target: Step, i: int = 0) -> Draft:
        return Draft(target, doc, i, draft.event_id)

    if step in _LINEAR:
        position = _LINEAR.index(step)
        if position + 1 < len(_LINEAR):
            return to(_LINEAR[position + 1])
        return to(Step.TYPE_NAME, 0)
    if step in TYPE_STEPS:
        position = _TYPE_ORDER.index(step)
        if position + 1 < len(_TYPE_ORDER):
            return to(_TYPE_ORDER[position + 1], index)
        if index + 1 < len(_types(doc)):
            return to(Step.TYPE_NAME, index + 1)
        return to(Step.MORE_TYPES)
    if step is Step.SALE_MODE:
        lottery = str(doc.get("sale_mode", "")).lower() == SaleMode.LOTTERY.value
        return to(Step.LOTTERY_OPENS if lottery else Step.PREVIEW)
    if step in _LOTTERY_ORDER:
        position = _LOTTERY_ORDER.index(step)
        if position + 1 < len(_LOTTERY_ORDER):
            return to(_LOTTERY_ORDER[position + 1])
        return to(Step.PREVIEW)
    return draft


def _arrive(draft: Draft, *, now: datetime, base: EditBase | None) -> Outcome:
    """Entering the preview checks the whole document; a problem goes back to its step."""
    if draft.step is not Step.PREVIEW:
        return Outcome(draft)
    issues = problems(draft, now=now, base=base)
    if not issues:
        return Outcome(draft)
    step, index = owner(issues[0].path, draft.doc)
    return Outcome(Draft(step, draft.doc, index, draft.event_id), issues[0])


def back(draft: Draft) -> Draft:
    """The previous question (answers are kept; ``skip`` keeps them again)."""
    step, index, doc = draft.step, draft.index, draft.doc

    def to(target: Step, i: int = 0) -> Draft:
        return Draft(target, doc, i, draft.event_id)

    if step in _LINEAR:
        position = _LINEAR.index(step)
        return to(_LINEAR[max(0, position - 1)])
    if step in TYPE_STEPS:
        position = _TYPE_ORDER.index(step)
        if position > 0:
            return to(_TYPE_ORDER[position - 1], index)
        if index == 0:
            return to(Step.STARTS_AT)
        if index >= len(_types(doc)):
            return to(Step.MORE_TYPES)
        return to(Step.TYPE_LIMIT, index - 1)
    if step is Step.MORE_TYPES:
        count = len(_types(doc))
        return to(Step.TYPE_LIMIT, count - 1) if count else to(Step.STARTS_AT)
    if step is Step.SALE_MODE:
        return to(Step.MORE_TYPES)
    if step in _LOTTERY_ORDER:
        position = _LOTTERY_ORDER.index(step)
        return to(_LOTTERY_ORDER[position - 1]) if position else to(Step.SALE_MODE)
    lottery = str(doc.get("sale_mode", "")).lower() == SaleMode.LOTTERY.value
    return to(Step.LOTTERY_BEACON if lottery else Step.SALE_MODE)


# ----------------------------------------------------------------------------- finishing

def problems(draft: Draft, *, now: datetime, base: EditBase | None = None) -> list[SpecIssue]:
    """Every issue of the whole draft (the import validator's, then the edit rules')."""
    return rules.problems(draft.doc, now=now, base=base)


def sent_back(draft: Draft, path: str) -> Draft:
    """The draft at the question that owns the field at ``path`` (a problem found late)."""
    step, index = owner(path, draft.doc)
    return Draft(step, draft.doc, index, draft.event_id)


def owner(path: str, doc: dict[str, Any]) -> tuple[Step, int]:
    """The step (and ticket type) that asks for the field at ``path``."""
    match = _TYPE_PATH.fullmatch(path)
    if match:
        index = int(match.group(1))
        return _TYPE_KEY_STEP.get(match.group(2) or "name", Step.TYPE_NAME), index
    if path == "ticket_types":
        count = len(_types(doc))
        return (Step.MORE_TYPES, 0) if count else (Step.TYPE_NAME, 0)
    if path.startswith("lottery"):
        key = path.partition(".")[2]
        for step in _LOTTERY_ORDER:
            if _FIELDS[step][1] == key:
                return step, 0
        return Step.LOTTERY_OPENS, 0
    for step in (*_LINEAR, Step.SALE_MODE):
        if _FIELDS[step][1] == path:
            return step, 0
    return Step.TITLE, 0


# ----------------------------------------------------------------------------- helpers

def _types(doc: dict[str, Any]) -> list[dict[str, Any]]:
    items = doc.get("ticket_types")
    return items if isinstance(items, list) else []


def _path(step: Step, index: int) -> str:
    container, key = _FIELDS[step]
    if container == "type":
        return f"ticket_types[{index}].{key}"
    return f"lottery.{key}" if container == "lottery" else key


def _paths(step: Step, index: int) -> frozenset[str]:
    paths = {_path(step, index)}
    if step is Step.TYPE_CURRENCY:
        paths.add("ticket_types")
    if step is Step.TYPE_NAME:
        paths.add(f"ticket_types[{index}]")
    return frozenset(paths)


def _get(doc: dict[str, Any], step: Step, index: int) -> Any:
    container, key = _FIELDS[step]
    if container == "type":
        types = _types(doc)
        return types[index].get(key) if index < len(types) else None
    if container == "lottery":
        block = doc.get("lottery")
        return block.get(key) if isinstance(block, dict) else None
    return doc.get(key)


def _set(doc: dict[str, Any], step: Step, index: int, value: Any) -> None:
    container, key = _FIELDS[step]
    if container == "type":
        doc["ticket_types"][index][key] = value
    elif container == "lottery":
        block = doc.get("lottery")
        if not isinstance(block, dict):
            block = doc["lottery"] = {}
        block[key] = value
    else:
        doc[key] = value


def _read(step: Step, value: Any) -> Any:
    """The answer as the document holds it; unreadable input is kept as typed so that the
    validator names the problem."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if step is Step.DESCRIPTION and text == NO_DESCRIPTION:
        return ""
    if step is Step.TIMEZONE:
        return _zone_name(text)
    if step in _DATETIME_STEPS:
        return _local_datetime(text)
    if step is Step.TYPE_PRICE:
        return text.replace(",", ".") if "," in text and "." not in text else text
    if step is Step.TYPE_CURRENCY:
        return text.upper()
    if step in _INTEGER_STEPS:
        compact = text.replace("_", "").replace(" ", "")
        return int(compact) if _INTEGER.fullmatch(compact) else text
    if step is Step.SALE_MODE:
        return text.lower()
    if step is Step.LOTTERY_BEACON:
        word = text.casefold()
        if word in (YES, "y", "true", "on"):
            return True
        if word in (NO, "n", "false", "off"):
            return False
    return text


def _local_datetime(text: str) -> str:
    for pattern, order in ((_DOTTED_DATE, (2, 1, 0)), (_ISO_DATE, (0, 1, 2))):
        match = pattern.fullmatch(text)
        if match is None:
            continue
        parts = [int(g) for g in match.groups()]
        year, month, day = (parts[i] for i in order)
        try:
            return datetime(year, month, day, parts[3], parts[4]).strftime("%Y-%m-%dT%H:%M")
        except ValueError:
            return text
    return text


@functools.cache
def _zone_names() -> dict[str, str]:
    names: dict[str, str] = {}
    cities: dict[str, list[str]] = {}
    for name in zoneinfo.available_timezones():
        names[name.casefold()] = name
        cities.setdefault(name.rsplit("/", 1)[-1].replace("_", " ").casefold(), []).append(name)
    for city, zones in cities.items():
        if len(zones) == 1:
            names.setdefault(city, zones[0])
    return names


def _zone_name(text: str) -> str:
    """An IANA name from what was typed: exact, any case, or a unique city (``berlin``)."""
    key = text.strip().casefold()
    return _zone_names().get(key) or _zone_names().get(key.replace("_", " ")) or text.strip()


# ----------------------------------------------------------------------------- the conversation

@dataclass(frozen=True, slots=True)
class WizardState:
    """What the organizer is asked next.

    Attributes:
        draft: where the organizer is.
        prompt: the question to ask.
        issue: why the last answer was refused (or sent the draft back), if it was.
        replaced: starting discarded an unfinished draft.
        lottery_locked: editing a lottery whose entries have opened (its terms are fixed).
    """

    draft: Draft
    prompt: Prompt
    issue: SpecIssue | None = None
    replaced: bool = False
    lottery_locked: bool = False


def _state(outcome: Outcome) -> WizardState:
    return WizardState(outcome.draft, prompt(outcome.draft), outcome.issue)


def toggle_transfers(draft: Draft, *, now: datetime) -> Outcome:
    """At the preview: let holders pass tickets on, or stop them (the other way round from
    now; a direct sale allows it and a lottery does not unless told). Anywhere else nothing
    changes. A lottery that verifies phones keeps its tickets with the winners."""
    if draft.step is not Step.PREVIEW:
        return Outcome(draft)
    doc = copy.deepcopy(draft.doc)
    block = doc.get("transfers")
    block = dict(block) if isinstance(block, dict) else {}
    lottery = str(doc.get("sale_mode", "")).lower() == SaleMode.LOTTERY.value
    block["allowed"] = not bool(block.get("allowed", not lottery))
    doc["transfers"] = block
    if any(i.path.startswith("transfers") for i in rules.validation_issues(doc, now)):
        return Outcome(draft, SpecIssue("", "transfers_bound"))
    return Outcome(Draft(draft.step, doc, draft.index, draft.event_id))


class Dialogue:
    """The wizard's conversation over the event editor: each answer, skip or back is one
    revision of the stored draft (core checks and stores it under the draft's lock)."""

    def __init__(self, editor: EventWizardService) -> None:
        self.editor = editor

    async def start(self, user_id: int, event_id: int | None = None) -> WizardState:
        """Open the wizard at its first question (see ``EventWizardService.start``)."""
        started = await self.editor.start(user_id, event_id)
        draft = Draft.of(started.draft)
        return WizardState(draft, prompt(draft), replaced=started.replaced,
                           lottery_locked=started.lottery_locked)

    async def current(self, user_id: int) -> WizardState | None:
        """The open draft's question, or None when the user has no wizard open."""
        stored = await self.editor.current(user_id)
        return None if stored is None else _state(Outcome(Draft.of(stored)))

    async def answer(self, user_id: int, text: str) -> WizardState | None:
        """A typed answer (or a choice button's value); None if no wizard is open."""
        return await self._revise(
            user_id, lambda d, r: answer(d, text, now=r.now, base=r.base))

    async def skip(self, user_id: int) -> WizardState | None:
        """The Skip button (or ``/skip``): keep the current value or take the default."""
        return await self._revise(user_id, lambda d, r: skip(d, now=r.now, base=r.base))

    async def toggle_transfers(self, user_id: int) -> WizardState | None:
        """The preview's transfers button; None if no wizard is open."""
        return await self._revise(user_id, lambda d, r: toggle_transfers(d, now=r.now))

    async def back(self, user_id: int) -> WizardState | None:
        """The previous question; None if no wizard is open."""
        return await self._revise(user_id, lambda d, r: Outcome(back(d)))

    async def publish(self, user_id: int, *, publish: bool = True) -> Event | None:
        """Publish (or save unpublished) the event of the draft; a draft that cannot be
        saved moves to the question that owns its first problem, and the error is raised.

        Raises:
            DomainError: as ``EventWizardService.publish`` / ``save_as_draft``.
        """
        try:
            return await (self.editor.publish(user_id) if publish
                          else self.editor.save_as_draft(user_id))
        except DomainError as err:
            if err.code in (ErrorCode.INVALID_EVENT_SPEC, ErrorCode.CAPACITY_BELOW_SOLD):
                issues = err.params.get("issues") or []
                path = issues[0].path if issues else str(err.params.get("path", ""))
                await self._revise(user_id, lambda d, r: Outcome(sent_back(d, path)))
            raise

    async def _revise(self, user_id: int,
                      step: Callable[[Draft, Rules], Outcome]) -> WizardState | None:
        def change(stored: rules.Draft, checks: Rules) -> Revision:
            outcome = step(Draft.of(stored), checks)
            return Revision(outcome.draft.stored, outcome.issue)

        revision = await self.editor.revise(user_id, change)
        if revision is None:
            return None
        return _state(Outcome(Draft.of(revision.draft), revision.issue))
