"""What the lottery needs from storage and from a randomness beacon."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.catalog.model import Event, LotteryState, TicketType
from core.lottery.group_model import GroupMember
from core.lottery.model import (
    Candidate,
    DrawResult,
    DrawSettlement,
    Entry,
    EntryRow,
    EntryTally,
    Fairness,
    PublicEntry,
)


class LotteryRepository(Protocol):
    """Lottery state on events, entries, and the draw's bulk bookkeeping."""

    async def due(self, *, now: datetime) -> list[Event]:
        """Lottery events whose close or draw time has come and that are not drawn."""
        ...

    async def set_state(self, event_id: int, state: LotteryState, *, now: datetime) -> None:
        """Move a lottery forward."""
        ...

    async def seed(self, event_id: int) -> bytes:
        """The lottery's secret seed (drawn from ``secrets`` when the event was created)."""
        ...

    async def fairness(self, event_id: int) -> Fairness:
        """The lottery's published commitments (see :class:`core.lottery.model.Fairness`)."""
        ...

    async def record_list_hash(self, event_id: int, list_hash: str) -> None:
        """Freeze the entry list's hash at the close (needs the event's exclusive lock)."""
        ...

    async def fix_beacon_round(self, event_id: int, round_number: int) -> None:
        """Fix the beacon round the draw will mix in (needs the event's exclusive lock)."""
        ...

    async def record_beacon_value(self, event_id: int, value_hex: str) -> None:
        """Record the beacon round's value used by the draw (needs the exclusive lock)."""
        ...

    async def needing_beacon_round(self) -> list[int]:
        """Open lotteries that mix in a beacon whose round is not fixed yet."""
        ...

    async def public_entries(self, event_id: int) -> list[tuple[int, PublicEntry]]:
        """(entry id, public entry) of every paid entry, for freezing and drawing."""
        ...

    async def public_entry_rows(self, event_id: int) -> list[EntryRow]:
        """The same as :meth:`public_entries` as plain ``(id, ref, quantity, type)`` tuples
        (a draw reads a million of them), ordered by reference."""
        ...

    async def add_pending(self, *, user_id: int, chat_id: int, ticket_type: TicketType,
                          quantity: int, now: datetime) -> Entry:
        """A new unpaid entry; the user's older unpaid entries for the event become void."""
        ...

    async def get(self, entry_id: int, *, lock: bool = False) -> Entry | None:
        """One entry or None."""
        ...

    async def active_for_user(self, *, event_id: int, user_id: int) -> Entry | None:
        """The user's paid entry in this lottery (entered, won or lost), if any."""
        ...

    async def mark_entered(self, entry_id: int, *, now: datetime,
                           phone_hash: str | None = None) -> None:
        """The entry is paid and in the draw (with the entrant's verified phone, if needed)."""
        ...

    async def verified_phone(self, user_id: int) -> str | None:
        """The keyed hash of the phone this user proved to own, if any."""
        ...

    async def set_verified_phone(self, user_id: int, phone_hash: str, *,
                                 now: datetime) -> None:
        """Remember (or replace) the user's verified phone hash."""
        ...

    async def phone_entered(self, event_id: int, phone_hash: str) -> bool:
        """Whether a paid entry of this lottery already uses this phone."""
        ...

    async def void_pending(self, event_id: int) -> int:
        """Unpaid entries can no longer be paid; returns how many were voided."""
        ...

    async def candidates(self, event_id: int) -> list[Candidate]:
        """Every paid entry of the lottery."""
        ...

    async def for_user(self, user_id: int) -> list[Entry]:
        """The user's paid entries, newest first."""
        ...

    async def tally(self, event_id: int) -> EntryTally:
        """``entries``, ``tickets_asked``, ``winners``, ``tickets_won``, ``paid_minor``."""
        ...

    async def record_draw(self, plan: DrawSettlement, result: DrawResult, *,
                          now: datetime) -> dict[str, int]:
        """Store the whole order and carry out ``plan`` for the winners: marked won, their
        orders, tickets and outbox items, in the caller's transaction. The losers stay
        entered (read as lost) until :meth:`settle_losers` reaches them. Returns counts for
        logging (``losers``: how many are left to settle)."""
        ...

    async def settle_losers(self, plan: DrawSettlement, *, limit: int,
                            now: datetime) -> tuple[int, int | None]:
        """Up to ``limit`` drawn losers of ``plan.event`` still stored as entered: mark them
        lost and owe their payments back by ``plan.loser_refund`` (a refund and its item
        each, skipping a payment refunded already), in the caller's transaction.

        Returns:
            How many were settled, and the smallest entry id among them (None for none).
        """
        ...


class Beacon(Protocol):
    """A public randomness beacon (drand-style: numbered rounds at a fixed period)."""

    async def round_after(self, when: datetime) -> int:
        """The first round published strictly after ``when`` (fixed when a lottery opens)."""
        ...

    async def value(self, round_number: int) -> bytes | None:
        """The round's randomness, or None if it is not published (yet) or unreachable."""
        ...

    @property
    def url(self) -> str:
        """Where the beacon is read (recorded in the audit)."""
        ...


class GroupRepository(Protocol):
    """Group entries (``core.lottery.groups``): the organizer's group size, invite links and
    companions. Written under the event's exclusive lock (entry paths) or in the draw."""

    async def group_size(self, event_id: int) -> int:
        """How many people one entry may be for (1: no groups)."""
        ...

    async def set_group_size(self, event_id: int, size: int) -> None:
        """Record the organizer's group size."""
        ...

    async def invite_token(self, entry: Entry, *, now: datetime) -> str:
        """The entry's invite token, made on first use."""
        ...

    async def entry_for_token(self, token: str) -> int | None:
        """The entry an invite token belongs to."""
        ...

    async def members(self, entry_id: int) -> list[GroupMember]:
        """The companions of an entry (invited or confirmed), in join order."""
        ...

    async def member_of(self, event_id: int, user_id: int) -> GroupMember | None:
        """A person's place in a group of this lottery, if any."""
        ...

    async def add_member(self, entry: Entry, *, user_id: int, chat_id: int,
                         now: datetime) -> GroupMember | None:
        """Record a companion who opened the link (``invited``); None if they are in a group
        of this lottery already."""
        ...

    async def confirm(self, member_id: int, *, phone_hash: str | None, now: datetime) -> None:
        """The companion confirmed (in their own chat)."""
        ...

    async def phone_in_group(self, event_id: int, phone_hash: str) -> bool:
        """A confirmed companion of this lottery verified this phone."""
        ...

    async def groups_of(self, event_id: int) -> list[tuple[Entry, list[GroupMember]]]:
        """Every entry of the lottery with its confirmed companions (join order)."""
        ...

    async def give_ticket(self, ticket_id: int, user_id: int, *, chat_id: int) -> None:
        """A winning group's ticket becomes a companion's; its queued QR code goes to their
        chat instead of the lead's (same transaction as the draw that queued it)."""
        ...

    async def group_counts(self, event_id: int | None = None) -> tuple[int, int]:
        """(groups won, groups lost): entries with confirmed companions."""
        ...
