"""Lottery entry handlers: the picker and the invoice a user gets for an entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from core.catalog.model import (
    Event,
    EventStatus,
    LotteryState,
    LotteryWindow,
    SaleMode,
    TicketType,
)
from core.kernel.money import Money
from core.lottery.model import Entry, EntryStatus
from core.lottery.service import EntryChoice, PendingEntry
from core.sales.model import entry_payload, parse_entry_payload
from handlers import callbacks as cb
from handlers import lottery
from handlers.common import INVOICE_DESCRIPTION_MAX, INVOICE_TITLE_MAX

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


class FakeBot:
    """Records what the handler sends."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.invoices: list[dict[str, Any]] = []

    async def send_message(self, **kwargs: Any) -> None:
        self.messages.append(kwargs)

    async def send_invoice(self, **kwargs: Any) -> None:
        self.invoices.append(kwargs)


def _event(title: str = "Sold-Out Show", venue: str = "Hall") -> Event:
    window = LotteryWindow(NOW, NOW + timedelta(days=7), NOW + timedelta(days=7, hours=1), 4)
    return Event(id=7, title=title, description="", venue=venue,
                 starts_at=NOW + timedelta(days=30), timezone="Europe/Berlin",
                 status=EventStatus.PUBLISHED, sale_mode=SaleMode.LOTTERY, lottery=window,
                 lottery_state=LotteryState.OPEN)


def _type(name: str = "GA") -> TicketType:
    return TicketType(id=17, event_id=7, name=name, price=Money(3000, "EUR"), capacity=5,
                      per_user_limit=4)


def _setup(**lottery_service: Any) -> tuple[Any, Any, FakeBot]:
    bot = FakeBot()
    services = SimpleNamespace(lottery=SimpleNamespace(**lottery_service),
                               provider_token="provider")
    update = SimpleNamespace(effective_user=SimpleNamespace(id=5),
                             effective_chat=SimpleNamespace(id=55), callback_query=None)
    return update, SimpleNamespace(services=services, bot=bot), bot


async def test_the_entry_picker_states_the_rule_and_offers_up_to_the_maximum() -> None:
    async def entry_choice(*, user_id: int, ticket_type_id: int) -> EntryChoice:
        assert (user_id, ticket_type_id) == (5, 17)
        return EntryChoice(_event(), _type(), 3)

    update, context, bot = _setup(entry_choice=entry_choice)
    await lottery.on_enter(update, context, cb.EnterLottery(17))
    [message] = bot.messages
    assert "How many" in message["text"]
    assert "One entry per account; you win all N tickets or none" in message["text"]
    numbers = [b for row in message["reply_markup"].inline_keyboard for b in row
               if b.text.isdigit()]
    assert [cb.decode(b.callback_data) for b in numbers] == [
        cb.EntryQuantity(17, n) for n in (1, 2, 3)]


async def test_an_entry_gets_a_full_price_invoice_that_promises_a_refund() -> None:
    seen: dict[str, Any] = {}

    async def start_entry(**kwargs: Any) -> PendingEntry:
        seen.update(kwargs)
        entry = Entry(id=314, event_id=7, ticket_type_id=17, user_id=5, chat_id=55, quantity=3,
                      unit_price=Money(3000, "EUR"), status=EntryStatus.PENDING, created_at=NOW)
        return PendingEntry(entry, _event(title="A <very> long title " * 5, venue="V" * 300),
                            _type("G<A>"))

    update, context, bot = _setup(start_entry=start_entry)
    await lottery.on_entry_quantity(update, context, cb.EntryQuantity(17, 3))
    assert seen == {"user_id": 5, "chat_id": 55, "ticket_type_id": 17, "quantity": 3}
    assert "Entry started" in bot.messages[0]["text"]
    [invoice] = bot.invoices
    assert invoice["chat_id"] == 55 and invoice["currency"] == "EUR"
    assert len(invoice["title"]) <= INVOICE_TITLE_MAX and invoice["title"].startswith("A <very>")
    assert len(invoice["description"]) <= INVOICE_DESCRIPTION_MAX
    assert invoice["description"].startswith("Full refund if not selected.")
    assert parse_entry_payload(invoice["payload"]) == 314
    assert invoice["payload"] == entry_payload(314)
    [price] = invoice["prices"]
    assert price.label == "3 × G<A> (lottery entry)" and price.amount == 9000
    assert invoice["provider_token"] == "provider"
