"""What a refund, a cancellation, a reminder and a draw produce is decided in core, without a
database: these plans are what storage carries out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.catalog.model import Event, EventStatus, SaleMode
from core.kernel.money import Money
from core.kernel.outbox import Message
from core.lottery.model import DrawSettlement, EntryStatus
from core.organizer.plans import REMINDERS, cancellation_plan, reminder_plan, reminder_window
from core.payments.plans import RefundReason, refund_for
from core.sales.model import OrderStatus
from handlers.texts import TEXTS

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
EVENT = Event(id=5, title="Night Market", description="", venue="Pier 3",
              starts_at=NOW + timedelta(days=3), timezone="Europe/Berlin",
              status=EventStatus.PUBLISHED, sale_mode=SaleMode.DIRECT)


def test_a_payment_refunded_on_its_own_tells_its_payer_why_and_queues_the_provider_call():
    plan = refund_for(RefundReason.SEATS_GONE)
    assert plan.tell_payer
    assert plan.notice(Money(1500, "EUR")) == Message("refund_started.seats_gone",
                                                      {"amount": Money(1500, "EUR")})
    assert plan.notice_key.of(17) == "refund_notice:17"
    assert (plan.item_key.of(17), plan.work(17)) == ("refund:17", {"refund_id": 17})


@pytest.mark.parametrize("reason", [r for r in RefundReason
                                    if refund_for(r).tell_payer])
def test_every_refund_notice_has_a_text(reason: RefundReason):
    assert refund_for(reason).notice(Money(1, "EUR")).key in TEXTS


def test_a_cancellation_refunds_every_payer_once_and_its_notice_is_what_they_read():
    plan = cancellation_plan(EVENT)
    assert plan.refund.reason is RefundReason.EVENT_CANCELLED
    assert not plan.refund.tell_payer  # the cancellation notice tells them, once per chat
    assert plan.refund.item_key.of(9) == "refund:9"  # the same item as any refund
    assert plan.paid_orders == (OrderStatus.PAID,)
    assert plan.paid_entries == (EntryStatus.ENTERED, EntryStatus.WON)
    assert plan.notice == Message("event_cancelled", {"event": "Night Market",
                                                      "starts": EVENT.local_start()})
    assert plan.notice_key.of(42) == "cancelled:5:42"


def test_losers_are_refunded_without_a_notice_and_each_winner_is_told_once():
    plan = DrawSettlement(EVENT)
    assert plan.loser_refund.reason is RefundReason.LOTTERY_NOT_SELECTED
    assert not plan.loser_refund.tell_payer  # they read the result when the money is back
    assert plan.loser_refund.item_key.of(3) == "refund:3"
    message = plan.winner_message(ticket_type="GA", quantity=2, total=Money(3000, "EUR"))
    assert message.key == "lottery_won"
    assert message.params["quantity"] == 2 and message.params["venue"] == "Pier 3"
    assert (plan.winner_key.of(8), plan.ticket_key.of(11)) == ("won:8", "ticket:11")


def test_a_reminder_is_due_once_its_time_has_come_and_no_smaller_one_is_due_yet():
    assert (timedelta(hours=24), timedelta(hours=2)) == REMINDERS
    assert reminder_window(timedelta(hours=24), now=NOW) == (NOW + timedelta(hours=2),
                                                              NOW + timedelta(hours=24))
    assert reminder_window(timedelta(hours=2), now=NOW) == (NOW, NOW + timedelta(hours=2))


def test_a_reminder_goes_to_tickets_issued_before_its_time_once_per_holder_and_ticket():
    plan = reminder_plan(EVENT, timedelta(hours=24))
    assert plan.issued_by == EVENT.starts_at - timedelta(hours=24)
    assert plan.message == Message("reminder", {"event": "Night Market",
                                                "starts": EVENT.local_start(),
                                                "venue": "Pier 3", "hours": 24})
    assert plan.holder_key.of(1001) == "reminder:24:5:1001"
    assert plan.ticket_key.of(77) == "reminder:24:ticket:77"
