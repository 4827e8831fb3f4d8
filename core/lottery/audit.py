"""The public audit of a lottery draw, and its independent verification.

An audit file holds everything needed to recompute a draw: the rules, the commitment published
before entries opened, the revealed seed, the beacon round and value (if any), the frozen entry
list, its hash, the resulting order and the winners. :func:`verify_audit` recomputes all of it
from the file alone; ``ticketq verify-draw FILE`` is a thin wrapper.
"""

from __future__ import annotations

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
    "refunded in full. Full algorithm: docs/draw.md."
)


def build_audit(*, event: dict[str, Any], seats: dict[str, int], max_per_entry: int,
                commitment_hex: str, seed: bytes, beacon: dict[str, Any] | None,
                entries: list[PublicEntry], list_hash: str, order: list[PublicEntry],
                winners: frozenset[str], drawn_at: str) -> dict[str, Any]:
    """The audit document (JSON-ready)."""
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
    return problems
