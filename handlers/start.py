"""``/start``: the welcome, and deep links (``t_<token>`` tickets, ``ev_<id>`` events,
``i_<token>`` invites, ``tr_<token>`` ticket transfers)."""

from __future__ import annotations

import re

from telegram import Update

from core.access.model import INVITE_PREFIX
from core.lottery.group_model import GROUP_PREFIX
from core.transfers.model import CLAIM_PREFIX
from handlers import console, door, groups, keyboards, transfers
from handlers.browse import send_event_card
from handlers.common import reply, user_id
from handlers.context import TicketQContext
from handlers.my_tickets import send_ticket_photo
from handlers.texts import t

_EVENT_PAYLOAD = re.compile(r"ev_([1-9][0-9]{0,17})")


async def cmd_start(update: Update, context: TicketQContext) -> None:
    """``/start [payload]``: open a ticket or event link, or greet.

    Raises:
        DomainError: ``ticket_not_found`` or ``event_not_found`` for dead links, an
            ``invite_*`` code for a dead invite.
    """
    payload = context.args[0] if context.args else ""
    uid, chat = user_id(update), update.effective_chat
    if uid is None or chat is None:
        return
    if payload.startswith(INVITE_PREFIX):
        await console.accept_invite(update, context, payload)
        return
    if payload.startswith(GROUP_PREFIX):  # a lead's group invite
        await groups.open_group_link(update, context, payload)
        return
    if payload.startswith(CLAIM_PREFIX):  # before "t_": a claim link is not a ticket
        await transfers.open_claim(update, context, payload)
        return
    if payload.startswith("t_"):
        if await door.scan_start_link(update, context, payload):  # door staff scanning
            return
        link = await context.services.tickets.open_link(user_id=uid, payload=payload)
        if link.is_owner and link.view is not None:
            await send_ticket_photo(context, chat.id, link.view)
        else:
            await reply(update, context, t("link.not_owner"))
        return
    match = _EVENT_PAYLOAD.fullmatch(payload)
    if match:
        await send_event_card(update, context, int(match.group(1)))
        return
    name = update.effective_user.first_name if update.effective_user else ""
    await reply(update, context, t("welcome", name=name), keyboards.main_menu())
