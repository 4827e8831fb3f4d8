"""Returns and the waiting list in the chat: ``/return``, its confirmation, and a sold-out
type's "Join the waiting list" (the rules are ``core.returns``)."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update

from handlers import callbacks as cb
from handlers import keyboards
from handlers.common import reply, show, user_id
from handlers.context import TicketQContext
from handlers.texts import t


async def cmd_return(update: Update, context: TicketQContext) -> None:
    """``/return``: the orders the holder may return now, a button each."""
    uid = user_id(update)
    if uid is None:
        return
    text, markup = await _listing(context, uid)
    await reply(update, context, text, markup)


@cb.handles(cb.ReturnList)
async def on_return_list(update: Update, context: TicketQContext, action: cb.ReturnList) -> None:
    """"Keep them" (or the list again): the returnable orders, in place."""
    uid = user_id(update)
    if uid is None:
        return
    text, markup = await _listing(context, uid)
    await show(update, context, text, markup)


async def _listing(context: TicketQContext, uid: int) -> tuple[str, InlineKeyboardMarkup]:
    options = await context.services.returns.returnable(user_id=uid)
    return (t("return.list") if options else t("return.none")), keyboards.returnable(options)


@cb.handles(cb.ReturnAsk)
async def on_return_ask(update: Update, context: TicketQContext, action: cb.ReturnAsk) -> None:
    """An order picked: what returning it means (refund, fee, "you keep them if nobody
    takes them"), Return them / Keep them; a pending return says where it stands.

    Raises:
        DomainError: ``returns_closed`` when the order cannot be returned (any more).
    """
    uid = user_id(update)
    if uid is None:
        return
    option = await context.services.returns.return_option(user_id=uid, order_id=action.order_id)
    params = {"quantity": option.order.quantity, "ticket_type": option.ticket_type.name,
              "event": option.event.title, "refund": option.refund, "fee": option.fee}
    if option.ret is not None:
        await show(update, context, t("return.pending", **params), keyboards.returnable([]))
        return
    await show(update, context, t("return.ask", **params),
               keyboards.return_confirm(option.order.id))


@cb.handles(cb.ReturnConfirm)
async def on_return_confirm(update: Update, context: TicketQContext,
                            action: cb.ReturnConfirm) -> None:
    """Return the order: it is offered to the waiting list at once if someone waits.

    Raises:
        DomainError: ``order_not_found``, ``returns_closed``, ``not_returnable`` or
            ``already_returned``.
    """
    uid, chat = user_id(update), update.effective_chat
    if uid is None or chat is None:
        return
    done = await context.services.returns.return_order(user_id=uid, chat_id=chat.id,
                                                       order_id=action.order_id)
    context.services.wake_outbox()
    await show(update, context, t("return.made", quantity=done.ret.quantity,
                                  ticket_type=done.ticket_type.name, event=done.event.title,
                                  refund=done.refund, fee=done.fee),
               keyboards.returnable([]))


@cb.handles(cb.WaitlistType)
async def on_waitlist_type(update: Update, context: TicketQContext,
                           action: cb.WaitlistType) -> None:
    """"Join the waiting list" under a sold-out type: how many seats to wait for.

    Raises:
        DomainError: ``not_sold_out``, ``already_waiting``, ``user_limit_reached`` ...
    """
    uid = user_id(update)
    if uid is None:
        return
    event, ticket_type, most = await context.services.returns.waitlist_choice(
        user_id=uid, ticket_type_id=action.ticket_type_id)
    await show(update, context,
               t("waitlist.picker", ticket_type=ticket_type.name, event=event.title),
               keyboards.waitlist_picker(ticket_type.id, most, event_id=event.id))


@cb.handles(cb.WaitlistJoin)
async def on_waitlist_join(update: Update, context: TicketQContext,
                           action: cb.WaitlistJoin) -> None:
    """Join the waiting list for ``quantity`` seats (once per person and type).

    Raises:
        DomainError: as :meth:`core.returns.service.ReturnsService.join_waitlist`.
    """
    uid, chat = user_id(update), update.effective_chat
    if uid is None or chat is None:
        return
    joined = await context.services.returns.join_waitlist(
        user_id=uid, chat_id=chat.id, ticket_type_id=action.ticket_type_id,
        quantity=action.quantity)
    context.services.wake_outbox()
    await show(update, context,
               t("waitlist.joined", quantity=joined.entry.quantity,
                 ticket_type=joined.ticket_type.name, event=joined.event.title,
                 ahead=joined.ahead),
               keyboards.back_to_event(joined.event.id))
