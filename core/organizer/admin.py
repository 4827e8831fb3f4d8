"""Organizer use cases: importing events and reading sales figures."""

from __future__ import annotations

from dataclasses import dataclass

from core.access.service import AccessService
from core.catalog.model import Event
from core.catalog.spec import parse_event_spec
from core.kernel.clock import Clock
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.payments.model import RefundStatus
from core.sales.model import TicketTypeSales
from core.transactions import after_attempts, write_attempts
from core.unit_of_work import Database


@dataclass(frozen=True, slots=True)
class EventSales:
    """Figures an organizer checks during a sale."""

    event: Event
    types: list[TicketTypeSales]
    refunds: dict[RefundStatus, tuple[int, int]]

    @property
    def tickets_sold(self) -> int:
        """Tickets sold across types."""
        return sum(t.stock.sold for t in self.types)


class AdminService:
    """Importing events and reading sales figures; who may do it is AccessService's rule."""

    def __init__(self, db: Database, clock: Clock, access: AccessService) -> None:
        self._db = db
        self._clock = clock
        self.access = access

    async def import_event(self, raw: object, *, actor_id: int | None) -> Event:
        """Validate and create an event with its ticket types (published if it says so).

        ``actor_id`` None means the operator's command line, which is trusted.

        Raises:
            DomainError: ``not_allowed``, or ``invalid_event_spec`` with every issue found;
                nothing is stored then.
        """
        if actor_id is not None:
            await self.access.require_organizer(actor_id)
        now = self._clock.now()
        spec = parse_event_spec(raw, now=now)
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                return await uow.events.add(spec, created_by=actor_id or 0, now=now)
        raise after_attempts()

    async def sales(self, event_id: int, *, actor_id: int) -> EventSales:
        """Per-type sold / held / available and revenue, plus refunds.

        Raises:
            DomainError: ``not_allowed`` or ``event_not_found``.
        """
        await self.access.require_manager(actor_id, event_id)
        now = self._clock.now()
        async with self._db.read() as uow:
            event = await uow.events.get(event_id)
            if event is None:
                raise DomainError(ErrorCode.EVENT_NOT_FOUND, event_id=event_id)
            types = await uow.events.ticket_types(event_id)
            stock = await uow.events.stock([t.id for t in types], now=now)
            rows = [TicketTypeSales(t, stock[t.id], t.price.times(stock[t.id].sold))
                    for t in types]
            refunds = await uow.refunds.counts(event_id)
        return EventSales(event=event, types=rows, refunds=refunds)


def revenue_total(rows: list[TicketTypeSales]) -> Money | None:
    """Sum of revenue when all types share a currency."""
    if not rows:
        return None
    total = Money(0, rows[0].revenue.currency)
    for row in rows:
        total = total + row.revenue
    return total
