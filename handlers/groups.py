"""Lottery group entries in the chat: the lead's ``/group <event id>`` link, a companion's
``/start g_<token>`` and their "Join the group" (rules: ``core.lottery.groups``)."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update

from handlers import callbacks as cb
from handlers.common import reply, show, user_id
from handlers.context import TicketQContext
from handlers.keyboards import button, label
from handlers.texts import t


async def cmd_group(update: Update, context: TicketQContext) -> None:
    """``/group <event id>``: the lead's invite link for their paid entry, and who is in."""
    uid = user_id(update)
    if uid is None:
        return
    args = context.args or []
    if len(args) != 1 or not args[0].isdigit():
        await reply(update, context, t("group.usage"))
        return
    invite = await context.services.groups.invite(user_id=uid, event_id=int(args[0]))
    username = context.services.bot_username or context.bot.username
    link = f"https://t.me/{username}?start=g_{invite.token}"
    members = ", ".join(str(m.user_id) for m in invite.members) or "—"
    await reply(update, context, t("group.invite", event=invite.event.title,
                                   quantity=invite.entry.quantity, spots=invite.spots,
                                   link=link, members=members))


async def open_group_link(update: Update, context: TicketQContext, payload: str) -> None:
    """A companion opened the lead's link: ask them to confirm in their own chat.

    Raises:
        DomainError: ``group_not_found``, ``entries_closed``, ``already_entered``,
            ``already_in_group`` or ``group_full``.
    """
    uid, chat = user_id(update), update.effective_chat
    if uid is None or chat is None:
        return
    joined = await context.services.groups.open_link(user_id=uid, chat_id=chat.id,
                                                     payload=payload)
    markup = InlineKeyboardMarkup([[button(label("group.button_join"),
                                           cb.GroupConfirm(joined.entry.id))]])
    await reply(update, context, t("group.ask", event=joined.event.title), markup)


@cb.handles(cb.GroupConfirm)
async def on_group_confirm(update: Update, context: TicketQContext,
                           action: cb.GroupConfirm) -> None:
    """"Join the group": the companion is in (their verified phone counts when required).

    Raises:
        DomainError: as :meth:`core.lottery.groups.GroupService.confirm`.
    """
    uid = user_id(update)
    if uid is None:
        return
    joined = await context.services.groups.confirm(user_id=uid, entry_id=action.entry_id)
    context.services.wake_outbox()
    await show(update, context, t("group.joined", event=joined.event.title), None)
