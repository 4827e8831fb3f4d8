"""``ticketq demo --after-sale``: what happens after the sale, in the sandbox.

A sold-out direct sale: Ann gives her ticket to Finn (transfer: a new QR, the old one
revoked); Dan and Eve join the waiting list; Ben returns his ticket; Dan lets his offer lapse,
Eve pays hers, and only then is Ben refunded (minus the organizer's fee) and his old QR
revoked. A lottery for five seats: two leads enter for groups of three (the lead pays for the
group), a third person alone; one group is drawn, the other is not (one refund, to the lead);
the seat nobody won goes to the losing lead as a second chance, in the published draw order.
Every figure of the summary is counted from the database and the Stripe emulator's ledger.
"""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.sandbox import SandboxMessage, VirtualUser
from bot.sandbox.harness import SandboxedBot, sandboxed_bot, sqlite_url
from bot.storage import tables as t
from core.kernel.clock import OffsetClock
from core.lottery.audit import verify_audit
from core.payments.model import RefundStatus

ORGANIZER_ID = 9000
SALE = "Harbour Nights"
LOTTERY = "Midnight Orchestra"


def _sale_doc(now: Any) -> dict[str, Any]:
    return {
        "title": SALE, "description": "Three seats on the pier.", "venue": "Pier 3, Hamburg",
        "timezone": "Europe/Berlin", "publish": True, "sale_mode": "direct",
        "starts_at": (now + timedelta(days=20)).isoformat(timespec="minutes"),
        "ticket_types": [{"name": "GA", "price": "25.00", "currency": "EUR", "capacity": 3,
                          "per_user_limit": 2}],
        "returns": {"fee": "2.00", "offer_minutes": 20},
    }


def _lottery_doc(now: Any) -> dict[str, Any]:
    return {
        "title": LOTTERY, "description": "Five seats, by lottery.", "venue": "Konzerthaus",
        "timezone": "Europe/Vienna", "publish": True, "sale_mode": "lottery",
        "starts_at": (now + timedelta(days=30)).isoformat(timespec="minutes"),
        "lottery": {
            "entries_open_at": (now - timedelta(minutes=1)).isoformat(timespec="seconds"),
            "entries_close_at": (now + timedelta(hours=1)).isoformat(timespec="seconds"),
            "draw_at": (now + timedelta(hours=1, minutes=5)).isoformat(timespec="seconds"),
            "max_per_entry": 3, "group_size": 3},
        "ticket_types": [{"name": "GA", "price": "30.00", "currency": "EUR", "capacity": 5,
                          "per_user_limit": 3}],
        "returns": {"fee": "3.00", "offer_minutes": 30},
    }


async def _card(user: VirtualUser, title: str) -> SandboxMessage:
    mark = user.mark()
    await user.send("/events")
    listing = await user.wait_for_message(contains="Upcoming events", since=mark, timeout=20)
    label = next(b for row in listing.buttons for b, _ in row if b.startswith(title))
    mark = user.mark()
    await user.tap(listing, text=label, timeout=20)
    return await user.wait_for_message(contains="📍", since=mark, timeout=20,
                                       predicate=lambda m: m.photo is None)


async def _pick(user: VirtualUser, card: SandboxMessage, button: str,
                quantity: int) -> SandboxMessage:
    mark = user.mark()
    await user.tap(card, text=button, timeout=20)
    picker = await user.wait_for_message(contains="How many", since=mark, timeout=20)
    mark = user.mark()
    await user.tap(picker, text=str(quantity), timeout=20)
    return await user.wait_for_message(since=mark, timeout=20,
                                       predicate=lambda m: m.invoice is not None
                                       or "waiting list for" in (m.text or ""))


async def _pay(bot: SandboxedBot, user: VirtualUser, invoice: SandboxMessage) -> None:
    """Pay, and wait until the bot has recorded it (its answer arrived)."""
    mark = user.mark()
    outcome = await user.pay(invoice)
    assert outcome.ok, outcome
    await user.wait_for_message(since=mark, timeout=20, predicate=lambda m: any(
        word in (m.text or "") for word in ("Payment received", "in the draw", "entry")))
    await bot.settle()


async def _latest_invoice(bot: SandboxedBot, user: VirtualUser) -> SandboxMessage:
    await bot.settle()
    await user.wait_for_message(predicate=lambda m: m.invoice is not None, since=0,
                                timeout=20)
    return [m for m in user.messages if m.invoice is not None][-1]


async def _play(bot: SandboxedBot, clock: OffsetClock) -> dict[str, Any]:
    services = bot.runtime.services
    sandbox = bot.sandbox
    people = {name: sandbox.user(user_id=7000 + i, first_name=name) for i, name in enumerate(
        ["Ann", "Ben", "Cleo", "Dan", "Eve", "Finn", "Gina", "Hal", "Ivy", "Jon", "Kai",
         "Lea", "Mo"])}
    sale = await services.admin.import_event(_sale_doc(clock.now()), actor_id=ORGANIZER_ID)
    for name in ("Ann", "Ben", "Cleo"):  # the sale sells out
        user = people[name]
        await _pay(bot, user, await _pick(user, await _card(user, SALE), "GA · €25.00", 1))
    # Ann cannot go: she gives her ticket to Finn (a new QR for Finn, hers revoked).
    ann_ticket = (await services.tickets.my_tickets(people["Ann"].user_id))[0]
    link = await services.transfers.make_link(user_id=people["Ann"].user_id,
                                              ticket_id=ann_ticket.ticket.id)
    await services.transfers.claim(user_id=people["Finn"].user_id,
                                   transfer_id=link.transfer.id,
                                   confirm_code=link.transfer.confirm_code, first_name="Finn")
    for name in ("Dan", "Eve"):  # the waiting list, in join order
        user = people[name]
        await _pick(user, await _card(user, SALE), "📝 Join the waiting list · GA", 1)
    # Ben returns his ticket through /return; Dan is offered it first.
    ben = people["Ben"]
    mark = ben.mark()
    await ben.send("/return")
    listing = await ben.wait_for_message(contains="Return tickets", since=mark, timeout=20)
    mark = ben.mark()
    await ben.tap(listing, text="↩️ 1 × GA", timeout=20)
    ask = await ben.wait_for_message(contains="Return 1 ×", since=mark, timeout=20)
    await ben.tap(ask, text="Return them", timeout=20)
    await _latest_invoice(bot, people["Dan"])
    clock.advance(timedelta(minutes=21))  # Dan lets it lapse; Eve is next
    await services.returns.sweep()
    await _pay(bot, people["Eve"], await _latest_invoice(bot, people["Eve"]))

    # The lottery: two groups of three (the lead pays for three) and Mo alone, five seats.
    lottery = await services.admin.import_event(_lottery_doc(clock.now()),
                                                actor_id=ORGANIZER_ID)
    for lead, friends in (("Gina", ("Hal", "Ivy")), ("Jon", ("Kai", "Lea"))):
        user = people[lead]
        await _pay(bot, user, await _pick(user, await _card(user, LOTTERY), "Enter · GA · €30.00",
                                          3))
        invite = await services.groups.invite(user_id=user.user_id, event_id=lottery.id)
        for friend in friends:
            joined = await services.groups.open_link(
                user_id=people[friend].user_id, chat_id=people[friend].user_id,
                payload=f"g_{invite.token}")
            await services.groups.confirm(user_id=people[friend].user_id,
                                          entry_id=joined.entry.id)
    mo = people["Mo"]
    await _pay(bot, mo, await _pick(mo, await _card(mo, LOTTERY), "Enter · GA · €30.00", 1))
    clock.advance(timedelta(hours=1, minutes=6))
    await services.lottery.run_due()
    await services.returns.sweep()  # the unclaimed seat: a second chance down the draw order
    await bot.settle()
    for chance in (people["Gina"], people["Jon"]):
        if await _has_offer(bot, chance.user_id):  # the group that was not drawn
            await chance.wait_for_message(contains="Second chance", since=0, timeout=20)
            invoices = [m for m in chance.messages if m.invoice is not None]
            await _pay(bot, chance, invoices[-1])
    await bot.settle()
    audit = await services.lottery.audit(lottery.id)
    return await summary(bot, sale.id, lottery.id, audit)


async def _has_offer(bot: SandboxedBot, user_id: int) -> bool:
    async with bot.runtime.db.read() as uow:
        rows = (await uow.conn.execute(select(t.waitlist.c.id).where(
            t.waitlist.c.user_id == user_id, t.waitlist.c.offer_order_id.is_not(None)))).all()
    return bool(rows)


async def summary(bot: SandboxedBot, sale_id: int, lottery_id: int,
                  audit: dict[str, Any]) -> dict[str, Any]:
    """The figures, from the database and the Stripe emulator's ledger (never the script)."""
    services = bot.runtime.services
    stripe = bot.sandbox.stripe
    direct = await services.returns.counts(sale_id)
    second = await services.returns.counts(lottery_id)
    won, lost = await services.groups.counts(lottery_id)
    async with bot.runtime.db.read() as uow:
        transfers = sum([await uow.transfers.claimed_count(e) for e in (sale_id, lottery_id)])
        refunds = await uow.refunds.counts()
        conn = uow.conn
        p, r, tk, tt = t.payments.c, t.refunds.c, t.tickets.c, t.ticket_types.c
        paid_db = int((await conn.execute(select(func.coalesce(func.sum(p.amount_minor), 0))
                                          )).scalar_one())
        refunded_db = int((await conn.execute(
            select(func.coalesce(func.sum(r.amount_minor), 0))
            .where(r.status == RefundStatus.SUCCEEDED.value))).scalar_one())
        admitting: dict[int, int] = dict((await conn.execute(
            select(tk.ticket_type_id, func.count()).where(tk.status == "valid")
            .group_by(tk.ticket_type_id))).all())
        capacity: dict[int, int] = dict((await conn.execute(select(tt.id, tt.capacity))).all())
    oversold = sum(max(0, admitting.get(k, 0) - cap) for k, cap in capacity.items())
    return {
        "transfers": transfers,
        "returns": direct.returns + second.returns,
        "waitlist_offers": direct.offers,
        "waitlist_lapsed": direct.lapsed,
        "waitlist_paid": direct.paid,
        "second_chance_sales": second.paid,
        "group_entries_won": won,
        "group_entries_lost": lost,
        "refunds": refunds[RefundStatus.SUCCEEDED][0],
        "duplicate_refunds": sum(1 for c in stripe.charges if stripe.refund_count(c) > 1),
        "oversold": oversold,
        "paid_minor": stripe.total_charged(),
        "kept_minor": paid_db - refunded_db,
        "refunded_minor": stripe.total_refunded(),
        "draw_verified": verify_audit(audit) == [],
        "second_chance_offers": len(audit.get("second_chance", [])),
    }


async def run_after_sale_demo(*, as_json: bool = False, keep_dir: Path | None = None) -> int:
    """Play the scenes; print the summary (one JSON object with ``as_json``). 0 if the books
    balance (paid = kept + refunded), nothing was oversold and no refund happened twice."""
    clock = OffsetClock()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = keep_dir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        async with sandboxed_bot(sqlite_url(workdir), admin_ids=frozenset({ORGANIZER_ID}),
                                 clock=clock, rate_limit_global=None, rate_limit_per_chat=None,
                                 send_rate=1000.0, send_rate_per_chat=100.0,
                                 send_burst_per_chat=20) as bot:
            figures = await _play(bot, clock)
    if as_json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>22}: {value}")
    balanced = figures["paid_minor"] == figures["kept_minor"] + figures["refunded_minor"]
    return 0 if balanced and not figures["oversold"] and not figures["duplicate_refunds"] \
        else 1
