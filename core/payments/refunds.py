"""Refunds: performed by the outbox worker through the payment provider, exactly once."""

from __future__ import annotations

from datetime import datetime

from core.kernel import outbox
from core.kernel.clock import Clock
from core.payments.model import GatewayError, Refund, RefundStatus
from core.payments.plans import RefundReason
from core.payments.ports import RefundGateway
from core.transactions import write_attempts
from core.unit_of_work import Database, UnitOfWork


class RetryLater(Exception):
    """A transient failure: the outbox should try again after a backoff."""


class RefundService:
    """Executes queued refunds. Safe to call any number of times for the same refund."""

    def __init__(self, db: Database, gateway: RefundGateway, clock: Clock) -> None:
        self._db = db
        self._gateway = gateway
        self._clock = clock

    async def execute(self, refund_id: int) -> None:
        """Refund through the provider with an idempotency key derived from the payment.

        A crash between the provider call and the commit below is harmless: the retry sends
        the same key, the provider replays its first answer, and no second refund happens.

        Raises:
            RetryLater: the provider failed transiently (network, 5xx, rate limit).
        """
        async with self._db.read() as uow:
            refund = await uow.refunds.get(refund_id)
        if refund is None or refund.status is not RefundStatus.PENDING:
            return
        try:
            provider_refund_id = await self._gateway.refund(
                charge_id=refund.provider_charge_id, amount=refund.amount,
                idempotency_key=refund.idempotency_key,
                metadata={"refund_id": str(refund.id), "payment_id": str(refund.payment_id),
                          "reason": refund.reason.value},
            )
        except GatewayError as exc:
            now = self._clock.now()
            async for attempt in write_attempts(self._db):
                async with attempt as uow:
                    await uow.refunds.mark_attempt(refund_id, error=str(exc),
                                                   final=exc.permanent, now=now)
                    if exc.permanent:
                        await _tell_refund_failed(uow, refund, now)
            if exc.permanent:
                return
            raise RetryLater(str(exc)) from exc
        now = self._clock.now()
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                await uow.refunds.mark_succeeded(refund_id, provider_refund_id=provider_refund_id,
                                                 now=now)
                params = {"amount": refund.amount}
                message = ({"key": "lottery_not_selected", "params": params}
                           if refund.reason is RefundReason.LOTTERY_NOT_SELECTED
                           else {"key": "refund_done", "params": params})
                if refund.chat_id:  # 0: a charge refunded by reconciliation, payer unknown
                    await uow.outbox.put(outbox.MESSAGE, message,
                                         dedupe_key=f"refund_done:{refund.id}", now=now,
                                         chat_id=refund.chat_id)

    async def give_up(self, refund_id: int, error: str) -> None:
        """The outbox ran out of retries: flag the refund for the organizer, tell the buyer."""
        now = self._clock.now()
        async for attempt in write_attempts(self._db):
            async with attempt as uow:
                refund = await uow.refunds.get(refund_id)
                if refund is None or refund.status is not RefundStatus.PENDING:
                    return
                await uow.refunds.mark_attempt(refund_id, error=error, final=True, now=now)
                await _tell_refund_failed(uow, refund, now)


async def _tell_refund_failed(uow: UnitOfWork, refund: Refund, now: datetime) -> None:
    """Tell the buyer their refund needs a person. A lottery loser learns the draw's result
    from the refund message, so without a refund they are told it here first. A payer whose
    chat is unknown (a charge refunded by reconciliation) cannot be told: the operator was."""
    if not refund.chat_id:
        return
    if refund.reason is RefundReason.LOTTERY_NOT_SELECTED:
        await uow.outbox.put(
            outbox.MESSAGE,
            {"key": "refund_started.lottery_not_selected", "params": {"amount": refund.amount}},
            dedupe_key=f"not_selected:{refund.id}", now=now, chat_id=refund.chat_id,
        )
    await uow.outbox.put(
        outbox.MESSAGE,
        {"key": "refund_needs_attention", "params": {"amount": refund.amount}},
        dedupe_key=f"refund_failed:{refund.id}", now=now, chat_id=refund.chat_id,
    )
