"""Buttons: one declaration per action, the callback_data codec derived from it.

A button's action is a frozen dataclass registered under a short tag with :func:`declare`;
its fields are integers annotated with their range (:data:`Id`, :data:`PageNo`,
:data:`Quantity` or a :class:`Range`). The flow that answers it is registered next to the
flow with :func:`handles`. Those two places are all a new button needs::

    @declare("rf")
    @dataclass(frozen=True, slots=True)
    class Refund(Action):
        \"\"\"``v1:rf:99``: refund order 99.\"\"\"

        order_id: Id

    @handles(cb.Refund)                       # in the feature's handler module
    async def on_refund(update, context, action: cb.Refund) -> None: ...

The wire form is ``v1:<tag>[:<int>...]`` (fields in declaration order, canonical decimals),
ASCII and at most 64 bytes: :func:`declare` refuses a tag already taken and an action whose
largest values would not fit. :func:`decode` never raises: anything malformed, forged, stale
(an unknown version) or out of range decodes to ``None`` and the caller says the button
expired. Tags and field order are what old buttons in chats carry: never change them
(``tests/unit/test_button_wire_forms.py`` pins every action's wire form).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from typing import Annotated, Any, TypeVar

VERSION = "v1"
MAX_BYTES = 64
# Ids are positive database keys; anything above a signed 63-bit integer is forged.
MAX_ID = 2**63 - 1
MAX_PAGE = 10_000
MAX_QUANTITY = 100

# Canonical non-negative decimal: no sign, no leading zeros, ASCII digits only.
_NUMBER = re.compile(r"0|[1-9][0-9]{0,18}")
_TAG = re.compile(r"[a-z]{1,8}")


@dataclass(frozen=True, slots=True)
class Range:
    """The values a field may carry on the wire (both ends included; ``low`` >= 0)."""

    low: int
    high: int

    def text(self, value: object) -> str:
        """``value`` as written on the wire.

        Raises:
            ValueError: out of range or not an integer (a programming error, not user input).
        """
        if isinstance(value, bool) or not isinstance(value, int) \
                or not self.low <= value <= self.high:
            raise ValueError(f"callback field out of range: {value!r}")
        return str(value)

    def read(self, text: str) -> int | None:
        """The value of a wire field, or None unless canonical and in range."""
        if not _NUMBER.fullmatch(text):
            return None
        value = int(text)
        return value if self.low <= value <= self.high else None


Id = Annotated[int, Range(1, MAX_ID)]
PageNo = Annotated[int, Range(0, MAX_PAGE)]
Quantity = Annotated[int, Range(1, MAX_QUANTITY)]


@dataclass(frozen=True, slots=True)
class Action:
    """What a button asks for (the base of every declared action)."""


A = TypeVar("A", bound=Action)
T = TypeVar("T", bound=type[Action])
# A button's flow: (update, context, action); handlers.router passes the decoded action.
Flow = Callable[[Any, Any, A], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Declared:
    """One declared action: its tag and its fields' names and ranges, in wire order."""

    tag: str
    kind: type[Action]
    fields: tuple[tuple[str, Range], ...]

    @property
    def longest(self) -> int:
        """Bytes of the longest callback_data this action can produce."""
        return len(":".join([VERSION, self.tag, *(str(r.high) for _, r in self.fields)]))


class Buttons:
    """The registry: declared actions by tag and by type, and the flow of each."""

    def __init__(self) -> None:
        self.by_tag: dict[str, Declared] = {}
        self.by_kind: dict[type[Action], Declared] = {}
        self.flows: dict[type[Action], Flow[Any]] = {}

    def declare(self, tag: str) -> Callable[[T], T]:
        """Class decorator: register a frozen dataclass action under ``tag``.

        Raises:
            ValueError: the tag is taken or malformed, a field has no range, or the largest
                values would not fit in :data:`MAX_BYTES`.
        """
        def register(kind: T) -> T:
            if not _TAG.fullmatch(tag):
                raise ValueError(f"button tag {tag!r}: 1 to 8 lowercase ASCII letters")
            if tag in self.by_tag:
                raise ValueError(f"button tag {tag!r} is taken by "
                                 f"{self.by_tag[tag].kind.__name__}")
            if kind in self.by_kind:
                raise ValueError(f"{kind.__name__} is declared twice")
            hints = typing.get_type_hints(kind, include_extras=True)
            ranges = []
            for field in fields(kind):
                meta = getattr(hints[field.name], "__metadata__", ())
                found = [m for m in meta if isinstance(m, Range)]
                if len(found) != 1 or found[0].low < 0:
                    raise ValueError(f"{kind.__name__}.{field.name}: annotate it with a Range")
                ranges.append((field.name, found[0]))
            declared = Declared(tag, kind, tuple(ranges))
            if declared.longest > MAX_BYTES:
                raise ValueError(f"{kind.__name__}: up to {declared.longest} bytes of "
                                 f"callback_data, Telegram allows {MAX_BYTES}")
            self.by_tag[tag] = self.by_kind[kind] = declared
            return kind
        return register

    def handles(self, kind: type[A]) -> Callable[[Flow[A]], Flow[A]]:
        """Function decorator: the flow that answers ``kind``'s buttons (one per action).

        Raises:
            ValueError: ``kind`` is not declared, or already has a flow.
        """
        def register(flow: Flow[A]) -> Flow[A]:
            if kind not in self.by_kind:
                raise ValueError(f"{kind.__name__} is not a declared button action")
            if kind in self.flows:
                raise ValueError(f"{kind.__name__} already has a flow")
            self.flows[kind] = flow
            return flow
        return register

    def flow(self, action: Action) -> Flow[Any]:
        """The flow registered for ``action``'s type."""
        return self.flows[type(action)]

    def unhandled(self) -> list[str]:
        """Declared actions without a flow (none once every handler module is imported)."""
        return sorted(d.kind.__name__ for d in self.by_kind.values() if d.kind not in self.flows)

    def encode(self, action: Action) -> str:
        """The callback_data string for ``action``.

        Raises:
            ValueError: not a declared action, or a field out of range (a programming error).
        """
        declared = self.by_kind.get(type(action))
        if declared is None:
            raise ValueError(f"not a callback action: {action!r}")
        parts = [r.text(getattr(action, name)) for name, r in declared.fields]
        return ":".join([VERSION, declared.tag, *parts])

    def decode(self, data: object) -> Action | None:
        """Parse callback_data; ``None`` for anything that :meth:`encode` would not produce."""
        if not isinstance(data, str) or not data or len(data) > MAX_BYTES \
                or not data.isascii():
            return None
        parts = data.split(":")
        if len(parts) < 2 or parts[0] != VERSION:
            return None
        declared = self.by_tag.get(parts[1])
        raw = parts[2:]
        if declared is None or len(raw) != len(declared.fields):
            return None
        values: list[int] = []
        for text, (_, allowed) in zip(raw, declared.fields, strict=True):
            value = allowed.read(text)
            if value is None:
                return None
            values.append(value)
        return declared.kind(*values)


BUTTONS = Buttons()
declare = BUTTONS.declare
handles = BUTTONS.handles
encode = BUTTONS.encode
decode = BUTTONS.decode


# ----------------------------------------------------------------------------- browsing, buying

@declare("ls")
@dataclass(frozen=True, slots=True)
class ListPage(Action):
    """``v1:ls:2``: the event list at ``page`` (0-based)."""

    page: PageNo


@declare("ev")
@dataclass(frozen=True, slots=True)
class ShowEvent(Action):
    """``v1:ev:42``: one event's card."""

    event_id: Id


@declare("tt")
@dataclass(frozen=True, slots=True)
class ChooseType(Action):
    """``v1:tt:17``: a ticket type was picked: offer the quantity picker."""

    ticket_type_id: Id


@declare("q")
@dataclass(frozen=True, slots=True)
class HoldSeats(Action):
    """``v1:q:17:3``: hold ``quantity`` seats of a ticket type and send the invoice."""

    ticket_type_id: Id
    quantity: Quantity


@declare("rel")
@dataclass(frozen=True, slots=True)
class Release(Action):
    """``v1:rel:99``: give back the seats held by an order (cancel before paying)."""

    order_id: Id


@declare("le")
@dataclass(frozen=True, slots=True)
class EnterLottery(Action):
    """``v1:le:17``: a lottery ticket type was picked: offer the entry picker."""

    ticket_type_id: Id


@declare("lq")
@dataclass(frozen=True, slots=True)
class EntryQuantity(Action):
    """``v1:lq:17:2``: enter the lottery asking for ``quantity`` tickets of a type, and send
    the invoice."""

    ticket_type_id: Id
    quantity: Quantity


@declare("tk")
@dataclass(frozen=True, slots=True)
class ShowTicket(Action):
    """``v1:tk:55``: send one ticket's QR code again."""

    ticket_id: Id


@declare("my")
@dataclass(frozen=True, slots=True)
class MyTickets(Action):
    """``v1:my``: list the user's tickets."""


@declare("mp")
@dataclass(frozen=True, slots=True)
class MyTicketsPage(Action):
    """``v1:mp:1``: another page of the user's tickets (0-based)."""

    page: PageNo


# ----------------------------------------------------------------------------- transfers

@declare("tg")
@dataclass(frozen=True, slots=True)
class GiveTicket(Action):
    """``v1:tg:55``: make a claim link to give ticket 55 to a friend."""

    ticket_id: Id


@declare("ta")
@dataclass(frozen=True, slots=True)
class AcceptTicket(Action):
    """``v1:ta:7:<code>``: accept the ticket of claim link 7; ``code`` is the link's second
    secret, shown only to whoever opened the link (a forged button cannot guess it)."""

    transfer_id: Id
    code: Id


@declare("tw")
@dataclass(frozen=True, slots=True)
class WithdrawGift(Action):
    """``v1:tw:7``: the giver withdraws claim link 7 before anyone used it."""

    transfer_id: Id
@declare("lg")
@dataclass(frozen=True, slots=True)
class ChooseLanguage(Action):
    """``v1:lg:2``: /language: read the bot in the language at ``index`` of the supported
    ones (``handlers.i18n.supported()``)."""

    index: Annotated[int, Range(0, 99)]


@declare("noop")
@dataclass(frozen=True, slots=True)
class Noop(Action):
    """``v1:noop``: a button that only shows information (e.g. a sold-out type)."""


@declare("wl")
@dataclass(frozen=True, slots=True)
class WaitlistType(Action):
    """``v1:wl:17``: a sold-out type's "Join the waiting list": offer the quantity picker."""

    ticket_type_id: Id


@declare("wj")
@dataclass(frozen=True, slots=True)
class WaitlistJoin(Action):
    """``v1:wj:17:2``: join a sold-out type's waiting list for ``quantity`` seats."""

    ticket_type_id: Id
    quantity: Quantity


@declare("gj")
@dataclass(frozen=True, slots=True)
class GroupConfirm(Action):
    """``v1:gj:12``: a companion confirms joining the group of lottery entry 12 (their
    invitation, made when they opened the lead's link, is checked by the service)."""

    entry_id: Id


@declare("rl")
@dataclass(frozen=True, slots=True)
class ReturnList(Action):
    """``v1:rl``: the holder's orders they may return now (``/return``)."""


@declare("ra")
@dataclass(frozen=True, slots=True)
class ReturnAsk(Action):
    """``v1:ra:99``: ask to confirm returning a paid order (what they get back, and when)."""

    order_id: Id


@declare("rc")
@dataclass(frozen=True, slots=True)
class ReturnConfirm(Action):
    """``v1:rc:99``: return the order: offered to the waiting list, refunded once resold."""

    order_id: Id


# ----------------------------------------------------------------------------- organizer console
# (every id is re-authorized by the service on use)

@declare("cs")
@dataclass(frozen=True, slots=True)
class ConsoleStats(Action):
    """``v1:cs:42``: organizer console: an event's figures."""

    event_id: Id


@declare("cx")
@dataclass(frozen=True, slots=True)
class ConsoleExport(Action):
    """``v1:cx:42``: organizer console: an event's CSV export."""

    event_id: Id


@declare("ci")
@dataclass(frozen=True, slots=True)
class StaffInvite(Action):
    """``v1:ci:42``: organizer console: create a door staff invite link for an event."""

    event_id: Id


@declare("cl")
@dataclass(frozen=True, slots=True)
class StaffList(Action):
    """``v1:cl:42``: organizer console: an event's door staff, a revoke button each."""

    event_id: Id


@declare("cc")
@dataclass(frozen=True, slots=True)
class CancelAsk(Action):
    """``v1:cc:42``: organizer console: ask to confirm cancelling an event."""

    event_id: Id


@declare("cy")
@dataclass(frozen=True, slots=True)
class CancelConfirm(Action):
    """``v1:cy:42``: organizer console: cancel the event, refund everyone."""

    event_id: Id


@declare("cn")
@dataclass(frozen=True, slots=True)
class CancelKeep(Action):
    """``v1:cn:42``: organizer console: the organizer decided not to cancel."""

    event_id: Id


@declare("rs")
@dataclass(frozen=True, slots=True)
class RevokeStaff(Action):
    """``v1:rs:42:7``: organizer console: take door staff duty for an event away from a
    user."""

    event_id: Id
    user_id: Id


@declare("ro")
@dataclass(frozen=True, slots=True)
class RevokeOrganizer(Action):
    """``v1:ro:7``: admin console: take the organizer role away from a user."""

    user_id: Id


@declare("wi")
@dataclass(frozen=True, slots=True)
class WithdrawInvite(Action):
    """``v1:wi:3``: withdraw an invite link nobody has used yet."""

    invite_id: Id


@declare("me")
@dataclass(frozen=True, slots=True)
class MyEventsPage(Action):
    """``v1:me:1``: organizer console: a page of the caller's events (0-based)."""

    page: PageNo


@declare("ce")
@dataclass(frozen=True, slots=True)
class ConsoleEvent(Action):
    """``v1:ce:42:1``: organizer console: one event's card; its Back button returns to
    events ``page``."""

    event_id: Id
    page: PageNo


@declare("op")
@dataclass(frozen=True, slots=True)
class OrganizersPage(Action):
    """``v1:op:1``: admin console: a page of the organizers."""

    page: PageNo


@declare("sp")
@dataclass(frozen=True, slots=True)
class StaffPage(Action):
    """``v1:sp:42:1``: organizer console: a page of an event's door staff."""

    event_id: Id
    page: PageNo


# ----------------------------------------------------------------------------- event wizard
# (the draft's current step decides what a pick means; a stale one is refused)

WIZARD_BACK, WIZARD_SKIP, WIZARD_CANCEL, WIZARD_PUBLISH, WIZARD_DRAFT = range(5)
MAX_WIZARD_STEP = 63
MAX_WIZARD_CHOICE = 15


@declare("wz")
@dataclass(frozen=True, slots=True)
class WizardPick(Action):
    """``v1:wz:3:0``: answer the wizard's step number ``step`` with its ``choice``-th
    offered value."""

    step: Annotated[int, Range(0, MAX_WIZARD_STEP)]
    choice: Annotated[int, Range(0, MAX_WIZARD_CHOICE)]


@declare("wn")
@dataclass(frozen=True, slots=True)
class WizardNav(Action):
    """``v1:wn:1``: wizard navigation: 0 back, 1 skip, 2 cancel, 3 publish, 4 save as
    draft (the ``WIZARD_*`` numbers)."""

    action: Annotated[int, Range(0, WIZARD_DRAFT)]


@declare("wt")
@dataclass(frozen=True, slots=True)
class WizardTransfers(Action):
    """``v1:wt``: under the wizard's preview: turn ticket transfers on or off."""


# Read by tests (tests/security): every tag and the ranges of its fields.
_SHAPES: dict[str, tuple[tuple[int, int], ...]] = {
    tag: tuple((r.low, r.high) for _, r in d.fields) for tag, d in BUTTONS.by_tag.items()}
_BUILD: dict[str, type[Action]] = {tag: d.kind for tag, d in BUTTONS.by_tag.items()}
