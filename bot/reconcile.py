"""Money reconciliation: every payment must end in tickets or in a refund."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select

from bot.storage import tables as t
from bot.storage.database import SqlDatabase
from core.lottery import EntryStatus
from core.orders import OrderStatus
from core.ports import RefundStatus


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

    Ticketed: no refund and a paid order (direct sale) or a winning entry (lottery).
    """
    p, r, o, e = t.payments.c, t.refunds.c, t.orders.c, t.entries.c
    query = (
        select(p.id, p.amount_minor, r.status.label("refund_status"),
               r.amount_minor.label("refund_minor"), o.status.label("order_status"),
               e.status.label("entry_status"))
        .select_from(t.payments.outerjoin(t.refunds, r.payment_id == p.id)
                     .outerjoin(t.orders, o.id == p.order_id)
                     .outerjoin(t.entries, e.id == p.entry_id))
    )
    payments = paid = ticketed = refunded = refunded_minor = pending = failed = held = 0
    unsettled = 0
    async with db.read() as uow:
        for row in await uow.conn.execute(query):
            payments += 1
            paid += row.amount_minor
            if row.refund_status is None:
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
