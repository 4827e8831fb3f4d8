"""The organizer console in chat: invites, organizer and staff lists, figures, export, cancel.

Commands (everyone without the role gets the polite ``not_allowed`` text, and an organizer
asking about somebody else's event gets the same text as for an event that does not exist):

* admins: ``/invite_organizer``, ``/organizers`` (a revoke button each);
* organizers (and admins): ``/myevents`` (alias ``/events_admin``): one message listing the
  events, a button each that opens the event's card with Stats · Export · Staff invite ·
  Staff · Cancel event and Back; ``/stats <id>``, ``/export <id>``, ``/cancel_event <id>``,
  ``/staff_invite <id>``, ``/staff <id>``;

Every list (events, organizers, door staff) is one message with Previous · x/y · Next buttons
that page it in place. Times are shown in the event's zone, or with the zone named (UTC) where
no event is involved.
* anyone: ``/start i_<token>`` accepts an invite (see :func:`accept_invite`).

Buttons carry ids only (:mod:`handlers.callbacks`); every id is re-authorized by the service,
so forged callback data is harmless.
"""

from __future__ import annotations

import logging
from datetime import tzinfo

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MenuButtonWebApp,
    Update,
    WebAppInfo,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError

from core.access.model import Grant, Invite, Role
from core.catalog.model import Event, EventStatus
from core.kernel.errors import DomainError, ErrorCode
from core.organizer.service import RefundStarted
from handlers import callbacks as cb
from handlers import keyboards
from handlers.common import reply, show, user_id
from handlers.context import TicketQContext
from handlers.keyboards import button, label, label_cutting, pager, web_app_button
from handlers.paging import EVENTS_PER_PAGE, PEOPLE_PER_PAGE, paginate
from handlers.texts import event_figures_text, fit, page_suffix, plural, t

log = logging.getLogger(__name__)

_ID_MAX_DIGITS = 18


def event_id_arg(context: TicketQContext) -> int | None:
    """The single ``<event id>`` argument of a command, or None if there is not exactly one
    positive decimal number."""
    args = context.args or []
    if len(args) != 1:
        return None
    raw = args[0]
    if not raw.isascii() or not raw.isdigit() or len(raw) > _ID_MAX_DIGITS or int(raw) < 1:
        return None
    return int(raw)


def invite_link(context: TicketQContext, invite: Invite) -> str:
    """``https://t.me/<bot>?start=i_<token>``: the invite as a deep link."""
    username = context.services.bot_username or context.bot.username
    return f"https://t.me/{username}?start=i_{invite.token}"


def _not_allowed() -> DomainError:
    return DomainError(ErrorCode.NOT_ALLOWED)


async def _organizer_or_refuse(update: Update, context: TicketQContext) -> int:
    """The caller's id if they hold the organizer role (admins do).

    Raises:
        DomainError: ``not_allowed``.
    """
    uid = user_id(update)
    if uid is None:
        raise _not_allowed()
    await context.services.access.require_organizer(uid)
    return uid


def _admin_or_refuse(update: Update, context: TicketQContext) -> int:
    uid = user_id(update)
    if uid is None or not context.services.access.is_admin(uid):
        raise _not_allowed()
    return uid


async def _event_id_or_usage(update: Update, context: TicketQContext,
                             command: str) -> tuple[int, int] | None:
    """(caller, event id) for an organizer command; None after replying with the usage.

    Raises:
        DomainError: ``not_allowed`` before the arguments are even looked at.
    """
    uid = await _organizer_or_refuse(update, context)
    event_id = event_id_arg(context)
    if event_id is None:
        await reply(update, context, t("console.usage", command=command))
        return None
    return uid, event_id


# --- invites ----------------------------------------------------------------------------------

async def accept_invite(update: Update, context: TicketQContext, payload: str) -> None:
    """``/start i_<token>``: take the role the invite grants.

    Raises:
        DomainError: ``invite_not_found``, ``invite_used``, ``invite_expired`` or
            ``invite_revoked``.
    """
    user = update.effective_user
    if user is None:
        return
    grant = await context.services.access.accept_invite(
        user_id=user.id, first_name=user.first_name, payload=payload)
    if grant.role is Role.ORGANIZER:
        await reply(update, context, t("console.invite_accepted.organizer"))
        return
    title = await _event_title(context, user.id, grant.event_id)
    base = context.services.miniapp_url
    if not base:
        await reply(update, context, t("console.invite_accepted.staff", event=title))
        return
    scanner = f"{base}/scanner"
    # The scanner one tap away: on the welcome and as the chat's menu button.
    await reply(update, context, t("console.invite_accepted.staff", event=title),
                InlineKeyboardMarkup([[web_app_button(label("door.open_scanner"), scanner)]]))
    try:
        await context.bot.set_chat_menu_button(
            chat_id=user.id, menu_button=MenuButtonWebApp(label("door.menu_button"),
                                                          WebAppInfo(scanner)))
    except TelegramError as exc:  # the inline button and /door still open it
        log.warning("menu button for %s not set: %s", user.id, exc)


async def _event_title(context: TicketQContext, uid: int, event_id: int | None) -> str:
    if event_id is None:
        return ""
    try:
        return (await context.services.catalog.event_card(event_id, uid)).event.title
    except DomainError:  # a draft: the staff member still learns its number
        return t("console.event_ref", event_id=event_id)


def _withdraw_keyboard(invite: Invite) -> InlineKeyboardMarkup:
    return keyboards.markup([[button(label("console.button.withdraw_invite"),
                                         cb.WithdrawInvite(invite.id))]])


async def cmd_invite_organizer(update: Update, context: TicketQContext) -> None:
    """``/invite_organizer`` (admins): a single-use organizer invite link and its expiry.

    Raises:
        DomainError: ``not_allowed``.
    """
    uid = _admin_or_refuse(update, context)
    invite = await context.services.access.create_invite(actor_id=uid, role=Role.ORGANIZER)
    await reply(update, context,
                t("console.organizer_invite", expires=invite.expires_at,
                  link=invite_link(context, invite)),
                _withdraw_keyboard(invite))


@cb.handles(cb.WithdrawInvite)
async def on_withdraw_invite(update: Update, context: TicketQContext,
                             action: cb.WithdrawInvite) -> None:
    """The "Withdraw this invite" button (its creator or an admin).

    Raises:
        DomainError: ``invite_not_found`` (also for somebody else's invite).
    """
    uid = user_id(update)
    if uid is None:
        return
    await context.services.access.revoke_invite(actor_id=uid, invite_id=action.invite_id)
    await show(update, context, t("console.invite_withdrawn"))


async def cmd_organizers(update: Update, context: TicketQContext) -> None:
    """``/organizers`` (admins): every organizer with a revoke button, one page at a time.

    Raises:
        DomainError: ``not_allowed``.
    """
    uid = _admin_or_refuse(update, context)
    text, markup = await _organizers_view(context, uid, 0)
    await reply(update, context, text, markup)


@cb.handles(cb.OrganizersPage)
async def on_organizers_page(update: Update, context: TicketQContext,
                             action: cb.OrganizersPage) -> None:
    """Previous / Next under the organizers: another page, in place.

    Raises:
        DomainError: ``not_allowed``.
    """
    uid = _admin_or_refuse(update, context)
    text, markup = await _organizers_view(context, uid, action.page)
    await show(update, context, text, markup)


async def _organizers_view(context: TicketQContext, uid: int,
                           page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    grants = await context.services.access.grants(actor_id=uid)
    if not grants:
        return t("console.organizers_empty"), None
    shown = paginate(grants, page, PEOPLE_PER_PAGE)
    # No event is involved: the time says its zone (UTC).
    lines = [t("console.organizers_title", count=shown.total)
             + page_suffix(shown.page, shown.pages),
             *(_person_line(g) for g in shown.items)]
    rows = [[button(label("console.button.revoke", name=_name(g)),
                    cb.RevokeOrganizer(g.user_id))] for g in shown.items]
    _append(rows, pager(shown, cb.OrganizersPage))
    return fit("\n".join(lines)), keyboards.markup(rows)


def _append(rows: list[list[InlineKeyboardButton]], row: list[InlineKeyboardButton]) -> None:
    if row:
        rows.append(row)


def _name(grant: Grant) -> str:
    return grant.first_name or str(grant.user_id)


def _name_of(grants: list[Grant], uid: int) -> str:
    return next((_name(g) for g in grants if g.user_id == uid), str(uid))


def _person_line(grant: Grant, zone: tzinfo | None = None) -> str:
    """One person of a list; ``since`` in ``zone`` (the event's), else in UTC, named."""
    since = grant.granted_at.astimezone(zone) if zone is not None else grant.granted_at
    return t("console.person", name=_name(grant), user_id=grant.user_id, since=since)


@cb.handles(cb.RevokeOrganizer)
async def on_revoke_organizer(update: Update, context: TicketQContext,
                              action: cb.RevokeOrganizer) -> None:
    """A revoke button on ``/organizers``: take the role away, then show the list again.

    Raises:
        DomainError: ``not_allowed``.
    """
    uid = user_id(update)
    if uid is None:
        return
    access = context.services.access
    name = _name_of(await access.grants(actor_id=uid), action.user_id)
    done = await access.revoke(actor_id=uid, user_id=action.user_id, role=Role.ORGANIZER)
    text, markup = await _organizers_view(context, uid, 0)
    note = t("console.revoked", name=name) if done else t("console.not_holding")
    await show(update, context, fit(note + "\n\n" + text), markup)


# --- events ----------------------------------------------------------------------------------

def dashboard_url(context: TicketQContext, event_id: int) -> str | None:
    """The event's dashboard in the Mini App, if the Mini App is served publicly."""
    base = context.services.miniapp_url
    return f"{base}/dashboard?event={event_id}" if base else None


def event_keyboard(event: Event, back_page: int | None = None,
                   dashboard: str | None = None) -> InlineKeyboardMarkup:
    """Stats · Export / Staff invite · Staff / Cancel event (a cancelled event keeps the
    first and the staff list), then Back to page ``back_page`` of the events if given; the
    Mini App's dashboard first when it is served (``dashboard``: its URL)."""
    rows = [[web_app_button(label("console.button.dashboard"), dashboard)]] if dashboard else []
    rows.append([button(label("console.button.stats"), cb.ConsoleStats(event.id)),
                 button(label("console.button.export"), cb.ConsoleExport(event.id))])
    if event.status is EventStatus.CANCELLED:
        rows.append([button(label("console.button.staff_list"), cb.StaffList(event.id))])
    else:
        rows.append([button(label("console.button.staff_invite"), cb.StaffInvite(event.id)),
                     button(label("console.button.staff_list"), cb.StaffList(event.id))])
        rows.append([button(label("console.button.cancel"), cb.CancelAsk(event.id))])
    if back_page is not None:
        rows.append([button(label("console.button.back_to_events"),
                            cb.MyEventsPage(back_page))])
    return keyboards.markup(rows)


def _event_text(event: Event) -> str:
    return t("console.event", title=event.title, event_id=event.id, when=event.local_start(),
             status=event.status.value)


async def cmd_my_events(update: Update, context: TicketQContext) -> None:
    """``/myevents`` (``/events_admin``): the caller's events as one message with pages; a
    button per event opens its card.

    Raises:
        DomainError: ``not_allowed``.
    """
    uid = await _organizer_or_refuse(update, context)
    text, markup = await _events_view(context, uid, 0)
    await reply(update, context, text, markup)


@cb.handles(cb.MyEventsPage)
async def on_my_events_page(update: Update, context: TicketQContext,
                            action: cb.MyEventsPage) -> None:
    """Previous / Next (or Back from a card): a page of the events, in place.

    Raises:
        DomainError: ``not_allowed``.
    """
    uid = await _organizer_or_refuse(update, context)
    text, markup = await _events_view(context, uid, action.page)
    await show(update, context, text, markup)


async def _events_view(context: TicketQContext, uid: int,
                       page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    events = await context.services.organizer.my_events(uid)
    if not events:
        return t("console.events_empty"), None
    shown = paginate(events, page, EVENTS_PER_PAGE)
    head = t("console.events_title", count=shown.total) + page_suffix(shown.page, shown.pages)
    rows = []
    for event in shown.items:
        row = [button(label_cutting("console.event_button", "title", title=event.title,
                                    event_id=event.id), cb.ConsoleEvent(event.id, shown.page))]
        url = dashboard_url(context, event.id)
        if url:
            row.append(web_app_button(label("console.button.dashboard"), url))
        rows.append(row)
    _append(rows, pager(shown, cb.MyEventsPage))
    return fit("\n\n".join([head, *(_event_text(e) for e in shown.items)])), \
        keyboards.markup(rows)


@cb.handles(cb.ConsoleEvent)
async def on_console_event(update: Update, context: TicketQContext,
                           action: cb.ConsoleEvent) -> None:
    """An event's row: its card with the console buttons and Back, in place.

    Raises:
        DomainError: ``not_allowed`` (also for another organizer's event).
    """
    uid = user_id(update)
    if uid is None:
        return
    event = await context.services.organizer.event(actor_id=uid, event_id=action.event_id)
    markup = event_keyboard(event, action.page, dashboard_url(context, event.id))
    await show(update, context, _event_text(event), markup)


async def cmd_stats(update: Update, context: TicketQContext) -> None:
    """``/stats <event id>``: sold / held / available and revenue per type, refunds done /
    pending / failed, check-ins, and a lottery's figures (the event's managers only).

    Raises:
        DomainError: ``not_allowed`` (also for another organizer's event).
    """
    parsed = await _event_id_or_usage(update, context, "stats")
    if parsed is not None:
        await _send_stats(update, context, *parsed)


@cb.handles(cb.ConsoleStats)
async def on_stats(update: Update, context: TicketQContext, action: cb.ConsoleStats) -> None:
    """The Stats button: the figures as a new message (so they can be compared later)."""
    uid = user_id(update)
    if uid is not None:
        await _send_stats(update, context, uid, action.event_id)


async def _send_stats(update: Update, context: TicketQContext, uid: int, event_id: int) -> None:
    figures = await context.services.organizer.figures(actor_id=uid, event_id=event_id)
    await reply(update, context, event_figures_text(figures))


async def cmd_export(update: Update, context: TicketQContext) -> None:
    """``/export <event id>``: a CSV document of tickets, orders and check-ins.

    Raises:
        DomainError: ``not_allowed``.
    """
    parsed = await _event_id_or_usage(update, context, "export")
    if parsed is not None:
        await _send_export(update, context, *parsed)


@cb.handles(cb.ConsoleExport)
async def on_export(update: Update, context: TicketQContext,
                    action: cb.ConsoleExport) -> None:
    """The Export button."""
    uid = user_id(update)
    if uid is not None:
        await _send_export(update, context, uid, action.event_id)


async def _send_export(update: Update, context: TicketQContext, uid: int,
                       event_id: int) -> None:
    chat = update.effective_chat
    if chat is None:
        return
    organizer = context.services.organizer
    data = await organizer.export_csv(actor_id=uid, event_id=event_id)
    figures = await organizer.figures(actor_id=uid, event_id=event_id)
    await context.bot.send_document(
        chat_id=chat.id, document=data, filename=f"event-{event_id}-tickets.csv",
        caption=t("console.export_caption", title=figures.event.title, event_id=event_id),
        parse_mode=ParseMode.HTML)


# --- door staff ------------------------------------------------------------------------------

async def cmd_staff_invite(update: Update, context: TicketQContext) -> None:
    """``/staff_invite <event id>``: a single-use door staff invite link for the event.

    Raises:
        DomainError: ``not_allowed``.
    """
    parsed = await _event_id_or_usage(update, context, "staff_invite")
    if parsed is not None:
        await _send_staff_invite(update, context, *parsed)


@cb.handles(cb.StaffInvite)
async def on_staff_invite(update: Update, context: TicketQContext,
                          action: cb.StaffInvite) -> None:
    """The Staff invite button."""
    uid = user_id(update)
    if uid is not None:
        await _send_staff_invite(update, context, uid, action.event_id)


async def _send_staff_invite(update: Update, context: TicketQContext, uid: int,
                             event_id: int) -> None:
    services = context.services
    invite = await services.access.create_invite(actor_id=uid, role=Role.STAFF,
                                                 event_id=event_id)
    event = (await services.organizer.figures(actor_id=uid, event_id=event_id)).event
    await reply(update, context,
                t("console.staff_invite", event=event.title,
                  expires=invite.expires_at.astimezone(event.tz),
                  link=invite_link(context, invite)),
                _withdraw_keyboard(invite))


async def cmd_staff(update: Update, context: TicketQContext) -> None:
    """``/staff <event id>``: the event's door staff, a revoke button each, one page at a time.

    Raises:
        DomainError: ``not_allowed``.
    """
    parsed = await _event_id_or_usage(update, context, "staff")
    if parsed is not None:
        text, markup = await _staff_view(context, *parsed)
        await reply(update, context, text, markup)


@cb.handles(cb.StaffList)
async def on_staff_list(update: Update, context: TicketQContext,
                        action: cb.StaffList) -> None:
    """The Staff button on an event's card: the list in place (Back returns to the card)."""
    uid = user_id(update)
    if uid is not None:
        text, markup = await _staff_view(context, uid, action.event_id)
        await show(update, context, text, markup)


@cb.handles(cb.StaffPage)
async def on_staff_page(update: Update, context: TicketQContext,
                        action: cb.StaffPage) -> None:
    """Previous / Next under the staff list: another page, in place.

    Raises:
        DomainError: ``not_allowed``.
    """
    uid = user_id(update)
    if uid is not None:
        text, markup = await _staff_view(context, uid, action.event_id, action.page)
        await show(update, context, text, markup)


async def _staff_view(context: TicketQContext, uid: int, event_id: int,
                      page: int = 0) -> tuple[str, InlineKeyboardMarkup]:
    services = context.services
    grants = await services.access.grants(actor_id=uid, event_id=event_id)
    event = await services.organizer.event(actor_id=uid, event_id=event_id)
    shown = paginate(grants, page, PEOPLE_PER_PAGE)
    lines = [t("console.staff_title", event=event.title, event_id=event.id)
             + page_suffix(shown.page, shown.pages)]
    back = [button(label("console.button.back_to_event"), cb.ConsoleEvent(event_id, 0))]
    if not grants:
        lines.append(t("console.staff_empty"))
        return "\n".join(lines), keyboards.markup([back])
    lines += [_person_line(g, event.tz) for g in shown.items]
    rows = [[button(label("console.button.revoke", name=_name(g)),
                    cb.RevokeStaff(event_id, g.user_id))] for g in shown.items]
    _append(rows, pager(shown, lambda n: cb.StaffPage(event_id, n)))
    rows.append(back)
    return fit("\n".join(lines)), keyboards.markup(rows)


@cb.handles(cb.RevokeStaff)
async def on_revoke_staff(update: Update, context: TicketQContext,
                          action: cb.RevokeStaff) -> None:
    """A revoke button on the staff list: take the duty away, then show the list again.

    Raises:
        DomainError: ``not_allowed``.
    """
    uid = user_id(update)
    if uid is None:
        return
    access = context.services.access
    name = _name_of(await access.grants(actor_id=uid, event_id=action.event_id), action.user_id)
    done = await access.revoke(actor_id=uid, user_id=action.user_id, role=Role.STAFF,
                               event_id=action.event_id)
    text, markup = await _staff_view(context, uid, action.event_id)
    note = t("console.revoked", name=name) if done else t("console.not_holding")
    await show(update, context, fit(note + "\n\n" + text), markup)


# --- cancelling an event -----------------------------------------------------------------------

async def cmd_cancel_event(update: Update, context: TicketQContext) -> None:
    """``/cancel_event <event id>``: ask for confirmation first.

    Raises:
        DomainError: ``not_allowed`` or ``event_already_cancelled``.
    """
    parsed = await _event_id_or_usage(update, context, "cancel_event")
    if parsed is not None:
        text, markup = await _cancel_question(context, *parsed)
        await reply(update, context, text, markup)


@cb.handles(cb.CancelAsk)
async def on_cancel_ask(update: Update, context: TicketQContext, action: cb.CancelAsk) -> None:
    """The Cancel event button: the confirmation question as a new message."""
    uid = user_id(update)
    if uid is not None:
        text, markup = await _cancel_question(context, uid, action.event_id)
        await reply(update, context, text, markup)


async def _cancel_question(context: TicketQContext, uid: int,
                           event_id: int) -> tuple[str, InlineKeyboardMarkup]:
    figures = await context.services.organizer.figures(actor_id=uid, event_id=event_id)
    event = figures.event
    if event.status is EventStatus.CANCELLED:
        raise DomainError(ErrorCode.EVENT_ALREADY_CANCELLED)
    markup = keyboards.markup([
        [button(label("console.cancel_yes"), cb.CancelConfirm(event_id))],
        [button(label("console.cancel_no"), cb.CancelKeep(event_id))],
    ])
    return t("console.cancel_confirm", title=event.title, when=event.local_start(),
             sold=figures.sold), markup


@cb.handles(cb.CancelConfirm)
async def on_cancel_confirm(update: Update, context: TicketQContext,
                            action: cb.CancelConfirm) -> None:
    """"Yes, cancel and refund everyone": cancel, report what was queued, wake the outbox.

    Raises:
        DomainError: ``not_allowed`` or ``event_already_cancelled`` (a second tap).
    """
    uid = user_id(update)
    if uid is None:
        return
    services = context.services
    started = await services.organizer.cancel_event(actor_id=uid, event_id=action.event_id)
    services.wake_outbox()
    await show(update, context, t("console.cancelled", title=started.event.title,
                                  refunds=started.refunds_queued,
                                  revoked=started.tickets_revoked,
                                  told=started.holders_told, event_id=started.event.id))


@cb.handles(cb.CancelKeep)
async def on_cancel_keep(update: Update, context: TicketQContext,
                         action: cb.CancelKeep) -> None:
    """"No": nothing changes."""
    uid = user_id(update)
    if uid is None:
        return
    figures = await context.services.organizer.figures(actor_id=uid, event_id=action.event_id)
    await show(update, context, t("console.cancel_kept", title=figures.event.title))


# --- single refunds ---------------------------------------------------------------------------

async def cmd_refund_ticket(update: Update, context: TicketQContext) -> None:
    """``/refund_ticket <code> <reason>``: refund one ticket in full (its payer is told the
    reason; the door then says REVOKED, "refunded").

    Raises:
        DomainError: ``not_allowed``, ``ticket_not_found``, ``refund_reason_required`` or
            ``nothing_to_refund``.
    """
    uid = await _organizer_or_refuse(update, context)
    args = context.args or []
    if not args:
        await reply(update, context, t("console.refund_usage"))
        return
    started = await context.services.organizer.refund_ticket(
        actor_id=uid, code=args[0], reason=" ".join(args[1:]))
    context.services.wake_outbox()
    await reply(update, context, _refund_text(started))


async def cmd_refund_order(update: Update, context: TicketQContext) -> None:
    """``/refund_order <order id> <reason>``: refund what is still valid of one order.

    Raises:
        DomainError: ``not_allowed``, ``order_not_found``, ``refund_reason_required`` or
            ``nothing_to_refund``.
    """
    uid = await _organizer_or_refuse(update, context)
    args = context.args or []
    if not args or not args[0].isdecimal() or not 0 < int(args[0]) < 2**63:
        await reply(update, context, t("console.refund_usage"))
        return
    started = await context.services.organizer.refund_order(
        actor_id=uid, order_id=int(args[0]), reason=" ".join(args[1:]))
    context.services.wake_outbox()
    await reply(update, context, _refund_text(started))


def _refund_text(started: RefundStarted) -> str:
    return t("console.refunded", event=started.event.title, amount=started.amount,
             tickets=plural("count.tickets", started.tickets), event_id=started.event.id)
