"""The one callback_data codec: short, versioned, ASCII strings of at most 64 bytes.

Every inline button the bot sends carries one of the actions below, encoded as
``v1:<tag>[:<int>...]``. :func:`decode` never raises: anything malformed, forged, stale (an
unknown version) or out of range decodes to ``None`` and the caller says the button expired.

==============  ======================  ================================================
Wire form       Action                  Meaning
==============  ======================  ================================================
``v1:ls:2``     :class:`ListPage`       event list, page 2 (0-based)
``v1:ev:42``    :class:`ShowEvent`      event card of event 42
``v1:tt:17``    :class:`ChooseType`     ticket type 17 -> quantity picker
``v1:q:17:3``   :class:`HoldSeats`      hold 3 seats of type 17 -> invoice
``v1:rel:99``   :class:`Release`        release the hold of order 99
``v1:le:17``    :class:`EnterLottery`   lottery ticket type 17 -> entry picker
``v1:lq:17:2``  :class:`EntryQuantity`  enter asking for 2 tickets of type 17 -> invoice
``v1:tk:55``    :class:`ShowTicket`     send ticket 55's QR again
``v1:my``       :class:`MyTickets`      the user's tickets
``v1:mp:1``     :class:`MyTicketsPage`  the user's tickets, page 1 (0-based)
``v1:noop``     :class:`Noop`           a label that does nothing when tapped
==============  ======================  ================================================

Organizer console and door staff (every id is re-authorized by the service on use):

================  ==========================  ============================================
Wire form         Action                      Meaning
================  ==========================  ============================================
``v1:cs:42``      :class:`ConsoleStats`       figures of event 42
``v1:cx:42``      :class:`ConsoleExport`      CSV export of event 42
``v1:ci:42``      :class:`StaffInvite`        a door staff invite link for event 42
``v1:cl:42``      :class:`StaffList`          event 42's door staff, a revoke button each
``v1:cc:42``      :class:`CancelAsk`          ask to confirm cancelling event 42
``v1:cy:42``      :class:`CancelConfirm`      cancel event 42 and refund everyone
``v1:cn:42``      :class:`CancelKeep`         do not cancel event 42
``v1:rs:42:7``    :class:`RevokeStaff`        user 7 is no longer door staff for event 42
``v1:ro:7``       :class:`RevokeOrganizer`    user 7 is no longer an organizer
``v1:wi:3``       :class:`WithdrawInvite`     withdraw unused invite 3
``v1:me:1``       :class:`MyEventsPage`       the caller's events, page 1 (0-based)
``v1:ce:42:1``    :class:`ConsoleEvent`       event 42's console card (Back: events page 1)
``v1:op:1``       :class:`OrganizersPage`     the organizers, page 1
``v1:sp:42:1``    :class:`StaffPage`          event 42's door staff, page 1
================  ==========================  ============================================

Event wizard (the draft's current step decides what a pick means; a stale one is refused):

================  ==========================  ============================================
``v1:wz:3:0``     :class:`WizardPick`         answer step 3 with its choice 0 (a button)
``v1:wn:1``       :class:`WizardNav`          0 back, 1 skip, 2 cancel, 3 publish, 4 draft
================  ==========================  ============================================
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

VERSION = "v1"
MAX_BYTES = 64
# Ids are positive database keys; anything above a signed 63-bit integer is forged.
MAX_ID = 2**63 - 1
MAX_PAGE = 10_000
MAX_QUANTITY = 100

# Canonical non-negative decimal: no sign, no leading zeros, ASCII digits only.
_NUMBER = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True, slots=True)
class ListPage:
    """The event list at ``page`` (0-based)."""

    page: int


@dataclass(frozen=True, slots=True)
class ShowEvent:
    """One event's card."""

    event_id: int


@dataclass(frozen=True, slots=True)
class ChooseType:
    """A ticket type was picked: offer the quantity picker."""

    ticket_type_id: int


@dataclass(frozen=True, slots=True)
class HoldSeats:
    """Hold ``quantity`` seats of a ticket type and send the invoice."""

    ticket_type_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class Release:
    """Give back the seats held by an order (cancel before paying)."""

    order_id: int


@dataclass(frozen=True, slots=True)
class EnterLottery:
    """A lottery ticket type was picked: offer the entry picker."""

    ticket_type_id: int


@dataclass(frozen=True, slots=True)
class EntryQuantity:
    """Enter the lottery asking for ``quantity`` tickets of a type, and send the invoice."""

    ticket_type_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class ShowTicket:
    """Send one ticket's QR code again."""

    ticket_id: int


@dataclass(frozen=True, slots=True)
class MyTickets:
    """List the user's tickets."""


@dataclass(frozen=True, slots=True)
class MyTicketsPage:
    """Another page of the user's tickets."""

    page: int


@dataclass(frozen=True, slots=True)
class Noop:
    """A button that only shows information (e.g. a sold-out type)."""


@dataclass(frozen=True, slots=True)
class ConsoleStats:
    """Organizer console: an event's figures."""

    event_id: int


@dataclass(frozen=True, slots=True)
class ConsoleExport:
    """Organizer console: an event's CSV export."""

    event_id: int


@dataclass(frozen=True, slots=True)
class StaffInvite:
    """Organizer console: create a door staff invite link for an event."""

    event_id: int


@dataclass(frozen=True, slots=True)
class StaffList:
    """Organizer console: an event's door staff."""

    event_id: int


@dataclass(frozen=True, slots=True)
class CancelAsk:
    """Organizer console: ask to confirm cancelling an event."""

    event_id: int


@dataclass(frozen=True, slots=True)
class CancelConfirm:
    """Organizer console: cancel the event, refund everyone."""

    event_id: int


@dataclass(frozen=True, slots=True)
class CancelKeep:
    """Organizer console: the organizer decided not to cancel."""

    event_id: int


@dataclass(frozen=True, slots=True)
class RevokeStaff:
    """Organizer console: take door staff duty for an event away from a user."""

    event_id: int
    user_id: int


@dataclass(frozen=True, slots=True)
class RevokeOrganizer:
    """Admin console: take the organizer role away from a user."""

    user_id: int


@dataclass(frozen=True, slots=True)
class WithdrawInvite:
    """Withdraw an invite link nobody has used yet."""

    invite_id: int


@dataclass(frozen=True, slots=True)
class MyEventsPage:
    """Organizer console: a page of the caller's events."""

    page: int


@dataclass(frozen=True, slots=True)
class ConsoleEvent:
    """Organizer console: one event's card; its Back button returns to events ``page``."""

    event_id: int
    page: int


@dataclass(frozen=True, slots=True)
class OrganizersPage:
    """Admin console: a page of the organizers."""

    page: int


@dataclass(frozen=True, slots=True)
class StaffPage:
    """Organizer console: a page of an event's door staff."""

    event_id: int
    page: int


ConsoleAction = (ConsoleStats | ConsoleExport | StaffInvite | StaffList | CancelAsk
                 | CancelConfirm | CancelKeep | RevokeStaff | RevokeOrganizer | WithdrawInvite
                 | MyEventsPage | ConsoleEvent | OrganizersPage | StaffPage)


@dataclass(frozen=True, slots=True)
class WizardPick:
    """Answer the wizard's step number ``step`` with its ``choice``-th offered value."""

    step: int
    choice: int


@dataclass(frozen=True, slots=True)
class WizardNav:
    """Wizard navigation: one of the ``WIZARD_*`` actions."""

    action: int


WIZARD_BACK, WIZARD_SKIP, WIZARD_CANCEL, WIZARD_PUBLISH, WIZARD_DRAFT = range(5)
MAX_WIZARD_STEP = 63
MAX_WIZARD_CHOICE = 15

Action = (ListPage | ShowEvent | ChooseType | HoldSeats | Release | EnterLottery | EntryQuantity
          | ShowTicket | MyTickets | MyTicketsPage | Noop | ConsoleAction | WizardPick
          | WizardNav)


def encode(action: Action) -> str:
    """The callback_data string for ``action``.

    Raises:
        ValueError: if a field is out of range (a programming error, not user input).
    """
    match action:
        case ListPage(page):
            parts = ["ls", _check(page, 0, MAX_PAGE)]
        case ShowEvent(event_id):
            parts = ["ev", _check(event_id, 1, MAX_ID)]
        case ChooseType(ticket_type_id):
            parts = ["tt", _check(ticket_type_id, 1, MAX_ID)]
        case HoldSeats(ticket_type_id, quantity):
            parts = ["q", _check(ticket_type_id, 1, MAX_ID), _check(quantity, 1, MAX_QUANTITY)]
        case Release(order_id):
            parts = ["rel", _check(order_id, 1, MAX_ID)]
        case EnterLottery(ticket_type_id):
            parts = ["le", _check(ticket_type_id, 1, MAX_ID)]
        case EntryQuantity(ticket_type_id, quantity):
            parts = ["lq", _check(ticket_type_id, 1, MAX_ID), _check(quantity, 1, MAX_QUANTITY)]
        case ShowTicket(ticket_id):
            parts = ["tk", _check(ticket_id, 1, MAX_ID)]
        case MyTickets():
            parts = ["my"]
        case MyTicketsPage(page):
            parts = ["mp", _check(page, 0, MAX_PAGE)]
        case MyEventsPage(page):
            parts = ["me", _check(page, 0, MAX_PAGE)]
        case OrganizersPage(page):
            parts = ["op", _check(page, 0, MAX_PAGE)]
        case ConsoleEvent(event_id, page):
            parts = ["ce", _check(event_id, 1, MAX_ID), _check(page, 0, MAX_PAGE)]
        case StaffPage(event_id, page):
            parts = ["sp", _check(event_id, 1, MAX_ID), _check(page, 0, MAX_PAGE)]
        case Noop():
            parts = ["noop"]
        case (ConsoleStats(event_id) | ConsoleExport(event_id) | StaffInvite(event_id)
              | StaffList(event_id) | CancelAsk(event_id) | CancelConfirm(event_id)
              | CancelKeep(event_id)):
            parts = [_CONSOLE_TAGS[type(action)], _check(event_id, 1, MAX_ID)]
        case RevokeStaff(event_id, staff_user_id):
            parts = ["rs", _check(event_id, 1, MAX_ID), _check(staff_user_id, 1, MAX_ID)]
        case RevokeOrganizer(organizer_id):
            parts = ["ro", _check(organizer_id, 1, MAX_ID)]
        case WithdrawInvite(invite_id):
            parts = ["wi", _check(invite_id, 1, MAX_ID)]
        case WizardPick(step, choice):
            parts = ["wz", _check(step, 0, MAX_WIZARD_STEP), _check(choice, 0, MAX_WIZARD_CHOICE)]
        case WizardNav(nav):
            parts = ["wn", _check(nav, 0, WIZARD_DRAFT)]
        case _:
            raise ValueError(f"not a callback action: {action!r}")
    data = ":".join([VERSION, *parts])
    assert len(data.encode("ascii")) <= MAX_BYTES
    return data


def decode(data: object) -> Action | None:
    """Parse callback_data; ``None`` for anything that :func:`encode` would not produce."""
    if not isinstance(data, str) or not data or len(data) > MAX_BYTES or not data.isascii():
        return None
    parts = data.split(":")
    if len(parts) < 2 or parts[0] != VERSION:
        return None
    tag, raw = parts[1], parts[2:]
    shape = _SHAPES.get(tag)
    if shape is None or len(raw) != len(shape):
        return None
    numbers: list[int] = []
    for text, (low, high) in zip(raw, shape, strict=True):
        value = _number(text, low, high)
        if value is None:
            return None
        numbers.append(value)
    return _BUILD[tag](*numbers)


def _check(value: int, low: int, high: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"callback field out of range: {value!r}")
    return str(value)


def _number(text: str, low: int, high: int) -> int | None:
    if not _NUMBER.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


_ID = (1, MAX_ID)
_SHAPES: dict[str, tuple[tuple[int, int], ...]] = {
    "ls": ((0, MAX_PAGE),),
    "ev": (_ID,),
    "tt": (_ID,),
    "q": (_ID, (1, MAX_QUANTITY)),
    "rel": (_ID,),
    "le": (_ID,),
    "lq": (_ID, (1, MAX_QUANTITY)),
    "tk": (_ID,),
    "my": (),
    "mp": ((0, MAX_PAGE),),
    "noop": (),
    "cs": (_ID,),
    "cx": (_ID,),
    "ci": (_ID,),
    "cl": (_ID,),
    "cc": (_ID,),
    "cy": (_ID,),
    "cn": (_ID,),
    "rs": (_ID, _ID),
    "ro": (_ID,),
    "wi": (_ID,),
    "me": ((0, MAX_PAGE),),
    "ce": (_ID, (0, MAX_PAGE)),
    "op": ((0, MAX_PAGE),),
    "sp": (_ID, (0, MAX_PAGE)),
    "wz": ((0, MAX_WIZARD_STEP), (0, MAX_WIZARD_CHOICE)),
    "wn": ((0, WIZARD_DRAFT),),
}
_BUILD: dict[str, Callable[..., Action]] = {
    "ls": ListPage,
    "ev": ShowEvent,
    "tt": ChooseType,
    "q": HoldSeats,
    "rel": Release,
    "le": EnterLottery,
    "lq": EntryQuantity,
    "tk": ShowTicket,
    "my": MyTickets,
    "mp": MyTicketsPage,
    "noop": Noop,
    "cs": ConsoleStats,
    "cx": ConsoleExport,
    "ci": StaffInvite,
    "cl": StaffList,
    "cc": CancelAsk,
    "cy": CancelConfirm,
    "cn": CancelKeep,
    "rs": RevokeStaff,
    "ro": RevokeOrganizer,
    "wi": WithdrawInvite,
    "me": MyEventsPage,
    "ce": ConsoleEvent,
    "op": OrganizersPage,
    "sp": StaffPage,
    "wz": WizardPick,
    "wn": WizardNav,
}
_CONSOLE_TAGS: dict[type, str] = {
    ConsoleStats: "cs", ConsoleExport: "cx", StaffInvite: "ci", StaffList: "cl",
    CancelAsk: "cc", CancelConfirm: "cy", CancelKeep: "cn",
}
