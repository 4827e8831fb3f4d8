"""The public audit of a lottery draw, and its independent verification.

An audit file holds everything needed to recompute a draw: the rules, the commitment published
before entries opened, the revealed seed, the beacon round and value (if any), the frozen entry
list, its hash, the resulting order and the winners. :func:`verify_audit` recomputes all of it
from the file alone; ``ticketq verify-draw FILE`` is a thin wrapper.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.lottery.model import PublicEntry, commitment, entry_list_hash, public_draw

AUDIT_FORMAT = "ticketq-draw-audit/1"
RULES = (
    "Every paid entry has a random public reference. At the close the entry list, sorted by "
    "reference, is frozen and its SHA-256 published. The draw key is HMAC-SHA256(seed, "
    "'ticketq-draw-v2' || list hash || beacon value). An HMAC-SHA256 counter-mode stream of "
    "that key drives an unbiased Fisher-Yates shuffle of the frozen list (rejection sampling). "
    "Seats are allocated down the resulting order: an entry wins all its tickets or none; an "
    "entry that does not fit the seats left for its ticket type is skipped. Everyone else is "
    "refunded in full. Second chance: seats that come back (a winner's return) or were never "
    "won are offered to the other entries down the same order, each entry at most once: a "
    "return to the first entry not offered yet that asked for at least its seats, unclaimed "
    "seats to the first entry not offered yet (up to its own seats). Full algorithm: "
    "docs/draw.md."
)


def build_audit(*, event: dict[str, Any], seats: dict[str, int], max_per_entry: int,
                commitment_hex: str, seed: bytes, beacon: dict[str, Any] | None,
                entries: list[PublicEntry], list_hash: str, order: list[PublicEntry],
                winners: frozenset[str], drawn_at: str,
                second_chance: Sequence[tuple[str, int, str, str]] = ()) -> dict[str, Any]:
    """The audit document (JSON-ready); ``second_chance`` lists the offers made after the
    draw, in the order they were made: ``(reference, seats, "return" | "unclaimed",
    status)``."""
    return {
        "format": AUDIT_FORMAT,
        "event": event,
        "rules": RULES,
        "seats": dict(sorted(seats.items())),
        "max_per_entry": max_per_entry,
        "commitment": commitment_hex,
        "seed": seed.hex(),
        "beacon": beacon,
        "entries": [[e.ref, e.quantity, e.ticket_type] for e in entries],
        "list_hash": list_hash,
        "order": [e.ref for e in order],
        "winners": sorted(winners),
        "drawn_at": drawn_at,
        "second_chance": [list(offer) for offer in second_chance],
    }


def verify_audit(doc: Any) -> list[str]:
    """Recompute a draw from its audit file. Returns what does not match ([] = verified)."""
    if not isinstance(doc, dict) or doc.get("format") != AUDIT_FORMAT:
        return [f"not a TicketQ draw audit (expected format {AUDIT_FORMAT!r})"]
    problems: list[str] = []
    try:
        seed = bytes.fromhex(str(doc["seed"]))
        entries = [PublicEntry(str(ref), int(qty), str(kind)) for ref, qty, kind in
                   doc["entries"]]
        seats = {str(k): int(v) for k, v in doc["seats"].items()}
        beacon_doc = doc.get("beacon")
        beacon = bytes.fromhex(str(beacon_doc["value"])) if beacon_doc else None
        published_order = [str(ref) for ref in doc["order"]]
        published_winners = {str(ref) for ref in doc["winners"]}
        published_hash = str(doc["list_hash"])
        published_commitment = str(doc["commitment"])
    except (KeyError, TypeError, ValueError) as exc:
        return [f"the file is incomplete or malformed: {exc!r}"]
    if commitment(seed) != published_commitment:
        problems.append("seed does not match the commitment published before the draw")
    if len({e.ref for e in entries}) != len(entries):
        problems.append("entry list has duplicate references")
    if entry_list_hash(entries) != published_hash:
        problems.append("entry list does not match the published list hash "
                        "(an entry was added, removed, changed or reordered)")
    result = public_draw(entries, seats, seed, beacon)
    if [e.ref for e in result.order] != published_order:
        problems.append("the draw order does not follow from the seed, list and beacon")
    if set(result.winners) != published_winners:
        problems.append("the winners do not follow from the order and the seats")
    problems += second_chance_problems(doc.get("second_chance", []), entries,
                                       published_order, published_winners)
    return problems


def second_chance_problems(offers: Any, entries: Sequence[PublicEntry], order: Sequence[str],
                           winners: set[str]) -> list[str]:
    """Check the second-chance offers against the published draw order: replayed one by
    one, each must have gone to the entry the rule names (see :data:`RULES`)."""
    if not isinstance(offers, list):
        return ["second_chance is not a list"]
    asked = {e.ref: e.quantity for e in entries}
    offered: set[str] = set()
    problems: list[str] = []
    for number, offer in enumerate(offers, start=1):
        try:
            ref, seats, kind = str(offer[0]), int(offer[1]), str(offer[2])
        except (IndexError, TypeError, ValueError):
            return [f"second-chance offer #{number} is malformed"]
        left = [r for r in order if r not in winners and r not in offered]
        if kind == "return":
            expected = next((r for r in left if asked.get(r, 0) >= seats), None)
        elif kind == "unclaimed":
            expected = left[0] if left else None
        else:
            return [f"second-chance offer #{number} has an unknown kind {kind!r}"]
        if ref != expected:
            problems.append(f"second-chance offer #{number} ({kind}, {seats} seats) went to "
                            f"{ref}, but the draw order gives it to {expected}")
        elif not 1 <= seats <= asked.get(ref, 0):
            problems.append(f"second-chance offer #{number} gives {ref} {seats} seats, more "
                            "than its entry asked for")
        offered.add(ref)
    return problems
