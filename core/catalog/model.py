"""Events and their ticket types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from core.kernel.localized import LocalText
from core.kernel.money import Money


class EventStatus(StrEnum):
    """Life cycle of an event."""

    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class LotteryState(StrEnum):
    """A lottery moves forward only: open -> closed -> drawn."""

    OPEN = "open"
    CLOSED = "closed"
    DRAWN = "drawn"


class SaleMode(StrEnum):
    """How tickets are sold: first come first served, or a lottery among entrants."""

    DIRECT = "direct"
    LOTTERY = "lottery"


@dataclass(frozen=True, slots=True)
class LotteryWindow:
    """When a lottery takes entries and when it draws (all aware UTC)."""

    entries_open_at: datetime
    entries_close_at: datetime
    draw_at: datetime
    max_per_entry: int
    beacon: bool = False
    require_phone: bool = False


DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class EventText:
    """An event's title and description in one language."""

    title: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class TransferPolicy:
    """What the organizer allows holders to do with a ticket they cannot use: give it to a
    friend (who gets a new QR code; the old one stops working).

    Attributes:
        allowed: transfers are on for this event.
        until: the last moment a transfer may be claimed (aware UTC); None: the start.
        max_per_ticket: how many times one seat may change hands.
    """

    allowed: bool = False
    until: datetime | None = None
    max_per_ticket: int = 1

    def deadline(self, starts_at: datetime) -> datetime:
        """When transfers close: :attr:`until`, never later than the start."""
        return min(self.until, starts_at) if self.until is not None else starts_at


# What an event file says when it has no ``transfers`` block: a direct sale lets holders pass
# a ticket on once, until the start; a lottery's tickets stay with the winners.
DIRECT_TRANSFERS = TransferPolicy(allowed=True)
NO_TRANSFERS = TransferPolicy(allowed=False)


@dataclass(frozen=True, slots=True)
class Event:
    """Something people buy tickets for.

    ``title`` and ``description`` are in the event's ``language``; ``translations`` holds
    them in other languages (``(("de", EventText(...)), ...)``), see :meth:`text_for`.
    """

    id: int
    title: str
    description: str
    venue: str
    starts_at: datetime
    timezone: str
    status: EventStatus
    sale_mode: SaleMode
    lottery: LotteryWindow | None = None
    lottery_state: LotteryState | None = None
    transfers: TransferPolicy = NO_TRANSFERS
    language: str = DEFAULT_LANGUAGE
    translations: tuple[tuple[str, EventText], ...] = ()

    def title_text(self) -> str | LocalText:
        """The title as a message parameter: in every language the organizer gave (a
        :class:`LocalText`, rendered in each recipient's), or just the title."""
        if not self.translations:
            return self.title
        return LocalText(self.title, tuple((code, text.title)
                                           for code, text in self.translations))

    def text_for(self, language: str) -> EventText:
        """Title and description for a reader of ``language``: its translation if the
        organizer gave one, else the event's own (default language). A translation without
        a description borrows the default one."""
        if language != self.language:
            for code, text in self.translations:
                if code == language:
                    return EventText(text.title, text.description or self.description)
        return EventText(self.title, self.description)

    @property
    def tz(self) -> ZoneInfo:
        """The event's IANA time zone."""
        return ZoneInfo(self.timezone)

    def local_start(self) -> datetime:
        """Start time in the event's own time zone (for display)."""
        return self.starts_at.astimezone(self.tz)

    @property
    def is_lottery(self) -> bool:
        """Tickets are allocated by a draw among paid entries."""
        return self.sale_mode is SaleMode.LOTTERY and self.lottery is not None

    def is_on_sale(self, now: datetime) -> bool:
        """Direct sales run while the event is published and has not started."""
        return (
            self.status is EventStatus.PUBLISHED
            and self.sale_mode is SaleMode.DIRECT
            and now < self.starts_at
        )


@dataclass(frozen=True, slots=True)
class TicketType:
    """A kind of ticket within an event (GA, VIP...)."""

    id: int
    event_id: int
    name: str
    price: Money
    capacity: int
    per_user_limit: int
    position: int = 0
