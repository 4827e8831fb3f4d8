"""How the update being handled was delivered, so a handler can report a failure to the
durable inbox instead of swallowing it (see ``bot.polling``).

PTB's ``Application.process_update`` hands a handler's exception to the error handler and
returns normally, so whoever runs it cannot tell that handling failed. The inbox poller puts a
:class:`Delivery` in a context variable before it runs an update; the error handler (or a
handler that deals with its own failure, like the successful-payment one) records the failure
there, and learns whether the update will be tried again (then the user need not be told yet).
Without a poller (unit tests, other runners) nothing is retried.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class Delivery:
    """One run of one update.

    Attributes:
        attempt: 1 for the first run, 2 for the first retry, ...
        will_retry: whether a failure of this run with this error is tried again.
        failure: the first error recorded in this run, if any.
    """

    attempt: int
    will_retry: Callable[[BaseException], bool]
    failure: BaseException | None = None


current: ContextVar[Delivery | None] = ContextVar("ticketq_delivery", default=None)


def record_failure(error: BaseException) -> bool:
    """Tell the inbox that handling failed; True if the update will be tried again."""
    delivery = current.get()
    if delivery is None:
        return False
    if delivery.failure is None:
        delivery.failure = error
    return delivery.will_retry(error)


def first_attempt() -> bool:
    """True unless this run is a retry of an update that failed before."""
    delivery = current.get()
    return delivery is None or delivery.attempt == 1
