"""Lengths as Telegram counts them: UTF-16 units after entity parsing (checked with the
sandbox's own HTML parser, which refuses what Telegram refuses)."""

from __future__ import annotations

from bot.sandbox.formatting import parse_html
from bot.sandbox.formatting import utf16_len as telegram_len
from handlers.common import cut
from handlers.lengths import fit, html_len, utf16_len


def test_an_emoji_outside_the_basic_plane_counts_twice() -> None:
    assert utf16_len("🎉") == 2 and utf16_len("é") == 1 and utf16_len("a🎟b") == 4
    assert html_len("<b>Tom &amp; 🎉</b>") == 8


def test_an_emoji_title_is_cut_to_32_units_for_an_invoice() -> None:
    title = cut("🎉" * 40, 32)
    assert telegram_len(title) <= 32 and title == "🎉" * 15 + "…"
    assert cut("Short title", 32) == "Short title"


def test_a_cut_never_ends_in_a_dangling_joiner() -> None:
    family = "👨\u200d👩\u200d👧" * 10
    assert not cut(family, 9).endswith("\u200d…")


def test_overlong_html_keeps_whole_lines_and_stays_valid() -> None:
    text = "<b>Title</b>\n" + "\n".join(f"• <i>line {i}</i> &amp; more" for i in range(800))
    fitted = fit(text)
    plain, _ = parse_html(fitted)
    assert telegram_len(plain) <= 4096 and fitted.endswith("\n…")
    assert fitted.startswith("<b>Title</b>\n• <i>line 0</i>")


def test_one_overlong_line_is_cut_inside_with_its_tags_closed() -> None:
    text = "<b>Fireworks</b>\n<i>" + "🎆" * 3000 + "</i>\n📍 Harbour"
    fitted = fit(text)
    plain, entities = parse_html(fitted)
    assert 4000 < telegram_len(plain) <= 4096
    assert fitted.endswith("…</i>") and [e["type"] for e in entities] == ["bold", "italic"]


def test_entities_count_once_and_are_never_split() -> None:
    text = "&amp;" * 5000
    plain, _ = parse_html(fit(text))
    assert set(plain) <= {"&", "…"} and telegram_len(plain) <= 4096


def test_short_texts_are_left_alone() -> None:
    text = "<b>Hi</b> 🎉"
    assert fit(text) is text
