"""Giving a ticket to a friend: the claim link, the friend's confirmation, withdrawing it.

The rules (who may, until when, how often; the old QR revoked at once) are
:mod:`core.transfers`; this module only talks.
"""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update

from core.transfers.service import ClaimLink
from handlers import callbacks as cb
from handlers.common import reply, show, user_id
from handlers.context import TicketQContext
from handlers.keyboards import button, label
from handlers.texts import t


def claim_link(context: TicketQContext, payload: str) -> str:
    """``https://t.me/<bot>?start=tr_<token>``."""
    username = context.services.bot_username or context.bot.username
    return f"https://t.me/{username}?start={payload}"


@cb.handles(cb.GiveTicket)
async def on_give_ticket(update: Update, context: TicketQContext,
                         action: cb.GiveTicket) -> None:
    """"Give to a friend" under a ticket: a single-use claim link to pass on.

    Raises:
        DomainError: ``ticket_not_found`` or why the ticket may not change hands now.
    """
    uid = user_id(update)
    if uid is None:
        return
    link = await context.services.transfers.make_link(user_id=uid, ticket_id=action.ticket_id)
    await reply(update, context, _link_text(context, link), InlineKeyboardMarkup([[
        button(label("transfer.button.withdraw"), cb.WithdrawGift(link.transfer.id))]]))


def _link_text(context: TicketQContext, link: ClaimLink) -> str:
    event = link.event
    return t("transfer.link", event=event.title, ticket_type=link.ticket_type.name,
             expires=link.transfer.expires_at.astimezone(event.tz),
             link=claim_link(context, link.transfer.payload))


async def open_claim(update: Update, context: TicketQContext, payload: str) -> None:
    """``/start tr_<token>``: who gives what, and an Accept button.

    Raises:
        DomainError: ``claim_not_found``, ``claim_used``, ``claim_expired``,
            ``claim_cancelled``, ``claim_own_ticket`` or why the ticket cannot move now.
    """
    uid = user_id(update)
    if uid is None:
        return
    offer = await context.services.transfers.open_link(user_id=uid, payload=payload)
    event = offer.event
    text = t("transfer.offer", giver=offer.giver_first_name or t("transfer.someone"),
             event=event.title, ticket_type=offer.ticket_type.name, when=event.local_start(),
             venue=event.venue)
    transfer = offer.transfer
    await reply(update, context, text, InlineKeyboardMarkup([[
        button(label("transfer.button.accept"),
               cb.AcceptTicket(transfer.id, transfer.confirm_code))]]))


@cb.handles(cb.AcceptTicket)
async def on_accept_ticket(update: Update, context: TicketQContext,
                           action: cb.AcceptTicket) -> None:
    """Accept: the ticket becomes the friend's, with a new QR code (sent by the outbox).

    Raises:
        DomainError: as :meth:`core.transfers.service.TransferService.claim`.
    """
    user = update.effective_user
    if user is None:
        return
    claimed = await context.services.transfers.claim(
        user_id=user.id, transfer_id=action.transfer_id, confirm_code=action.code,
        first_name=user.first_name)
    context.services.wake_outbox()
    await show(update, context, t("transfer.accepted", event=claimed.event.title,
                                  ticket_type=claimed.ticket_type.name))


@cb.handles(cb.WithdrawGift)
async def on_withdraw_gift(update: Update, context: TicketQContext,
                           action: cb.WithdrawGift) -> None:
    """The giver withdraws the link; the ticket stays theirs.

    Raises:
        DomainError: ``claim_not_found``, ``claim_used`` (the friend was quicker) or
            ``claim_cancelled``.
    """
    uid = user_id(update)
    if uid is None:
        return
    await context.services.transfers.cancel(user_id=uid, transfer_id=action.transfer_id)
    await show(update, context, t("transfer.withdrawn"))
