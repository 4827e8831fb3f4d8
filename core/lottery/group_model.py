"""Group entries: the lead enters (and pays) for up to N people and invites companions by a
link; each companion confirms in their own chat. The group wins or loses as one (the draw
keeps an entry whole); a winning group's tickets go one to each member, in their own chat.

Built first: **the lead pays for the group**. One payment means one refund if the group is
not drawn, and the draw's allocation already keeps an entry whole, so a group needs no new
rule in the draw or in its audit; each member paying their own seat would need a group to
be complete and paid by everyone before the close, and partial refunds when it is not.

One person is in one entry per lottery: their own, or one group's (a companion cannot enter
alone, and someone who entered cannot join a group), checked under the event's exclusive
lock like every entry path; with phone verification their phone counts too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.catalog.model import Event, LotteryState
from core.kernel.errors import DomainError, ErrorCode
from core.lottery.model import Entry, EntryStatus, WindowPhase, window_phase

# A group invite's deep link: ``/start g_<token>`` (<= 64 chars of A-Za-z0-9_-).
GROUP_PREFIX = "g_"


class MemberStatus(StrEnum):
    """``invited``: opened the link, not confirmed yet; ``confirmed``: in the group."""

    INVITED = "invited"
    CONFIRMED = "confirmed"


@dataclass(frozen=True, slots=True)
class GroupMember:
    """A companion in a lead's entry."""

    id: int
    event_id: int
    entry_id: int
    user_id: int
    chat_id: int
    status: MemberStatus
    joined_at: datetime
    phone_hash: str | None = None


def new_group_token() -> str:
    """A fresh, unguessable invite token (128 bits)."""
    return secrets.token_urlsafe(16)


def token_from_payload(payload: str) -> str | None:
    """The invite token of a ``/start g_<token>`` payload, or None."""
    if not payload.startswith(GROUP_PREFIX):
        return None
    token = payload[len(GROUP_PREFIX):]
    plain = token.replace("-", "").replace("_", "")
    return token if 16 <= len(token) <= 43 and plain.isascii() and plain.isalnum() else None


def seats_for_companions(entry: Entry, group_size: int) -> int:
    """How many companions an entry can take: its seats, within the organizer's group size,
    minus the lead's own."""
    return max(0, min(entry.quantity, group_size) - 1)


def check_invite(event: Event, entry: Entry, group_size: int, now: datetime) -> None:
    """May the lead invite companions to this entry now?

    Raises:
        DomainError: ``groups_off`` (no groups, or a one-seat entry), ``entries_closed``,
            ``entry_not_found`` (not paid yet).
    """
    if group_size < 2 or entry.quantity < 2:
        raise DomainError(ErrorCode.GROUPS_OFF)
    if event.lottery is None or window_phase(event.lottery, now) is not WindowPhase.OPEN \
            or event.lottery_state not in (None, LotteryState.OPEN):
        raise DomainError(ErrorCode.ENTRIES_CLOSED)
    if entry.status is not EntryStatus.ENTERED:
        raise DomainError(ErrorCode.ENTRY_NOT_FOUND)
