"""Scripted demos of the whole bot in the loopback sandbox: ``ticketq demo``, with
``--lottery`` or ``--after-sale``.

This package is the one entry point from production code (the CLI) into the development tools.
"""

from bot.sandbox.demos.after_sale import run_after_sale_demo
from bot.sandbox.demos.lottery import run_lottery_demo
from bot.sandbox.demos.sale import run_demo

__all__ = ["run_after_sale_demo", "run_demo", "run_lottery_demo"]
