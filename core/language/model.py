"""Language tags and how a Telegram ``language_code`` maps to a supported language."""

from __future__ import annotations

from collections.abc import Sequence


def negotiate(language_code: str | None, supported: Sequence[str], default: str) -> str:
    """The supported language for an IETF tag such as ``de``, ``pt-br`` or ``en-US`` (what
    Telegram sends as ``language_code``); ``default`` when there is none or it is not
    supported.

    Args:
        language_code: the tag (case and ``_`` / ``-`` do not matter).
        supported: the languages the product speaks.
        default: the fallback, one of ``supported``.
    """
    if not language_code:
        return default
    tag = language_code.replace("_", "-").lower()
    if tag in supported:
        return tag
    base = tag.split("-", 1)[0]
    return base if base in supported else default
