"""Transfers: a holder makes a claim link, a friend claims the ticket (new QR, old one
revoked at once), the giver may withdraw the link before it is used.

Every change happens under the ticket's lock, in the lock order (event shared, then the
ticket), the same lock the door admits a ticket under.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.catalog.model import Event, TicketType
from core.kernel import outbox
from core.kernel.clock import Clock
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.outbox import Message
from core.tickets.model import RevokeReason, Ticket
from core.transactions import after_attempts, write_attempts
from core.transfers.model import (
    Transfer,
    link_expiry,
    link_refusal,
    new_claim_token,
    new_confirm_code,
    token_from_claim_payload,
    transfer_refusal,
)
from core.unit_of_work import Database, UnitOfWork


@dataclass(frozen=True, slots=True)
class ClaimLink:
    """A link to hand to a friend (``/start <payload>``), for one ticket."""

    transfer: Transfer
    event: Event
    ticket_type: TicketType


@dataclass(frozen=True, slots=True)
class ClaimOffer:
    """What the friend who opened a link sees before accepting."""

    transfer: Transfer
    event: Event
    ticket_type: TicketType
    giver_first_name: str | None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed ticket: the new one (its QR is on its way through the outbox)."""

    ticket: Ticket
    event: Event
    ticket_type: TicketType


# Outbox dedupe keys, one per claim.
RECEIVED_KEY = "transfer_received:"
DONE_KEY = "transfer_done:"
TICKET_KEY = "transfer_ticket:"


class TransferService:
    """Claim links for tickets: make, open, claim, withdraw."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def make_link(self, *, user_id: int, ticket_id: int) -> ClaimLink:
        """A claim link for one of the user's tickets (the pending one if there is one).

        Raises:
            DomainError: ``ticket_not_found`` (also someone else's), or why the ticket may
                not change hands (:func:`core.transfers.model.transfer_refusal`).
        """
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                ticket, event = await self._locked_ticket(uow, ticket_id)
                if ticket.owner_user_id != user_id:
                    raise DomainError(ErrorCode.TICKET_NOT_FOUND)
                now = self._clock.now()
                await self._check_movable(uow, event, ticket, now)
                transfer = await uow.transfers.pending_for_ticket(ticket.id, now=now)
                if transfer is None:
                    transfer = await uow.transfers.add(
                        ticket_id=ticket.id, event_id=event.id, from_user_id=user_id,
                        token=new_claim_token(), confirm_code=new_confirm_code(), now=now,
                        expires_at=link_expiry(event, now))
                ticket_type = await uow.events.get_ticket_type(ticket.ticket_type_id)
                assert ticket_type is not None
                return ClaimLink(transfer, event, ticket_type)
        raise after_attempts()

    async def open_link(self, *, user_id: int, payload: str) -> ClaimOffer:
        """What a ``/start tr_<token>`` shows the person who opened it.

        Raises:
            DomainError: ``claim_not_found``, ``claim_used``, ``claim_cancelled``,
                ``claim_expired``, ``claim_own_ticket``, or why the ticket can no longer
                change hands.
        """
        token = token_from_claim_payload(payload)
        if token is None:
            raise DomainError(ErrorCode.CLAIM_NOT_FOUND)
        now = self._clock.now()
        async with self._db.read() as uow:
            transfer = await uow.transfers.by_token(token)
            if transfer is None:
                raise DomainError(ErrorCode.CLAIM_NOT_FOUND)
            refusal = link_refusal(transfer, user_id=user_id, now=now)
            if refusal is not None:
                raise DomainError(refusal)
            ticket = await uow.tickets.get(transfer.ticket_id)
            event = await uow.events.get(transfer.event_id)
            assert ticket is not None and event is not None
            await self._check_movable(uow, event, ticket, now)
            ticket_type = await uow.events.get_ticket_type(ticket.ticket_type_id)
            assert ticket_type is not None
            giver = await uow.users.first_name(transfer.from_user_id)
        return ClaimOffer(transfer, event, ticket_type, giver)

    async def claim(self, *, user_id: int, transfer_id: int, confirm_code: int,
                    first_name: str = "") -> Claimed:
        """Accept a ticket: the old one is revoked ("transferred"), a new one is issued to
        ``user_id`` and sent to their chat; the giver is told. Exactly once per link.

        Raises:
            DomainError: ``claim_not_found`` (also a wrong confirm code), the link's
                refusals as :meth:`open_link`, or the ticket's (used at the door meanwhile,
                refunded, transfers closed).
        """
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                found = await uow.transfers.get(transfer_id)
                if found is None or not found.confirms(confirm_code):
                    raise DomainError(ErrorCode.CLAIM_NOT_FOUND)
                ticket, event = await self._locked_ticket(uow, found.ticket_id)
                transfer = await uow.transfers.get(transfer_id)  # re-read under the lock
                assert transfer is not None
                now = self._clock.now()
                refusal = link_refusal(transfer, user_id=user_id, now=now)
                if refusal is not None:
                    raise DomainError(refusal)
                if ticket.owner_user_id != transfer.from_user_id:
                    raise DomainError(ErrorCode.TICKET_NOT_VALID)
                await self._check_movable(uow, event, ticket, now)
                if first_name:
                    await uow.users.seen(user_id=user_id, first_name=first_name,
                                         language_code=None, now=now)
                await uow.tickets.revoke(ticket.id, reason=RevokeReason.TRANSFERRED)
                new = await uow.tickets.reissue(ticket, owner_user_id=user_id, now=now)
                await uow.transfers.mark_claimed(transfer.id, claimed_by=user_id,
                                                 new_ticket_id=new.id, now=now)
                ticket_type = await uow.events.get_ticket_type(ticket.ticket_type_id)
                assert ticket_type is not None
                await self._tell(uow, transfer, event, ticket_type, new, first_name, now)
                return Claimed(new, event, ticket_type)
        raise after_attempts()

    async def cancel(self, *, user_id: int, transfer_id: int) -> Transfer:
        """The giver withdraws a link nobody has used yet.

        Raises:
            DomainError: ``claim_not_found`` (also someone else's link), ``claim_used`` if
                the friend was quicker, ``claim_cancelled`` if it is withdrawn already.
        """
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                found = await uow.transfers.get(transfer_id)
                if found is None or found.from_user_id != user_id:
                    raise DomainError(ErrorCode.CLAIM_NOT_FOUND)
                await self._locked_ticket(uow, found.ticket_id)
                transfer = await uow.transfers.get(transfer_id)
                assert transfer is not None
                now = self._clock.now()
                refusal = link_refusal(transfer, user_id=0, now=now)
                if refusal is ErrorCode.CLAIM_EXPIRED:
                    return transfer  # nothing left to withdraw
                if refusal is not None:
                    raise DomainError(refusal)
                await uow.transfers.mark_cancelled(transfer.id, now=now)
                cancelled = await uow.transfers.get(transfer.id)
                assert cancelled is not None
                return cancelled
        raise after_attempts()

    async def _locked_ticket(self, uow: UnitOfWork, ticket_id: int) -> tuple[Ticket, Event]:
        """The ticket and its event, in the lock order: event shared, then the ticket."""
        ticket = await uow.tickets.get(ticket_id)
        if ticket is None:
            raise DomainError(ErrorCode.TICKET_NOT_FOUND)
        event = await uow.events.lock(ticket.event_id, shared=True)
        locked = await uow.tickets.get(ticket_id, lock=True)
        assert event is not None and locked is not None
        return locked, event

    @staticmethod
    async def _check_movable(uow: UnitOfWork, event: Event, ticket: Ticket,
                             now: datetime) -> None:
        admitted = await uow.checkins.first_admission(ticket.id) is not None
        refusal = transfer_refusal(event, ticket, admitted=admitted, now=now)
        if refusal is not None:
            raise DomainError(refusal)

    @staticmethod
    async def _tell(uow: UnitOfWork, transfer: Transfer, event: Event,
                    ticket_type: TicketType, new: Ticket, first_name: str,
                    now: datetime) -> None:
        """The friend: a welcome and the new QR (their chat is their user id); the giver:
        that the ticket is gone and its old QR no longer works."""
        friend, giver = new.owner_user_id, transfer.from_user_id
        giver_name = await uow.users.first_name(giver) or ""
        params = {"event": event.title, "ticket_type": ticket_type.name,
                  "starts": event.local_start(), "venue": event.venue}
        await uow.outbox.put(
            outbox.MESSAGE,
            Message("transfer_received", {**params, "giver": giver_name}).payload(),
            dedupe_key=f"{RECEIVED_KEY}{transfer.id}", now=now, chat_id=friend)
        await uow.outbox.put(outbox.TICKET, {"ticket_id": new.id},
                             dedupe_key=f"{TICKET_KEY}{transfer.id}", now=now, chat_id=friend)
        await uow.outbox.put(
            outbox.MESSAGE,
            Message("transfer_done", {**params, "friend": first_name or ""}).payload(),
            dedupe_key=f"{DONE_KEY}{transfer.id}", now=now, chat_id=giver)
