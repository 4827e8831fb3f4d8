"""Fault injection for the Telegram side of the sandbox.

Faults are consumed in FIFO order by the request dispatcher. Each fault may be restricted to
one Bot API method (case-insensitive). The Stripe side has its own, simpler, fault queue on
:class:`bot.sandbox.stripe_emulator.StripeEmulator`.
"""

from __future__ import annotations

from dataclasses import dataclass

_STATUS_DESCRIPTIONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class TelegramFault:
    """One pending Telegram fault.

    Attributes:
        kind: ``"fail"`` (answer with an HTTP error) or ``"drop"`` (close the connection).
        remaining: How many more matching requests this fault applies to.
        status: HTTP status for ``"fail"`` faults.
        method: Lower-cased method name the fault is restricted to, or None for any method.
        after_processing: For ``"drop"``: execute the request first, then drop the answer
            (the "response lost" case), instead of dropping before execution.
    """

    kind: str
    remaining: int
    status: int = 500
    method: str | None = None
    after_processing: bool = False

    @property
    def description(self) -> str:
        """Telegram-style description for a failing status."""
        return _STATUS_DESCRIPTIONS.get(self.status, "Internal Server Error")


class FaultInjector:
    """Queue of faults applied to Bot API requests made by the bot under test."""

    def __init__(self) -> None:
        self._faults: list[TelegramFault] = []
        self.duplicate_pending: int = 0
        self.injected_count: int = 0

    def telegram_fail_next(self, n: int = 1, status: int = 500, method: str | None = None) -> None:
        """Answer the next ``n`` Bot API requests with an HTTP error.

        Args:
            n: Number of requests to fail.
            status: HTTP status to answer with (500, 502, 503, 504).
            method: Only fail requests to this method (case-insensitive); None = any method.
        """
        self._faults.append(
            TelegramFault("fail", n, status=status, method=method.lower() if method else None)
        )

    def telegram_drop_next(
        self, n: int = 1, method: str | None = None, after_processing: bool = False
    ) -> None:
        """Close the connection of the next ``n`` Bot API requests without answering.

        Args:
            n: Number of requests to drop.
            method: Only drop requests to this method (case-insensitive); None = any method.
            after_processing: If True the request is executed (e.g. the message IS sent) and
                only the answer is lost. Default False: dropped before execution.
        """
        self._faults.append(
            TelegramFault(
                "drop",
                n,
                method=method.lower() if method else None,
                after_processing=after_processing,
            )
        )

    def duplicate_next_update(self, n: int = 1) -> None:
        """Deliver each of the next ``n`` new updates twice (same ``update_id``).

        The duplicate is delivered in the getUpdates call that follows the first delivery,
        regardless of the offset the bot confirmed, like Telegram occasionally does.
        """
        self.duplicate_pending += n

    def clear(self) -> None:
        """Forget every pending fault."""
        self._faults.clear()
        self.duplicate_pending = 0

    def take(self, method: str) -> TelegramFault | None:
        """Consume and return the first fault matching ``method`` (lower-case), if any."""
        for fault in self._faults:
            if fault.method is None or fault.method == method:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                self.injected_count += 1
                return fault
        return None
