"""A ticket holder's view of their tickets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.catalog.model import Event, TicketType
from core.kernel.clock import Clock
from core.kernel.errors import DomainError, ErrorCode
from core.tickets.actions import HolderAction, HolderSituation, holder_actions
from core.tickets.model import RevokeReason, Ticket, token_from_payload
from core.unit_of_work import Database, UnitOfWork

# Tickets stay listed until this long after the start (a night out does not end at doors).
LISTED_AFTER_START = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class TicketView:
    """A ticket with what is needed to show it."""

    ticket: Ticket
    event: Event
    ticket_type: TicketType
    # What the holder may do with it now (``core.tickets.actions``); empty unless asked.
    actions: tuple[HolderAction, ...] = ()


@dataclass(frozen=True, slots=True)
class TicketLink:
    """What opening a ticket's deep link shows: the ticket to its owner, a hint to others."""

    is_owner: bool
    view: TicketView | None


class TicketService:
    """Listing and re-showing tickets."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def my_tickets(self, user_id: int) -> list[TicketView]:
        """The user's tickets for events that have not long passed, soonest first, each with
        what its holder may do now. A ticket they gave away is no longer theirs to see."""
        now = self._clock.now()
        async with self._db.read() as uow:
            tickets = await uow.tickets.for_owner(user_id, upcoming_after=now - LISTED_AFTER_START)
            views = [await _view(uow, t, now=now) for t in tickets
                     if t.revoked_reason is not RevokeReason.TRANSFERRED]
        return sorted(views, key=lambda v: (v.event.starts_at, v.ticket.id))

    async def ticket_for_owner(self, *, user_id: int, ticket_id: int) -> TicketView:
        """One of the user's own tickets.

        Raises:
            DomainError: ``ticket_not_found`` if it does not exist or is someone else's.
        """
        async with self._db.read() as uow:
            ticket = await uow.tickets.get(ticket_id)
            if ticket is None or ticket.owner_user_id != user_id:
                raise DomainError(ErrorCode.TICKET_NOT_FOUND)
            return await _view(uow, ticket, now=self._clock.now())

    async def ticket_view(self, ticket_id: int) -> TicketView:
        """Any ticket (for delivery by the outbox).

        Raises:
            DomainError: ``ticket_not_found``.
        """
        async with self._db.read() as uow:
            ticket = await uow.tickets.get(ticket_id)
            if ticket is None:
                raise DomainError(ErrorCode.TICKET_NOT_FOUND)
            return await _view(uow, ticket)

    async def open_link(self, *, user_id: int, payload: str) -> TicketLink:
        """Resolve a ``/start t_<token>`` payload for whoever opened it.

        The owner gets their ticket back; anyone else learns only that it is a ticket.

        Raises:
            DomainError: ``ticket_not_found`` for anything that is not a real ticket link.
        """
        token = token_from_payload(payload)
        if token is None:
            raise DomainError(ErrorCode.TICKET_NOT_FOUND)
        async with self._db.read() as uow:
            ticket = await uow.tickets.by_token(token)
            if ticket is None:
                raise DomainError(ErrorCode.TICKET_NOT_FOUND)
            if ticket.owner_user_id != user_id:
                return TicketLink(is_owner=False, view=None)
            return TicketLink(is_owner=True, view=await _view(uow, ticket))


async def _view(uow: UnitOfWork, ticket: Ticket, *, now: datetime | None = None) -> TicketView:
    """The ticket with its event and type; with ``now``, also what its holder may do."""
    event = await uow.events.get(ticket.event_id)
    ticket_type = await uow.events.get_ticket_type(ticket.ticket_type_id)
    assert event is not None and ticket_type is not None
    actions: tuple[HolderAction, ...] = ()
    if now is not None:
        admitted = await uow.checkins.first_admission(ticket.id) is not None
        actions = holder_actions(HolderSituation(
            ticket, event, admitted, now, return_policy=await uow.returns.policy(event.id),
            order=await uow.orders.get(ticket.order_id),
            returned=await uow.returns.return_of(ticket.order_id) is not None))
    return TicketView(ticket=ticket, event=event, ticket_type=ticket_type, actions=actions)
