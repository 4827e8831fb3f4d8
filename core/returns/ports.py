"""What returns and the waiting list need from storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.catalog.model import TicketType
from core.returns.model import ReturnPolicy, TicketReturn, WaitlistEntry
from core.sales.model import Order


@dataclass(frozen=True, slots=True)
class AfterSaleCounts:
    """Figures of one event (``None``: all events) for /stats and the CSV export."""

    returns: int = 0
    resold: int = 0
    waiting: int = 0
    offers: int = 0
    lapsed: int = 0
    paid: int = 0


class ReturnsRepository(Protocol):
    """Return policies, returns, waiting-list entries and their offers.

    Every write is made under the ticket type's lock (and the orders' locks it names), so
    no lock level of its own is needed."""

    async def policy(self, event_id: int) -> ReturnPolicy | None:
        """The event's return policy; None: returns are not allowed."""
        ...

    async def set_policy(self, event_id: int, policy: ReturnPolicy) -> None:
        """Record (or replace) an event's return policy."""
        ...

    async def join(self, *, ticket_type: TicketType, user_id: int, chat_id: int,
                   quantity: int, now: datetime) -> WaitlistEntry | None:
        """Put a person on a type's waiting list; None if they are on it already (once per
        person and type, whatever became of their entry)."""
        ...

    async def entry_for(self, *, user_id: int, ticket_type_id: int) -> WaitlistEntry | None:
        """A person's entry on a type's waiting list."""
        ...

    async def waiting(self, ticket_type_id: int) -> list[WaitlistEntry]:
        """Entries still ``waiting``, in join order."""
        ...

    async def add_return(self, order: Order, *, chat_id: int,
                         now: datetime) -> TicketReturn | None:
        """Record the return of a whole paid order; None if it was returned already."""
        ...

    async def return_of(self, order_id: int) -> TicketReturn | None:
        """The return of an order, if any."""
        ...

    async def open_returns(self, ticket_type_id: int) -> list[TicketReturn]:
        """Returns of a type waiting for a taker, oldest first."""
        ...

    async def add_offer(self, ret: TicketReturn, entry: WaitlistEntry, *, unit_price_minor: int,
                        currency: str, now: datetime, expires_at: datetime) -> Order:
        """Offer a return to a waiting person: a held order for its seats (``resale_of`` the
        returned order) that holds no seat of the public stock; the return and the entry
        become ``offered`` with it."""
        ...

    async def offer_of(self, offer_order_id: int) -> tuple[TicketReturn, WaitlistEntry] | None:
        """The return and the entry an offer order belongs to."""
        ...

    async def add_seat_offer(self, entry: WaitlistEntry, *, quantity: int,
                             unit_price_minor: int, currency: str, now: datetime,
                             expires_at: datetime) -> Order:
        """Offer free seats (a drawn lottery's unclaimed seats) to a waiting person: a held
        order that holds them like any hold; the entry becomes ``offered``."""
        ...

    async def offer_entry(self, offer_order_id: int) -> WaitlistEntry | None:
        """The waiting-list entry an offer order was made to, if it is an offer."""
        ...

    async def lapsed_entries(self, *, now: datetime, limit: int) -> list[WaitlistEntry]:
        """Entries holding an offer that was not paid in time (its hold expired, or it was
        released or rejected), oldest offer first."""
        ...

    async def lapse(self, entry: WaitlistEntry, *, now: datetime) -> None:
        """The entry's offer lapsed: its order is released, the entry ``lapsed``, the return
        it offered (if any) ``open`` again."""
        ...

    async def mark_offer_paid(self, offer_order_id: int, *, now: datetime) -> None:
        """The entry an offer order was made to took it (``paid``)."""
        ...

    async def lotteries_to_seed(self) -> list[int]:
        """Drawn lotteries with a return policy whose non-winners are not queued yet."""
        ...

    async def seed_second_chance(self, event_id: int, *, now: datetime) -> int:
        """Queue a drawn lottery's non-winners in the published draw order (their entry's
        seats, position and public reference); returns how many were queued."""
        ...

    async def second_chance(self, event_id: int) -> list[tuple[str, int, str, str]]:
        """The second-chance offers of a lottery in the order they were made:
        ``(entry reference, seats, "return" | "unclaimed", entry status)``."""
        ...

    async def resell(self, ret: TicketReturn, *, now: datetime) -> None:
        """The offer was paid: the return is ``resold``, the entry ``paid``, the returned
        order ``returned`` (its tickets are revoked by the caller, under their locks)."""
        ...

    async def types_to_match(self) -> list[int]:
        """Ticket types with an open return and someone waiting."""
        ...

    async def counts(self, event_id: int | None = None) -> AfterSaleCounts:
        """Figures for /stats and the export."""
        ...
