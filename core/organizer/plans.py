"""What an organizer's decisions produce: an event's cancellation and the reminders before
its start, as plain values that storage carries out set-based (``bot/storage``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.catalog.model import Event
from core.kernel.outbox import KeyPattern, Message
from core.lottery.model import EntryStatus
from core.payments.plans import EVENT_CANCELLED, RefundPlan
from core.sales.model import OrderStatus

# Reminders go out this long before the start (each once per holder, ever), largest first.
REMINDERS = (timedelta(hours=24), timedelta(hours=2))


@dataclass(frozen=True, slots=True)
class CancellationPlan:
    """Cancelling an event: every payment for a paid order (:attr:`paid_orders`) or a paid
    entry (:attr:`paid_entries`) is owed back (:attr:`refund`), and each payer's chat hears
    :attr:`notice` once (:attr:`notice_key` + chat id). Its valid tickets are revoked, live
    holds released and unpaid entries voided."""

    event_id: int
    notice: Message
    notice_key: KeyPattern
    refund: RefundPlan = EVENT_CANCELLED
    paid_orders: tuple[OrderStatus, ...] = (OrderStatus.PAID,)
    paid_entries: tuple[EntryStatus, ...] = (EntryStatus.ENTERED, EntryStatus.WON)


def cancellation_plan(event: Event) -> CancellationPlan:
    """What cancelling ``event`` does."""
    return CancellationPlan(
        event_id=event.id,
        notice=Message("event_cancelled", {"event": event.title_text(),
                                           "starts": event.local_start()}),
        notice_key=KeyPattern(f"cancelled:{event.id}:"),
    )


@dataclass(frozen=True, slots=True)
class ReminderPlan:
    """One reminder of one event: each holder of a ticket still valid and issued by
    :attr:`issued_by` gets :attr:`message` once (:attr:`holder_key` + their user id, which is
    their chat), and each such ticket's QR code goes to its owner again (:attr:`ticket_key` +
    ticket id)."""

    event_id: int
    issued_by: datetime
    message: Message
    holder_key: KeyPattern
    ticket_key: KeyPattern


def reminder_window(before: timedelta, *, now: datetime) -> tuple[datetime, datetime]:
    """Events starting after the first and by the second bound are due for the reminder
    ``before`` their start: its time has passed, the start has not, and no smaller reminder
    is due yet (a 24 h reminder is not sent 1 h before the start)."""
    smaller = [b for b in REMINDERS if b < before]
    return now + (max(smaller) if smaller else timedelta(0)), now + before


def reminder_plan(event: Event, before: timedelta) -> ReminderPlan:
    """The reminder ``before`` the start of ``event``."""
    hours = int(before.total_seconds() // 3600)
    return ReminderPlan(
        event_id=event.id,
        issued_by=event.starts_at - before,
        message=Message("reminder", {"event": event.title_text(), "starts": event.local_start(),
                                     "venue": event.venue, "hours": hours}),
        holder_key=KeyPattern(f"reminder:{hours}:{event.id}:"),
        ticket_key=KeyPattern(f"reminder:{hours}:ticket:"),
    )
