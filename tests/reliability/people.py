"""People on their phones while the bot keeps dying: every step has a timeout, and a step that
gets no answer is done again from the start, the way a person taps again or re-sends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bot.sandbox import PaymentOutcome, SandboxMessage, VirtualUser

STEP = 3.0  # seconds a person waits for the bot before trying again


class GaveUp(Exception):
    """The person stopped trying (sold out, off sale, or out of patience)."""


async def _step(user: VirtualUser, action, *, contains: str | None = None,
                predicate: Callable[[SandboxMessage], bool] | None = None) -> SandboxMessage:
    mark = user.mark()
    await action()
    return await user.wait_for_message(contains=contains, predicate=predicate, since=mark,
                                       timeout=STEP)


async def _card(user: VirtualUser, title: str) -> SandboxMessage:
    listing = await _step(user, lambda: user.send("/events"), contains="Upcoming events")
    if not any(title in b for b in listing.button_texts()):
        raise GaveUp("the event is not listed")
    return await _step(user, lambda: user.tap(listing, text=title, timeout=STEP),
                       contains="📍")


async def _invoice_from_card(user: VirtualUser, card: SandboxMessage, button: str,
                             quantity: int) -> SandboxMessage:
    picker = await _step(user, lambda: user.tap(card, text=button, timeout=STEP),
                         contains="How many")
    return await _step(user, lambda: user.tap(picker, text=str(quantity), timeout=STEP),
                       predicate=lambda m: m.invoice is not None)


async def _pay_until_answered(user: VirtualUser, invoice: SandboxMessage,
                              until: Callable[[], bool]) -> PaymentOutcome | None:
    outcome = await user.pay(invoice, timeout=STEP)
    if outcome.ok:
        return outcome
    if outcome.error_message == "timeout":
        return None  # no answer: start again
    raise GaveUp(f"payment refused: {outcome.error_message}")


async def patiently(user: VirtualUser, attempt, *, deadline: float,
                    stop: Callable[[], bool] = lambda: False) -> PaymentOutcome | None:
    """Repeat ``attempt(user)`` until it pays, the person gives up, or time runs out.

    Returns:
        The successful payment, or None.
    """
    while time.monotonic() < deadline and not stop():
        try:
            outcome = await attempt(user)
        except GaveUp:
            return None
        except (TimeoutError, LookupError):
            await asyncio.sleep(0.2)
            continue
        if outcome is not None:
            return outcome
    return None


def buy_one(title: str, quantity: int = 1):
    """One try at buying ``quantity`` GA tickets for ``title``."""
    async def attempt(user: VirtualUser) -> PaymentOutcome | None:
        card = await _card(user, title)
        label = next((b for b in card.button_texts() if b.startswith("GA · ")
                      and "sold out" not in b), None)
        if label is None:
            raise GaveUp("sold out")
        invoice = await _invoice_from_card(user, card, label, quantity)
        return await _pay_until_answered(user, invoice, lambda: False)
    return attempt


async def invoice(user: VirtualUser, title: str, quantity: int = 1) -> SandboxMessage:
    """From /events to a GA invoice (one try)."""
    card = await _card(user, title)
    label = next(b for b in card.button_texts() if b.startswith("GA · "))
    return await _invoice_from_card(user, card, label, quantity)


def enter_lottery(title: str, quantity: int = 1):
    """One try at entering the lottery of ``title`` with ``quantity`` seats."""
    async def attempt(user: VirtualUser) -> PaymentOutcome | None:
        card = await _card(user, title)
        label = next((b for b in card.button_texts() if b.startswith("Enter · GA ·")), None)
        if label is None:
            raise GaveUp("entries are closed")
        invoice = await _invoice_from_card(user, card, label, quantity)
        return await _pay_until_answered(user, invoice, lambda: False)
    return attempt


async def scan_until_verdict(staff: VirtualUser, payload: str, holder: str, *,
                             deadline: float) -> str:
    """The staff member scans a ticket again and again until a verdict names its holder.

    Returns:
        The verdict text.
    """
    while time.monotonic() < deadline:
        try:
            verdict = await _step(staff, lambda: staff.send(f"/start {payload}"),
                                  predicate=lambda m: holder in (m.text or ""))
        except TimeoutError:
            continue
        return verdict.text or ""
    raise TimeoutError(f"no verdict for {holder}'s ticket; " + staff.dump())


def join_waitlist(title: str, quantity: int = 1):
    """One try at joining the GA waiting list of ``title`` (done once the bot says so)."""
    async def attempt(user: VirtualUser) -> SandboxMessage | None:
        card = await _card(user, title)
        label = next((b for b in card.button_texts() if "waiting list · GA" in b), None)
        if label is None:
            raise GaveUp("no waiting list")
        picker = await _step(user, lambda: user.tap(card, text=label, timeout=STEP),
                             predicate=lambda m: "How many seats" in (m.text or "")
                             or "already on this waiting list" in (m.text or ""))
        if "already on" in (picker.text or ""):
            return picker
        return await _step(user, lambda: user.tap(picker, text=str(quantity), timeout=STEP),
                           predicate=lambda m: "waiting list for" in (m.text or "")
                           or "already on this waiting list" in (m.text or ""))
    return attempt


def return_tickets():
    """One try at returning the person's first returnable order through ``/return`` (done
    once the bot registered it, now or on an earlier try)."""
    async def attempt(user: VirtualUser) -> SandboxMessage | None:
        listing = await _step(user, lambda: user.send("/return"), predicate=lambda m: any(
            word in (m.text or "") for word in ("Return tickets", "no tickets you can return")))
        offer = next((b for b in listing.button_texts() if b.startswith("↩️")), None)
        if offer is None:
            if any(b.startswith("⏳") for b in listing.button_texts()):
                return listing  # returned on an earlier try whose answer was lost
            raise GaveUp("nothing to return")
        ask = await _step(user, lambda: user.tap(listing, text=offer, timeout=STEP),
                          contains="Return 1 ×")
        return await _step(user, lambda: user.tap(ask, text="Return them", timeout=STEP),
                           predicate=lambda m: "Return registered" in (m.text or "")
                           or "returned these tickets already" in (m.text or ""))
    return attempt


def pay_offer():
    """One try at paying the latest waiting-list invoice the person received."""
    async def attempt(user: VirtualUser) -> PaymentOutcome | None:
        invoices = [m for m in user.messages if m.invoice is not None]
        if not invoices:
            await user.wait_for_message(predicate=lambda m: m.invoice is not None,
                                        since=user.mark(), timeout=STEP)
            return None
        return await _pay_until_answered(user, invoices[-1], lambda: False)
    return attempt
