"""The audit file: verify-draw accepts the real thing and names every kind of tampering."""

from __future__ import annotations

import copy

import pytest

from core.lottery.audit import build_audit, verify_audit
from core.lottery.model import PublicEntry, commitment, new_seed, public_draw

ENTRIES = [PublicEntry(f"R{i:03d}", 1 + i % 4, "VIP" if i % 5 == 0 else "GA")
           for i in range(40)]
SEATS = {"GA": 20, "VIP": 4}


def audit(beacon: bytes | None = None) -> dict:
    seed = new_seed()
    result = public_draw(ENTRIES, SEATS, seed, beacon)
    return build_audit(
        event={"id": 1, "title": "Show"}, seats=SEATS, max_per_entry=4,
        commitment_hex=commitment(seed), seed=seed,
        beacon=None if beacon is None else {"url": "x", "round": 7, "value": beacon.hex()},
        entries=sorted(ENTRIES, key=lambda e: e.ref), list_hash=result.list_hash,
        order=result.order, winners=result.winners, drawn_at="2030-01-01T00:00:00+00:00")


@pytest.mark.parametrize("beacon", [None, bytes(range(32))])
def test_a_genuine_audit_verifies(beacon: bytes | None) -> None:
    assert verify_audit(audit(beacon)) == []


def tampered(change) -> list[str]:
    doc = copy.deepcopy(audit(bytes(range(32))))
    change(doc)
    return verify_audit(doc)


def test_a_changed_seed_breaks_the_commitment() -> None:
    problems = tampered(lambda d: d.update(seed="00" * 32))
    assert any("commitment" in p for p in problems)


def test_a_changed_beacon_value_changes_the_order() -> None:
    problems = tampered(lambda d: d["beacon"].update(value="11" * 32))
    assert any("order" in p for p in problems)


@pytest.mark.parametrize("change", [
    lambda d: d["entries"].append(["ZZZ99", 1, "GA"]),       # added
    lambda d: d["entries"].pop(3),                            # removed
    lambda d: d["entries"].reverse(),                         # reordered
    lambda d: d["entries"][0].__setitem__(1, 4),              # quantity changed
])
def test_a_touched_entry_list_breaks_the_list_hash(change) -> None:
    assert any("list hash" in p for p in tampered(change))


def test_altered_winners_are_caught() -> None:
    def swap(doc: dict) -> None:
        loser = next(ref for ref in doc["order"] if ref not in doc["winners"])
        doc["winners"][0] = loser
    assert any("winners" in p for p in tampered(swap))


def test_garbage_is_not_an_audit() -> None:
    assert verify_audit({"format": "something else"})
    assert verify_audit({"format": "ticketq-draw-audit/1"})
