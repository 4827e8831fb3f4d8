"""Money reconciliation: every payment must end in tickets or in a refund, and every Stripe
charge in a payment (see :class:`ChargeReconciler`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select

from bot.storage import tables as t
from bot.storage.database import SqlDatabase
from bot.storage.inbox_store import InboxEntry, SqlInbox
from core.kernel import outbox
from core.kernel.clock import Clock
from core.kernel.money import Money
from core.lottery.model import EntryStatus
from core.payments.model import IncomingPayment, ProviderCharge, RefundStatus
from core.payments.plans import RefundReason
from core.payments.ports import ChargeLedger
from core.payments.reconciliation import (
    ChargeContext,
    ChargeVerdict,
    judge,
    late_payment_notice_key,
)
from core.sales.model import OrderStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MoneyReport:
    """Where every payment stands."""

    payments: int
    paid_minor: int
    ticketed_payments: int
    refunded_payments: int
    refunded_minor: int
    refunds_pending: int
    refunds_failed: int
    held_for_draw: int
    unsettled: int
    tickets_issued: int
    orders_paid: int

    @property
    def balanced(self) -> bool:
        """True when no payment is left without a ticket or a completed refund."""
        return self.unsettled == 0


async def money_report(db: SqlDatabase) -> MoneyReport:
    """Classify every payment: ticketed, refunded, held for a lottery draw, or unsettled.

    Ticketed: no refund of the whole payment and a paid order (direct sale) or a winning
    entry (lottery); tickets refunded one by one add their refunds to ``refunded_minor``
    (pending or failed ones leave the payment unsettled until they are done).
    """
    p, r, o, e = t.payments.c, t.refunds.c, t.orders.c, t.entries.c
    whole = t.refunds.alias("whole")
    # Per payment: its whole refund (at most one) and the sum and states of its tickets' own.
    parts = (select(r.payment_id,
                    func.coalesce(func.sum(case((r.status == RefundStatus.SUCCEEDED.value,
                                                 r.amount_minor), else_=0)), 0).label("done"),
                    func.sum(case((r.status == RefundStatus.PENDING.value, 1), else_=0))
                    .label("pending"),
                    func.sum(case((r.status == RefundStatus.FAILED.value, 1), else_=0))
                    .label("failed"))
             .where(r.ticket_id.is_not(None)).group_by(r.payment_id).subquery())
    query = (
        select(p.id, p.amount_minor, whole.c.status.label("refund_status"),
               whole.c.amount_minor.label("refund_minor"), o.status.label("order_status"),
               e.status.label("entry_status"), parts.c.done, parts.c.pending, parts.c.failed)
        .select_from(t.payments.outerjoin(whole, and_(whole.c.payment_id == p.id,
                                                      whole.c.ticket_id.is_(None)))
                     .outerjoin(parts, parts.c.payment_id == p.id)
                     .outerjoin(t.orders, o.id == p.order_id)
                     .outerjoin(t.entries, e.id == p.entry_id))
    )
    payments = paid = ticketed = refunded = refunded_minor = pending = failed = held = 0
    unsettled = 0
    async with db.read() as uow:
        for row in await uow.conn.execute(query):
            payments += 1
            paid += row.amount_minor
            refunded_minor += int(row.done or 0)
            if row.pending or row.failed:  # a ticket's own refund still on its way
                unsettled += 1
                pending += int(row.pending or 0)
                failed += int(row.failed or 0)
            elif row.refund_status is None:
                if row.order_status == OrderStatus.PAID.value \
                        or row.entry_status == EntryStatus.WON.value:
                    ticketed += 1
                elif row.entry_status == EntryStatus.ENTERED.value:
                    held += 1
                else:
                    unsettled += 1
            elif row.refund_status == RefundStatus.SUCCEEDED.value:
                refunded += 1
                refunded_minor += row.refund_minor
            else:
                unsettled += 1
                pending += row.refund_status == RefundStatus.PENDING.value
                failed += row.refund_status == RefundStatus.FAILED.value
        tickets = (await uow.conn.execute(select(func.count()).select_from(t.tickets)))
        tickets_issued = int(tickets.scalar_one())
        orders_paid = int((await uow.conn.execute(select(func.count()).select_from(t.orders)
                           .where(and_(o.status == OrderStatus.PAID.value)))).scalar_one())
    return MoneyReport(payments, paid, ticketed, refunded, refunded_minor, pending, failed,
                       held, unsettled, tickets_issued, orders_paid)


# --------------------------------------------------------------------------- Stripe charges
@dataclass
class ChargeReport:
    """What one reconciliation pass found, by verdict (see :mod:`core.payments.reconciliation`)."""

    listed: int = 0
    by_verdict: dict[str, int] = field(default_factory=dict)
    refunded: list[str] = field(default_factory=list)  # charges claimed and refunded now

    def count(self, verdict: ChargeVerdict) -> int:
        """Charges that got ``verdict``."""
        return self.by_verdict.get(verdict.value, 0)


class ChargeReconciler:
    """Matches Stripe's charges to payments; refunds, exactly once, a charge that nothing
    explains after the grace period (the rule and its reasons:
    :mod:`core.payments.reconciliation`).

    Run periodically by the scheduler (``reconcile:charges``), and by ``ticketq reconcile``.
    A pass lists the charges of the last ``lookback``; each unexplained charge is claimed in
    its own transaction (a payment row with ``telegram_charge_id = "charge:<id>"``, the
    unique provider charge id makes the claim and a late successful_payment exclusive), with
    its refund, the Stripe call through the outbox (Idempotency-Key ``tq-refund-charge-<id>``),
    a message to every admin, and a notice to the payer when a parked update names the chat.
    """

    def __init__(self, db: SqlDatabase, ledger: ChargeLedger, clock: Clock, *,
                 grace: timedelta, lookback: timedelta,
                 admin_ids: frozenset[int] = frozenset(),
                 wake_outbox: Callable[[], None] = lambda: None,
                 refund: bool = True) -> None:
        if lookback <= grace:
            raise ValueError("the lookback must be longer than the grace period")
        self._db = db
        self._inbox = SqlInbox(db)
        self._ledger = ledger
        self._clock = clock
        self.grace = grace
        self.lookback = lookback
        self._admins = sorted(admin_ids)
        self._wake = wake_outbox
        self.refund = refund

    async def run_once(self, *, since: datetime | None = None) -> ChargeReport:
        """One pass over the charges created since ``since`` (default: the lookback).

        Raises:
            GatewayError: Stripe could not list the charges (nothing was changed).
        """
        now = self._clock.now()
        charges = await self._ledger.charges_since(since or now - self.lookback)
        report = ChargeReport(listed=len(charges))
        ids = [c.id for c in charges]
        explained = await self._explained(ids)
        stored = await self._inbox.by_charges([i for i in ids if i not in explained])
        for charge in charges:
            entry = stored.get(charge.id)
            verdict = judge(charge, ChargeContext(
                explained=charge.id in explained,
                in_inbox=entry is not None and not entry.parked), now=now, grace=self.grace)
            label = verdict.value
            if verdict is ChargeVerdict.REFUND and not self.refund:
                await self._report_only(charge, now)
                label = "reported"
            elif verdict is ChargeVerdict.REFUND:
                if await self._claim_and_refund(charge, entry, now):
                    report.refunded.append(charge.id)
                else:  # a successful_payment recorded it meanwhile
                    label = ChargeVerdict.EXPLAINED.value
            report.by_verdict[label] = report.by_verdict.get(label, 0) + 1
        if report.refunded:
            self._wake()
        log.info("reconciliation: %d charge(s) listed, %s", report.listed,
                 ", ".join(f"{k} {v}" for k, v in sorted(report.by_verdict.items())) or "-")
        return report

    async def _explained(self, charge_ids: list[str]) -> set[str]:
        p = t.payments.c
        found: set[str] = set()
        async with self._db.read() as uow:
            for start in range(0, len(charge_ids), 1000):
                rows = await uow.conn.execute(select(p.provider_charge_id).where(
                    p.provider_charge_id.in_(charge_ids[start:start + 1000])))
                found.update(r[0] for r in rows)
        return found

    async def _report_only(self, charge: ProviderCharge, now: datetime) -> None:
        """Refunds switched off (a Stripe account shared with other sales): tell the admins
        once and log at every pass; the charge stays unexplained until a person decides."""
        log.error("reconciliation: Stripe charge %s (%s, created %s) matches no payment; "
                  "not refunded (TICKETQ_RECONCILE_REFUNDS is off)", charge.id,
                  charge.amount, charge.created.isoformat())
        async with self._db.write() as uow:
            for admin in self._admins:
                await uow.outbox.put(
                    outbox.MESSAGE, {"key": "admin.charge_unexplained", "params": {
                        "charge": charge.id, "amount": charge.amount,
                        "when": charge.created}},
                    dedupe_key=f"charge_unexplained:{charge.id}:{admin}", now=now,
                    chat_id=admin)
        self._wake()

    async def _claim_and_refund(self, charge: ProviderCharge, entry: InboxEntry | None,
                                now: datetime) -> bool:
        user_id = chat_id = 0
        payload = ""
        if entry is not None:  # a parked successful_payment: the payer is known
            message = entry.payload.get("message") or {}
            chat_id = entry.chat_id or 0
            user_id = int((message.get("from") or {}).get("id") or chat_id)
            payload = str((message.get("successful_payment") or {})
                          .get("invoice_payload") or "")
        claim = IncomingPayment(
            user_id=user_id, chat_id=chat_id, telegram_charge_id=f"charge:{charge.id}",
            provider_charge_id=charge.id, payload=payload, amount=charge.amount)
        remaining = charge.amount.amount - charge.amount_refunded
        amount = Money(remaining if remaining > 0 else charge.amount.amount,
                       charge.amount.currency)
        async with self._db.write() as uow:
            record, created = await uow.payments.record(claim, order_id=None, now=now)
            if not created:
                return False
            refund = await uow.refunds.request(record, amount=amount,
                                               reason=RefundReason.UNCLAIMED_CHARGE, now=now)
            await uow.outbox.put(outbox.REFUND, {"refund_id": refund.id},
                                 dedupe_key=f"refund:{refund.id}", now=now)
            if chat_id:
                await uow.outbox.put(
                    outbox.MESSAGE, {"key": "refund_started.unclaimed_charge",
                                     "params": {"amount": amount}},
                    dedupe_key=late_payment_notice_key(charge.id), now=now, chat_id=chat_id)
            for admin in self._admins:
                await uow.outbox.put(
                    outbox.MESSAGE, {"key": "admin.charge_refunded", "params": {
                        "charge": charge.id, "amount": amount, "when": charge.created,
                        "payer": str(chat_id) if chat_id else "unknown"}},
                    dedupe_key=f"charge_refunded:{charge.id}:{admin}", now=now,
                    chat_id=admin)
        log.error("reconciliation: Stripe charge %s (%s, created %s) matches no payment "
                  "after %s; refunding it in full (refund %s, payer %s)", charge.id,
                  charge.amount, charge.created.isoformat(), self.grace, refund.id,
                  chat_id or "unknown")
        return True
