"""What a ticket's holder may do with it now: the one question ``/mytickets`` asks.

Each action is decided by its own feature's rule (transfers by
:func:`core.transfers.model.transfer_refusal`); a feature that adds an action (returns, a
waiting list) adds its :class:`HolderAction` and one entry to :data:`RULES`. ``/mytickets``
shows a button for each action in :func:`holder_actions` and for nothing else, so a button
never offers what the policy forbids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.catalog.model import Event
from core.returns.model import ReturnPolicy, return_refusal
from core.sales.model import Order
from core.tickets.model import Ticket
from core.transfers.model import transfer_refusal


class HolderAction(StrEnum):
    """Something a holder may do with a ticket (in the order the buttons show them)."""

    TRANSFER = "transfer"
    RETURN = "return"


@dataclass(frozen=True, slots=True)
class HolderSituation:
    """Everything the rules look at: the ticket, its event, whether the door admitted it,
    and the time."""

    ticket: Ticket
    event: Event
    admitted: bool
    now: datetime
    # Returns (core.returns): the event's policy, the ticket's order, whether it was returned.
    return_policy: ReturnPolicy | None = None
    order: Order | None = None
    returned: bool = False


# One rule per action: True if the holder may take it now.
RULES: dict[HolderAction, Callable[[HolderSituation], bool]] = {
    HolderAction.TRANSFER: lambda s: transfer_refusal(
        s.event, s.ticket, admitted=s.admitted, now=s.now) is None,
    HolderAction.RETURN: lambda s: return_refusal(
        s.event, s.return_policy, s.ticket, s.order, admitted=s.admitted,
        returned=s.returned, now=s.now) is None,
}


def holder_actions(situation: HolderSituation) -> tuple[HolderAction, ...]:
    """The actions allowed now, in :class:`HolderAction` order."""
    return tuple(action for action in HolderAction if RULES[action](situation))
