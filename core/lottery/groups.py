"""Group entries after the draw, and the invite / confirm use cases (rules:
:mod:`core.lottery.group_model`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.catalog.model import Event
from core.kernel import locking, outbox
from core.kernel.clock import Clock
from core.kernel.errors import DomainError, ErrorCode
from core.lottery.group_model import (
    GroupMember,
    MemberStatus,
    check_invite,
    seats_for_companions,
    token_from_payload,
)
from core.lottery.model import Entry, EntryStatus, WindowPhase, window_phase
from core.transactions import after_attempts, write_attempts
from core.unit_of_work import Database, UnitOfWork


@dataclass(frozen=True, slots=True)
class GroupInvite:
    """The lead's invite link and who is in."""

    token: str
    event: Event
    entry: Entry
    members: list[GroupMember]
    spots: int  # companions the entry can still take


@dataclass(frozen=True, slots=True)
class GroupJoin:
    """A companion's place (invited: to confirm; confirmed: in)."""

    member: GroupMember
    event: Event
    entry: Entry


class GroupService:
    """Invite companions to a lottery entry and confirm them, once per person and lottery."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def invite(self, *, user_id: int, event_id: int) -> GroupInvite:
        """The lead's invite link for their paid entry in ``event_id``.

        Raises:
            DomainError: ``entry_not_found``, ``groups_off`` or ``entries_closed``.
        """
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                event = await uow.events.lock(event_id)
                entry = await uow.lottery.active_for_user(event_id=event_id, user_id=user_id)
                if event is None or entry is None:
                    raise DomainError(ErrorCode.ENTRY_NOT_FOUND)
                size = await uow.groups.group_size(event_id)
                check_invite(event, entry, size, self._clock.now())
                token = await uow.groups.invite_token(entry, now=self._clock.now())
                members = [m for m in await uow.groups.members(entry.id)
                           if m.status is MemberStatus.CONFIRMED]
                return GroupInvite(token, event, entry, members,
                                   seats_for_companions(entry, size) - len(members))
        raise after_attempts()

    async def open_link(self, *, user_id: int, chat_id: int, payload: str) -> GroupJoin:
        """A companion opened the lead's link: they are invited and asked to confirm.

        Raises:
            DomainError: ``group_not_found``, ``entries_closed``, ``already_entered``,
                ``already_in_group`` or ``group_full``.
        """
        token = token_from_payload(payload)
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                entry_id = await uow.groups.entry_for_token(token) if token else None
                entry = await uow.lottery.get(entry_id) if entry_id else None
                if entry is None:
                    raise DomainError(ErrorCode.GROUP_NOT_FOUND)
                event = await uow.events.lock(entry.event_id)
                assert event is not None
                await self._check_companion(uow, event, entry, user_id)
                member = await uow.groups.member_of(event.id, user_id)
                if member is None:
                    member = await uow.groups.add_member(entry, user_id=user_id,
                                                         chat_id=chat_id,
                                                         now=self._clock.now())
                if member is None or member.entry_id != entry.id:
                    raise DomainError(ErrorCode.ALREADY_IN_GROUP)
                return GroupJoin(member, event, entry)
        raise after_attempts()

    async def confirm(self, *, user_id: int, entry_id: int) -> GroupJoin:
        """The companion confirms in their own chat (and their verified phone counts when
        the lottery requires one).

        Raises:
            DomainError: as :meth:`open_link`, ``phone_required`` or
                ``phone_already_entered``.
        """
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                entry = await uow.lottery.get(entry_id)
                if entry is None:
                    raise DomainError(ErrorCode.GROUP_NOT_FOUND)
                event = await uow.events.lock(entry.event_id)
                await uow.locks.take(locking.entry(entry.id))
                assert event is not None
                member = await uow.groups.member_of(event.id, user_id)
                if member is None or member.entry_id != entry.id:
                    raise DomainError(ErrorCode.GROUP_NOT_FOUND)
                if member.status is MemberStatus.CONFIRMED:
                    return GroupJoin(member, event, entry)
                await self._check_companion(uow, event, entry, user_id)
                phone = None
                if event.lottery is not None and event.lottery.require_phone:
                    phone = await uow.lottery.verified_phone(user_id)
                    if phone is None:
                        raise DomainError(ErrorCode.PHONE_REQUIRED)
                    if await uow.lottery.phone_entered(event.id, phone) or \
                            await uow.groups.phone_in_group(event.id, phone):
                        raise DomainError(ErrorCode.PHONE_ALREADY_ENTERED)
                now = self._clock.now()
                await uow.groups.confirm(member.id, phone_hash=phone, now=now)
                await uow.outbox.put(outbox.MESSAGE, {"key": "group.joined_lead", "params": {
                    "event": event.title}}, dedupe_key=f"group_joined:{member.id}", now=now,
                    chat_id=entry.chat_id)
                confirmed = await uow.groups.member_of(event.id, user_id)
                assert confirmed is not None
                return GroupJoin(confirmed, event, entry)
        raise after_attempts()

    async def _check_companion(self, uow: UnitOfWork, event: Event, entry: Entry,
                               user_id: int) -> None:
        now = self._clock.now()
        if event.lottery is None or window_phase(event.lottery, now) is not WindowPhase.OPEN:
            raise DomainError(ErrorCode.ENTRIES_CLOSED)
        if entry.status is not EntryStatus.ENTERED:
            raise DomainError(ErrorCode.GROUP_NOT_FOUND)
        if user_id == entry.user_id or await uow.lottery.active_for_user(
                event_id=event.id, user_id=user_id) is not None:
            raise DomainError(ErrorCode.ALREADY_ENTERED)
        confirmed = [m for m in await uow.groups.members(entry.id)
                     if m.status is MemberStatus.CONFIRMED and m.user_id != user_id]
        if len(confirmed) >= seats_for_companions(entry, await uow.groups.group_size(event.id)):
            raise DomainError(ErrorCode.GROUP_FULL)

    async def counts(self, event_id: int | None = None) -> tuple[int, int]:
        """(groups won, groups lost)."""
        async with self._db.read() as uow:
            return await uow.groups.group_counts(event_id)


async def settle_groups(uow: UnitOfWork, event: Event, *, now: datetime) -> tuple[int, int]:
    """After the draw, in its transaction: a winning group's tickets go one to each
    confirmed companion (the lead keeps the first; the QR code goes to the companion's chat,
    never the lead's), and every companion hears the group's result.

    Returns:
        (groups won, groups lost).
    """
    won = lost = 0
    for entry, members in await uow.groups.groups_of(event.id):
        if not members:
            continue
        if entry.status is EntryStatus.WON and entry.order_id is not None:
            won += 1
            tickets = sorted(await uow.tickets.for_order(entry.order_id), key=lambda t: t.id)
            for member, ticket in zip(members, tickets[1:], strict=False):
                await uow.groups.give_ticket(ticket.id, member.user_id, chat_id=member.chat_id)
                await uow.outbox.put(outbox.MESSAGE, {"key": "group.won", "params": {
                    "event": event.title}}, dedupe_key=f"group_won:{member.id}", now=now,
                    chat_id=member.chat_id)
        elif entry.status in (EntryStatus.LOST, EntryStatus.ENTERED):
            # Drawn and not won: lost (the losers' batches mark the entries later).
            lost += 1
            for member in members:
                await uow.outbox.put(outbox.MESSAGE, {"key": "group.lost", "params": {
                    "event": event.title}}, dedupe_key=f"group_lost:{member.id}", now=now,
                    chat_id=member.chat_id)
    return won, lost
