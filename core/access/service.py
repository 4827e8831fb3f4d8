"""Who may do what: admins from configuration, organizers and door staff by invitation."""

from __future__ import annotations

from core.access.model import INVITE_TTL, Grant, Invite, Role, invite_token_from_payload
from core.kernel.clock import Clock
from core.kernel.errors import DomainError, ErrorCode
from core.transactions import after_attempts, write_attempts
from core.unit_of_work import Database, UnitOfWork


class AccessService:
    """Roles, invites and the checks every console command starts with."""

    def __init__(self, db: Database, clock: Clock, admin_ids: frozenset[int]) -> None:
        self._db = db
        self._clock = clock
        self.admin_ids = admin_ids

    def is_admin(self, user_id: int) -> bool:
        """Admins come from ``TICKETQ_ADMIN_IDS``."""
        return user_id in self.admin_ids

    async def is_organizer(self, user_id: int) -> bool:
        """Admins and invited organizers may create events."""
        if self.is_admin(user_id):
            return True
        async with self._db.read() as uow:
            return await uow.roles.has(user_id, Role.ORGANIZER, None)

    async def require_organizer(self, user_id: int) -> None:
        """Raises ``not_allowed`` unless the user may create events."""
        if not await self.is_organizer(user_id):
            raise DomainError(ErrorCode.NOT_ALLOWED)

    async def require_manager(self, user_id: int, event_id: int) -> None:
        """Admins manage every event; an organizer manages the events they created.

        Raises:
            DomainError: ``not_allowed`` (also for unknown events: nothing is revealed).
        """
        if self.is_admin(user_id):
            async with self._db.read() as uow:
                if await uow.events.get(event_id) is None:
                    raise DomainError(ErrorCode.EVENT_NOT_FOUND, event_id=event_id)
            return
        async with self._db.read() as uow:
            await _require_manager(uow, user_id, event_id)

    async def staff_event_ids(self, user_id: int) -> set[int]:
        """Events this user checks tickets for (admins and managing organizers: theirs too)."""
        async with self._db.read() as uow:
            ids = set(await uow.roles.staff_events(user_id))
            ids |= set(await uow.events.managed_by(user_id, all_events=self.is_admin(user_id)))
        return ids

    async def create_invite(self, *, actor_id: int, role: Role,
                            event_id: int | None = None) -> Invite:
        """A single-use invite link that expires after ``INVITE_TTL``.

        Admins invite organizers; an organizer invites door staff for one of their events.

        Raises:
            DomainError: ``not_allowed`` or ``event_not_found``.
        """
        now = self._clock.now()
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                if role is Role.ORGANIZER:
                    if not self.is_admin(actor_id):
                        raise DomainError(ErrorCode.NOT_ALLOWED)
                    event_id = None
                else:
                    if event_id is None:
                        raise DomainError(ErrorCode.EVENT_NOT_FOUND)
                    if not self.is_admin(actor_id):
                        await _require_manager(uow, actor_id, event_id)
                    elif await uow.events.get(event_id) is None:
                        raise DomainError(ErrorCode.EVENT_NOT_FOUND, event_id=event_id)
                return await uow.roles.add_invite(role=role, event_id=event_id,
                                                  created_by=actor_id, now=now,
                                                  expires_at=now + INVITE_TTL)
        raise after_attempts()

    async def accept_invite(self, *, user_id: int, first_name: str,
                            payload: str) -> Grant:
        """Use an invite link: the role is granted once, to whoever opens it first.

        Raises:
            DomainError: ``invite_not_found``, ``invite_used``, ``invite_expired`` or
                ``invite_revoked``.
        """
        token = invite_token_from_payload(payload)
        if token is None:
            raise DomainError(ErrorCode.INVITE_NOT_FOUND)
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                invite = await uow.roles.invite_by_token(token, lock=True)
                now = self._clock.now()
                if invite is None:
                    raise DomainError(ErrorCode.INVITE_NOT_FOUND)
                if invite.revoked_at is not None:
                    raise DomainError(ErrorCode.INVITE_REVOKED)
                if invite.used_by is not None:
                    raise DomainError(ErrorCode.INVITE_USED)
                if now >= invite.expires_at:
                    raise DomainError(ErrorCode.INVITE_EXPIRED)
                await uow.roles.use_invite(invite.id, user_id=user_id, now=now)
                await uow.users.seen(user_id=user_id, first_name=first_name, language_code=None,
                                     now=now)
                return await uow.roles.grant(user_id=user_id, role=invite.role,
                                             event_id=invite.event_id,
                                             granted_by=invite.created_by, now=now)
        raise after_attempts()

    async def revoke_invite(self, *, actor_id: int, invite_id: int) -> None:
        """Withdraw an unused invite (its creator or an admin)."""
        now = self._clock.now()
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                invite = await uow.roles.invite(invite_id)
                if invite is None or (invite.created_by != actor_id
                                      and not self.is_admin(actor_id)):
                    raise DomainError(ErrorCode.INVITE_NOT_FOUND)
                await uow.roles.revoke_invite(invite_id, now=now)

    async def grants(self, *, actor_id: int, event_id: int | None = None) -> list[Grant]:
        """Organizers (admins only) or the staff of one event (its managers)."""
        async with self._db.read() as uow:
            if event_id is None:
                if not self.is_admin(actor_id):
                    raise DomainError(ErrorCode.NOT_ALLOWED)
                return await uow.roles.grants(Role.ORGANIZER, None)
            if not self.is_admin(actor_id):
                await _require_manager(uow, actor_id, event_id)
            return await uow.roles.grants(Role.STAFF, event_id)

    async def revoke(self, *, actor_id: int, user_id: int, role: Role,
                     event_id: int | None = None) -> bool:
        """Take a role away; returns False if the user did not hold it."""
        now = self._clock.now()
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                if role is Role.ORGANIZER:
                    if not self.is_admin(actor_id):
                        raise DomainError(ErrorCode.NOT_ALLOWED)
                    event_id = None
                elif event_id is None:
                    raise DomainError(ErrorCode.EVENT_NOT_FOUND)
                elif not self.is_admin(actor_id):
                    await _require_manager(uow, actor_id, event_id)
                return await uow.roles.revoke(user_id=user_id, role=role, event_id=event_id,
                                              now=now)
        raise after_attempts()


async def _require_manager(uow: UnitOfWork, user_id: int, event_id: int) -> None:
    event = await uow.events.get(event_id)
    if event is None or event_id not in await uow.events.managed_by(user_id):
        raise DomainError(ErrorCode.NOT_ALLOWED)
    if not await uow.roles.has(user_id, Role.ORGANIZER, None):
        raise DomainError(ErrorCode.NOT_ALLOWED)
