"""The rule for a Stripe charge: refund only what nothing explains, once it is old enough and
no retry of its payment is pending."""

from datetime import UTC, datetime, timedelta

from core.kernel.money import Money
from core.payments.model import ProviderCharge, Refund, RefundStatus
from core.payments.plans import RefundReason
from core.payments.reconciliation import ChargeContext, ChargeVerdict, judge

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(hours=2)


def charge(age: timedelta, *, settled: bool = True) -> ProviderCharge:
    return ProviderCharge("ch_1", Money(2500, "EUR"), NOW - age, settled)


def test_only_an_old_unexplained_charge_with_money_taken_is_refunded() -> None:
    old, young = timedelta(hours=3), timedelta(minutes=10)
    assert judge(charge(old), ChargeContext(explained=True), now=NOW, grace=GRACE) \
        is ChargeVerdict.EXPLAINED
    assert judge(charge(old, settled=False), ChargeContext(explained=False), now=NOW,
                 grace=GRACE) is ChargeVerdict.NO_MONEY
    assert judge(charge(old), ChargeContext(explained=False, in_inbox=True), now=NOW,
                 grace=GRACE) is ChargeVerdict.IN_INBOX
    assert judge(charge(young), ChargeContext(explained=False), now=NOW, grace=GRACE) \
        is ChargeVerdict.TOO_RECENT
    assert judge(charge(GRACE), ChargeContext(explained=False), now=NOW, grace=GRACE) \
        is ChargeVerdict.REFUND


def test_a_reconciled_refund_is_keyed_by_its_charge_and_others_by_their_payment() -> None:
    def refund(reason: RefundReason) -> Refund:
        return Refund(7, 42, 1, 1, Money(2500, "EUR"), reason, RefundStatus.PENDING, "ch_9", 0)

    assert refund(RefundReason.UNCLAIMED_CHARGE).idempotency_key == "tq-refund-charge-ch_9"
    assert refund(RefundReason.SEATS_GONE).idempotency_key == "tq-refund-42"
