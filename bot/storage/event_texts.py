"""An event's texts in other languages, stored as JSON in ``events.translations``."""

from __future__ import annotations

import json

from core.catalog.model import EventText


def translations_to_json(translations: tuple[tuple[str, EventText], ...]) -> str | None:
    """An event's other languages as stored (None when there are none)."""
    if not translations:
        return None
    return json.dumps({code: {"title": text.title, "description": text.description}
                       for code, text in translations}, ensure_ascii=False, sort_keys=True)


def translations_from_json(value: str | None) -> tuple[tuple[str, EventText], ...]:
    """Inverse of :func:`translations_to_json`."""
    if not value:
        return ()
    data = json.loads(value)
    return tuple(sorted((code, EventText(str(item.get("title", "")),
                                         str(item.get("description", ""))))
                        for code, item in data.items()))
