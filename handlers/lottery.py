"""Lottery entry: type -> how many -> pending entry + invoice.

Paying goes through the purchase flow's pre-checkout and successful-payment handlers: the
invoice payload names the entry and :class:`~core.services.purchase.PurchaseService` routes it
to the lottery. The "you are in the draw" message is queued by the service (outbox).
"""

from __future__ import annotations

from telegram import Update

from core.kernel.errors import DomainError, ErrorCode
from core.sales.model import entry_payload
from handlers import callbacks as cb
from handlers import keyboards
from handlers.common import send_invoice, show, user_id
from handlers.context import TicketQContext
from handlers.fairness import ask_for_phone
from handlers.texts import t, title_of


@cb.handles(cb.EnterLottery)
async def on_enter(update: Update, context: TicketQContext, action: cb.EnterLottery) -> None:
    """An "Enter" button: ask how many tickets the entry is for.

    Raises:
        DomainError: ``ticket_type_not_found``, ``not_a_lottery``, ``entries_not_open``,
            ``entries_closed`` or ``already_entered``.
    """
    uid = user_id(update)
    if uid is None:
        return
    try:
        choice = await context.services.lottery.entry_choice(
            user_id=uid, ticket_type_id=action.ticket_type_id)
    except DomainError as err:
        if err.code is ErrorCode.PHONE_REQUIRED:
            await ask_for_phone(update, context)
        raise
    text = t("lottery.picker", event=title_of(choice.event), ticket_type=choice.ticket_type.name,
             price=choice.ticket_type.price, max=choice.max_quantity)
    markup = keyboards.entry_picker(choice.ticket_type.id, choice.max_quantity,
                                    event_id=choice.event.id)
    await show(update, context, text, markup)


@cb.handles(cb.EntryQuantity)
async def on_entry_quantity(update: Update, context: TicketQContext,
                            action: cb.EntryQuantity) -> None:
    """A number in the entry picker: start the entry and send its invoice (full price).

    An unpaid entry holds nothing: if the invoice cannot be sent, the user simply taps again
    (a newer pending entry replaces it) and the close voids any left over.

    Raises:
        DomainError: as :meth:`LotteryService.start_entry`.
    """
    uid, chat = user_id(update), update.effective_chat
    if uid is None or chat is None:
        return
    pending = await context.services.lottery.start_entry(
        user_id=uid, chat_id=chat.id, ticket_type_id=action.ticket_type_id,
        quantity=action.quantity)
    entry, event, ticket_type = pending.entry, pending.event, pending.ticket_type
    draw = event.lottery.draw_at.astimezone(event.tz) if event.lottery else None
    await show(update, context,
               t("lottery.entry_started", quantity=entry.quantity, ticket_type=ticket_type.name,
                 event=title_of(event), total=entry.total, draw=draw))
    await send_invoice(
        context, chat.id,
        title=t("invoice.title", event=title_of(event)),
        description=t("invoice.lottery_description", quantity=entry.quantity,
                      ticket_type=ticket_type.name, draw=draw, venue=event.venue),
        label=t("invoice.lottery_label", quantity=entry.quantity,
                ticket_type=ticket_type.name),
        payload=entry_payload(entry.id),
        total=entry.total,
    )
