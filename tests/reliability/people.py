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
