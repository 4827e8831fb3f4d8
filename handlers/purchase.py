"""Direct purchase: type -> quantity -> hold + invoice -> pre-checkout -> successful payment.

Nothing here is per-chat state: the order lives in the database and the invoice payload names
it, so a pre-checkout query (which has no chat) and a redelivered payment both work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Message, Update
from telegram.error import TelegramError

from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.payments.model import IncomingPayment
from core.payments.outcomes import PaymentOutcome
from core.sales.model import OrderStatus, invoice_payload
from handlers import browse, keyboards
from handlers import callbacks as cb
from handlers.common import ShownOnScreen, cut, reply, send_invoice, show, user_id
from handlers.context import TicketQContext
from handlers.delivery import first_attempt, record_failure
from handlers.texts import error_text, plain, plural, t, title_of

log = logging.getLogger(__name__)

# Telegram drops a pre-checkout query not answered within 10 s; leave room for the answer.
PRE_CHECKOUT_TIMEOUT = 7.0
PRECHECKOUT_ERROR_MAX = 200
# confirm_payment is idempotent per charge id, so a failed attempt (database hiccup) is retried.
CONFIRM_ATTEMPTS = 3
CONFIRM_BACKOFF = 0.5
# A stale picker (seats sold meanwhile) is redrawn for these refusals, not just answered.
_STALE_PICKER = frozenset({ErrorCode.SOLD_OUT, ErrorCode.NOT_ENOUGH_SEATS,
                           ErrorCode.USER_LIMIT_REACHED, ErrorCode.EVENT_NOT_ON_SALE})


@cb.handles(cb.ChooseType)
async def on_choose_type(update: Update, context: TicketQContext,
                         action: cb.ChooseType) -> None:
    """A ticket type was tapped: offer 1..max seats.

    Raises:
        DomainError: ``ticket_type_not_found``, ``event_not_on_sale``, ``sold_out``,
            ``user_limit_reached``.
    """
    uid = user_id(update)
    if uid is None:
        return
    try:
        choice = await context.services.purchase.quantity_choice(
            user_id=uid, ticket_type_id=action.ticket_type_id)
    except DomainError as err:
        if err.code in _STALE_PICKER and await _redraw_card(
                update, context, action.ticket_type_id, err):
            raise ShownOnScreen(err) from err
        raise
    text = t("picker.prompt", event=title_of(choice.event), ticket_type=choice.ticket_type.name,
             price=choice.ticket_type.price, max=choice.max_quantity)
    markup = keyboards.quantity_picker(choice.ticket_type.id, choice.max_quantity,
                                       event_id=choice.event.id)
    await show(update, context, text, markup)


async def _redraw_card(update: Update, context: TicketQContext, ticket_type_id: int,
                       err: DomainError) -> bool:
    """The event card a stale type button was on, as it is now (the type sold out, the
    user's limit was reached, or sales closed); False if it could not be redrawn."""
    try:
        event_id = err.params.get("event_id")
        if not isinstance(event_id, int):
            event_id = (await context.services.purchase.offer(
                user_id=user_id(update) or 0, ticket_type_id=ticket_type_id)).event.id
        await browse.send_event_card(update, context, event_id, edit=True)
    except DomainError as again:  # the event is gone from the list: the answer says so
        log.info("card for type %s not redrawn: %r", ticket_type_id, again)
        return False
    return True


async def _redraw_picker(update: Update, context: TicketQContext, uid: int,
                         ticket_type_id: int, requested: int, err: DomainError) -> None:
    """A stale quantity picker, as it is now: sold out (Back only), fewer seats left
    (numbers up to what is left), or the user's limit reached or nearer than the picker
    assumed (numbers up to what the user may still buy)."""
    purchase = context.services.purchase
    try:
        choice = await purchase.offer(user_id=uid, ticket_type_id=ticket_type_id)
    except DomainError as gone:  # off sale now
        await show(update, context, error_text(gone), keyboards.back_to_list())
        return
    event, ticket_type = choice.event, choice.ticket_type
    back = keyboards.back_to_event(event.id)
    if choice.available == 0:
        await show(update, context, t("picker.sold_out", ticket_type=ticket_type.name,
                                      event=title_of(event)), back)
    elif choice.max_quantity == 0:
        await show(update, context, error_text(DomainError(
            ErrorCode.USER_LIMIT_REACHED, limit=ticket_type.per_user_limit)), back)
    elif choice.max_quantity < requested:
        picker = keyboards.quantity_picker(ticket_type.id, choice.max_quantity,
                                           event_id=event.id)
        if err.code is ErrorCode.NOT_ENOUGH_SEATS:
            text = t("picker.fewer_left", event=title_of(event),
                     seats=plural("count.seats", choice.available),
                     ticket_type=ticket_type.name, price=ticket_type.price)
        else:  # the user's own limit is what binds
            text = error_text(err) + "\n\n" + t(
                "picker.prompt", event=title_of(event), ticket_type=ticket_type.name,
                price=ticket_type.price, max=choice.max_quantity)
        await show(update, context, text, picker)


@cb.handles(cb.HoldSeats)
async def on_hold(update: Update, context: TicketQContext, action: cb.HoldSeats) -> None:
    """A quantity was tapped: hold the seats and send the invoice.

    Raises:
        DomainError: as :meth:`PurchaseService.hold`.
    """
    uid, chat = user_id(update), update.effective_chat
    if uid is None or chat is None:
        return
    services = context.services
    query = update.callback_query
    picker = query.message if query is not None else None
    # The picker becomes the hold's message: recorded with the order, so that it is edited
    # when the hold is paid, released or expires.
    screen = ((chat.id, picker.message_id)
              if isinstance(picker, Message) and picker.text is not None else None)
    try:
        hold = await services.purchase.hold(
            user_id=uid, ticket_type_id=action.ticket_type_id, quantity=action.quantity,
            screen=screen)
    except DomainError as err:
        if err.code in _STALE_PICKER:
            await _redraw_picker(update, context, uid, action.ticket_type_id, action.quantity,
                                 err)
            raise ShownOnScreen(err) from err
        raise
    order, event, ticket_type = hold.order, hold.event, hold.ticket_type
    shown = await show(update, context,
                       t("hold.placed", quantity=order.quantity, ticket_type=ticket_type.name,
                         event=title_of(event), total=order.total,
                         duration=plural("count.minutes", services.purchase.hold_minutes)),
                       keyboards.hold_followup(order.id))
    if shown is not None and (screen is None or shown.message_id != screen[1]):
        await services.purchase.move_hold_screen(user_id=uid, order_id=order.id,
                                                 chat_id=chat.id, message_id=shown.message_id)
    try:
        await send_invoice(
            context, chat.id,
            title=t("invoice.title", event=title_of(event)),
            description=t("invoice.description", quantity=order.quantity,
                          ticket_type=ticket_type.name, when=event.local_start(),
                          venue=event.venue),
            label=t("invoice.label", quantity=order.quantity, ticket_type=ticket_type.name),
            payload=invoice_payload(order.id),
            total=order.total,
        )
    except TelegramError:
        # No invoice, no way to pay: give the seats back right away.
        await services.purchase.release(user_id=uid, order_id=order.id)
        raise


@cb.handles(cb.Release)
async def on_release(update: Update, context: TicketQContext, action: cb.Release) -> None:
    """"Cancel hold": give the seats back (idempotent; a paid order is not affected).

    Raises:
        DomainError: ``order_not_found`` for someone else's or an unknown order.
    """
    uid = user_id(update)
    if uid is None:
        return
    status = await context.services.purchase.release(user_id=uid, order_id=action.order_id)
    key = "hold.already_paid" if status is OrderStatus.PAID else "hold.released"
    await show(update, context, t(key), keyboards.back_to_list())


async def on_pre_checkout(update: Update, context: TicketQContext) -> None:
    """Answer Telegram's pre-checkout query within its 10 s limit; never raises.

    ``ok=True`` only when the service confirmed the order can be honoured for exactly this
    amount; any error or timeout answers ``ok=False`` with a plain-text reason.
    """
    query = update.pre_checkout_query
    if query is None:
        return
    error_message: str | None = None
    try:
        await asyncio.wait_for(
            context.services.purchase.pre_checkout(
                user_id=query.from_user.id, payload=query.invoice_payload,
                amount=Money(query.total_amount, query.currency.upper())),
            timeout=PRE_CHECKOUT_TIMEOUT)
    except DomainError as err:
        error_message = plain(error_text(err))
    except TimeoutError:
        log.warning("pre-checkout for %r timed out", query.invoice_payload)
        error_message = plain(t("precheckout.timeout"))
    except Exception:
        log.exception("pre-checkout for %r failed", query.invoice_payload)
        error_message = plain(t("error.unexpected"))
    try:
        if error_message is None:
            await query.answer(ok=True)
        else:
            await query.answer(ok=False,
                               error_message=cut(error_message, PRECHECKOUT_ERROR_MAX))
    except TelegramError as exc:
        log.warning("could not answer pre-checkout query %s: %s", query.id, exc)


async def on_successful_payment(update: Update, context: TicketQContext) -> None:
    """Record the payment exactly once and wake the outbox.

    The confirmation (or refund notice) and the ticket QR codes are queued by the service in
    the same transaction and sent by the outbox worker, so this handler sends nothing itself:
    a redelivered update (``already_processed``) therefore produces no duplicate message.
    """
    message = update.effective_message
    if message is None or message.successful_payment is None:
        return
    paid = message.successful_payment
    uid = user_id(update)
    payment = IncomingPayment(
        user_id=uid if uid is not None else message.chat.id,
        chat_id=message.chat.id,
        telegram_charge_id=paid.telegram_payment_charge_id,
        provider_charge_id=paid.provider_payment_charge_id,
        payload=paid.invoice_payload,
        amount=Money(paid.total_amount, paid.currency.upper()),
        # The door verdict and the CSV export show the holder's first name.
        first_name=update.effective_user.first_name if update.effective_user else None,
    )
    services = context.services
    for attempt in range(1, CONFIRM_ATTEMPTS + 1):
        try:
            confirmation = await services.purchase.confirm_payment(payment)
            break
        except DomainError:
            raise
        except Exception as exc:
            if attempt == CONFIRM_ATTEMPTS:
                # The inbox keeps the update and runs it again later (reconciliation against
                # Stripe is the net behind it); the buyer hears "delayed" once, not per retry.
                retried = record_failure(exc)
                log.log(logging.ERROR if retried else logging.CRITICAL,
                        "payment %s could not be recorded; %s", payment.telegram_charge_id,
                        "the inbox retries it" if retried else "reconciliation must settle it",
                        exc_info=True)
                if first_attempt():
                    with contextlib.suppress(TelegramError):
                        await reply(update, context, t("payment.delayed"))
                return
            log.warning("recording payment %s failed (attempt %d); retrying",
                        payment.telegram_charge_id, attempt, exc_info=True)
            await asyncio.sleep(CONFIRM_BACKOFF * attempt)
    if confirmation.outcome is not PaymentOutcome.ALREADY_PROCESSED:
        services.wake_outbox()
    # already_processed: everything was queued the first time; nothing to send or wake.
    log.info("payment %s: %s (order %s)", confirmation.payment_id,
             confirmation.outcome.value, confirmation.order_id)
