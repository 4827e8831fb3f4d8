"""Lengths as Telegram counts them: UTF-16 code units of the text after entity parsing.

Python counts code points, Telegram counts UTF-16 code units: an emoji outside the Basic
Multilingual Plane (🎉, 🎟, most flags and faces) is one Python character but two units. A
32-character invoice title of emoji is 64 units and Telegram refuses it; a message is measured
after its HTML tags are dropped and its entities decoded.
"""

from __future__ import annotations

import html
import re

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
ELLIPSIS = "…"
_TAG = re.compile(r"<[^>]*>")
_TOKEN = re.compile(r"(<[^>]*>)|(&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);)|([^<&]+|&)")
# Cutting off a line is worth it only when a sensible part of it fits.
_MIN_PARTIAL = 64


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (Telegram's unit)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def _take(text: str, budget: int) -> str:
    """The longest start of ``text`` within ``budget`` units, never half a character nor a
    dangling zero-width joiner."""
    used = 0
    for index, ch in enumerate(text):
        used += _units(ch)
        if used > budget:
            return text[:index].rstrip("\u200d")
    return text


def cut(text: str, limit: int) -> str:
    """Plain ``text`` shortened to ``limit`` UTF-16 units, ending in "…" when cut."""
    if utf16_len(text) <= limit:
        return text
    return _take(text, limit - 1).rstrip() + ELLIPSIS


def html_len(text: str) -> int:
    """Units Telegram counts for HTML ``text``: tags dropped, entities decoded."""
    return utf16_len(html.unescape(_TAG.sub("", text)))


def _cut_line(line: str, budget: int) -> str:
    """Balanced HTML ``line`` cut to ``budget`` units of visible text (plus "…"), with the
    tags it opened closed again."""
    out: list[str] = []
    open_tags: list[str] = []
    used = 0
    for tag, entity, text in _TOKEN.findall(line):
        if tag:
            name = tag[1:-1].strip().split(None, 1)[0].lower() if len(tag) > 2 else ""
            if name.startswith("/"):
                if open_tags:
                    open_tags.pop()
            elif name and not tag.endswith("/>"):
                open_tags.append(name)
            out.append(tag)
            continue
        piece = entity or text
        shown = html.unescape(piece) if entity else piece
        width = utf16_len(shown)
        if used + width <= budget:
            out.append(piece)
            used += width
            continue
        if not entity:  # plain text holds no "<" or entity: cut it anywhere
            out.append(_take(piece, budget - used))
        break
    out.append(ELLIPSIS)
    out.extend(f"</{name}>" for name in reversed(open_tags))
    return "".join(out)


def fit(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """HTML ``text`` within Telegram's ``limit`` (UTF-16 units after entity parsing).

    Whole lines are kept while they fit; the first line that does not is cut inside (tags
    closed again) when a sensible part of it fits, else dropped; "…" marks the cut. As long as
    every line is balanced HTML (true of all texts here), so is the result.
    """
    if html_len(text) <= limit:
        return text
    kept: list[str] = []
    size = 0
    budget = limit - 2  # room for "\n…"
    for line in text.split("\n"):
        width = html_len(line) + (1 if kept else 0)
        if size + width > budget:
            room = budget - size - (1 if kept else 0)
            if room >= _MIN_PARTIAL:
                kept.append(_cut_line(line, room - 1))
                return "\n".join(kept)
            break
        kept.append(line)
        size += width
    return "\n".join(kept) + "\n" + ELLIPSIS
