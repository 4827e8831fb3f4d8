"""Loopback sandbox: an emulated Telegram Bot API and Stripe API on one aiohttp server.

Used by tests, ``ticketq demo`` and benchmarks with the real python-telegram-bot
``Application`` and the real ``stripe.StripeClient``.
"""

from bot.sandbox.faults import FaultInjector
from bot.sandbox.models import BotError, CallbackAnswer, PaymentOutcome, SandboxMessage
from bot.sandbox.server import Sandbox
from bot.sandbox.stripe_emulator import LedgerEntry, StripeEmulator
from bot.sandbox.users import VirtualUser

__all__ = [
    "BotError",
    "CallbackAnswer",
    "FaultInjector",
    "LedgerEntry",
    "PaymentOutcome",
    "Sandbox",
    "SandboxMessage",
    "StripeEmulator",
    "VirtualUser",
]
