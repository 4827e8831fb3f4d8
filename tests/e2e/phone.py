"""What a person does on their phone, step by step, for the end-to-end tests."""

from __future__ import annotations

from bot.sandbox import SandboxMessage, VirtualUser
from bot.sandbox.harness import SandboxedBot
from core.catalog.model import Event
from tests.e2e.conftest import ORGANIZER
from tests.factories import event_doc


async def create_event(live: SandboxedBot, **kwargs) -> Event:
    """The organizer's event, created through the same service the file upload uses."""
    return await live.runtime.services.admin.import_event(event_doc(**kwargs),
                                                          actor_id=ORGANIZER)


async def open_event(user: VirtualUser, title: str = "Night Market") -> SandboxMessage:
    """/events, then tap the event: returns the event card."""
    mark = user.mark()
    await user.send("/events")
    listing = await user.wait_for_message(contains="Upcoming events", since=mark)
    mark = user.mark()
    # An event's button is "title · day", a long title cut ("Harbour Lights Festival o… · Fri
    # 18 Jul").
    label = next((text for row in listing.buttons for text, _ in row
                  if _names(text.rsplit(" · ", 1)[0], title)), title)
    await user.tap(listing, text=label)
    # The card, not a ticket's QR (its caption has a 📍 too) that the outbox sends meanwhile.
    return await user.wait_for_message(contains="📍", since=mark,
                                       predicate=lambda m: m.photo is None)


def _names(head: str, title: str) -> bool:
    return head == title or (head.endswith("…") and title.startswith(head[:-1]))


async def pick(user: VirtualUser, card: SandboxMessage, type_label: str,
               quantity: int) -> SandboxMessage:
    """Tap a ticket type, then a quantity: returns the invoice."""
    mark = user.mark()
    await user.tap(card, text=type_label)
    picker = await user.wait_for_message(contains="How many", since=mark)
    mark = user.mark()
    await user.tap(picker, text=str(quantity))
    return await user.wait_for_message(predicate=lambda m: m.invoice is not None, since=mark)


async def invoice_for(user: VirtualUser, quantity: int = 1, type_label: str = "GA",
                      title: str = "Night Market") -> SandboxMessage:
    """From /events to an invoice in one go."""
    return await pick(user, await open_event(user, title), type_label, quantity)


def photos(user: VirtualUser) -> list[SandboxMessage]:
    """QR ticket images the bot sent to this user."""
    return [m for m in user.messages if m.photo is not None]


async def buy(live: SandboxedBot, user: VirtualUser, quantity: int = 1, **kwargs):
    """Invoice, pay, and wait until the tickets are delivered; returns the payment outcome."""
    outcome = await user.pay(await invoice_for(user, quantity, **kwargs))
    assert outcome.ok, outcome
    await user.wait_for_message(contains="Payment received")
    await live.settle()
    return outcome


async def enter_lottery(user: VirtualUser, quantity: int, *, type_name: str = "GA",
                        title: str = "Sold-Out Show", deliver: bool = True):
    """From /events to a paid lottery entry; returns the sandbox payment outcome."""
    card = await open_event(user, title)
    label = next(b for b in card.button_texts() if b.startswith(f"Enter · {type_name} ·"))
    mark = user.mark()
    await user.tap(card, text=label)
    picker = await user.wait_for_message(contains="How many", since=mark)
    mark = user.mark()
    await user.tap(picker, text=str(quantity))
    invoice = await user.wait_for_message(predicate=lambda m: m.invoice is not None,
                                          since=mark)
    return await user.pay(invoice, deliver_success=deliver)
