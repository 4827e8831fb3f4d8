"""Every user-facing string, looked up by key, plus the formatting of money and times.

Texts are Telegram HTML (``parse_mode="HTML"``). Templates are trusted; every interpolated
value is escaped by :func:`t` unless it is wrapped in :class:`Html` (already-rendered text).
:func:`plain` turns a rendered text into plain text (pre-checkout error messages, the CLI).

Keys:

* ``error.<code>`` for every :class:`core.errors.ErrorCode` (see :func:`error_text`);
* ``spec.<code>`` for every :class:`core.event_spec.SpecIssue` code (see
  :func:`spec_issue_text`);
* the outbox message keys queued by ``core/services`` (:data:`OUTBOX_KEYS`);
* the handler texts (``welcome``, ``events.*``, ``card.*``, ``picker.*``, ``hold.*`` ...).
"""

from __future__ import annotations

import functools
import html
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime as babel_format_datetime
from babel.dates import format_time, get_timezone_gmt, match_skeleton
from babel.numbers import NumberPattern, format_decimal, parse_pattern

from core.catalog.model import Event, EventStatus, LotteryState, SaleMode
from core.catalog.service import EventCard, EventPage, EventSummary, Offer
from core.catalog.spec import SpecIssue
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.localized import LocalText
from core.kernel.money import Money, currency_exponent
from core.lottery.model import EntryStatus, LotteryFigures, WindowPhase
from core.lottery.service import EntryView, LotteryInfo
from core.organizer.admin import EventSales, revenue_total
from core.organizer.service import EventFigures
from core.payments.model import RefundStatus
from core.payments.plans import RefundReason
from core.tickets.model import TicketStatus, format_short_code
from core.tickets.service import TicketView
from handlers import i18n, lengths
from handlers.paging import TICKETS_PER_PAGE, paginate

log = logging.getLogger(__name__)

# Telegram rejects messages above 4096 UTF-16 units after entity parsing (captions: 1024).
MESSAGE_LIMIT = lengths.MESSAGE_LIMIT
CAPTION_LIMIT = lengths.CAPTION_LIMIT


class Html(str):
    """A string that is already safe HTML: :func:`t` inserts it without escaping."""

    __slots__ = ()


TEXTS: dict[str, str] = {
    # --- returns and the waiting list -------------------------------------------------------
    "card.button_waitlist": "📝 Join the waiting list · {name}",
    "waitlist.picker": (
        "📝 <b>{ticket_type}</b> for <b>{event}</b> is sold out. How many seats do you want "
        "when some come back? People on the waiting list are offered returned seats in the "
        "order they joined."
    ),
    "waitlist.joined": (
        "📝 You are on the waiting list for {quantity} × <b>{ticket_type}</b> "
        "(<b>{event}</b>). People ahead of you: {ahead}.\n"
        "When seats come back you get a message and an invoice held for you for a short "
        "time. Nothing is charged until you pay it."
    ),
    "waitlist.offer": (
        "🎟 Seats came back for <b>{event}</b>: {quantity} × {ticket_type} for {total}, "
        "offered to you from the waiting list.\nThey are held for you for {minutes} "
        "minutes — pay the invoice below to get your tickets. After that they go to the "
        "next person."
    ),
    "waitlist.second_chance": (
        "🎟 Second chance for <b>{event}</b>: seats came back after the draw, and your entry "
        "is next in the published draw order. {quantity} × {ticket_type} for {total}, held "
        "for you for {minutes} minutes — pay the invoice below to get your tickets. After that "
        "they go to the next entry in the order."
    ),
    "waitlist.lapsed": (
        "⌛ Your waiting-list offer for {quantity} × {ticket_type} (<b>{event}</b>) was not "
        "paid in time and went to the next person. You are no longer on the waiting list."
    ),
    "return.none": (
        "You have no tickets you can return now. Returns are possible only where the "
        "organizer allows them, before their deadline, for unused tickets."
    ),
    "return.list": (
        "<b>Return tickets</b>\nA returned order is offered to the waiting list. Your tickets "
        "stay valid until someone pays for them; then they stop working and you are "
        "refunded. If nobody takes them, you keep them."
    ),
    "mytickets.return_button": "↩️ Return {code} (to the waiting list)",
    "return.button": "↩️ {quantity} × {ticket_type} · {event}",
    "return.button_pending": "⏳ {quantity} × {ticket_type} · {event} (returned)",
    "return.ask": (
        "Return {quantity} × <b>{ticket_type}</b> for <b>{event}</b>?\n"
        "• Your tickets stay valid until someone from the waiting list pays for them.\n"
        "• Then they stop working and you get <b>{refund}</b> back (the organizer keeps "
        "{fee}).\n• If nobody takes them, you keep your tickets."
    ),
    "return.pending": (
        "⏳ Your return of {quantity} × <b>{ticket_type}</b> for <b>{event}</b> is waiting "
        "for someone on the waiting list to pay. Your tickets stay valid until then; if "
        "nobody takes them, you keep them."
    ),
    "return.button_confirm": "↩️ Return them",
    "return.button_keep": "Keep them",
    "return.made": (
        "↩️ Return registered: {quantity} × <b>{ticket_type}</b> for <b>{event}</b>.\n"
        "Your tickets stay valid until someone from the waiting list pays for them; then "
        "they stop working and you get {refund} back (the organizer keeps {fee}). If nobody "
        "takes them, you keep your tickets. We tell you at each step."
    ),
    "return.offered": (
        "🔁 Your returned tickets ({quantity} × {ticket_type}, <b>{event}</b>) were offered "
        "to the next person on the waiting list, who has {minutes} minutes to pay. Your "
        "tickets stay valid until then."
    ),
    "return.lapsed_kept": (
        "⌛ The person offered your returned tickets ({quantity} × {ticket_type}, "
        "<b>{event}</b>) did not pay in time, and nobody else is waiting for them now. You "
        "keep your tickets; they go to the next person who joins the waiting list."
    ),
    "return.resold": (
        "✅ Your returned tickets ({quantity} × {ticket_type}, <b>{event}</b>) were bought "
        "by someone from the waiting list. Those tickets no longer admit anyone. We are "
        "refunding {refund} (the organizer keeps {fee})."
    ),
    "invoice.offer_description": (
        "Waiting-list offer, held {minutes} min: {quantity} × {ticket_type} · {when} · {venue}"
    ),
    "refund_started.returned": (
        "💸 Your returned tickets were resold: we are refunding {amount}. It may take a few "
        "days to show."
    ),
    "error.groups_off": (
        "This entry cannot take companions: the organizer does not allow groups, or it is "
        "for one seat."
    ),
    "error.group_not_found": "This group link is not valid (any more).",
    "error.group_full": "This group is full: every seat of the entry has a companion.",
    "error.already_in_group": (
        "You are already in a group for this lottery: one entry per person, alone or in one "
        "group."
    ),
    "group.invite": (
        "👥 <b>{event}</b>: your entry is for {quantity} people. Send this link to up to "
        "{spots} friends; each confirms in their own chat and gets their own QR code if your "
        "group is drawn. You paid for everyone: one refund if it is not.\n{link}\n"
        "In your group now: {members}"
    ),
    "group.usage": "Usage: /group &lt;event id&gt; (the lottery you entered for several people)",
    "group.ask": (
        "👥 Join a group entry for <b>{event}</b>? The group wins or loses as one; if it is "
        "drawn you get your own QR code here. You pay nothing: the lead paid. You cannot "
        "also enter alone."
    ),
    "group.button_join": "✅ Join the group",
    "group.joined": (
        "✅ You are in the group for <b>{event}</b>. You will hear the result of the draw here."
    ),
    "group.joined_lead": "👥 A friend confirmed and joined your group for <b>{event}</b>.",
    "group.won": (
        "🎉 Your group was drawn for <b>{event}</b>! Your own QR code is in this chat."
    ),
    "group.lost": (
        "😔 Your group was not drawn for <b>{event}</b>. The lead who paid is refunded in "
        "full."
    ),
    "error.not_sold_out": "Seats are still on sale: buy them directly, no waiting list needed.",
    "error.already_waiting": (
        "You are already on this waiting list (once per person). We will message you when "
        "seats come back."
    ),
    "error.returns_closed": (
        "These tickets cannot be returned now: the organizer does not allow returns for "
        "this event, or the return deadline has passed."
    ),
    "error.not_returnable": (
        "These tickets cannot be returned: they were used, passed on, or are no longer valid."
    ),
    "error.already_returned": "You returned these tickets already; we tell you when they sell.",
    # --- start / help / fallback ------------------------------------------------------------
    "welcome": (
        "👋 Hi {name}! I sell tickets for upcoming events.\n\n"
        "Browse the events, pick a ticket type and pay right here in the chat. "
        "Your tickets arrive as QR codes: show one at the door."
    ),
    "button.browse": "🎫 Browse events",
    "button.my_tickets": "🎟 My tickets",
    "button.back_to_list": "⬅️ All events",
    "button.back_to_event": "⬅️ Back",
    "button.prev": "◀️ Previous",
    "button.next": "Next ▶️",
    "button.page": "{page}/{pages}",
    "button.event": "{title} · {day}",
    "list.page": " · page {page} of {pages}",
    "button.cancel_hold": "✖️ Cancel hold",
    "help": (
        "<b>How it works</b>\n"
        "1. /events — see what is on sale.\n"
        "2. Open an event, pick a ticket type and how many.\n"
        "3. Pay the invoice within the hold time; your seats are reserved meanwhile.\n"
        "4. Your tickets arrive here as QR codes. /mytickets shows them again.\n\n"
        "At the door, show the QR code (or read out the short code under it)."
    ),
    "help.language": "\n🌐 /language — choose the language I write to you in.",
    "help.admin": (
        "\n\n<b>Organizers</b>\n"
        "/import — how to add an event from a YAML or JSON file\n"
        "/newevent, /editevent &lt;event id&gt; — create or edit an event step by step\n"
        "/publish, /unpublish &lt;event id&gt; — show or hide an event\n"
        "/stats &lt;event id&gt; — sales figures of an event\n"
        "/myevents — your events with Stats · Export · Staff invite · Staff · Cancel\n"
        "/export &lt;event id&gt; — tickets, orders and check-ins as CSV\n"
        "/cancel_event &lt;event id&gt; — cancel and refund everyone (asks first)\n"
        "/refund_ticket &lt;code&gt; &lt;reason&gt;, /refund_order &lt;order id&gt; "
        "&lt;reason&gt; — refund one ticket or one order (the buyer reads your reason)\n"
        "/invite_organizer, /organizers — admins: invite and list organizers\n"
        "/door, /checkin &lt;code&gt; — door staff: counts and typed codes"
    ),
    "fallback.unknown_command": "I don't know that command. /help lists what I can do.",
    "fallback.text": "I only understand buttons and commands. Try /events or /help.",
    "fallback.stale_button": "This button has expired. Please start again from /events.",
    "fallback.noop": "Nothing to do here.",
    "fallback.unsupported": (
        "I can't do anything with that kind of message. I work with buttons and commands: "
        "/events shows what is on sale, /mytickets your tickets, /help everything else."
    ),
    # --- language (handlers/language.py) and the bot's profile per language --------------------
    "language.prompt": "🌐 Which language should I use with you?",
    "language.button": "{name}",
    "language.button_current": "✅ {name}",
    "language.changed": "✅ Done: I will write to you in English from now on.",
    "command.events": "Browse upcoming events",
    "command.mytickets": "Show my tickets",
    "command.return": "Return tickets (resold to the waiting list)",
    "command.help": "How buying tickets works",
    "command.start": "Start over",
    "command.language": "Change the language",
    "bot.short_description": "Tickets for upcoming events: browse, pay in the chat, get QR codes.",
    "bot.description": (
        "I sell tickets for upcoming events. Browse the events, pick a ticket type and pay "
        "right here in the chat; your tickets arrive as QR codes to show at the door. Some "
        "events are sold by a fair lottery: you pay to enter and get every cent back if you "
        "are not drawn."
    ),
    # --- counts (one plural helper: :func:`plural`; issue 14 moves these to ngettext) -----
    "count.minutes.one": "{count} minute",
    "count.minutes.other": "{count} minutes",
    "count.seats.one": "{count} seat",
    "count.seats.other": "{count} seats",
    "count.tickets.one": "{count} ticket",
    "count.tickets.other": "{count} tickets",
    "error.unexpected": "😕 Something went wrong on our side. Please try again in a moment.",
    "error.busy": "We are very busy right now. Please try again in a moment.",
    # --- deep links ---------------------------------------------------------------------------
    "link.not_owner": (
        "🎟 This is a TicketQ ticket. Its holder shows this QR code at the door; "
        "opening it here does not transfer it."
    ),
    # --- browsing ---------------------------------------------------------------------------
    "events.title": "<b>Upcoming events</b>",
    "events.page": " (page {page} of {pages})",
    "events.empty": "No events are on sale right now. Check back soon!",
    "events.item": "<b>{title}</b>\n{when} · {venue}\n{price} · {seats}",
    "events.seats_left.one": "{count} seat left",
    "events.seats_left.other": "{count} seats left",
    "events.sold_out": "SOLD OUT",
    "events.no_price": "no tickets yet",
    "card.header": "<b>{title}</b>",
    "card.where_when": "📍 {venue}\n🗓 {when}",
    "card.tickets": "<b>Tickets</b>",
    "card.offer": "• {name} — {price} · {seats}",
    "card.offer_sold_out": "• {name} — {price} · <b>SOLD OUT</b>",
    "card.seats_left": "{count} left",
    "card.limit_reached": "\n<i>You already have the maximum number of {name} tickets.</i>",
    "card.not_on_sale": "\n<i>Ticket sales for this event are closed.</i>",
    "card.lottery": "\n<i>Tickets for this event are allocated by lottery.</i>",
    "card.cancelled": "\n<b>This event has been cancelled.</b>",
    "card.button": "{name} · {price}",
    "card.button_sold_out": "{name} · sold out",
    "card.button_limit": "{name} · limit reached",
    # --- lottery ------------------------------------------------------------------------------
    "lottery.window": (
        "🎲 <b>Lottery</b>: entries open {opens} – close {closes}; draw {draw}"
    ),
    "lottery.seats": "• {name} — {price} · {seats} seats",
    "lottery.tally": "{entries} so far ({tickets} asked)",
    "lottery.entries.one": "1 entry",
    "lottery.entries.other": "{count} entries",
    "lottery.tickets.one": "1 ticket",
    "lottery.tickets.other": "{count} tickets",
    "lottery.how": (
        "<i>Pay the full price to enter. If you are not drawn you get every cent back "
        "automatically, with no action needed. Everyone has the same chance, whenever they "
        "enter.</i>"
    ),
    "lottery.phase.not_yet_open": "⏳ Entries open on {opens}.",
    "lottery.phase.open": "Pick a ticket type below to enter. One entry per account.",
    "lottery.phase.closed": "Entries are closed. The draw is on {draw}.",
    "lottery.phase.drawn": "Entries are closed and the draw has taken place.",
    "lottery.mine.entered": (
        "✅ <b>Your entry</b>: {quantity} × {ticket_type} ({total}) — in the draw."
    ),
    "lottery.mine.won": (
        "🎉 <b>Your entry</b>: {quantity} × {ticket_type} — won! Your tickets are under "
        "/mytickets."
    ),
    "lottery.mine.lost": (
        "<b>Your entry</b>: {quantity} × {ticket_type} — not selected, refunded {total}."
    ),
    "lottery.button": "Enter · {name} · {price}",
    "lottery.fairness": (
        "🔐 Draw commitment <code>{commitment}</code>. Check it later: /fairness {event_id}"
    ),
    "lottery.my_ref": "Your public reference: <code>{ref}</code>{position}",
    "lottery.my_position": " · drawn at position {position}",
    "fairness.title": "🔐 <b>How the draw of {event} is fair</b>",
    "fairness.commitment": (
        "Before entries opened we fixed a secret 256-bit seed and published its SHA-256:\n"
        "<code>{commitment}</code>"
    ),
    "fairness.beacon": (
        "The draw also mixes in public beacon round {round} ({url}), fixed while entries "
        "were open: nobody, not even the organizer, can know the result in advance."
    ),
    "fairness.beacon_value": "Beacon value: <code>{value}</code>",
    "fairness.list_open": "Entries are open. The entry list is frozen and its hash published "
                          "at the close.",
    "fairness.list_hash": (
        "Frozen entry list (reference, quantity, ticket type) at the close, SHA-256:\n"
        "<code>{list_hash}</code>"
    ),
    "fairness.drawn": (
        "The draw is done and the seed revealed. /audit {event_id} sends the audit file; "
        "anyone can recompute it with <code>ticketq verify-draw FILE</code> or the algorithm "
        "in docs/draw.md."
    ),
    "fairness.pending": "The seed is revealed right after the draw on {draw}.",
    "fairness.usage": "Usage: /fairness &lt;event id&gt; (the id is in the event's link).",
    "audit.caption": (
        "Audit of the draw for {event}. Verify it yourself: <code>ticketq verify-draw "
        "{filename}</code>"
    ),
    "audit.usage": "Usage: /audit &lt;event id&gt;",
    "phone.ask": (
        "📱 This lottery allows one entry per person. Please share your phone number with the "
        "button below (only your own contact is accepted; we keep a one-way fingerprint, "
        "never the number)."
    ),
    "phone.button": "📱 Share my phone number",
    "phone.verified": (
        "✅ Thanks, your phone is verified: you can enter lotteries that allow one entry per "
        "person."
    ),
    "error.phone_required": "This lottery needs a verified phone: one entry per person.",
    "error.phone_not_own": (
        "That is not your own contact. I use contacts for one thing only: when a lottery "
        "allows one entry per person, I show a “📱 Share my phone number” button, which "
        "shares your own contact. /help shows what else I can do."
    ),
    "error.phone_already_entered": (
        "This phone number is already entered in this lottery: one entry per person."
    ),
    "lottery.picker": (
        "<b>{event}</b>\n🎲 How many <b>{ticket_type}</b> tickets do you want to enter for? "
        "{price} each, up to {max}.\n"
        "<i>One entry per account; you win all N tickets or none.</i> You pay the full price "
        "now and get every cent back if you are not drawn."
    ),
    "lottery.entry_started": (
        "🎲 Entry started: {quantity} × {ticket_type} for <b>{event}</b>, {total}.\n"
        "Pay the invoice below to be in the draw on {draw}. Full refund if you are not "
        "selected."
    ),
    "invoice.lottery_description": (
        "Full refund if not selected. Lottery entry: {quantity} × {ticket_type} · "
        "draw {draw} · {venue}"
    ),
    "invoice.lottery_label": "{quantity} × {ticket_type} (lottery entry)",
    # --- purchase -----------------------------------------------------------------------------
    "picker.prompt": (
        "<b>{event}</b>\nHow many <b>{ticket_type}</b> tickets? {price} each.\n"
        "<i>You can pick up to {max}.</i>"
    ),
    "hold.placed": (
        "✅ {quantity} × {ticket_type} for <b>{event}</b> reserved: {total}.\n"
        "Your seats are held for {duration} — pay the invoice below to get your tickets."
    ),
    "hold.released": "Your hold was cancelled and the seats went back on sale.",
    "hold_screen.paid": (
        "✅ Paid: {quantity} × {ticket_type} for <b>{event}</b>, {total}.\n"
        "Your tickets are in this chat, one QR code each, and under /mytickets."
    ),
    "hold_screen.expired": (
        "⌛ Your hold on {quantity} × {ticket_type} for <b>{event}</b> expired: these seats "
        "are no longer reserved for you. Pick again from /events."
    ),
    "hold_screen.released": (
        "This hold on {quantity} × {ticket_type} for <b>{event}</b> was released (you picked "
        "again or cancelled it): its seats went back on sale."
    ),
    "hold_screen.rejected": (
        "This hold on {quantity} × {ticket_type} for <b>{event}</b> could not be honoured, "
        "so your payment for it is being refunded in full."
    ),
    "picker.sold_out": "😔 <b>{ticket_type}</b> for <b>{event}</b> just sold out.",
    "picker.fewer_left": (
        "<b>{event}</b>\nOnly {seats} of <b>{ticket_type}</b> left now, {price} each. "
        "How many do you want?"
    ),
    "hold.already_paid": (
        "This order is already paid, so there is nothing to cancel: your tickets are in this "
        "chat and under /mytickets."
    ),
    "invoice.title": "{event}",
    "invoice.description": "{quantity} × {ticket_type} · {when} · {venue}",
    "invoice.label": "{quantity} × {ticket_type}",
    "payment.delayed": (
        "We received your payment but could not process it just now. Don't pay again: "
        "your tickets (or a refund) will follow as soon as it is sorted out."
    ),
    "precheckout.timeout": "We could not confirm your seats in time. Please try again.",
    # --- tickets ------------------------------------------------------------------------------
    "ticket.caption": (
        "🎟 <b>{event}</b>\n{ticket_type}\n🗓 {when}\n📍 {venue}\n"
        "Code: <code>{code}</code>\n<i>Show this QR code at the door.</i>"
    ),
    "ticket.revoked": "\n<b>⚠️ This ticket is no longer valid.</b>",
    "mytickets.title": "<b>Your tickets</b>",
    "mytickets.count": "<b>Your tickets and entries</b> ({count})",
    "mytickets.empty": "You have no upcoming tickets. Find an event with /events.",
    "mytickets.item": "• <b>{event}</b> — {ticket_type}\n  {when} · <code>{code}</code>",
    "mytickets.hint": "\nTap a ticket to get its QR code again.",
    "mytickets.button": "{event} · {ticket_type} · {code}",
    "mytickets.give_button": "🎁 Give {code} to a friend",
    "mytickets.entries_title": "<b>Your lottery entries</b>",
    "mytickets.entry": "• <b>{event}</b> — {quantity} × {ticket_type}: {status}",
    "mytickets.entry.entered": "in the draw on {draw}",
    "mytickets.entry.won": "won — your tickets are below",
    "mytickets.entry.lost": "not selected — refunded {amount}",
    "mytickets.entry.position": " (draw position #{position})",
    "mytickets.entry_button": "🎲 {event}",
    # --- transfers (handlers/transfers.py) -----------------------------------------------------
    "transfer.link": (
        "🎁 To give your <b>{event}</b> ticket ({ticket_type}) to a friend, send them this "
        "link:\n{link}\n\nIt works once, until {expires}. When they accept, they get a new "
        "QR code and yours stops working. Changed your mind? Withdraw the link below."
    ),
    "transfer.button.withdraw": "✖️ Withdraw this link",
    "transfer.withdrawn": (
        "This link was withdrawn: nobody can use it now. The ticket stays yours."
    ),
    "transfer.someone": "Someone",
    "transfer.offer": (
        "🎁 {giver} is giving you a ticket:\n<b>{event}</b> — {ticket_type}\n🗓 {when}\n"
        "📍 {venue}\n\nAccept it to get your own QR code; theirs stops working."
    ),
    "transfer.button.accept": "✅ Accept the ticket",
    "transfer.accepted": (
        "✅ Accepted: the <b>{event}</b> ticket ({ticket_type}) is yours. Its QR code follows "
        "and is under /mytickets."
    ),
    "transfer_received": (
        "🎟 {giver} gave you a ticket for <b>{event}</b> ({ticket_type}).\n🗓 {starts}\n"
        "📍 {venue}\nYour own QR code follows; show it at the door."
    ),
    "transfer_done": (
        "🎁 {friend} accepted your ticket for <b>{event}</b> ({ticket_type}). Your old QR "
        "code no longer works; the ticket is theirs now."
    ),
    # --- admin --------------------------------------------------------------------------------
    "import.hint": (
        "Send me the event as a YAML or JSON document (up to {max_kb} KB). Example:\n"
        "<pre>title: Winter Gala\nvenue: Town Hall\nstarts_at: 2026-12-12T21:00\n"
        "timezone: Europe/Berlin\ncurrency: EUR\nticket_types:\n"
        "  - name: GA\n    price: \"25.00\"\n    capacity: 200\n    per_user_limit: 4</pre>"
    ),
    "import.image": (
        "That is a picture, not an event file. Send the event as a YAML or JSON document; "
        "/import shows an example."
    ),
    "import.not_admin": (
        "Thanks for the file! Only organizers can import events, so I did not read it."
    ),
    "import.too_large": "That file is too large ({size_kb} KB). The limit is {max_kb} KB.",
    "import.unreadable": "I could not read that file as YAML or JSON: {reason}",
    "import.failed_download": "I could not download that file. Please send it again.",
    "import.created": (
        "✅ Event #{event_id} <b>{title}</b> created ({status}). "
        "Deep link: {link}"
    ),
    "import.issues": "The event was not created. Please fix these problems:\n{issues}",
    "import.more_issues": "… and {count} more",
    "stats.usage": "Usage: /stats &lt;event id&gt;",
    "stats.header": "<b>{title}</b> (#{event_id}) — {when}",
    "stats.type": "• {name}: {sold}/{capacity} sold, {held} held, {available} left — {revenue}",
    "stats.total": "Total: {sold} tickets, {revenue}",
    "stats.refunds": "Refunds {status}: {count} ({amount})",
    "stats.lottery": "<b>🎲 Lottery</b> ({state})",
    "stats.lottery_entries": (
        "Entries: {entries}, {tickets_asked} tickets asked for {seats} seats — "
        "{oversubscription} oversubscribed"
    ),
    "stats.lottery_winners": "Winners: {winners} entries, {tickets_won} tickets",
    "stats.lottery_paid": "Paid in: {paid} · still held: {held}",
    "stats.lottery_refunds": (
        "Refunds: {done} done ({done_amount}), {pending} pending ({pending_amount}), "
        "{failed} failed ({failed_amount})"
    ),
    "stats.checkins": "🚪 Check-ins: {checked_in} of {sold} checked in",
    "stats.after_sale": (
        "🔁 After the sale: {returns} returned ({resold} resold) · waiting list {waiting} · "
        "offers {offers} ({paid} paid, {lapsed} lapsed)"
    ),
    "stats.cancelled": "<b>🛑 Cancelled</b>",
    "stats.transfers": (
        "🎁 Transfers: {count} tickets changed hands (allowed until {until}, at most {most} "
        "per ticket)"
    ),
    "stats.transfers_off": "🎁 Transfers: {count} (holders may not pass tickets on)",
    # --- organizer console (handlers/console.py) ----------------------------------------------
    "console.usage": "Usage: /{command} &lt;event id&gt; (/myevents lists your events)",
    "console.invite_accepted.organizer": (
        "🎉 You are now an organizer. /myevents lists your events with their buttons; "
        "/help shows the organizer commands."
    ),
    "console.invite_accepted.staff": (
        "🎉 You are now door staff for <b>{event}</b>.\n"
        "Scan a ticket's QR code with your phone camera, send me a photo of it, or type "
        "/checkin &lt;code&gt;. /door shows how many are in."
    ),
    "console.organizer_invite": (
        "🔗 Organizer invite, single use, valid until {expires}:\n{link}\n\n"
        "Send it to the person who should become an organizer."
    ),
    "console.staff_invite": (
        "🔗 Door staff invite for <b>{event}</b>, single use, valid until {expires}:\n{link}\n\n"
        "Send it to the person who checks tickets at the door."
    ),
    "console.button.withdraw_invite": "✖️ Withdraw this invite",
    "console.invite_withdrawn": "This invite link was withdrawn; nobody can use it now.",
    "console.organizers_title": "<b>Organizers</b> ({count})",
    "console.organizers_empty": "No organizers yet. /invite_organizer creates an invite link.",
    "console.person": "• {name} (id {user_id}), since {since}",
    "console.button.revoke": "✖️ Revoke {name}",
    "console.revoked": "Done: {name} no longer has that role.",
    "console.not_holding": "That person does not have that role (any more).",
    "console.staff_title": "<b>Door staff for {event}</b> (#{event_id})",
    "console.staff_empty": "Nobody yet. Tap “Staff invite” to create an invite link.",
    "console.events_title": "<b>Your events</b> ({count})",
    "console.events_empty": "You have no events yet.",
    "console.event_ref": "event #{event_id}",
    "console.event_button": "{title} · #{event_id}",
    "console.button.back_to_events": "⬅️ All my events",
    "console.button.back_to_event": "⬅️ Back to the event",
    "console.event": "<b>{title}</b> (#{event_id})\n🗓 {when} · {status}",
    "console.button.stats": "📊 Stats",
    "console.button.dashboard": "📈 Dashboard",
    "console.button.export": "📄 Export",
    "console.button.staff_invite": "🔗 Staff invite",
    "console.button.staff_list": "👥 Staff",
    "console.button.cancel": "🛑 Cancel event",
    "console.export_caption": "📄 <b>{title}</b> (#{event_id}): tickets, orders and check-ins",
    "console.cancel_confirm": (
        "⚠️ Cancel <b>{title}</b> ({when})?\n\n"
        "{sold} tickets sold. Every payment is refunded in full, every ticket is revoked and "
        "every holder is told. This cannot be undone."
    ),
    "console.cancel_yes": "Yes, cancel and refund everyone",
    "console.refund_usage": (
        "Usage: /refund_ticket &lt;code&gt; &lt;reason&gt; (the code under the ticket's QR, "
        "e.g. K7QH-3MZP) or /refund_order &lt;order id&gt; &lt;reason&gt; (/export lists "
        "both). The reason is required: the buyer reads it."
    ),
    "console.refunded": (
        "💸 Refund of {amount} queued for {tickets} of <b>{event}</b>: revoked at the door, "
        "back on sale, the buyer told. /stats {event_id} shows it when done."
    ),
    "console.cancel_no": "No",
    "console.cancel_kept": "Nothing changed: <b>{title}</b> goes ahead.",
    "console.cancelled": (
        "🛑 <b>{title}</b> cancelled: {refunds} refunds queued, {revoked} tickets revoked, "
        "{told} holders told.\n/stats {event_id} shows the refunds as they complete."
    ),
    # --- door check-in (handlers/door.py) -----------------------------------------------------
    "door.valid": (
        "✅✅✅ <b>VALID</b> ✅✅✅\n\n<b>{event}</b>\n🎫 {ticket_type}\n👤 {holder}\n\n"
        "checked in {checked_in} / {sold}"
    ),
    "door.already_used": (
        "⛔⛔⛔ <b>ALREADY USED</b> ⛔⛔⛔\n\nFirst scanned {when} by {staff}.\n\n"
        "<b>{event}</b>\n🎫 {ticket_type}\n👤 {holder}"
    ),
    "door.revoked": (
        "⛔⛔⛔ <b>REVOKED</b> ⛔⛔⛔\n\nThis ticket is no longer valid (it was refunded).\n\n"
        "<b>{event}</b>\n🎫 {ticket_type}"
    ),
    "door.revoked.refunded": (
        "⛔⛔⛔ <b>REVOKED</b> ⛔⛔⛔\n\nThis ticket is no longer valid: it was refunded.\n\n"
        "<b>{event}</b>\n🎫 {ticket_type}"
    ),
    "door.revoked.transferred": (
        "⛔⛔⛔ <b>REVOKED</b> ⛔⛔⛔\n\nThis ticket is no longer valid: it was transferred to "
        "someone else, whose new QR code replaces it. Do not admit.\n\n"
        "<b>{event}</b>\n🎫 {ticket_type}"
    ),
    "door.revoked.returned": (
        "⛔⛔⛔ <b>REVOKED</b> ⛔⛔⛔\n\nThis ticket is no longer valid: its holder returned it "
        "and the seat was resold to someone on the waiting list. Do not admit.\n\n"
        "<b>{event}</b>\n🎫 {ticket_type}"
    ),
    "door.revoked.cancelled": (
        "⛔⛔⛔ <b>REVOKED</b> ⛔⛔⛔\n\nThis ticket is no longer valid: the event was "
        "cancelled.\n\n<b>{event}</b>\n🎫 {ticket_type}"
    ),
    "door.cancelled": (
        "⛔⛔⛔ <b>EVENT CANCELLED</b> ⛔⛔⛔\n\n<b>{event}</b> was cancelled; "
        "this ticket is not valid."
    ),
    "door.wrong_event": (
        "⚠️⚠️⚠️ <b>WRONG EVENT</b> ⚠️⚠️⚠️\n\nThis ticket is for <b>{event}</b>, "
        "not for an event you check tickets at. Do not admit here."
    ),
    "door.not_a_ticket": (
        "❌❌❌ <b>NOT A TICKET</b> ❌❌❌\n\nThis is not a valid ticket. Do not admit."
    ),
    "door.usage": (
        "Usage: /checkin &lt;code&gt;, the 8-character code under the ticket's QR code, "
        "e.g. /checkin K7QH-3MZP"
    ),
    "door.not_staff": (
        "This is for door staff only. If you check tickets at an event, ask its organizer "
        "for a staff invite link."
    ),
    "door.photo_not_staff": (
        "Thanks for the photo! I only read photos of ticket QR codes sent by door staff while "
        "checking tickets. Your own tickets are under /mytickets."
    ),
    "door.no_qr": (
        "I could not find a QR code in that photo. Please try again closer, with the whole "
        "code in view and in better light."
    ),
    "door.photo_too_large": (
        "That photo is too large to check ({size_mb} MB). Please send a smaller one."
    ),
    "door.photo_failed": "I could not download that photo. Please send it again.",
    "door.document_hint": (
        "I read ticket QR codes from pictures: send the ticket as a photo (or as an image "
        "file), or type /checkin &lt;code&gt;. Other files are event files, which only "
        "organizers send."
    ),
    "door.title": "<b>🚪 Door</b>",
    "door.event": "• <b>{event}</b> (#{event_id}), {when}: {checked_in} of {sold} checked in",
    "door.open_scanner": "📷 Open the scanner",
    "door.menu_button": "Scanner",
    "door.offline_duplicate": (
        "⚠️ <b>Ticket admitted twice</b> at <b>{event}</b>: <code>{code}</code> was let in at "
        "{first_at} by {first_staff} and again at {second_at} by {second_staff} "
        "(a scanner was offline). Both people are inside."
    ),
    "door.hint": (
        "\nScan a ticket's QR code with your phone camera, send me a photo of it, or type "
        "/checkin &lt;code&gt;."
    ),
    # --- outbox messages (keys queued by core/services) ---------------------------------------
    "payment_confirmed": (
        "🎉 Payment received: {total} for {quantity} × {ticket_type}.\n"
        "<b>{event}</b>\n🗓 {starts}\n📍 {venue}\n"
        "Your tickets follow, one QR code each."
    ),
    "refund_started.seats_gone": (
        "😔 Your hold expired and the seats were sold before your payment arrived. "
        "We are refunding {amount} in full."
    ),
    "refund_started.limit_exceeded": (
        "This payment would take you over the ticket limit for this event, so we are "
        "refunding {amount} in full."
    ),
    "refund_started.duplicate_payment": (
        "This order was already paid, so we are refunding the second payment of {amount}."
    ),
    "refund_started.unmatched_payment": (
        "We could not match this payment to an order, so we are refunding {amount} in full."
    ),
    "refund_started.event_cancelled": (
        "Ticket sales for this event have ended or it was cancelled. "
        "We are refunding {amount} in full."
    ),
    "refund_started.lottery_not_selected": (
        "You were not drawn in the lottery this time. We are refunding {amount} in full."
    ),
    "refund_started.entry_too_late": (
        "Your lottery entry arrived after entries closed. We are refunding {amount} in full."
    ),
    "refund_started.unclaimed_charge": (
        "We received a payment of {amount} from you that we could not process, so we are "
        "refunding it in full. Sorry for the trouble; you are welcome to buy again."
    ),
    "admin.charge_unexplained": (
        "⚠️ Reconciliation: Stripe charge <code>{charge}</code> of {amount} ({when}) matches "
        "no payment in TicketQ. Automatic refunds are off: please look into it."
    ),
    "admin.charge_refunded": (
        "⚠️ Reconciliation: Stripe charge <code>{charge}</code> of {amount} ({when}) matches "
        "no payment in TicketQ, so it is being refunded in full. Payer's chat: {payer}."
    ),
    "refund_started.organizer_refund": (
        "The organizer is refunding {amount} to you in full."
    ),
    "ticket_refunded": (
        "💸 The organizer of <b>{event}</b> refunded {quantity} × {ticket_type} ({codes}): "
        "{amount} is on its way back to you. Their reason: {reason}\n"
        "These tickets no longer admit anyone."
    ),
    "ticket_refunded_holder": (
        "⚠️ Your <b>{event}</b> ticket {codes} ({ticket_type}) was refunded by the organizer "
        "to the person who paid for it, so it no longer admits you. Their reason: {reason}"
    ),
    "refund_done": "💸 Your refund of {amount} has been issued. It may take a few days to show.",
    "lottery_entered": (
        "🎟 You are in the draw for <b>{event}</b>: {quantity} × {ticket_type}, {total} paid.\n"
        "The draw is on {draw_at}. If you are not selected, you get every cent back "
        "automatically."
    ),
    "lottery_won": (
        "🎉 You won the lottery for <b>{event}</b>! {quantity} × {ticket_type} ({total}).\n"
        "🗓 {starts}\n📍 {venue}\nYour tickets follow, one QR code each."
    ),
    "event_cancelled": (
        "⚠️ <b>{event}</b> ({starts}) has been cancelled by the organizer. Your tickets are no "
        "longer valid and every payment is being refunded in full automatically; you will get "
        "a message for each refund."
    ),
    "reminder": (
        "⏰ Reminder: <b>{event}</b> starts in {hours} hours — {starts}, {venue}.\n"
        "Your ticket QR codes follow; show one at the door."
    ),
    "lottery_not_selected": (
        "Not selected this time, sorry. Your {amount} has been refunded in full; it may take "
        "a few days to show."
    ),
    "refund_needs_attention": (
        "We could not complete your refund of {amount} automatically. The organizer has "
        "been notified and will sort it out personally."
    ),
    # --- event wizard (handlers/wizard.py) -----------------------------------------------------
    "wizard.started_new": (
        "🛠 <b>New event</b>. I ask one question at a time: answer in a message or tap a "
        "button. /back goes back, /skip keeps a value, /cancel leaves without saving anything."
    ),
    "wizard.started_edit": (
        "🛠 <b>Editing</b> {title} (#{event_id}). Each question shows the current value; "
        "Skip keeps it. /cancel leaves without changing anything."
    ),
    "wizard.replaced": "<i>Your unfinished draft was discarded.</i>",
    "wizard.text_only": (
        "✍️ I need a typed answer here (or a tap on a button). /cancel leaves the wizard."
    ),
    "wizard.locked": (
        "⚠️ Lottery entries have opened, so the sale mode, the entry window and draw, the "
        "ticket types, prices and seats are fixed: entrants paid under them. You can still "
        "change the title, description, venue, start and per-person limits."
    ),
    "wizard.ask.title": "📝 What is the event's <b>title</b>? (up to {max} characters)",
    "wizard.ask.description": (
        "📄 A short <b>description</b> (up to {max} characters). Send - or tap Skip for none."
    ),
    "wizard.ask.venue": "📍 Where is the <b>venue</b>?",
    "wizard.ask.timezone": (
        "🌍 The venue's <b>time zone</b>? Tap one or type an IANA name like Europe/Berlin."
    ),
    "wizard.ask.starts_at": (
        "🗓 When does it <b>start</b>, local time in {timezone}? "
        "For example 2026-12-12 21:00 or 12.12.2026 21:00."
    ),
    "wizard.ask.type_name": (
        "🎟 Ticket type {number}: its <b>name</b>? (for example GA or VIP, up to {max} "
        "characters)"
    ),
    "wizard.ask.type_price": "💶 The <b>price</b> of {name}? For example 25.00.",
    "wizard.ask.type_currency": "💱 The <b>currency</b> of {name}? Three letters, like EUR.",
    "wizard.ask.type_capacity": "🔢 How many {name} tickets are there (<b>capacity</b>)?",
    "wizard.ask.type_limit": "👤 How many {name} tickets may <b>one person</b> buy? (1–{max})",
    "wizard.ask.more_types": (
        "🎟 Ticket types so far: {names}. <b>Add another</b> type, or <b>done</b>?"
    ),
    "wizard.ask.sale_mode": (
        "🛒 <b>Sale mode</b>: <i>direct</i> (first come, first served) or <i>lottery</i> "
        "(people enter and pay, a fair draw picks the winners, everyone else is refunded)?"
    ),
    "wizard.ask.lottery_opens": (
        "🎲 When do lottery <b>entries open</b>? Local time, like 2026-11-01 10:00."
    ),
    "wizard.ask.lottery_closes": "🎲 When do <b>entries close</b>? Local time.",
    "wizard.ask.lottery_draw": (
        "🎲 When is the <b>draw</b>? Not before the close, and before the event starts."
    ),
    "wizard.ask.lottery_max": "🎲 How many tickets may one <b>entry</b> ask for? (1–{max})",
    "wizard.ask.lottery_beacon": (
        "🎲 Mix a public randomness <b>beacon</b> into the draw, so that nobody (not even "
        "you) can know the result in advance? Yes or no."
    ),
    "wizard.current": "Now: <b>{value}</b> — Skip keeps it.",
    "wizard.default": "Skip: {value}.",
    "wizard.issue": "⚠️ {field}: {problem}",
    "wizard.issue_sentence": "⚠️ {problem}",
    "wizard.issue.use_buttons": (
        "Please use the buttons: Publish, Save as draft, Back or Cancel."
    ),
    "wizard.issue.sale_mode_locked": (
        "cannot change once tickets are sold or lottery entries are in"
    ),
    "wizard.issue.lottery_locked": (
        "cannot change: lottery entries have opened and entrants paid under these terms"
    ),
    "wizard.issue.types_removed": "ticket types cannot be removed from an existing event",
    "wizard.field.title": "Title",
    "wizard.field.description": "Description",
    "wizard.field.venue": "Venue",
    "wizard.field.timezone": "Time zone",
    "wizard.field.starts_at": "Start",
    "wizard.field.type_name": "Ticket type {number} name",
    "wizard.field.type_price": "Price of ticket type {number}",
    "wizard.field.type_currency": "Currency of ticket type {number}",
    "wizard.field.type_capacity": "Capacity of ticket type {number}",
    "wizard.field.type_limit": "Limit per person of ticket type {number}",
    "wizard.field.more_types": "Ticket types",
    "wizard.field.sale_mode": "Sale mode",
    "wizard.field.lottery_opens": "Entries open",
    "wizard.field.lottery_closes": "Entries close",
    "wizard.field.lottery_draw": "Draw",
    "wizard.field.lottery_max": "Tickets per entry",
    "wizard.field.lottery_beacon": "Beacon",
    "wizard.field.preview": "Event",
    "wizard.choice.add": "➕ Add another type",
    "wizard.choice.done": "✅ Done",
    "wizard.choice.direct": "🛒 Direct sale",
    "wizard.choice.lottery": "🎲 Lottery",
    "wizard.choice.yes": "Yes",
    "wizard.choice.no": "No",
    "wizard.no_description": "no description",
    "wizard.button.back": "⬅️ Back",
    "wizard.button.skip": "⏭ Skip",
    "wizard.button.cancel": "✖️ Cancel",
    "wizard.button.publish": "✅ Publish",
    "wizard.button.save_draft": "💾 Save as draft",
    "wizard.preview_head": "👀 <b>Preview</b> — exactly what attendees will see:",
    "wizard.transfers_on": (
        "🎁 Holders may give a ticket to a friend (a new QR code replaces theirs) until "
        "{until}, at most {most} times per ticket."
    ),
    "wizard.transfers_off": "🎁 Tickets stay with their buyers: they cannot be given away.",
    "wizard.button.transfers_on": "🎁 Allow giving tickets to friends",
    "wizard.button.transfers_off": "🎁 Do not allow giving tickets away",
    "wizard.issue.transfers_bound": (
        "this lottery verifies phones, so its tickets stay with the winners"
    ),
    "wizard.preview_foot": (
        "Publish it now, save it as a draft (hidden from attendees), go back to change "
        "something, or cancel."
    ),
    "wizard.problems": "It cannot be saved yet:\n{issues}",
    "wizard.published": "✅ <b>{title}</b> (#{event_id}) is published. Link: {link}",
    "wizard.saved_draft": (
        "💾 <b>{title}</b> (#{event_id}) is saved, hidden from attendees. "
        "/publish {event_id} when it is ready."
    ),
    "wizard.cancelled": "Wizard closed: nothing was saved.",
    "wizard.nothing_to_cancel": "There is nothing to cancel.",
    "wizard.none": "No event wizard is open. Start one with /newevent.",
    "wizard.edit_usage": "Usage: /editevent &lt;event id&gt; (/myevents lists your events)",
    "wizard.publish_usage": "Usage: /publish &lt;event id&gt;",
    "wizard.unpublish_usage": "Usage: /unpublish &lt;event id&gt;",
    "wizard.event_published": "✅ <b>{title}</b> (#{event_id}) is published. Link: {link}",
    "wizard.event_unpublished": (
        "🙈 <b>{title}</b> (#{event_id}) is unpublished: hidden from /events. Tickets already "
        "sold stay valid."
    ),
    # --- domain errors ------------------------------------------------------------------------
    "error.event_not_found": "That event does not exist or is no longer listed.",
    "error.event_not_on_sale": "Tickets for this event are not on sale right now.",
    "error.ticket_type_not_found": "That ticket type no longer exists.",
    "error.invalid_currency": "“{currency}” is not a valid currency code.",
    "error.currency_mismatch": "Amounts in {left} and {right} cannot be combined.",
    "error.invalid_event_spec": "The event file has problems:\n{issues}",
    "error.invalid_quantity": "Please pick at least one ticket.",
    "error.entry_quantity_too_high": "You can enter for at most {limit} tickets.",
    "error.entry_quantity_too_high.one": "You can enter for at most 1 ticket.",
    "error.sold_out": "😔 Sorry, this ticket type just sold out.",
    "error.not_enough_seats": "Only {available} seats are left. Please pick fewer.",
    "error.not_enough_seats.one": "Only 1 seat is left. Please pick fewer.",
    "error.user_limit_reached": "You already have the maximum of {limit} tickets of this type.",
    "error.user_limit_reached.one": "You already have the maximum of 1 ticket of this type.",
    "error.user_limit_reached.remaining": (
        "You can buy at most {limit} tickets of this type; {remaining} more for you."
    ),
    "error.user_limit_reached.remaining.one": (
        "You can buy at most 1 ticket of this type; {remaining} more for you."
    ),
    "error.order_not_found": "We could not find that order. Please start again from /events.",
    "error.invoice_not_yours": "This invoice belongs to someone else; no money was taken.",
    "error.order_not_payable": "This order can no longer be paid. Please start a new one.",
    "error.hold_expired": "Your hold expired. Please pick your tickets again.",
    "error.amount_mismatch": "The amount does not match your order. Please start a new one.",
    "error.ticket_not_found": "We could not find that ticket.",
    "error.ticket_not_valid": "This ticket is no longer valid, so it cannot be given away.",
    "error.ticket_already_used": (
        "This ticket was already used at the door, so it cannot be given away."
    ),
    "error.transfers_off": "The organizer does not allow tickets of this event to be given away.",
    "error.transfers_closed": "Tickets of this event can no longer be given away.",
    "error.transfer_limit_reached": (
        "This ticket has been passed on as often as the organizer allows."
    ),
    "error.claim_not_found": "This ticket link is not valid.",
    "error.claim_used": "This ticket link was already used: the ticket has been accepted.",
    "error.claim_expired": (
        "This ticket link has expired. Ask your friend to send you a new one."
    ),
    "error.claim_cancelled": "The sender withdrew this ticket link; the ticket stays theirs.",
    "error.claim_own_ticket": (
        "This is your own ticket's link: send it to the friend you are giving it to."
    ),
    "error.refund_reason_required": "Please give a reason for the refund.",
    "error.nothing_to_refund": "There is nothing left to refund there.",
    "error.not_allowed": "Sorry, only organizers can do that.",
    "error.entries_not_open": "Entries for this lottery open on {opens}.",
    "error.entries_closed": "Entries for this lottery are closed.",
    "error.already_entered": (
        "You are already in this draw: one entry per account. /mytickets shows your entry."
    ),
    "error.entry_not_found": "We could not find that entry. Please start again from /events.",
    "error.not_a_lottery": "This event is not a lottery.",
    "error.draw_not_done": "The draw has not happened yet; its audit is published after it.",
    "error.invite_not_found": "This invite link is not valid.",
    "error.invite_used": "This invite link was already used. Ask for a new one.",
    "error.invite_expired": "This invite link has expired. Ask for a new one.",
    "error.invite_revoked": "This invite link was withdrawn.",
    "error.event_already_cancelled": "This event is already cancelled.",
    "error.invalid_language": "I do not speak that language yet.",
    "error.capacity_below_sold": (
        "{name} already has {sold} tickets sold, so its capacity cannot go below {sold}."
    ),
    "error.lottery_locked": (
        "Lottery entries have opened, so this lottery must stay as it is: entrants paid under "
        "its terms. You can still edit its title, description, venue and start, or cancel it "
        "with /cancel_event."
    ),
    # --- event file issues (plain text: also printed by the CLI) ------------------------------
    "spec.document": "document",
    "spec.required": "is required",
    "spec.not_text": "must be text",
    "spec.too_long": "must be at most {max} characters (it has {length})",
    "spec.not_integer": "must be a whole number (got {value})",
    "spec.out_of_range": "must be between {min} and {max} (got {value})",
    "spec.unknown_timezone": "unknown time zone “{value}” (use an IANA name like Europe/Berlin)",
    "spec.bad_datetime": "must be a date and time like 2026-12-12T21:00 (got {value})",
    "spec.bad_price": "must be a decimal amount like 25.00 (got {value})",
    "spec.too_many_decimals": "has too many decimals: this currency allows {decimals} ({value})",
    "spec.required_list": "must be a non-empty list",
    "spec.too_many": "has too many entries (at most {max})",
    "spec.not_mapping": "must be a mapping of fields (key: value)",
    "spec.duplicate_name": "“{value}” is used twice",
    "spec.bad_currency": "must be a three-letter currency code like EUR (got {value})",
    "spec.unsupported_currency": (
        "{value} cannot be sold here: payments go through Stripe, which cannot refund it"
    ),
    "spec.mixed_currencies": "all ticket types must use the same currency (got {values})",
    "spec.bad_choice": "must be one of {choices} (got {value})",
    "spec.not_boolean": "must be true or false (got {value})",
    "spec.in_past": "must be in the future",
    "spec.required_for_lottery": "is required when sale_mode is lottery",
    "spec.close_before_open": "must be after entries_open_at",
    "spec.draw_before_close": "must not be before entries_close_at",
    "spec.draw_after_start": "must be before the event starts",
    "spec.phone_bound": (
        "must be false: this lottery verifies phones, so its tickets stay with the winners"
    ),
    "spec.transfer_after_start": "must not be after the event starts",
    "spec.bad_language": "must be a language code like en or de (got {value})",
    "spec.unknown": "is invalid ({code})",
}

# Message keys the services put into the outbox (``{"key": ..., "params": ...}``).
OUTBOX_KEYS: frozenset[str] = frozenset(
    {"payment_confirmed", "refund_done", "refund_needs_attention", "lottery_entered",
     "admin.charge_refunded", "admin.charge_unexplained",
     "lottery_won", "lottery_not_selected", "event_cancelled", "reminder",
     "hold_screen.paid", "hold_screen.expired", "hold_screen.released", "hold_screen.rejected",
     "waitlist.offer", "waitlist.second_chance", "waitlist.lapsed", "return.offered",
     "return.lapsed_kept", "group.won", "group.lost", "group.joined_lead",
     "return.resold", "invoice.title", "invoice.offer_description", "invoice.label",
     "transfer_received", "transfer_done", "ticket_refunded", "ticket_refunded_holder"}
    | {f"refund_started.{reason.value}" for reason in RefundReason}
)

_PLURALS: dict[str, tuple[str, str]] = i18n.plural_groups(TEXTS)
_PLURAL_MEMBER: dict[str, str] = i18n.plural_member(TEXTS)

SPEC_CODES: frozenset[str] = frozenset({
    "required", "not_text", "too_long", "not_integer", "out_of_range", "unknown_timezone",
    "bad_datetime", "bad_price", "too_many_decimals", "required_list", "too_many",
    "not_mapping", "duplicate_name", "bad_currency", "unsupported_currency",
    "mixed_currencies", "bad_choice",
    "not_boolean", "in_past", "required_for_lottery", "close_before_open",
    "draw_before_close", "draw_after_start", "phone_bound", "transfer_after_start",
    "bad_language",
})

_TAG = re.compile(r"<[^>]*>")


class _Params(dict[str, str]):
    """Template parameters; a missing one renders as ``?`` instead of failing a send."""

    key = ""

    def __missing__(self, name: str) -> str:
        log.warning("text %r rendered without parameter %r", self.key, name)
        return "?"


def t(key: str, /, **params: Any) -> str:
    """Render the text ``key`` in the current reader's language (:mod:`handlers.i18n`) with
    ``params`` escaped for Telegram HTML.

    Money renders with :func:`format_money`, aware datetimes with :func:`format_local`,
    numbers with the reader's digit grouping, sequences as comma-separated lists;
    :class:`Html` values are inserted as they are. In a right-to-left language every
    inserted value is bidi-isolated (codes, numbers and names keep their own direction).

    Raises:
        KeyError: for an unknown key (a programming error).
    """
    return _fill(key, _template(key, None), params)


def tn(key: str, count: int, /, **params: Any) -> str:
    """Render the counted text ``key`` (``key.one`` / ``key.other``, or ``key.one`` next to
    ``key``) in the form the reader's language uses for ``count``."""
    return _fill(key, _template(key, count), params)


def _template(key: str, count: int | None) -> str:
    base = _PLURAL_MEMBER.get(key, key if key in _PLURALS else None)
    if base is None:
        return i18n.template(key, TEXTS[key])
    one, other = _PLURALS[base]
    if count is None:
        count = 1 if key == one else 2
    return i18n.plural_template(base, TEXTS[one], TEXTS[other], count)


def _fill(key: str, template: str, params: Mapping[str, Any]) -> str:
    isolate = i18n.get().rtl if params else False
    values = _Params({name: _render(value, name, isolate) for name, value in params.items()})
    values.key = key
    return template.format_map(values)


def plural(key: str, count: int, /, **params: Any) -> Html:
    """The counted text ``key`` for ``count`` in the reader's language (gettext plural forms:
    English "1 minute" / "2 minutes", Russian three forms, Japanese one), filled with
    ``count``."""
    return Html(tn(key, count, count=count, **params))


def page_suffix(page: int, pages: int) -> Html:
    """`` · page 2 of 3`` after a list's title; empty when everything fits on one page.

    Args:
        page: the 0-based page shown.
        pages: how many pages there are.
    """
    return Html(t("list.page", page=page + 1, pages=pages) if pages > 1 else "")


def plain(text: str) -> str:
    """Plain text of rendered HTML: tags dropped, entities decoded."""
    return html.unescape(_TAG.sub("", text))


_to_plain = plain


# Parameters that are identifiers, not quantities: shown as they are, never grouped.
_VERBATIM = frozenset({"event_id", "user_id", "round", "id", "max_kb", "size_kb", "code"})
FSI, PDI = "\u2068", "\u2069"


def _render(value: Any, name: str = "", isolate: bool = False) -> str:
    if isinstance(value, Html):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and name not in _VERBATIM \
            and not name.endswith("_id"):
        text = html.escape(format_number(value), quote=False)
    else:
        text = html.escape(_to_str(value), quote=False)
    return f"{FSI}{text}{PDI}" if isolate and text else text


def isolate(text: str) -> str:
    """``text`` bidi-isolated when the reader's language is written right to left (a code,
    a number or a name in a button or a line of the other direction)."""
    return f"{FSI}{text}{PDI}" if i18n.get().rtl and text else text


def title_of(event: Event) -> str:
    """An event's title in the reader's language (the organizer's translation, else the
    event's own)."""
    return event.text_for(i18n.current.get()).title


def description_of(event: Event) -> str:
    """An event's description in the reader's language (else the event's own)."""
    return event.text_for(i18n.current.get()).description


def _to_str(value: Any) -> str:
    if isinstance(value, LocalText):
        return value.for_language(i18n.current.get())
    if isinstance(value, Money):
        return format_money(value)
    if isinstance(value, datetime):
        return format_local(value)
    if value is None:
        return ""
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_to_str(v) for v in value)
    return str(value)


def format_number(number: int | float | Decimal) -> str:
    """A number as the reader writes it (``1,234`` / ``1.234`` / ``1 234``), with Babel."""
    language = i18n.get()
    if isinstance(number, int) and -1000 < number < 1000 and language.latin_digits:
        return str(number)  # no grouping below a thousand, in every Latin-digit locale
    return format_decimal(number, locale=language.locale)


# Rendering a screen formats the same few prices and start times again and again: the
# formatted texts are kept per reader's language (keys carry the zone: two aware datetimes
# of the same instant in different zones are equal).
_CACHE = 4096


def format_money(money: Money) -> str:
    """An amount as the reader writes it (see :func:`_money_text`)."""
    return _money_text(money.amount, money.currency.upper(), i18n.current.get())


@functools.lru_cache(maxsize=_CACHE)
def _money_text(amount: int, currency: str, language: str) -> str:
    """An amount as the reader writes it, with Babel (CLDR): ``€25.00`` in English,
    ``25,00 €`` in German, ``¥500``, ``12,50 CHF``; Telegram Stars (XTR, no ISO currency)
    as the reader's number, a no-break space and a star: ``500 ⭐``.

    Minor units are turned into a decimal with the currency's exponent (exact, never a
    float), and exactly that many decimals are shown.
    """
    exponent = currency_exponent(currency)
    value = Decimal(amount).scaleb(-exponent)
    locale = i18n.language(language).locale
    if currency == "XTR":
        return f"{format_decimal(value, locale=locale)}\u00a0⭐"
    pattern = _money_pattern(str(locale), exponent)
    return str(pattern.apply(value, locale, currency=currency, currency_digits=False))


@functools.lru_cache(maxsize=64)
def _money_pattern(locale: str, exponent: int) -> NumberPattern:
    """The locale's currency pattern with exactly ``exponent`` decimals."""
    pattern = parse_pattern(Locale.parse(locale).currency_formats["standard"].pattern)
    pattern.frac_prec = (exponent, exponent)
    return pattern


@functools.lru_cache(maxsize=64)
def _skeleton_pattern(locale: str, skeleton: str) -> str:
    """The CLDR pattern a skeleton resolves to in ``locale`` (what ``format_skeleton`` does
    on every call, once)."""
    formats = Locale.parse(locale).datetime_skeletons
    match = match_skeleton(skeleton, formats) or skeleton
    return str(formats[match].pattern) if match in formats else skeleton


def _skeleton(skeleton: str, dt: datetime) -> str:
    locale = i18n.get().locale
    return str(babel_format_datetime(dt, _skeleton_pattern(str(locale), skeleton),
                                     locale=locale))


def format_price_range(low: Money | None, high: Money | None) -> str:
    """``€25.00`` or ``€25.00–€80.00``; empty when there is no price."""
    if low is None or high is None:
        return ""
    if low == high:
        return format_money(low)
    return f"{format_money(low)}–{format_money(high)}"


def format_local(dt: datetime, zone: str | ZoneInfo | None = None) -> str:
    """A time as the reader writes it, with Babel (CLDR), and its zone:
    ``Sat, 12 Dec 2026, 21:00 CET``, ``Sa., 12. Dez. 2026, 21:00 MEZ``,
    ``2026年12月12日(土) 21:00 GMT+01:00``.

    Args:
        dt: an aware datetime (naive ones are shown without a zone).
        zone: convert to this IANA zone first; by default ``dt``'s own zone is kept (use
            ``event.local_start()`` for an event's start: the event's time zone).
    """
    if zone is not None and dt.tzinfo is not None:
        dt = dt.astimezone(zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone))
    return _local_text(dt, str(dt.tzinfo), i18n.current.get())


@functools.lru_cache(maxsize=_CACHE)
def _local_text(dt: datetime, _zone: str, language: str) -> str:
    with i18n.use(language):
        return _local_text_now(dt)


def _local_text_now(dt: datetime) -> str:
    locale = i18n.get().locale
    date = _skeleton("yMMMEd", dt)
    time = format_time(dt, "short", locale=locale)
    text = str(locale.datetime_formats["medium"]).replace("{1}", date).replace("{0}", time)
    if dt.tzinfo is None:
        return text
    return f"{text} {_zone_name(dt)}"


def _zone_name(dt: datetime) -> str:
    """The zone's abbreviation as the reader knows it (CET, MEZ, EST); the GMT offset where
    the language has none (GMT+01:00)."""
    locale = i18n.get().locale
    candidates = [locale] + ([Locale("en")] if locale.language == "en" else [])
    for candidate in candidates:
        name = str(babel_format_datetime(dt, "z", locale=candidate))
        if name and name[0] not in "+-" and " " not in name:
            return name
    return str(get_timezone_gmt(dt, "long", locale=locale))


def format_day(dt: datetime) -> str:
    """A day as a button shows it: ``Fri 18 Jul`` / ``Fr., 18. Juli`` (in ``dt``'s own
    zone), with Babel."""
    return _day_text(dt, str(dt.tzinfo), i18n.current.get())


@functools.lru_cache(maxsize=_CACHE)
def _day_text(dt: datetime, _zone: str, language: str) -> str:
    with i18n.use(language):
        return _skeleton("MMMEd", dt)


def error_text(error: DomainError) -> str:
    """The HTML message for a domain error, filled with its parameters."""
    code = error.code.value if isinstance(error.code, ErrorCode) else str(error.code)
    params = dict(error.params)
    if error.code is ErrorCode.USER_LIMIT_REACHED and params.get("remaining") is not None:
        return tn("error.user_limit_reached.remaining", _count(params.get("limit")),
                  **params)
    if error.code is ErrorCode.INVALID_EVENT_SPEC:
        issues = params.get("issues") or []
        return t("error.invalid_event_spec", issues=Html(spec_issues_text(issues)))
    key = f"error.{code}"
    if key not in TEXTS:
        log.error("no text for error code %r", code)
        return t("error.unexpected")
    counted = _COUNTED_BY.get(error.code) if isinstance(error.code, ErrorCode) else None
    if counted is not None and key in _PLURALS:
        return tn(key, _count(params.get(counted)), **params)
    return t(key, **params)


# Errors whose text counts something: the parameter that decides singular or plural.
_COUNTED_BY: dict[ErrorCode, str] = {
    ErrorCode.NOT_ENOUGH_SEATS: "available",
    ErrorCode.USER_LIMIT_REACHED: "limit",
    ErrorCode.ENTRY_QUANTITY_TOO_HIGH: "limit",
}


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 2


def spec_issue_text(issue: SpecIssue, *, plain: bool = False) -> str:
    """One line per event-file problem: ``ticket_types[0].price: must be a decimal ...``.

    Args:
        issue: the problem.
        plain: plain text for the CLI instead of escaped HTML.
    """
    key = f"spec.{issue.code}" if issue.code in SPEC_CODES else "spec.unknown"
    params = {**issue.params, "code": issue.code}
    message = _template(key, None).format_map(
        _Params({k: _to_str(v) for k, v in params.items()}))
    line = f"{issue.path or _template('spec.document', None)}: {message}"
    return line if plain else html.escape(line, quote=False)


def spec_issues_text(issues: Iterable[SpecIssue], *, plain: bool = False,
                     limit: int = 30) -> str:
    """All issues, one per line, at most ``limit`` lines (then "… and N more")."""
    items = list(issues)
    lines = [f"• {spec_issue_text(issue, plain=plain)}" for issue in items[:limit]]
    if len(items) > limit:
        more = t("import.more_issues", count=len(items) - limit)
        lines.append(_to_plain(more) if plain else more)
    return "\n".join(lines)


def fit(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Cut HTML ``text`` to Telegram's limit as Telegram counts it (UTF-16 units after entity
    parsing), at a line break or inside a line with its tags closed (see
    :func:`handlers.lengths.fit`)."""
    return lengths.fit(text, limit)


# --- composite views ----------------------------------------------------------------------

def event_list_text(page: EventPage) -> str:
    """The event list message for one page."""
    if not page.items:
        return t("events.empty")
    head = t("events.title")
    if page.pages > 1:
        head += t("events.page", page=page.page + 1, pages=page.pages)
    return fit("\n\n".join([head, *(_summary_text(s) for s in page.items)]))


def _summary_text(item: EventSummary) -> str:
    event = item.event
    price = format_price_range(item.price_min, item.price_max) or t("events.no_price")
    seats = (t("events.sold_out") if item.sold_out
             else plural("events.seats_left", item.available))
    return t("events.item", title=title_of(event), when=event.local_start(), venue=event.venue,
             price=price, seats=Html(seats))


# A description may be 2,000 characters, up to 4,000 UTF-16 units of emoji: on a card it is
# cut so that where, when and the ticket types always fit in Telegram's 4,096.
CARD_DESCRIPTION_MAX = 2000


def _card_head(event: Event) -> list[str]:
    parts = [t("card.header", title=title_of(event))]
    if description_of(event):
        description = lengths.cut(description_of(event), CARD_DESCRIPTION_MAX)
        parts.append(html.escape(description, quote=False))
    parts.append(t("card.where_when", venue=event.venue, when=event.local_start()))
    return parts


def event_card_text(card: EventCard) -> str:
    """The event card: title, description, where and when, each ticket type's state."""
    event = card.event
    parts = _card_head(event)
    lines = [t("card.tickets"), *(_offer_line(o) for o in card.offers)]
    parts.append("\n".join(lines))
    notes = []
    if event.status is EventStatus.CANCELLED:
        notes.append(t("card.cancelled"))
    elif event.sale_mode is SaleMode.LOTTERY:
        notes.append(t("card.lottery"))
    elif not card.on_sale:
        notes.append(t("card.not_on_sale"))
    else:
        notes.extend(t("card.limit_reached", name=o.ticket_type.name) for o in card.offers
                     if o.max_for_user == 0 and not o.stock.sold_out)
    return fit("\n\n".join(parts) + "".join(notes))


def _offer_line(offer: Offer) -> str:
    name, price = offer.ticket_type.name, offer.ticket_type.price
    if offer.stock.sold_out:
        return t("card.offer_sold_out", name=name, price=price)
    seats = t("card.seats_left", count=offer.stock.available)
    return t("card.offer", name=name, price=price, seats=Html(seats))


def lottery_stage(event: Event, info: LotteryInfo) -> str:
    """Where a lottery stands for display: ``cancelled``, ``not_yet_open``, ``open``,
    ``closed`` or ``drawn``. Entering is offered only at ``open``."""
    if event.status is EventStatus.CANCELLED:
        return "cancelled"
    if info.state is LotteryState.DRAWN:
        return "drawn"
    if info.state is LotteryState.CLOSED or info.phase is WindowPhase.CLOSED:
        return "closed"
    if info.phase is WindowPhase.NOT_YET_OPEN:
        return "not_yet_open"
    return "open"


def lottery_card_text(card: EventCard, info: LotteryInfo) -> str:
    """A lottery event's card: the event, the entry window and draw time, the seats in the
    draw, how many entered, how it works, and the user's own entry if there is one."""
    event = card.event
    window = event.lottery
    if window is None:
        return event_card_text(card)
    tz = event.tz
    opens, closes = window.entries_open_at.astimezone(tz), window.entries_close_at.astimezone(tz)
    draw = window.draw_at.astimezone(tz)
    parts = _card_head(event)
    lines = [t("lottery.window", opens=opens, closes=closes, draw=draw)]
    lines += [t("lottery.seats", name=o.ticket_type.name, price=o.ticket_type.price,
                seats=o.ticket_type.capacity) for o in card.offers]
    lines.append(t("lottery.tally", entries=plural("lottery.entries", info.entries),
                   tickets=plural("lottery.tickets", info.tickets_asked)))
    parts.append("\n".join(lines))
    parts.append(t("lottery.how"))
    stage, mine = lottery_stage(event, info), info.my_entry
    status = []
    if stage == "cancelled":
        status.append(t("card.cancelled").strip())
    elif stage != "open" or mine is None:
        status.append(t(f"lottery.phase.{stage}", opens=opens, draw=draw))
    if mine is not None:
        name = next((o.ticket_type.name for o in card.offers
                     if o.ticket_type.id == mine.ticket_type_id), "")
        key = {EntryStatus.WON: "lottery.mine.won",
               EntryStatus.LOST: "lottery.mine.lost"}.get(mine.status, "lottery.mine.entered")
        status.append(t(key, quantity=mine.quantity, ticket_type=name, total=mine.total))
        if mine.ref:
            position = (Html(t("lottery.my_position", position=mine.draw_position))
                        if mine.draw_position else "")
            status.append(t("lottery.my_ref", ref=mine.ref, position=position))
    parts.append("\n".join(status))
    if info.commitment:
        parts.append(t("lottery.fairness", commitment=info.commitment[:16] + "…",
                       event_id=event.id))
    return fit("\n\n".join(parts))


def ticket_caption(view: TicketView) -> str:
    """Caption under a ticket's QR code (shared by the outbox and /mytickets)."""
    ticket, event = view.ticket, view.event
    text = t("ticket.caption", event=title_of(event), ticket_type=view.ticket_type.name,
             when=event.local_start(), venue=event.venue,
             code=format_short_code(ticket.short_code))
    if ticket.status is TicketStatus.REVOKED:
        text += t("ticket.revoked")
    return fit(text, CAPTION_LIMIT)


def my_tickets_text(views: Sequence[TicketView], entries: Sequence[EntryView] = (),
                    page: int = 0) -> str:
    """One page of the /mytickets list: lottery entries first, then tickets (a winner's are
    below), with "page x of y" when there is more than one page."""
    if not views and not entries:
        return t("mytickets.empty")
    shown = paginate([*entries, *views], page, TICKETS_PER_PAGE)
    lines = []
    if shown.pages > 1:
        lines += [t("mytickets.count", count=shown.total)
                  + page_suffix(shown.page, shown.pages), ""]
    page_entries = [i for i in shown.items if isinstance(i, EntryView)]
    page_views = [i for i in shown.items if isinstance(i, TicketView)]
    if page_entries:
        lines.append(t("mytickets.entries_title"))
        lines += [_entry_line(view) for view in page_entries]
        if page_views:
            lines.append("")
    if page_views:
        lines.append(t("mytickets.title"))
        lines += [t("mytickets.item", event=title_of(v.event), ticket_type=v.ticket_type.name,
                    when=v.event.local_start(), code=format_short_code(v.ticket.short_code))
                  for v in page_views]
        lines.append(t("mytickets.hint"))
    return fit("\n".join(lines))


def _entry_line(view: EntryView) -> str:
    entry, event = view.entry, view.event
    if entry.status is EntryStatus.WON:
        status = t("mytickets.entry.won")
    elif entry.status is EntryStatus.LOST:
        status = t("mytickets.entry.lost", amount=entry.total)
    else:
        draw = event.lottery.draw_at.astimezone(event.tz) if event.lottery else None
        status = t("mytickets.entry.entered", draw=draw)
    if entry.draw_position:
        status += t("mytickets.entry.position", position=entry.draw_position)
    return t("mytickets.entry", event=title_of(event), quantity=entry.quantity,
             ticket_type=view.ticket_type.name, status=Html(status))


def sales_text(sales: EventSales, lottery: LotteryFigures | None = None) -> str:
    """The /stats report for an organizer; a lottery's figures replace the refund lines."""
    event = sales.event
    lines = [t("stats.header", title=event.title, event_id=event.id, when=event.local_start())]
    for row in sales.types:
        lines.append(t("stats.type", name=row.ticket_type.name, sold=row.stock.sold,
                       capacity=row.stock.capacity, held=row.stock.held,
                       available=row.stock.available, revenue=row.revenue))
    total = revenue_total(sales.types)
    if total is not None:
        lines.append(t("stats.total", sold=sales.tickets_sold, revenue=total))
    currency = total.currency if total is not None else "EUR"
    if lottery is not None:
        lines.append("")
        lines += _lottery_figures_lines(lottery, currency)
        return fit("\n".join(lines))
    for status in RefundStatus:
        count, amount = sales.refunds.get(status, (0, 0))
        if count:
            lines.append(t("stats.refunds", status=status.value, count=count,
                           amount=Money(amount, currency)))
    return fit("\n".join(lines))


def _lottery_figures_lines(figures: LotteryFigures, currency: str) -> list[str]:
    currency = figures.paid.currency if figures.paid is not None else currency

    def money(minor: int) -> Money:
        return Money(minor, currency)

    done, pending, failed = figures.refunds_done, figures.refunds_pending, figures.refunds_failed
    return [
        t("stats.lottery", state=figures.state.value),
        t("stats.lottery_entries", entries=figures.entries, tickets_asked=figures.tickets_asked,
          seats=figures.seats, oversubscription=_times(figures.oversubscription)),
        t("stats.lottery_winners", winners=figures.winners, tickets_won=figures.tickets_won),
        t("stats.lottery_paid", paid=figures.paid or money(0), held=money(figures.money_held)),
        t("stats.lottery_refunds", done=done[0], done_amount=money(done[1]),
          pending=pending[0], pending_amount=money(pending[1]),
          failed=failed[0], failed_amount=money(failed[1])),
    ]


def _times(factor: float) -> str:
    """``2.5×`` in the reader's digits."""
    return format_decimal(factor, format="0.0", locale=i18n.get().locale) + "×"


def event_figures_text(figures: EventFigures) -> str:
    """The /stats report from :class:`~core.services.organizer.EventFigures`: per type sold /
    held / available and revenue, the total, refunds done / pending / failed, check-ins, and
    for a lottery its entries, oversubscription and winners."""
    event = figures.event
    lines = [t("stats.header", title=event.title, event_id=event.id, when=event.local_start())]
    if event.status is EventStatus.CANCELLED:
        lines.append(t("stats.cancelled"))
    for row in figures.types:
        lines.append(t("stats.type", name=row.ticket_type.name, sold=row.stock.sold,
                       capacity=row.stock.capacity, held=row.stock.held,
                       available=row.stock.available, revenue=row.revenue))
    total = revenue_total(figures.types)
    if total is not None:
        lines.append(t("stats.total", sold=figures.sold, revenue=total))
    lines.append(t("stats.checkins", checked_in=figures.checked_in, sold=figures.sold))
    lines.append(_transfers_line(event, figures.transfers))
    after = figures.after_sale
    if after.returns or after.waiting or after.offers:
        lines.append(t("stats.after_sale", returns=after.returns, resold=after.resold,
                       waiting=after.waiting, offers=after.offers, lapsed=after.lapsed,
                       paid=after.paid))
    currency = total.currency if total is not None else "EUR"
    if figures.lottery is not None:
        lines.append("")
        lines += _lottery_figures_lines(figures.lottery, currency)
        return fit("\n".join(lines))

    def amount(status: RefundStatus) -> tuple[int, Money]:
        count, minor = figures.refunds.get(status, (0, 0))
        return count, Money(minor, currency)

    (done, done_amount), (pending, pending_amount), (failed, failed_amount) = (
        amount(RefundStatus.SUCCEEDED), amount(RefundStatus.PENDING),
        amount(RefundStatus.FAILED))
    if done or pending or failed:
        lines.append(t("stats.lottery_refunds", done=done, done_amount=done_amount,
                       pending=pending, pending_amount=pending_amount, failed=failed,
                       failed_amount=failed_amount))
    return fit("\n".join(lines))


def _transfers_line(event: Event, transferred: int) -> str:
    """How many tickets changed hands, and what the organizer allows."""
    policy = event.transfers
    if not policy.allowed or (event.lottery is not None and event.lottery.require_phone):
        return t("stats.transfers_off", count=transferred)
    return t("stats.transfers", count=transferred,
             until=policy.deadline(event.starts_at).astimezone(event.tz),
             most=policy.max_per_ticket)


def render_outbox_message(key: str, params: Mapping[str, Any]) -> str:
    """Text of an outbox message (params already decoded by :func:`core.outbox.decode`).

    Raises:
        KeyError: the key has no text (the item can never be sent).
    """
    return fit(t(key, **params))
