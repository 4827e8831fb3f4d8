"""Parsing of Telegram formatted text (``parse_mode``) the way Telegram's server does it.

The HTML parser follows tdlib's ``parse_html`` closely (supported tags, attribute syntax,
error wording with UTF-8 byte offsets), so escaping bugs in the bot surface as
``Bad Request: can't parse entities: ...`` in the sandbox exactly as in production.

One deliberate difference (``strict_ampersand=True``, the default): real Telegram keeps a bare
``&`` that does not start a known entity literally; the sandbox rejects it because it is
almost always a sign of missing ``html.escape`` on user content.
"""

from __future__ import annotations

import re
from typing import Any

SUPPORTED_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins",
        "tg-spoiler", "tg-emoji", "span", "pre", "code", "blockquote",
    }
)  # fmt: skip
_TAG_TO_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_MDV2_ALWAYS_RESERVED = frozenset(".!-=+#{}")


class EntityParseError(ValueError):
    """Raised with Telegram's wording (without the ``Bad Request: can't parse entities:``)."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _decode_entity(text: str, i: int) -> tuple[str, int] | None:
    """Decode an HTML character entity starting at ``text[i] == '&'``.

    Returns:
        (decoded character, index after the entity) or None if it is not a valid entity.
    """
    end = text.find(";", i + 1, i + 12)
    if end == -1:
        return None
    body = text[i + 1 : end]
    if body in _NAMED_ENTITIES:
        return _NAMED_ENTITIES[body], end + 1
    if body.startswith("#"):
        num = body[1:]
        try:
            code = int(num[1:], 16) if num[:1] in ("x", "X") else int(num, 10)
        except ValueError:
            return None
        if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return chr(code), end + 1
    return None


def _decode_attr(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "&":
            dec = _decode_entity(value, i)
            if dec is not None:
                out.append(dec[0])
                i = dec[1]
                continue
        out.append(value[i])
        i += 1
    return "".join(out)


def parse_html(text: str, strict_ampersand: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into plain text and MessageEntity dicts.

    Args:
        text: The text as sent by the bot with ``parse_mode=HTML``.
        strict_ampersand: Reject a bare ``&`` (see module docstring).

    Returns:
        (plain text, entities with UTF-16 offsets).

    Raises:
        EntityParseError: With tdlib's wording, e.g. ``Unsupported start tag "3" at byte
            offset 2``.
    """
    out: list[str] = []
    pos16 = 0
    stack: list[tuple[str, dict[str, str], int]] = []
    entities: list[dict[str, Any]] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "&":
            dec = _decode_entity(text, i)
            if dec is not None:
                out.append(dec[0])
                pos16 += utf16_len(dec[0])
                i = dec[1]
                continue
            if strict_ampersand:
                raise EntityParseError(
                    f'Unescaped "&" at byte offset {_byte_offset(text, i)}: use "&amp;" '
                    "(sandbox strict mode)"
                )
        if c != "<":
            out.append(c)
            pos16 += 2 if ord(c) > 0xFFFF else 1
            i += 1
            continue
        begin = _byte_offset(text, i)
        if i + 1 >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
        if text[i + 1] != "/":
            j = i + 1
            while j < n and not text[j].isspace() and text[j] != ">":
                j += 1
            if j >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
            tag = text[i + 1 : j].lower()
            if tag not in SUPPORTED_TAGS:
                raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            attrs: dict[str, str] = {}
            while True:
                while j < n and text[j].isspace():
                    j += 1
                if j >= n:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
                if text[j] == ">":
                    j += 1
                    break
                k = j
                while k < n and not text[k].isspace() and text[k] not in "=>":
                    k += 1
                name = text[j:k].lower()
                if not name:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
                    )
                j = k
                while j < n and text[j].isspace():
                    j += 1
                if j < n and text[j] == "=":
                    j += 1
                    while j < n and text[j].isspace():
                        j += 1
                    if j >= n:
                        raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
                    if text[j] in "\"'":
                        quote = text[j]
                        end = text.find(quote, j + 1)
                        if end == -1:
                            raise EntityParseError(
                                f'Unclosed end of attribute value in the tag "{tag}" '
                                f"at byte offset {begin}"
                            )
                        value = text[j + 1 : end]
                        j = end + 1
                    else:
                        k = j
                        while k < n and not text[k].isspace() and text[k] != ">":
                            k += 1
                        value = text[j:k]
                        j = k
                    attrs[name] = _decode_attr(value)
                elif name == "expandable" and tag == "blockquote":
                    attrs[name] = ""
                else:
                    raise EntityParseError(
                        f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                        f"at byte offset {begin}"
                    )
            if tag == "span" and attrs.get("class") != "tg-spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {begin}'
                )
            if tag == "tg-emoji" and not attrs.get("emoji-id"):
                raise EntityParseError(
                    f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {begin}'
                )
            stack.append((tag, attrs, pos16))
            i = j
            continue
        j = text.find(">", i + 2)
        if j == -1:
            raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
        end_tag = text[i + 2 : j].strip().lower()
        if not stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
        open_tag, attrs, start16 = stack[-1]
        if end_tag != open_tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{open_tag}>", '
                f'found "</{end_tag}>"'
            )
        stack.pop()
        length = pos16 - start16
        if length > 0:
            entity: dict[str, Any] = {
                "type": _TAG_TO_ENTITY[open_tag],
                "offset": start16,
                "length": length,
            }
            if open_tag == "a":
                href = attrs.get("href", "")
                if href:
                    entity["url"] = href
                else:
                    entity = {}
            elif open_tag == "blockquote" and "expandable" in attrs:
                entity["type"] = "expandable_blockquote"
            elif open_tag == "tg-emoji":
                entity["custom_emoji_id"] = attrs["emoji-id"]
            elif open_tag == "code" and stack and stack[-1][0] == "pre":
                lang = attrs.get("class", "")
                if lang.startswith("language-"):
                    stack[-1][1]["_language"] = lang[len("language-") :]
                entity = {}
            elif open_tag == "pre" and attrs.get("_language"):
                entity["language"] = attrs["_language"]
            if entity:
                entities.append(entity)
        i = j + 1
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


_MDV2_CODE = re.compile(r"```.*?```|`[^`]*`", re.S)
_MDV2_LINK_URL = re.compile(r"\]\((?:[^()\\]|\\.)*\)")


def check_markdown_v2(text: str) -> str:
    """Best-effort MarkdownV2 validation: reserved characters must be escaped.

    Only the characters that never have a formatting meaning (``. ! - = + # { }``) are checked
    outside of code spans and link URLs; the rest of the grammar is not validated.

    Returns:
        Approximate plain text (escapes and formatting markers removed).

    Raises:
        EntityParseError: ``Character '.' is reserved and must be escaped with the preceding
            '\\'`` (Telegram's wording).
    """
    masked = _MDV2_CODE.sub(lambda m: " " * len(m.group(0)), text)
    masked = _MDV2_LINK_URL.sub(lambda m: "]" + " " * (len(m.group(0)) - 1), masked)
    i = 0
    while i < len(masked):
        ch = masked[i]
        if ch == "\\":
            i += 2
            continue
        if ch in _MDV2_ALWAYS_RESERVED:
            raise EntityParseError(
                f"Character '{ch}' is reserved and must be escaped with the preceding '\\'"
            )
        i += 1
    plain = re.sub(r"\\(.)", r"\1", re.sub(r"(?<!\\)[*_~|`]", "", text))
    return plain
