"""Browsing: the event list and event cards with live availability."""

from __future__ import annotations

from dataclasses import dataclass

from core.catalog.model import Event, EventStatus, TicketType
from core.kernel.clock import Clock
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.sales.model import Stock, max_selectable
from core.unit_of_work import Database


@dataclass(frozen=True, slots=True)
class EventSummary:
    """One line of the event list."""

    event: Event
    price_min: Money | None
    price_max: Money | None
    available: int

    @property
    def sold_out(self) -> bool:
        """No seat of any type left."""
        return self.available == 0


@dataclass(frozen=True, slots=True)
class EventPage:
    """A page of the event list."""

    items: list[EventSummary]
    page: int
    pages: int


@dataclass(frozen=True, slots=True)
class Offer:
    """A ticket type as one user sees it right now."""

    ticket_type: TicketType
    stock: Stock
    max_for_user: int


@dataclass(frozen=True, slots=True)
class EventCard:
    """Everything the event card shows."""

    event: Event
    offers: list[Offer]
    on_sale: bool


class CatalogService:
    """Read-only views of what is on sale."""

    def __init__(self, db: Database, clock: Clock, page_size: int = 5) -> None:
        self._db = db
        self._clock = clock
        self.page_size = page_size

    async def list_events(self, page: int = 0) -> EventPage:
        """Published, upcoming events, soonest first, with price range and seats left."""
        now = self._clock.now()
        async with self._db.read() as uow:
            total = await uow.events.count_published(now=now)
            pages = max(1, -(-total // self.page_size))
            page = min(max(0, page), pages - 1)
            events = await uow.events.list_published(
                now=now, offset=page * self.page_size, limit=self.page_size
            )
            items = []
            for event in events:
                types = await uow.events.ticket_types(event.id)
                stock = await uow.events.stock([t.id for t in types], now=now)
                prices = sorted(t.price for t in types)
                items.append(EventSummary(
                    event=event,
                    price_min=prices[0] if prices else None,
                    price_max=prices[-1] if prices else None,
                    available=sum(s.available for s in stock.values()),
                ))
        return EventPage(items=items, page=page, pages=pages)

    async def event_card(self, event_id: int, user_id: int) -> EventCard:
        """An event with each ticket type's price, seats left and this user's maximum.

        Raises:
            DomainError: ``event_not_found`` for unknown or unpublished events.
        """
        now = self._clock.now()
        async with self._db.read() as uow:
            event = await uow.events.get(event_id)
            if event is None or event.status is EventStatus.DRAFT:
                raise DomainError(ErrorCode.EVENT_NOT_FOUND, event_id=event_id)
            types = await uow.events.ticket_types(event_id)
            stock = await uow.events.stock([t.id for t in types], now=now,
                                           exclude_user_id=user_id)
            offers = []
            for t in types:
                owned = await uow.orders.seats_owned(user_id=user_id, ticket_type_id=t.id)
                offers.append(Offer(t, stock[t.id], max_selectable(stock[t.id],
                                                                    t.per_user_limit, owned)))
        return EventCard(event=event, offers=offers, on_sale=event.is_on_sale(now))
