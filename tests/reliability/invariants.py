"""What must hold after any number of crashes, checked from the database and the Stripe ledger
(the bot's own word is not taken for anything)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import and_, func, or_, select

from bot.reconcile import money_report
from bot.sandbox import Sandbox
from bot.storage import tables as t
from bot.storage.database import SqlDatabase


async def outbox_pending(db: SqlDatabase) -> int:
    """Outbox items still to be delivered."""
    async with db.read() as uow:
        return int((await uow.conn.execute(select(func.count()).select_from(t.outbox).where(
            t.outbox.c.status == "pending"))).scalar_one())


async def inbox_unhandled(db: SqlDatabase) -> int:
    """Updates the bot stored (and so acknowledged to Telegram) but has not handled yet,
    parked ones aside (see :func:`assert_nothing_parked`)."""
    async with db.read() as uow:
        return int((await uow.conn.execute(
            select(func.count()).select_from(t.inbox)
            .where(t.inbox.c.parked_at.is_(None)))).scalar_one())


async def inbox_unhandled_payments(db: SqlDatabase) -> int:
    """Successful payments stored but not handled yet (parked ones aside)."""
    i = t.inbox.c
    async with db.read() as uow:
        return int((await uow.conn.execute(
            select(func.count()).select_from(t.inbox)
            .where(i.parked_at.is_(None), i.kind == "payment"))).scalar_one())


async def assert_nothing_parked(db: SqlDatabase) -> None:
    """Crashes alone never make a payment unhandleable: no successful_payment may end up
    parked (a parked tap, after a few failed tries, is only reported)."""
    i = t.inbox.c
    async with db.read() as uow:
        parked = [tuple(r) for r in (await uow.conn.execute(
            select(i.update_id, i.kind, i.attempts, i.last_error)
            .where(i.parked_at.is_not(None)))).all()]
    if parked:
        print(f"parked updates: {parked}", flush=True)
    payments = [r for r in parked if r[1] == "payment"]
    assert not payments, f"payments parked by the bot: {payments}"


async def assert_nothing_oversold(db: SqlDatabase) -> None:
    """Per ticket type: tickets that admit (issued and not revoked: a returned ticket is
    revoked when its seat is resold) and seats of paid orders never exceed capacity."""
    tt, tk, o = t.ticket_types.c, t.tickets.c, t.orders.c
    # A paid order's seats: its tickets not given away (a transfer replaces one by one).
    seat = or_(tk.revoked_reason.is_(None), tk.revoked_reason != "transferred")
    async with db.read() as uow:
        capacity = dict((await uow.conn.execute(select(tt.id, tt.capacity))).all())
        issued = dict((await uow.conn.execute(
            select(tk.ticket_type_id, func.count()).where(tk.status != "revoked")
            .group_by(tk.ticket_type_id))).all())
        paid = dict((await uow.conn.execute(
            select(o.ticket_type_id, func.sum(o.quantity)).where(o.status == "paid")
            .group_by(o.ticket_type_id))).all())
        per_order = (await uow.conn.execute(
            select(o.id, o.quantity, func.count(tk.id)).select_from(
                t.orders.outerjoin(t.tickets, and_(tk.order_id == o.id, seat)))
            .where(o.status == "paid").group_by(o.id, o.quantity))).all()
    for type_id, cap in capacity.items():
        assert issued.get(type_id, 0) <= cap, f"type {type_id}: {issued[type_id]} > {cap}"
        assert (paid.get(type_id) or 0) <= cap, f"type {type_id}: {paid[type_id]} paid > {cap}"
    wrong = [(oid, q, n) for oid, q, n in per_order if q != n]
    assert not wrong, f"paid orders whose ticket count differs from their quantity: {wrong}"


async def settle_charges(db: SqlDatabase, sandbox: Sandbox) -> dict[str, str]:
    """Every charge in the Stripe ledger is ticketed (no refund) or refunded exactly once:
    in full, or, for an order returned and resold to the waiting list, its refund's amount
    (the price minus the organizer's fee).

    Returns:
        ``{charge_id: "ticketed" | "refunded" | "returned"}``.
    """
    p, r, o, e = t.payments.c, t.refunds.c, t.orders.c, t.entries.c
    async with db.read() as uow:
        rows = (await uow.conn.execute(
            select(p.provider_charge_id, p.amount_minor, r.status.label("refund"),
                   r.amount_minor.label("refund_minor"),
                   o.status.label("order"), e.status.label("entry"))
            .select_from(t.payments.outerjoin(t.refunds, r.payment_id == p.id)
                         .outerjoin(t.orders, o.id == p.order_id)
                         .outerjoin(t.entries, e.id == p.entry_id)))).all()
    by_charge: dict[str, list] = {}
    for row in rows:
        by_charge.setdefault(row.provider_charge_id, []).append(row)
    stripe = sandbox.stripe
    fate: dict[str, str] = {}
    problems: list[str] = []
    for charge_id, charge in stripe.charges.items():
        recorded = by_charge.get(charge_id, [])
        refunds = stripe.refund_count(charge_id)
        if len(recorded) != 1:
            problems.append(f"{charge_id}: recorded {len(recorded)} times, refunds {refunds}")
            continue
        row = recorded[0]
        if row.refund is None and (row.order == "paid" or row.entry == "won"):
            if refunds != 0:
                problems.append(f"{charge_id}: ticketed but refunded {refunds}x")
            fate[charge_id] = "ticketed"
        elif row.refund == "succeeded" and row.order == "returned":
            if refunds != 1 or stripe.refunded_total(charge_id) != row.refund_minor:
                problems.append(f"{charge_id}: returned, refunded {refunds}x, "
                                f"{stripe.refunded_total(charge_id)} of {row.refund_minor}")
            fate[charge_id] = "returned"
        elif row.refund == "succeeded":
            if refunds != 1 or stripe.refunded_total(charge_id) != charge["amount"]:
                problems.append(f"{charge_id}: refunded {refunds}x, "
                                f"{stripe.refunded_total(charge_id)} of {charge['amount']}")
            fate[charge_id] = "refunded"
        else:
            problems.append(f"{charge_id}: unsettled (refund={row.refund}, order={row.order}, "
                            f"entry={row.entry}), Stripe refunds {refunds}")
    assert not problems, "payments not ticketed or refunded exactly once:\n  " + \
        "\n  ".join(problems)
    report = await money_report(db)
    assert report.balanced and report.payments == len(stripe.charges), report
    return fate


async def assert_checkin_log_consistent(db: SqlDatabase) -> dict[int, int]:
    """At most one 'valid' row per ticket, and no two rows share a nonce.

    Returns:
        ``{ticket_id: staff_user_id}`` of the admitting scan.
    """
    c = t.checkins.c
    async with db.read() as uow:
        rows = (await uow.conn.execute(select(c.ticket_id, c.staff_user_id, c.verdict,
                                              c.nonce))).all()
    valid = Counter(r.ticket_id for r in rows if r.verdict == "valid")
    assert all(n == 1 for n in valid.values()), f"tickets admitted twice: {valid}"
    nonces = Counter(r.nonce for r in rows)
    assert all(n == 1 for n in nonces.values())
    return {r.ticket_id: r.staff_user_id for r in rows if r.verdict == "valid"}
