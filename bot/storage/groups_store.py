"""Lottery group entries in SQL (:class:`core.lottery.ports.GroupRepository`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage import tables as t
from bot.storage.locks import SqlLocks
from core.kernel.money import Money
from core.lottery.group_model import GroupMember, MemberStatus, new_group_token
from core.lottery.model import TICKET_KEY, Entry, EntryStatus


def _insert(dialect: str, table: Any) -> Any:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _member(row: Row[Any]) -> GroupMember:
    return GroupMember(id=row.id, event_id=row.event_id, entry_id=row.entry_id,
                       user_id=row.user_id, chat_id=row.chat_id,
                       status=MemberStatus(row.status), joined_at=row.joined_at,
                       phone_hash=row.phone_hash)


def _entry(row: Row[Any]) -> Entry:
    return Entry(
        id=row.id, event_id=row.event_id, ticket_type_id=row.ticket_type_id,
        user_id=row.user_id, chat_id=row.chat_id, quantity=row.quantity,
        unit_price=Money(row.unit_price_minor, row.currency), status=EntryStatus(row.status),
        created_at=row.created_at, paid_at=row.paid_at, order_id=row.order_id,
        ref=row.public_ref)


class SqlGroupRepository:
    """Group sizes, invite links and companions."""

    def __init__(self, conn: AsyncConnection, dialect: str, locks: SqlLocks) -> None:
        self.conn = conn
        self.dialect = dialect
        self.locks = locks

    async def group_size(self, event_id: int) -> int:
        size = (await self.conn.execute(select(t.lottery_groups.c.group_size).where(
            t.lottery_groups.c.event_id == event_id))).scalar_one_or_none()
        return int(size or 1)

    async def set_group_size(self, event_id: int, size: int) -> None:
        await self.conn.execute(
            _insert(self.dialect, t.lottery_groups).values(event_id=event_id, group_size=size)
            .on_conflict_do_update(index_elements=["event_id"], set_={"group_size": size}))

    async def invite_token(self, entry: Entry, *, now: datetime) -> str:
        await self.conn.execute(
            _insert(self.dialect, t.group_invites).values(
                entry_id=entry.id, event_id=entry.event_id, token=new_group_token(),
                created_at=now).on_conflict_do_nothing(index_elements=["entry_id"]))
        return str((await self.conn.execute(select(t.group_invites.c.token).where(
            t.group_invites.c.entry_id == entry.id))).scalar_one())

    async def entry_for_token(self, token: str) -> int | None:
        found = (await self.conn.execute(select(t.group_invites.c.entry_id).where(
            t.group_invites.c.token == token))).scalar_one_or_none()
        return int(found) if found is not None else None

    async def members(self, entry_id: int) -> list[GroupMember]:
        m = t.group_members.c
        rows = await self.conn.execute(select(t.group_members).where(m.entry_id == entry_id)
                                       .order_by(m.id))
        return [_member(r) for r in rows]

    async def member_of(self, event_id: int, user_id: int) -> GroupMember | None:
        m = t.group_members.c
        row = (await self.conn.execute(select(t.group_members).where(
            m.event_id == event_id, m.user_id == user_id))).first()
        return _member(row) if row else None

    async def add_member(self, entry: Entry, *, user_id: int, chat_id: int,
                         now: datetime) -> GroupMember | None:
        row = (await self.conn.execute(
            _insert(self.dialect, t.group_members).values(
                event_id=entry.event_id, entry_id=entry.id, user_id=user_id, chat_id=chat_id,
                status=MemberStatus.INVITED.value, joined_at=now)
            .on_conflict_do_nothing(index_elements=["event_id", "user_id"])
            .returning(t.group_members))).first()
        return _member(row) if row else None

    async def confirm(self, member_id: int, *, phone_hash: str | None, now: datetime) -> None:
        await self.conn.execute(update(t.group_members).where(
            t.group_members.c.id == member_id).values(
            status=MemberStatus.CONFIRMED.value, phone_hash=phone_hash))

    async def phone_in_group(self, event_id: int, phone_hash: str) -> bool:
        m = t.group_members.c
        return (await self.conn.execute(select(m.id).where(
            m.event_id == event_id, m.phone_hash == phone_hash,
            m.status == MemberStatus.CONFIRMED.value).limit(1))).first() is not None

    async def groups_of(self, event_id: int) -> list[tuple[Entry, list[GroupMember]]]:
        m = t.group_members.c
        members = [_member(r) for r in await self.conn.execute(
            select(t.group_members).where(m.event_id == event_id,
                                          m.status == MemberStatus.CONFIRMED.value)
            .order_by(m.entry_id, m.id))]
        if not members:
            return []
        by_entry: dict[int, list[GroupMember]] = {}
        for member in members:
            by_entry.setdefault(member.entry_id, []).append(member)
        entries = await self.conn.execute(select(t.entries).where(
            t.entries.c.id.in_(list(by_entry))).order_by(t.entries.c.id))
        return [(_entry(r), by_entry[r.id]) for r in entries]

    async def give_ticket(self, ticket_id: int, user_id: int, *, chat_id: int) -> None:
        await self.conn.execute(update(t.tickets).where(t.tickets.c.id == ticket_id).values(
            owner_user_id=user_id))
        await self.conn.execute(update(t.outbox).where(
            t.outbox.c.dedupe_key == TICKET_KEY.of(ticket_id)).values(chat_id=chat_id))

    async def group_counts(self, event_id: int | None = None) -> tuple[int, int]:
        m, e = t.group_members.c, t.entries.c
        grouped = select(m.entry_id).where(m.status == MemberStatus.CONFIRMED.value)
        query = select(e.status, func.count()).where(e.id.in_(grouped)).group_by(e.status)
        if event_id is not None:
            query = query.where(e.event_id == event_id)
        counts = {s: int(n) for s, n in await self.conn.execute(query)}
        return counts.get(EntryStatus.WON.value, 0), counts.get(EntryStatus.LOST.value, 0)
