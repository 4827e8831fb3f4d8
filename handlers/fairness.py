"""How a draw is fair: ``/fairness``, ``/audit``, and the one-entry-per-person phone check."""

from __future__ import annotations

import json

from telegram import KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.constants import ParseMode

from handlers.common import reply, user_id
from handlers.context import TicketQContext
from handlers.texts import fit, plain, t, title_of


def _event_id_arg(context: TicketQContext) -> int | None:
    args = context.args or []
    # isascii: str.isdigit() also accepts "²" or "١", which int() refuses or reads as digits.
    if len(args) != 1 or not args[0].isascii() or not args[0].isdigit() or len(args[0]) > 9:
        return None
    return int(args[0])


async def cmd_fairness(update: Update, context: TicketQContext) -> None:
    """``/fairness <event id>``: commitment, frozen list hash, beacon, and how to verify.

    Raises:
        DomainError: ``event_not_found`` or ``not_a_lottery``.
    """
    event_id = _event_id_arg(context)
    if event_id is None:
        await reply(update, context, t("fairness.usage"))
        return
    info = await context.services.lottery.fairness_info(event_id)
    event = info["event"]
    lines = [t("fairness.title", event=title_of(event)),
             t("fairness.commitment", commitment=info["commitment"])]
    if info.get("beacon_round") is not None:
        lines.append(t("fairness.beacon", round=info["beacon_round"],
                       url=info.get("beacon_url") or "?"))
        if info.get("beacon_value"):
            lines.append(t("fairness.beacon_value", value=info["beacon_value"]))
    lines.append(t("fairness.list_hash", list_hash=info["list_hash"]) if info["list_hash"]
                 else t("fairness.list_open"))
    if info["state"].value == "drawn":
        lines.append(t("fairness.drawn", event_id=event.id))
    elif event.lottery is not None:
        lines.append(t("fairness.pending", draw=event.lottery.draw_at.astimezone(event.tz)))
    await reply(update, context, fit("\n\n".join(lines)))


async def cmd_audit(update: Update, context: TicketQContext) -> None:
    """``/audit <event id>``: the draw's audit file as a JSON document (after the draw).

    Raises:
        DomainError: ``event_not_found``, ``not_a_lottery`` or ``draw_not_done``.
    """
    event_id, chat = _event_id_arg(context), update.effective_chat
    if chat is None:
        return
    if event_id is None:
        await reply(update, context, t("audit.usage"))
        return
    audit = await context.services.lottery.audit(event_id)
    filename = f"draw-audit-{event_id}.json"
    await context.bot.send_document(
        chat_id=chat.id, document=json.dumps(audit, indent=2).encode(), filename=filename,
        caption=t("audit.caption", event=audit["event"]["title"], filename=filename),
        parse_mode=ParseMode.HTML)


async def ask_for_phone(update: Update, context: TicketQContext) -> None:
    """Ask for the user's own contact with Telegram's share-contact button."""
    chat = update.effective_chat
    if chat is None:
        return
    keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton(plain(t("phone.button")), request_contact=True)]],
        one_time_keyboard=True, resize_keyboard=True)
    await context.bot.send_message(chat.id, t("phone.ask"), parse_mode=ParseMode.HTML,
                                   reply_markup=keyboard)


async def on_contact(update: Update, context: TicketQContext) -> None:
    """A shared contact: accepted only if it is the sender's own (``user_id`` matches).

    Raises:
        DomainError: ``phone_not_own``.
    """
    message, uid = update.effective_message, user_id(update)
    if message is None or message.contact is None or uid is None:
        return
    contact = message.contact
    await context.services.lottery.verify_phone(
        user_id=uid, contact_user_id=contact.user_id, phone_number=contact.phone_number)
    await context.bot.send_message(message.chat_id, t("phone.verified"),
                                   parse_mode=ParseMode.HTML,
                                   reply_markup=ReplyKeyboardRemove())



