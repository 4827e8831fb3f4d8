"""What direct sales need from storage: orders, holds and their screens."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from core.catalog.model import TicketType
from core.sales.model import HoldScreen, Order, ScreenState


class OrderRepository(Protocol):
    """Orders and holds."""

    async def add_hold(self, *, user_id: int, ticket_type: TicketType, quantity: int,
                       now: datetime, expires_at: datetime) -> Order:
        """Create an order in ``held`` state."""
        ...

    async def get(self, order_id: int, *, lock: bool = False) -> Order | None:
        """One order or None; ``lock`` holds its row until commit (take type locks first)."""
        ...

    async def release_live_holds(self, *, user_id: int, event_id: int, now: datetime,
                                 except_order_id: int | None = None) -> int:
        """Release the user's live holds for an event (one cart per event); returns how many."""
        ...

    async def release(self, order_id: int) -> None:
        """Release one hold."""
        ...

    async def seats_owned(self, *, user_id: int, ticket_type_id: int) -> int:
        """Seats of a type the user has paid for."""
        ...

    async def renew_hold(self, order_id: int, *, expires_at: datetime) -> None:
        """Put the order (back) in ``held`` until ``expires_at`` (pre-checkout re-acquire)."""
        ...

    async def mark_paid(self, order_id: int, *, now: datetime) -> None:
        """The order is paid."""
        ...

    async def return_seats(self, order_id: int, count: int) -> None:
        """``count`` more seats of a paid order were refunded: they are no longer sold (the
        order's lock is held)."""
        ...

    async def mark_rejected(self, order_id: int) -> None:
        """A payment for this order could not be honoured."""
        ...

    async def set_screen(self, order_id: int, *, chat_id: int, message_id: int,
                         now: datetime) -> None:
        """Record (or move) the message that shows this hold, ``open``; another order's open
        screen on the same message becomes ``superseded`` (it must not be edited any more)."""
        ...

    async def screen(self, order_id: int) -> HoldScreen | None:
        """The message that shows this hold, if one was recorded."""
        ...

    async def close_screen(self, order_id: int, state: ScreenState, *, now: datetime,
                           from_states: Collection[ScreenState]) -> bool:
        """Record what the hold's message says now, if it is in one of ``from_states``
        (decided under the row's lock); True if it changed. The edit itself is queued in the
        outbox by the caller, in the same transaction, only when this returned True."""
        ...

    async def screens_to_close(self, *, now: datetime,
                               limit: int) -> list[tuple[Order, HoldScreen]]:
        """Open hold screens that no longer tell the truth: their order was released or
        rejected, or its hold expired (paid ones are closed when the payment is recorded)."""
        ...
