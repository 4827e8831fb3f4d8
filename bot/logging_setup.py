"""Logging that never prints a secret."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# A bot token inside a URL path: /bot123456:ABC.../method
_TOKEN_IN_URL = re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+")
_STRIPE_KEY = re.compile(r"\b(sk|rk)_(test|live)_[A-Za-z0-9]+")
# Ticket and invite tokens in deep links ("?start=t_<token>", "/start i_<token>"): whoever holds
# one gets in at the door or takes a role, and PTB logs every update and request at DEBUG.
_DEEP_LINK_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])([ti]_)[A-Za-z0-9_-]{22}(?![A-Za-z0-9_-])")


class RedactSecrets(logging.Filter):
    """Replaces known secret values and secret-shaped strings in every record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 6]

    def redact(self, text: str) -> str:
        """``text`` with secrets masked."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = _TOKEN_IN_URL.sub(r"\1***", text)
        text = _DEEP_LINK_TOKEN.sub(r"\1***", text)
        return _STRIPE_KEY.sub(r"\1_\2_***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Root logging to stderr with secret redaction; chatty HTTP loggers quietened."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiosqlite and SQLAlchemy would log every SQL parameter at DEBUG: ticket and invite
    # tokens, phone fingerprints and lottery seeds that must stay secret until the draw.
    for name in ("httpx", "httpcore", "apscheduler", "aiohttp.access", "stripe", "aiosqlite",
                 "sqlalchemy.engine"):
        logging.getLogger(name).setLevel(logging.WARNING)
