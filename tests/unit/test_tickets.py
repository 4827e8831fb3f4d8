"""Ticket secrets: 128-bit tokens, unambiguous short codes, deep-link payloads."""

import re

from core.tickets.model import (
    CODE_ALPHABET,
    deep_link_payload,
    format_short_code,
    new_short_code,
    new_token,
    normalize_short_code,
    token_from_payload,
    tokens_equal,
)


def test_tokens_carry_128_bits_and_fit_a_deep_link() -> None:
    tokens = {new_token() for _ in range(2000)}
    assert len(tokens) == 2000
    token = tokens.pop()
    payload = deep_link_payload(token)
    assert len(payload) <= 64 and re.fullmatch(r"[A-Za-z0-9_-]+", payload)
    assert token_from_payload(payload) == token


def test_short_codes_avoid_look_alike_characters() -> None:
    for ch in "01OIL":
        assert ch not in CODE_ALPHABET
    code = new_short_code()
    assert format_short_code(code) == f"{code[:4]}-{code[4:]}"


def test_typed_codes_are_normalized_or_rejected() -> None:
    code = new_short_code()
    assert normalize_short_code(f" {format_short_code(code).lower()} ") == code
    assert normalize_short_code("ABC") is None
    assert normalize_short_code("OOOO-OOOO") is None


def test_altered_or_foreign_payloads_are_not_tokens() -> None:
    token = new_token()
    assert token_from_payload("ev_12") is None
    assert token_from_payload("t_" + token[:-1]) is None
    assert token_from_payload("t_" + token + "x") is None
    assert not tokens_equal(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
