"""One transaction and the feature ports bound to it; the database that opens them.

Every feature's ports live next to the feature (``core/<feature>/ports.py``); a unit of
work gathers them so a use case can change several features atomically."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from core.access.ports import RoleRepository
from core.catalog.ports import EventRepository
from core.door.ports import CheckinRepository
from core.kernel.ports import Locks, Outbox, UserRepository
from core.lottery.ports import GroupRepository, LotteryRepository
from core.organizer.ports import DraftRepository
from core.payments.ports import PaymentRepository, RefundRepository
from core.returns.ports import ReturnsRepository
from core.sales.ports import OrderRepository
from core.tickets.ports import TicketRepository
from core.transfers.ports import TransferRepository


class UnitOfWork(Protocol):
    """One database transaction and the repositories bound to it."""

    @property
    def locks(self) -> Locks:
        """The lock gate of this transaction: every explicit lock goes through it."""
        ...

    @property
    def events(self) -> EventRepository:
        """The events repository of this transaction."""
        ...

    @property
    def lottery(self) -> LotteryRepository:
        """The lottery repository of this transaction."""
        ...

    @property
    def checkins(self) -> CheckinRepository:
        """The check-in log of this transaction."""
        ...

    @property
    def roles(self) -> RoleRepository:
        """The roles repository of this transaction."""
        ...

    @property
    def orders(self) -> OrderRepository:
        """The orders repository of this transaction."""
        ...

    @property
    def payments(self) -> PaymentRepository:
        """The payments repository of this transaction."""
        ...

    @property
    def refunds(self) -> RefundRepository:
        """The refunds repository of this transaction."""
        ...

    @property
    def tickets(self) -> TicketRepository:
        """The tickets repository of this transaction."""
        ...

    @property
    def transfers(self) -> TransferRepository:
        """The ticket transfers' claim links in this transaction."""
        ...

    @property
    def users(self) -> UserRepository:
        """The users repository of this transaction."""
        ...

    @property
    def outbox(self) -> Outbox:
        """The outbox repository of this transaction."""
        ...

    @property
    def groups(self) -> GroupRepository:
        """Lottery group entries in this transaction."""
        ...

    @property
    def returns(self) -> ReturnsRepository:
        """Returns and waiting lists in this transaction."""
        ...

    @property
    def drafts(self) -> DraftRepository:
        """The event wizard's drafts in this transaction."""
        ...


class Database(Protocol):
    """Opens units of work. Writes are serialized where the engine needs it."""

    def write(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A read-write transaction, committed when the block ends without error."""
        ...

    def read(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A read-only transaction."""
        ...
