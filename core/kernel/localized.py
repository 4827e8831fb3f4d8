"""A text an organizer gave in several languages (an event's title), carried as one value
through the outbox so each recipient reads it in their own language."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LocalText:
    """``default`` in the event's own language, ``translations`` as ``(language, text)``."""

    default: str
    translations: tuple[tuple[str, str], ...] = ()

    def for_language(self, language: str) -> str:
        """The text for a reader of ``language``; the default when there is none."""
        for code, text in self.translations:
            if code == language:
                return text
        return self.default

    def __str__(self) -> str:
        return self.default
