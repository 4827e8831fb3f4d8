"""Door check-in by QR link, QR photo or typed short code."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import datetime, tzinfo

from core.access.service import AccessService
from core.catalog.model import EventStatus
from core.door.model import CheckinRecord, ScanResult, Verdict
from core.door.offline import (
    DUPLICATE_KEY,
    RECORDED_OFFLINE,
    DoorPack,
    OfflineScan,
    PackEvent,
    SyncedScan,
    accepted_scan_time,
    duplicate_notice,
    log_nonce,
    new_pack_key,
    pack_entry,
    valid_client_nonce,
)
from core.kernel import outbox
from core.kernel.clock import Clock
from core.kernel.errors import DomainError, ErrorCode
from core.tickets.model import (
    TicketStatus,
    looks_like_token,
    normalize_short_code,
    ticket_link_payload,
    token_from_payload,
    tokens_equal,
)
from core.transactions import after_attempts, write_attempts
from core.unit_of_work import Database, UnitOfWork


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

    async def scan_text(self, *, staff_id: int, text: str, bot_username: str, nonce: str,
                        staff_events: Collection[int] | None = None) -> ScanResult:
        """What a scanner read (the Mini App's camera): our bot's ticket link, or a short code
        typed or read from the ticket; anything else is NOT A TICKET.

        Raises:
            DomainError: ``not_allowed`` if the user is not door staff.
        """
        payload = ticket_link_payload(text, bot_username)
        if payload is not None:
            return await self.scan_link(staff_id=staff_id, payload=payload, nonce=nonce,
                                        staff_events=staff_events)
        return await self.scan_code(staff_id=staff_id, typed=text if len(text) < 20 else "",
                                    nonce=nonce, staff_events=staff_events)

    async def door_pack(self, *, staff_id: int) -> DoorPack:
        """What a scanner keeps to decide offline for its staff member's events: keyed hashes
        of the tickets under a key made for this download, their states, the running counts.

        Raises:
            DomainError: ``not_allowed`` if the user is not door staff.
        """
        events = sorted(await self.staff_events(staff_id))
        if not events:
            raise DomainError(ErrorCode.NOT_ALLOWED)
        key = new_pack_key()
        now = self._clock.now()
        async with self._db.read() as uow:
            tickets = await uow.checkins.pack_tickets(events)
            covered = []
            for event_id in events:
                event = await uow.events.get(event_id)
                if event is None:
                    continue
                checked_in, sold = await uow.checkins.counts(event_id)
                covered.append(PackEvent(event_id, event.title, checked_in, sold))
        return DoorPack(key.hex(), now, covered, [pack_entry(key, t) for t in tickets])

    async def sync_offline(self, *, staff_id: int,
                           scans: list[OfflineScan]) -> list[SyncedScan]:
        """Merge a scanner's offline queue into the log, each scan once (its nonce).

        The first admission of a ticket is its earliest scan time; every further admission
        is a duplicate and the event's organizer gets one message about it.

        Raises:
            DomainError: ``not_allowed`` if the user is not door staff.
        """
        events = await self.staff_events(staff_id)
        if not events:
            raise DomainError(ErrorCode.NOT_ALLOWED)
        return [await self._sync_one(staff_id, events, scan) for scan in scans]

    async def _sync_one(self, staff_id: int, events: frozenset[int],
                        scan: OfflineScan) -> SyncedScan:
        refused = SyncedScan(scan.client_nonce, recorded=False)
        if (not valid_client_nonce(scan.client_nonce) or scan.verdict not in RECORDED_OFFLINE
                or not looks_like_token(scan.token)):
            return refused
        nonce = log_nonce(staff_id, scan.client_nonce)
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                ticket = await uow.tickets.by_token(scan.token)
                if (ticket is None or not tokens_equal(ticket.token, scan.token)
                        or ticket.event_id not in events):
                    return refused
                await uow.events.lock(ticket.event_id, shared=True)
                await uow.tickets.get(ticket.id, lock=True)
                now = self._clock.now()
                record = await uow.checkins.by_nonce(nonce)
                if record is not None and record.ticket_id != ticket.id:
                    return refused  # a nonce is one scan of one ticket
                if record is None:
                    at = accepted_scan_time(scan.scanned_at, now)
                    if at is None:
                        return refused
                    record = await uow.checkins.append(
                        ticket_id=ticket.id, event_id=ticket.event_id, staff_user_id=staff_id,
                        verdict=scan.verdict, nonce=nonce, now=at, synced_at=now)
                admissions = await uow.checkins.admissions(ticket.id)
                if len(admissions) > 1:
                    await self._report_duplicates(uow, ticket.event_id, ticket.short_code,
                                                  admissions, now)
                duplicate = (record.verdict is Verdict.VALID
                             and admissions[0].id != record.id)
                return SyncedScan(scan.client_nonce, recorded=True, verdict=record.verdict,
                                  duplicate=duplicate)
        raise after_attempts()

    @staticmethod
    async def _report_duplicates(uow: UnitOfWork, event_id: int, short_code: str,
                                 admissions: list[CheckinRecord], now: datetime) -> None:
        """One message to the organizer per extra admission (the outbox drops repeats)."""
        event = await uow.events.get(event_id)
        organizer = await uow.events.created_by(event_id)
        assert event is not None and organizer is not None
        first = admissions[0]
        first_staff = await uow.users.first_name(first.staff_user_id)
        for extra in admissions[1:]:
            message = duplicate_notice(
                event_title=event.title, short_code=short_code,
                first=_in_zone(first, event.tz), first_staff=first_staff,
                extra=_in_zone(extra, event.tz),
                extra_staff=await uow.users.first_name(extra.staff_user_id))
            await uow.outbox.put(outbox.MESSAGE, message.payload(),
                                 dedupe_key=DUPLICATE_KEY.of(extra.id), now=now,
                                 chat_id=organizer)


def _in_zone(record: CheckinRecord, zone: tzinfo) -> CheckinRecord:
    return replace(record, scanned_at=record.scanned_at.astimezone(zone))
