"""The event wizard in chat: ``/newevent``, ``/editevent <id>``, answers, preview, publish.

The draft lives in the database, so the conversation survives restarts and needs no PTB
ConversationHandler: :func:`on_text` runs in a handler group before the main one and takes a
text message only when its sender has an open draft (then it stops further handling); every
other text falls through to the usual handlers. :func:`on_other` answers every other kind of
message from someone with an open draft (photo, file, sticker, location ...) with the question
again, so the wizard never leaves its user at a dead end. ``/cancel`` leaves at any step,
``/back`` and ``/skip`` (and the buttons under every question) move around.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from core.catalog.model import Event
from core.catalog.spec import NAME_MAX, TEXT_MAX, TITLE_MAX, SpecIssue
from core.kernel.errors import DomainError, ErrorCode
from core.organizer.editor import WizardPreview
from handlers import callbacks as cb
from handlers import keyboards
from handlers.common import reply, show, user_id
from handlers.context import TicketQContext
from handlers.keyboards import button, label
from handlers.texts import (
    SPEC_CODES,
    TEXTS,
    Html,
    error_text,
    event_card_text,
    fit,
    lottery_card_text,
    t,
)
from handlers.wizard import steps as wz
from handlers.wizard.steps import Dialogue, WizardState

log = logging.getLogger(__name__)

_STEPS_BY_NUMBER = {n: step for step, n in wz.STEP_NUMBERS.items()}


# ----------------------------------------------------------------------------- rendering

def field_label(step: wz.Step, index: int = 0) -> str:
    """What a step asks for, as a short label ("Price of ticket type 2")."""
    return t(f"wizard.field.{step.value}", number=index + 1)


def issue_text(issue: SpecIssue, draft: wz.Draft) -> str:
    """One problem with an answer, named after the question that owns it."""
    if issue.code == "capacity_below_sold":
        return t("wizard.issue_sentence", problem=Html(t("error.capacity_below_sold",
                                                           **issue.params)))
    if issue.code == "use_buttons":
        return t("wizard.issue_sentence", problem=Html(t("wizard.issue.use_buttons")))
    step, index = wz.owner(issue.path, draft.doc) if issue.path else (draft.step, draft.index)
    key = f"wizard.issue.{issue.code}"
    if key not in TEXTS:
        key = f"spec.{issue.code}" if issue.code in SPEC_CODES else "spec.unknown"
    problem = t(key, **{**issue.params, "code": issue.code})
    return t("wizard.issue", field=Html(field_label(step, index)), problem=Html(problem))


def question_text(state: WizardState) -> str:
    """The question of the draft's current step, with its current value and the issue."""
    draft, prompt = state.draft, state.prompt
    parts = []
    if state.issue is not None:
        parts.append(issue_text(state.issue, draft))
    step = prompt.step
    types = draft.doc.get("ticket_types") or []
    names = ", ".join(str(t_.get("name", "?")) for t_ in types if isinstance(t_, dict))
    parts.append(t(f"wizard.ask.{step.value}", max=_max(step), number=prompt.index + 1,
                   name=prompt.type_name, timezone=draft.doc.get("timezone", ""),
                   names=names or "—"))
    if prompt.current is not None:
        parts.append(t("wizard.current", value=prompt.current))
    elif prompt.default:
        parts.append(t("wizard.default", value=_choice_label(prompt.default)))
    return fit("\n\n".join(parts))


def _max(step: wz.Step) -> int:
    return {wz.Step.TITLE: TITLE_MAX, wz.Step.DESCRIPTION: TEXT_MAX,
            wz.Step.TYPE_NAME: NAME_MAX}.get(step, 50)


def _choice_label(value: str) -> str:
    key = f"wizard.choice.{value}"
    return label(key) if key in TEXTS else value


def question_keyboard(state: WizardState) -> InlineKeyboardMarkup:
    """Choice buttons (time zones, currencies, modes ...), then Back / Skip / Cancel."""
    prompt = state.prompt
    number = wz.STEP_NUMBERS[prompt.step]
    picks = [button(_choice_label(value), cb.WizardPick(number, i))
             for i, value in enumerate(prompt.choices[: cb.MAX_WIZARD_CHOICE + 1])]
    rows = [picks[i:i + 3] for i in range(0, len(picks), 3)]
    nav = []
    if prompt.step is not wz.Step.TITLE:
        nav.append(button(label("wizard.button.back"), cb.WizardNav(cb.WIZARD_BACK)))
    if prompt.skippable:
        nav.append(button(label("wizard.button.skip"), cb.WizardNav(cb.WIZARD_SKIP)))
    nav.append(button(label("wizard.button.cancel"), cb.WizardNav(cb.WIZARD_CANCEL)))
    rows.append(nav)
    return keyboards.markup(rows)


def preview_text(preview: WizardPreview) -> str:
    """The card exactly as attendees will see it, between a header and the choices."""
    card = (lottery_card_text(preview.card, preview.lottery) if preview.lottery is not None
            else event_card_text(preview.card))
    return fit("\n\n".join([t("wizard.preview_head"), card, _transfers_text(preview),
                             t("wizard.preview_foot")]))


def _transfers_text(preview: WizardPreview) -> str:
    """What holders may do with their tickets (organizers only see this line)."""
    policy, event = preview.spec.transfers, preview.card.event
    if not policy.allowed:
        return t("wizard.transfers_off")
    return t("wizard.transfers_on", most=policy.max_per_ticket,
             until=policy.deadline(event.starts_at).astimezone(event.tz))


def card_only(text: str) -> str:
    """The attendee card inside a preview text (for comparing with what attendees see)."""
    head, foot = t("wizard.preview_head"), t("wizard.preview_foot")
    body = text.removeprefix(head + "\n\n").removesuffix("\n\n" + foot)
    return body.rsplit("\n\n🎁 ", 1)[0]  # without the transfers line (organizers only)


def preview_keyboard(transfers_allowed: bool = False) -> InlineKeyboardMarkup:
    """Publish / Save as draft, then Back / Cancel, then the transfers switch."""
    switch = "wizard.button.transfers_off" if transfers_allowed else "wizard.button.transfers_on"
    return keyboards.markup([
        [button(label("wizard.button.publish"), cb.WizardNav(cb.WIZARD_PUBLISH)),
         button(label("wizard.button.save_draft"), cb.WizardNav(cb.WIZARD_DRAFT))],
        [button(label("wizard.button.back"), cb.WizardNav(cb.WIZARD_BACK)),
         button(label("wizard.button.cancel"), cb.WizardNav(cb.WIZARD_CANCEL))],
        [button(label(switch), cb.WizardTransfers())],
    ])


# ----------------------------------------------------------------------------- sending

async def send_state(update: Update, context: TicketQContext, state: WizardState, *,
                     intro: str | None = None) -> None:
    """Ask the current question, or show the preview when the draft is complete."""
    uid = user_id(update)
    if state.prompt.step is wz.Step.PREVIEW and uid is not None:
        try:
            preview = await context.services.wizard.preview(uid)
        except DomainError as err:
            await reply(update, context, _problems(err))
            current = await _dialogue(context).current(uid)
            if current is not None and current.prompt.step is not wz.Step.PREVIEW:
                await send_state(update, context, current)
            return
        if preview is not None:
            text = preview_text(preview)
            if state.issue is not None:
                text = issue_text(state.issue, state.draft) + "\n\n" + text
            if intro:
                await reply(update, context, intro)
            await reply(update, context, fit(text),
                        preview_keyboard(preview.spec.transfers.allowed))
            return
    text = question_text(state)
    if intro:
        text = fit(intro + "\n\n" + text)
    await reply(update, context, text, question_keyboard(state))


def _problems(err: DomainError) -> str:
    if err.code is ErrorCode.INVALID_EVENT_SPEC:
        draft = wz.new_draft()
        issues = err.params.get("issues") or []
        lines = "\n".join(f"• {issue_text(i, draft)}" for i in issues[:20])
        return t("wizard.problems", issues=Html(lines))
    return error_text(err)


def _event_id_arg(context: TicketQContext) -> int | None:
    args = context.args or []
    if len(args) != 1 or not args[0].isascii() or not args[0].isdigit() or len(args[0]) > 18:
        return None
    value = int(args[0])
    return value if value > 0 else None


async def _event_id_or_usage(update: Update, context: TicketQContext, uid: int,
                             usage_key: str) -> int | None:
    """The event id argument of an organizer command; without a valid one, an organizer is
    told how to use the command (anyone else is refused as usual) and None is returned."""
    event_id = _event_id_arg(context)
    if event_id is None:
        await context.services.access.require_organizer(uid)
        await reply(update, context, t(usage_key))
    return event_id


def _link(context: TicketQContext, event: Event) -> str:
    username = context.services.bot_username or context.bot.username
    return f"https://t.me/{username}?start=ev_{event.id}"


def _dialogue(context: TicketQContext) -> Dialogue:
    return Dialogue(context.services.wizard)


# ----------------------------------------------------------------------------- commands

async def cmd_new_event(update: Update, context: TicketQContext) -> None:
    """``/newevent``: start the wizard for a new event (organizers only).

    Raises:
        DomainError: ``not_allowed`` (rendered by :func:`handlers.common.guarded`).
    """
    uid = user_id(update)
    if uid is None:
        return
    state = await _dialogue(context).start(uid)
    intro = t("wizard.started_new")
    if state.replaced:
        intro += "\n" + t("wizard.replaced")
    await send_state(update, context, state, intro=intro)


async def cmd_edit_event(update: Update, context: TicketQContext) -> None:
    """``/editevent <id>``: the wizard with the event's current values (its managers only).

    Raises:
        DomainError: ``not_allowed``, ``event_not_found`` or ``event_already_cancelled``.
    """
    uid = user_id(update)
    if uid is None:
        return
    event_id = await _event_id_or_usage(update, context, uid, "wizard.edit_usage")
    if event_id is None:
        return
    state = await _dialogue(context).start(uid, event_id)
    intro = t("wizard.started_edit", title=state.draft.doc.get("title", ""), event_id=event_id)
    if state.replaced:
        intro += "\n" + t("wizard.replaced")
    if state.lottery_locked:
        intro += "\n\n" + t("wizard.locked")
    await send_state(update, context, state, intro=intro)


async def cmd_cancel(update: Update, context: TicketQContext) -> None:
    """``/cancel``: leave the wizard; the draft is deleted and nothing was saved."""
    uid = user_id(update)
    if uid is None:
        return
    left = await context.services.wizard.cancel(uid)
    await reply(update, context, t("wizard.cancelled" if left else "wizard.nothing_to_cancel"))


async def cmd_back(update: Update, context: TicketQContext) -> None:
    """``/back``: the previous question."""
    uid = user_id(update)
    if uid is None:
        return
    state = await _dialogue(context).back(uid)
    if state is None:
        await reply(update, context, t("wizard.none"))
        return
    await send_state(update, context, state)


async def cmd_skip(update: Update, context: TicketQContext) -> None:
    """``/skip``: keep the current value (or take the default)."""
    uid = user_id(update)
    if uid is None:
        return
    state = await _dialogue(context).skip(uid)
    if state is None:
        await reply(update, context, t("wizard.none"))
        return
    await send_state(update, context, state)


async def cmd_publish(update: Update, context: TicketQContext) -> None:
    """``/publish <id>``: make a saved event visible to attendees (its managers only).

    Raises:
        DomainError: ``not_allowed``, ``event_not_found`` or ``event_already_cancelled``.
    """
    uid = user_id(update)
    if uid is None:
        return
    event_id = await _event_id_or_usage(update, context, uid, "wizard.publish_usage")
    if event_id is None:
        return
    event = await context.services.wizard.publish_event(uid, event_id)
    await reply(update, context, t("wizard.event_published", title=event.title,
                                   event_id=event.id, link=_link(context, event)))


async def cmd_unpublish(update: Update, context: TicketQContext) -> None:
    """``/unpublish <id>``: hide an event from attendees (its managers only).

    Raises:
        DomainError: ``not_allowed``, ``event_not_found``, ``event_already_cancelled`` or
            ``lottery_locked``.
    """
    uid = user_id(update)
    if uid is None:
        return
    event_id = await _event_id_or_usage(update, context, uid, "wizard.unpublish_usage")
    if event_id is None:
        return
    event = await context.services.wizard.unpublish_event(uid, event_id)
    await reply(update, context, t("wizard.event_unpublished", title=event.title,
                                   event_id=event.id))


# ----------------------------------------------------------------------------- answers

async def on_text(update: Update, context: TicketQContext) -> None:
    """A text message: the answer to the wizard's question if the sender has a draft open.

    Runs before the main handler group; when it answers it stops further handling, otherwise
    it returns and the text reaches the other handlers (stray-text fallback) untouched.
    """
    uid = user_id(update)
    message = update.effective_message
    chat = update.effective_chat
    if uid is None or message is None or message.text is None or chat is None \
            or chat.type != ChatType.PRIVATE:
        return
    try:
        state = await _dialogue(context).answer(uid, message.text)
        if state is None:
            return
        await send_state(update, context, state)
    except DomainError as err:
        log.info("wizard answer: %r", err)
        await reply(update, context, error_text(err))
    raise ApplicationHandlerStop


async def on_other(update: Update, context: TicketQContext) -> None:
    """Anything but text (a photo, a file, a sticker, a voice message, a location, a
    contact ...) from someone with an open draft: say that a typed answer is needed and ask
    the question again, then stop further handling (a photo is not a ticket to check in, a
    file not an event to import, while the wizard waits).

    Runs before the main handler group; without a draft it returns and the message reaches
    the usual handlers.
    """
    uid = user_id(update)
    chat = update.effective_chat
    if uid is None or chat is None or chat.type != ChatType.PRIVATE:
        return
    state = await _dialogue(context).current(uid)
    if state is None:
        return
    at_preview = state.prompt.step is wz.Step.PREVIEW
    intro = t("wizard.issue.use_buttons") if at_preview else t("wizard.text_only")
    try:
        await send_state(update, context, state, intro=intro)
    except DomainError as err:
        log.info("wizard re-ask: %r", err)
        await reply(update, context, error_text(err))
    raise ApplicationHandlerStop


@cb.handles(cb.WizardPick)
async def on_pick(update: Update, context: TicketQContext, action: cb.WizardPick) -> None:
    """A choice button: the same as typing the choice, if the draft is still at that step.

    Raises:
        DomainError: never on purpose; a stale button just shows the current question.
    """
    uid = user_id(update)
    if uid is None:
        return
    current = await _dialogue(context).current(uid)
    if current is None:
        await show(update, context, t("wizard.none"))
        return
    step = _STEPS_BY_NUMBER.get(action.step)
    choices = current.prompt.choices
    if step is not current.prompt.step or action.choice >= len(choices):
        await send_state(update, context, current)
        return
    state = await _dialogue(context).answer(uid, choices[action.choice])
    if state is not None:
        await send_state(update, context, state)


@cb.handles(cb.WizardTransfers)
async def on_transfers(update: Update, context: TicketQContext,
                       action: cb.WizardTransfers) -> None:
    """The preview's transfers switch: the preview again, with the other setting."""
    uid = user_id(update)
    if uid is None:
        return
    state = await _dialogue(context).toggle_transfers(uid)
    if state is None:
        await reply(update, context, t("wizard.none"))
        return
    await send_state(update, context, state)


@cb.handles(cb.WizardNav)
async def on_nav(update: Update, context: TicketQContext, action: cb.WizardNav) -> None:
    """Back / Skip / Cancel under a question; Publish / Save as draft under the preview.

    Raises:
        DomainError: ``not_allowed``, ``lottery_locked``, ``event_already_cancelled``
            (answered as an alert); a draft that cannot be saved is explained in the chat.
    """
    uid = user_id(update)
    if uid is None:
        return
    if action.action == cb.WIZARD_CANCEL:
        await cmd_cancel(update, context)
        return
    if action.action == cb.WIZARD_BACK:
        await cmd_back(update, context)
        return
    if action.action == cb.WIZARD_SKIP:
        await cmd_skip(update, context)
        return
    current = await _dialogue(context).current(uid)
    if current is None:
        await reply(update, context, t("wizard.none"))
        return
    if current.prompt.step is not wz.Step.PREVIEW:
        await send_state(update, context, current)
        return
    publish = action.action == cb.WIZARD_PUBLISH
    try:
        event = await _dialogue(context).publish(uid, publish=publish)
    except DomainError as err:
        if err.code not in (ErrorCode.INVALID_EVENT_SPEC, ErrorCode.CAPACITY_BELOW_SOLD):
            raise
        await reply(update, context, _problems(err))
        after = await _dialogue(context).current(uid)
        if after is not None:
            await send_state(update, context, after)
        return
    if event is None:
        await reply(update, context, t("wizard.none"))
        return
    key = "wizard.published" if publish else "wizard.saved_draft"
    await reply(update, context, t(key, title=event.title, event_id=event.id,
                                   link=_link(context, event)))
