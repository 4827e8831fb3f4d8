"""Storage only stores: what a decision produces (which message, which refund reason) is
decided in core and reaches ``bot/storage`` as a plan; storage never names a message key
of the texts catalog or a refund reason itself."""

from __future__ import annotations

import ast
from pathlib import Path

from core.payments.plans import RefundReason
from handlers.texts import TEXTS

ROOT = Path(__file__).resolve().parents[2]
STORAGE = ROOT / "bot" / "storage"
REASONS = {reason.value for reason in RefundReason}


def _is_message_key(text: str) -> bool:
    """A key of the catalog, or the fixed start of a family of keys (``refund_started.``
    in ``f"refund_started.{reason}"``)."""
    return text in TEXTS or (text.endswith(".") and any(k.startswith(text) for k in TEXTS))


def _findings(source: str, where: str) -> tuple[list[str], list[str]]:
    """(message keys, refund reasons) named in ``source``, as ``where:line 'literal'``."""
    keys: list[str] = []
    reasons: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):  # f-string parts too
            if _is_message_key(node.value):
                keys.append(f"{where}:{node.lineno} {node.value!r}")
            if node.value in REASONS:
                reasons.append(f"{where}:{node.lineno} {node.value!r}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == "RefundReason":
            reasons.append(f"{where}:{node.lineno} RefundReason.{node.attr}")
    return sorted(keys), sorted(reasons)


def _storage_findings() -> tuple[list[str], list[str]]:
    keys: list[str] = []
    reasons: list[str] = []
    for path in sorted(STORAGE.rglob("*.py")):
        found_keys, found_reasons = _findings(path.read_text(encoding="utf-8"),
                                              str(path.relative_to(ROOT)))
        keys += found_keys
        reasons += found_reasons
    return keys, reasons


def test_storage_names_no_message_key() -> None:
    keys, _ = _storage_findings()
    assert keys == [], ("storage decides which message goes out; put it in a core plan: "
                        + ", ".join(keys))


def test_storage_names_no_refund_reason() -> None:
    _, reasons = _storage_findings()
    assert reasons == [], ("storage decides why money goes back; put it in a core plan: "
                           + ", ".join(reasons))


def test_the_check_sees_keys_and_reasons_however_they_are_written() -> None:
    source = (
        'a = {"key": "event_cancelled"}\n'
        'b = f"refund_started.{reason.value}"\n'
        "c = literal(RefundReason.LOTTERY_NOT_SELECTED.value)\n"
        'd = "seats_gone"\n'
        'e = ("status", "pending", "refund:", "chat_id")\n'  # plain column values pass
    )
    keys, reasons = _findings(source, "x.py")
    assert keys == ["x.py:1 'event_cancelled'", "x.py:2 'refund_started.'"]
    assert reasons == ["x.py:1 'event_cancelled'", "x.py:3 RefundReason.LOTTERY_NOT_SELECTED",
                       "x.py:4 'seats_gone'"]
