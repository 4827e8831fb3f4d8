"""What every handler can reach: the services, through a typed PTB context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from telegram.ext import CallbackContext, ExtBot

from core.clock import Clock
from core.services.access import AccessService
from core.services.admin import AdminService
from core.services.catalog import CatalogService
from core.services.checkin import CheckinService
from core.services.lottery import LotteryService
from core.services.organizer import OrganizerService
from core.services.purchase import PurchaseService
from core.services.tickets import TicketService
from core.services.wizard import EventWizardService


def _nothing() -> None:
    return None


@dataclass(slots=True)
class Services:
    """The use cases and the few settings handlers need. Built once in ``bot.app``."""

    catalog: CatalogService
    purchase: PurchaseService
    tickets: TicketService
    admin: AdminService
    lottery: LotteryService
    access: AccessService
    organizer: OrganizerService
    checkin: CheckinService
    wizard: EventWizardService
    clock: Clock
    provider_token: str
    bot_username: str = ""
    # Wakes the outbox worker right after a handler committed new outbox items.
    wake_outbox: Callable[[], None] = field(default=_nothing)


class TicketQContext(CallbackContext[ExtBot[None], dict, dict, dict]):  # type: ignore[type-arg]
    """PTB context with typed access to :class:`Services`."""

    @property
    def services(self) -> Services:
        """The application's services."""
        services = self.application.bot_data["services"]
        assert isinstance(services, Services)
        return services
