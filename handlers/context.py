"""What every handler can reach: the services, through a typed PTB context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from telegram.ext import CallbackContext, ExtBot

from core.access.service import AccessService
from core.catalog.service import CatalogService
from core.door.service import CheckinService
from core.kernel.clock import Clock
from core.language.service import LanguageService
from core.lottery.groups import GroupService
from core.lottery.service import LotteryService
from core.organizer.admin import AdminService
from core.organizer.editor import EventWizardService
from core.organizer.service import OrganizerService
from core.returns.service import ReturnsService
from core.sales.service import PurchaseService
from core.tickets.service import TicketService
from core.transfers.service import TransferService


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
    returns: ReturnsService
    groups: GroupService
    clock: Clock
    transfers: TransferService
    provider_token: str
    bot_username: str = ""
    # The Mini App's public HTTPS base (``<TICKETQ_PUBLIC_URL>/app``); empty: no Mini App buttons.
    miniapp_url: str = ""
    # Wakes the outbox worker right after a handler committed new outbox items.
    wake_outbox: Callable[[], None] = field(default=_nothing)
    # Who reads which language (None: everyone reads their Telegram language, unstored).
    languages: LanguageService | None = None


class TicketQContext(CallbackContext[ExtBot[None], dict, dict, dict]):  # type: ignore[type-arg]
    """PTB context with typed access to :class:`Services`."""

    @property
    def services(self) -> Services:
        """The application's services."""
        services = self.application.bot_data["services"]
        assert isinstance(services, Services)
        return services
