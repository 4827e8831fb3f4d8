"""The outbox messenger: rendering, tickets and error classification (pacing, order and
retries are the sending path's: tests/unit/test_sending.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.messenger import DeliveryError, TelegramMessenger
from core.catalog.model import Event, EventStatus, SaleMode, TicketType
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.payments.model import GatewayError
from core.tickets.model import Ticket, TicketStatus
from core.tickets.service import TicketView
from handlers.notices import LOOK

# --- the messenger ------------------------------------------------------------------------

class FakeBot:
    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.failures = list(failures or [])
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def _maybe_fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    async def send_message(self, **kwargs: Any) -> None:
        await self._maybe_fail()
        self.sent.append(("message", kwargs))

    async def send_photo(self, **kwargs: Any) -> None:
        await self._maybe_fail()
        self.sent.append(("photo", kwargs))


class FakeTickets:
    def __init__(self, status: TicketStatus = TicketStatus.VALID) -> None:
        self.status = status

    async def ticket_view(self, ticket_id: int) -> TicketView:
        if ticket_id != 5:
            raise DomainError(ErrorCode.TICKET_NOT_FOUND)
        event = Event(7, "Gala & Co", "", "Hall", datetime(2026, 12, 12, 20, tzinfo=UTC),
                      "Europe/Berlin", EventStatus.PUBLISHED, SaleMode.DIRECT)
        ttype = TicketType(3, 7, "GA", Money(2500, "EUR"), 10, 4)
        ticket = Ticket(5, 1, 7, 3, 99, "A" * 22, "K7QH3MZP", self.status,
                        datetime(2026, 1, 1, tzinfo=UTC))
        return TicketView(ticket, event, ttype)


def _messenger(bot: FakeBot, tickets: FakeTickets | None = None) -> TelegramMessenger:
    return TelegramMessenger(bot, tickets or FakeTickets(), "TicketQBot", LOOK)  # type: ignore[arg-type]


async def test_message_is_rendered_as_html() -> None:
    bot = FakeBot()
    await _messenger(bot).send_message(1, "refund_done", {"amount": Money(2500, "EUR")})
    kind, kwargs = bot.sent[0]
    assert kind == "message" and kwargs["chat_id"] == 1 and kwargs["parse_mode"] == "HTML"
    assert "€25.00" in kwargs["text"]


async def test_ticket_goes_out_as_a_qr_photo_with_caption() -> None:
    bot = FakeBot()
    await _messenger(bot).send_ticket(1, 5)
    kind, kwargs = bot.sent[0]
    assert kind == "photo" and kwargs["photo"].startswith(b"\x89PNG")
    assert "K7QH-3MZP" in kwargs["caption"] and "Gala &amp; Co" in kwargs["caption"]


async def test_revoked_ticket_is_not_sent() -> None:
    bot = FakeBot()
    await _messenger(bot, FakeTickets(TicketStatus.REVOKED)).send_ticket(1, 5)
    assert bot.sent == []


async def test_flood_control_the_sending_path_did_not_wait_out_is_a_transient_error() -> None:
    # The sending path waits out short flood control itself; a longer one reaches the
    # messenger, and the outbox retries the item later.
    bot = FakeBot([RetryAfter(300)])
    with pytest.raises(DeliveryError) as caught:
        await _messenger(bot).send_message(1, "refund_done", {"amount": Money(1, "EUR")})
    assert not caught.value.permanent and caught.value.code == "retry_after" and bot.sent == []


@pytest.mark.parametrize(("error", "permanent"), [
    (Forbidden("Forbidden: bot was blocked by the user"), True),
    (BadRequest("Bad Request: chat not found"), True),
    (TimedOut(), False),
    (NetworkError("connection reset"), False),
])
async def test_failures_are_classified(error: Exception, permanent: bool) -> None:
    bot = FakeBot([error])
    with pytest.raises(GatewayError) as caught:
        await _messenger(bot).send_message(1, "refund_done", {"amount": Money(1, "EUR")})
    assert caught.value.permanent is permanent


async def test_unknown_key_or_ticket_is_permanent() -> None:
    bot = FakeBot()
    with pytest.raises(DeliveryError) as caught:
        await _messenger(bot).send_message(1, "no_such_key", {})
    assert caught.value.permanent
    with pytest.raises(DeliveryError) as caught:
        await _messenger(bot).send_ticket(1, 404)
    assert caught.value.permanent
