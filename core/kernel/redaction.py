"""Secrets never leave in text: logs, error reports and previews pass through :func:`redact`."""

from __future__ import annotations

import re

# Bot tokens appear in Bot API URLs (".../bot123:ABC.../sendMessage"); Stripe keys in configs.
_SECRETS = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}|(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9]+"
                      r"|whsec_[A-Za-z0-9]+")


def redact(text: str) -> str:
    """``text`` with bot tokens and Stripe keys replaced by ``***``."""
    return _SECRETS.sub("***", text)
