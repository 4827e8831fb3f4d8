"""How the update being handled was delivered, so a handler can report a failure to the
durable inbox instead of swallowing it (see ``bot.polling``).

PTB's ``Application.process_update`` hands a handler's exception to the error handler and
returns normally, so whoever runs it cannot tell that handling failed. The inbox poller puts a
:class:`Delivery` in a context variable before it runs an update; the error handler (or a
handler that deals with its own failure, like the successful-payment one) records the failure
there, and learns whether the update will be tried again (then the user need not be told yet).
Without a poller (unit tests, other runners) nothing is retried.

The transport (``bot.polling``, ``bot.sending``) does not import this module: the composition
root (``bot.app``) hands it :func:`delivering` and :data:`waiting_hook`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
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


@contextlib.contextmanager
def delivering(attempt: int, will_retry: Callable[[BaseException], bool]) -> Iterator[Delivery]:
    """Run an update inside this block: its handlers' failures are recorded on the result."""
    run = Delivery(attempt=attempt, will_retry=will_retry)
    token = current.set(run)
    try:
        yield run
    finally:
        current.reset(token)


Hook = Callable[[], Awaitable[None]]
# Read (and cleared, once used) by the sending path: see :func:`before_waiting`.
waiting_hook: ContextVar[Hook | None] = ContextVar("ticketq_before_waiting", default=None)


@contextlib.contextmanager
def before_waiting(hook: Hook) -> Iterator[None]:
    """While active, the first reply of this task that would have to wait in line (the chat's
    pacing or flood control, its earlier updates, the bot-wide queue) first awaits ``hook``,
    once. The callback router answers its query there, so the spinner on the button stops at
    once instead of after the paced edit."""
    token = waiting_hook.set(hook)
    try:
        yield
    finally:
        waiting_hook.reset(token)
