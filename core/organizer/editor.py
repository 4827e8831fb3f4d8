"""The event editor's use cases: create or edit an event through a draft.

The draft lives in the database (one per organizer,
:class:`core.organizer.ports.DraftRepository`), so a wizard survives restarts; nothing else
is written until the organizer publishes or saves as draft, and cancelling deletes the
draft. Each change (:meth:`EventWizardService.revise`, one answer of the chat dialogue in
``handlers/wizard``) is a read-modify-write of the draft row in one write transaction (row
locked), checked against the :class:`Rules` of that moment (the clock, and for edits what
is stored and sold), so two quick messages never overwrite each other. Core never reads the
dialogue's place in the draft (``Draft.cursor``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from core.access.service import AccessService
from core.catalog.model import Event, EventStatus, LotteryState, TicketType
from core.catalog.service import EventCard, Offer
from core.catalog.spec import EventSpec, TicketTypeSpec
from core.kernel import locking
from core.kernel.clock import Clock
from core.kernel.errors import DomainError, ErrorCode
from core.lottery.model import window_phase
from core.lottery.service import LotteryInfo
from core.organizer.draft import Draft, EditBase, Revision, Rules, draft_from_event, finish
from core.sales.model import Stock, max_selectable
from core.transactions import after_attempts, write_attempts
from core.unit_of_work import Database, UnitOfWork

# One change of a draft, checked against the rules of the moment (the dialogue's answer).
Change = Callable[[Draft, Rules], Revision]


@dataclass(frozen=True, slots=True)
class Started:
    """A draft just opened.

    Attributes:
        draft: the draft as stored.
        replaced: starting discarded an unfinished draft.
        lottery_locked: editing a lottery whose entries have opened (its terms are fixed).
    """

    draft: Draft
    replaced: bool = False
    lottery_locked: bool = False


@dataclass(frozen=True, slots=True)
class WizardPreview:
    """The event card exactly as attendees will see it (nothing is stored)."""

    card: EventCard
    lottery: LotteryInfo | None
    spec: EventSpec
    editing: bool


class EventWizardService:
    """Organizers create and edit events through a conversation."""

    def __init__(self, db: Database, clock: Clock, access: AccessService) -> None:
        self._db = db
        self._clock = clock
        self._access = access

    async def start(self, user_id: int, event_id: int | None = None) -> Started:
        """Open the wizard for a new event, or to edit ``event_id`` with its current values.

        An unfinished draft of the same organizer is discarded.

        Raises:
            DomainError: ``not_allowed`` (not an organizer, or not this event's manager),
                ``event_not_found`` or ``event_already_cancelled``.
        """
        if event_id is None:
            await self._access.require_organizer(user_id)
        else:
            await self._access.require_manager(user_id, event_id)
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                now = self._clock.now()
                locked = False
                if event_id is None:
                    draft = Draft({})
                else:
                    event = await _editable(uow, event_id)
                    types = await uow.events.ticket_types(event_id)
                    beacon = False
                    if event.is_lottery:
                        beacon = (await uow.lottery.fairness(event_id)).uses_beacon
                    draft = draft_from_event(event, types, beacon=beacon)
                    locked = (await _base(uow, event, now)).lottery_locked
                replaced = await uow.drafts.get(user_id) is not None
                await uow.drafts.put(user_id, draft, now=now)
        return Started(draft, replaced=replaced, lottery_locked=locked)

    async def current(self, user_id: int) -> Draft | None:
        """The open draft, or None when the user has no wizard open."""
        async with self._db.read() as uow:
            return await uow.drafts.get(user_id)

    async def has_draft(self, user_id: int) -> bool:
        """Whether text from this user is a wizard answer."""
        async with self._db.read() as uow:
            return await uow.drafts.get(user_id) is not None

    async def revise(self, user_id: int, change: Change) -> Revision | None:
        """Apply one change to the open draft under its row lock; None if no wizard is open.

        ``change`` gets the draft and the rules of this moment (the clock, and for an edit
        what is stored and sold) and returns the revised draft, with the issue that refused
        or redirected the change; the draft is stored when it changed.
        """
        if not await self.has_draft(user_id):  # most texts: a cheap read, no write lock
            return None
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                draft = await uow.drafts.get(user_id, lock=True)
                if draft is None:
                    return None
                now = self._clock.now()
                revision = change(draft, Rules(now, await self._edit_base(uow, draft, now)))
                if revision.draft != draft:
                    await uow.drafts.put(user_id, revision.draft, now=now)
                return revision
        raise after_attempts()

    async def preview(self, user_id: int) -> WizardPreview | None:
        """The event card the attendees will see once published (with live stock for edits).

        Raises:
            DomainError: ``invalid_event_spec`` or ``capacity_below_sold`` if the draft is not
                complete and valid.
        """
        async with self._db.read() as uow:
            draft = await uow.drafts.get(user_id)
            if draft is None:
                return None
            now = self._clock.now()
            base = await self._edit_base(uow, draft, now)
            spec = finish(draft.doc, now=now, base=base)
            stored: Event | None = None
            stock: list[Stock] = []
            entries, asked = 0, 0
            if draft.event_id is not None:
                stored = await uow.events.get(draft.event_id)
                types = await uow.events.ticket_types(draft.event_id)
                by_id = await uow.events.stock([t.id for t in types], now=now)
                stock = [by_id[t.id] for t in types]
                if stored is not None and stored.is_lottery:
                    tally = await uow.lottery.tally(draft.event_id)
                    entries, asked = tally.entries, tally.tickets_asked
        return _preview(spec, draft, stored, stock, entries, asked, now)

    async def publish(self, user_id: int) -> Event | None:
        """Create (or update) the event from the draft and publish it; the draft is deleted.

        Returns:
            The event, or None if no wizard is open.

        Raises:
            DomainError: ``not_allowed``, ``capacity_below_sold`` (``name``, ``sold``),
                ``invalid_event_spec`` or ``event_already_cancelled``; nothing changes (the
                draft stays for a new answer).
        """
        return await self._save(user_id, publish=True)

    async def save_as_draft(self, user_id: int) -> Event | None:
        """Like :meth:`publish`, but the event is stored unpublished (attendees cannot see
        it until ``/publish``). For an edit this also unpublishes the event.

        Raises:
            DomainError: as :meth:`publish`, and ``lottery_locked`` when unpublishing a
                lottery whose entries have opened.
        """
        return await self._save(user_id, publish=False)

    async def cancel(self, user_id: int) -> bool:
        """Leave the wizard: the draft is deleted and nothing else was ever written.

        Returns:
            False if no wizard was open.
        """
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                return await uow.drafts.delete(user_id)
        raise after_attempts()

    async def publish_event(self, user_id: int, event_id: int) -> Event:
        """``/publish``: make a stored event visible to attendees.

        Raises:
            DomainError: ``not_allowed``, ``event_not_found`` or ``event_already_cancelled``.
        """
        return await self._set_status(user_id, event_id, EventStatus.PUBLISHED)

    async def unpublish_event(self, user_id: int, event_id: int) -> Event:
        """``/unpublish``: hide an event from the list (tickets sold stay valid).

        Raises:
            DomainError: ``not_allowed``, ``event_not_found``, ``event_already_cancelled``
                or ``lottery_locked`` (a lottery taking entries must stay published so that
                it closes and draws).
        """
        return await self._set_status(user_id, event_id, EventStatus.DRAFT)

    # ------------------------------------------------------------------ internals

    async def _edit_base(self, uow: UnitOfWork, draft: Draft, now: datetime) -> EditBase | None:
        if draft.event_id is None:
            return None
        event = await uow.events.get(draft.event_id)
        return None if event is None else await _base(uow, event, now)

    async def _save(self, user_id: int, *, publish: bool) -> Event | None:
        draft = await self.current(user_id)
        if draft is None:
            return None
        event_id = draft.event_id
        if event_id is None:
            await self._access.require_organizer(user_id)
        else:
            await self._access.require_manager(user_id, event_id)
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                stored = await uow.drafts.get(user_id, lock=True)
                if stored is None:
                    return None
                if event_id is None:
                    now = self._clock.now()
                    spec = finish(stored.doc, now=now, publish=publish)
                    event = await uow.events.add(spec, created_by=user_id, now=now)
                else:
                    event = await _update(uow, stored, event_id, self._clock, publish)
                await uow.drafts.delete(user_id)
                return event
        raise after_attempts()

    async def _set_status(self, user_id: int, event_id: int, status: EventStatus) -> Event:
        await self._access.require_manager(user_id, event_id)
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                event = await uow.events.lock(event_id)
                now = self._clock.now()
                if event is None:
                    raise DomainError(ErrorCode.EVENT_NOT_FOUND, event_id=event_id)
                if event.status is EventStatus.CANCELLED:
                    raise DomainError(ErrorCode.EVENT_ALREADY_CANCELLED)
                if status is EventStatus.DRAFT and event.status is EventStatus.PUBLISHED \
                        and (await _base(uow, event, now)).lottery_locked:
                    raise DomainError(ErrorCode.LOTTERY_LOCKED)
                if event.status is not status:
                    await uow.events.set_status(event_id, status, now=now)
                return dataclasses.replace(event, status=status)
        raise after_attempts()


async def _editable(uow: UnitOfWork, event_id: int) -> Event:
    event = await uow.events.get(event_id)
    if event is None:
        raise DomainError(ErrorCode.EVENT_NOT_FOUND, event_id=event_id)
    if event.status is EventStatus.CANCELLED:
        raise DomainError(ErrorCode.EVENT_ALREADY_CANCELLED)
    return event


def lottery_locked(event: Event, now: datetime) -> bool:
    """A lottery's terms are fixed once its entries have opened (or it closed or drew)."""
    if not event.is_lottery or event.lottery is None:
        return False
    state = event.lottery_state or LotteryState.OPEN
    return state is not LotteryState.OPEN or now >= event.lottery.entries_open_at


async def _base(uow: UnitOfWork, event: Event, now: datetime) -> EditBase:
    types = await uow.events.ticket_types(event.id)
    stock = await uow.events.stock([t.id for t in types], now=now)
    window = event.lottery
    entries = 0
    if event.is_lottery and window is not None:
        fairness = await uow.lottery.fairness(event.id)
        window = dataclasses.replace(window, beacon=fairness.uses_beacon)
        entries = (await uow.lottery.tally(event.id)).entries
    return EditBase(
        sale_mode=event.sale_mode, lottery=window,
        types=tuple(TicketTypeSpec(t.name, t.price, t.capacity, t.per_user_limit)
                    for t in types),
        sold=tuple(stock[t.id].sold for t in types),
        lottery_locked=lottery_locked(event, now), entries=entries)


async def _update(uow: UnitOfWork, draft: Draft, event_id: int, clock: Clock,
                  publish: bool) -> Event:
    """Apply an edit under locks: the event row, then its ticket types in id order (the
    order purchases lock them), so no sale slips under a reduced capacity."""
    event = await uow.events.lock(event_id)
    if event is None:
        raise DomainError(ErrorCode.EVENT_NOT_FOUND, event_id=event_id)
    if event.status is EventStatus.CANCELLED:
        raise DomainError(ErrorCode.EVENT_ALREADY_CANCELLED)
    await uow.locks.take(*(locking.ticket_type(t.id)
                           for t in await uow.events.ticket_types(event_id)))
    now = clock.now()
    base = await _base(uow, event, now)
    spec = finish(draft.doc, now=now, base=base, publish=publish)
    if not publish and event.status is EventStatus.PUBLISHED and base.lottery_locked:
        raise DomainError(ErrorCode.LOTTERY_LOCKED)
    await uow.events.update(event_id, spec, now=now)
    status = EventStatus.PUBLISHED if publish else EventStatus.DRAFT
    await uow.events.set_status(event_id, status, now=now)
    updated = await uow.events.get(event_id)
    assert updated is not None
    return updated


def _preview(spec: EventSpec, draft: Draft, stored: Event | None, stock: list[Stock],
             entries: int, asked: int, now: datetime) -> WizardPreview:
    event_id = draft.event_id or 0
    state = None
    if spec.lottery is not None:
        state = (stored.lottery_state if stored is not None and stored.is_lottery
                 else None) or LotteryState.OPEN
    event = Event(id=event_id, title=spec.title, description=spec.description,
                  venue=spec.venue, starts_at=spec.starts_at, timezone=spec.timezone,
                  status=EventStatus.PUBLISHED, sale_mode=spec.sale_mode,
                  lottery=spec.lottery, lottery_state=state, transfers=spec.transfers)
    offers = []
    for i, t in enumerate(spec.ticket_types):
        before = stock[i] if i < len(stock) else Stock(t.capacity, 0, 0)
        now_stock = Stock(t.capacity, before.sold, before.held)
        ticket_type = TicketType(id=0, event_id=event_id, name=t.name, price=t.price,
                                 capacity=t.capacity, per_user_limit=t.per_user_limit,
                                 position=i)
        offers.append(Offer(ticket_type, now_stock,
                            max_selectable(now_stock, t.per_user_limit, 0)))
    card = EventCard(event=event, offers=offers, on_sale=event.is_on_sale(now))
    info = None
    if spec.lottery is not None and state is not None:
        info = LotteryInfo(phase=window_phase(spec.lottery, now), state=state,
                           entries=entries, tickets_asked=asked,
                           seats=sum(t.capacity for t in spec.ticket_types), my_entry=None)
    return WizardPreview(card=card, lottery=info, spec=spec, editing=draft.event_id is not None)


__all__ = ["Change", "EventWizardService", "Started", "WizardPreview", "lottery_locked"]
