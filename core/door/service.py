"""Door check-in by QR link, QR photo or typed short code."""

from __future__ import annotations

from collections.abc import Collection

from core.access.service import AccessService
from core.catalog.model import EventStatus
from core.door.model import ScanResult, Verdict
from core.kernel.clock import Clock
from core.kernel.errors import DomainError, ErrorCode
from core.tickets.model import TicketStatus, normalize_short_code, token_from_payload, tokens_equal
from core.transactions import write_attempts
from core.unit_of_work import Database


class CheckinService:
    """Verdicts derived from an append-only log; one VALID per ticket, ever."""

    def __init__(self, db: Database, clock: Clock, access: AccessService) -> None:
        self._db = db
        self._clock = clock
        self._access = access

    async def is_staff(self, user_id: int) -> bool:
        """Whether this user checks tickets for any event."""
        return bool(await self.staff_events(user_id))

    async def staff_events(self, user_id: int) -> frozenset[int]:
        """The events this user checks tickets for (empty: not door staff).

        Pass them on as ``staff_events`` to a scan so it does not read them again.
        """
        return frozenset(await self._access.staff_event_ids(user_id))

    async def scan_link(self, *, staff_id: int, payload: str, nonce: str,
                        staff_events: Collection[int] | None = None) -> ScanResult:
        """A ``/start t_<token>`` opened by door staff (the phone camera path).

        ``staff_events``: :meth:`staff_events` of ``staff_id`` if the caller already read
        them (None: read them here).

        Raises:
            DomainError: ``not_allowed`` if the user is not door staff.
        """
        token = token_from_payload(payload)
        return await self._scan(staff_id=staff_id, token=token, code=None, nonce=nonce,
                                events=staff_events)

    async def scan_code(self, *, staff_id: int, typed: str, nonce: str,
                        staff_events: Collection[int] | None = None) -> ScanResult:
        """A short code typed by hand (``/checkin K7QH-3MZP``)."""
        return await self._scan(staff_id=staff_id, token=None,
                                code=normalize_short_code(typed), nonce=nonce,
                                events=staff_events)

    async def _scan(self, *, staff_id: int, token: str | None, code: str | None,
                    nonce: str, events: Collection[int] | None) -> ScanResult:
        if events is None:
            events = await self.staff_events(staff_id)
        if not events:
            raise DomainError(ErrorCode.NOT_ALLOWED)
        if token is None and code is None:
            return ScanResult(Verdict.NOT_A_TICKET)
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                ticket = (await uow.tickets.by_token(token) if token is not None
                          else await uow.tickets.by_short_code(code or ""))
                if ticket is None or (token is not None and not tokens_equal(ticket.token, token)):
                    return ScanResult(Verdict.NOT_A_TICKET)
                # In the lock order: the event shared (a cancel waits for the door), then the
                # ticket, where gates scanning the same ticket queue up.
                await uow.events.lock(ticket.event_id, shared=True)
                ticket = await uow.tickets.get(ticket.id, lock=True)
                assert ticket is not None
                now = self._clock.now()
                event = await uow.events.get(ticket.event_id)
                assert event is not None
                if ticket.event_id not in events:
                    return ScanResult(Verdict.WRONG_EVENT, event_title=event.title)
                repeat = await uow.checkins.by_nonce(nonce)
                first = await uow.checkins.first_admission(ticket.id)
                if repeat is not None and first is not None and repeat.id == first.id:
                    verdict = Verdict.VALID  # the same scan delivered twice is still the same scan
                elif event.status is EventStatus.CANCELLED:
                    verdict = Verdict.CANCELLED
                elif ticket.status is TicketStatus.REVOKED:
                    verdict = Verdict.REVOKED
                elif first is not None:
                    verdict = Verdict.ALREADY_USED
                else:
                    verdict = Verdict.VALID
                if repeat is None:
                    await uow.checkins.append(ticket_id=ticket.id, event_id=ticket.event_id,
                                              staff_user_id=staff_id, verdict=verdict, nonce=nonce,
                                              now=now)
        assert ticket is not None and event is not None  # the loop ended with a commit
        # The verdict is committed; what is only shown (names, type, progress) is read after
        # the commit, outside the write lock. The counts may already include a later scan.
        async with self._db.read() as uow:
            ticket_type = await uow.events.get_ticket_type(ticket.ticket_type_id)
            holder = await uow.users.first_name(ticket.owner_user_id)
            first_staff = (await uow.users.first_name(first.staff_user_id)
                           if first is not None and verdict is Verdict.ALREADY_USED else None)
            checked_in, sold = await uow.checkins.counts(ticket.event_id)
        return ScanResult(
            verdict=verdict, event_title=event.title,
            ticket_type=ticket_type.name if ticket_type is not None else None,
            holder_first_name=holder,
            first_scan_at=(first.scanned_at.astimezone(event.tz) if first is not None
                           and verdict is Verdict.ALREADY_USED else None),
            first_scan_staff=first_staff,
            checked_in=checked_in, sold=sold,
            revoked_reason=(ticket.revoked_reason.value if verdict is Verdict.REVOKED
                            and ticket.revoked_reason is not None else None))

    async def progress(self, *, staff_id: int, event_id: int) -> tuple[int, int]:
        """(checked in, sold) for an event the user works at.

        Raises:
            DomainError: ``not_allowed``.
        """
        if event_id not in await self._access.staff_event_ids(staff_id):
            raise DomainError(ErrorCode.NOT_ALLOWED)
        async with self._db.read() as uow:
            return await uow.checkins.counts(event_id)
