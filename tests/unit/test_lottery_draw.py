"""The draw: secure random order, all-or-nothing entries, skipping what does not fit, and a
result anyone can recompute from public inputs."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from scipy.stats import chisquare

from core.catalog.model import LotteryWindow
from core.lottery.model import (
    PublicEntry,
    WindowPhase,
    allocate,
    commitment,
    draw_rows,
    entry_list_hash,
    new_reference,
    new_seed,
    public_draw,
    rows_list_hash,
    window_phase,
)

SEED = bytes(range(32))
TEN = [PublicEntry(f"REF{i:02d}", 1 + i % 3, "GA") for i in range(1, 11)]


def test_an_entry_wins_all_its_tickets_or_none() -> None:
    assert allocate([(1, "GA", 3), (2, "GA", 2)], {"GA": 4}) == {1}


def test_an_entry_that_does_not_fit_is_skipped_and_the_next_one_tried() -> None:
    # 3 seats: #1 takes 2, #2 (2 tickets) does not fit, #3 (1 ticket) takes the last seat.
    assert allocate([(1, "GA", 2), (2, "GA", 2), (3, "GA", 1)], {"GA": 3}) == {1, 3}


def test_all_seats_are_used_when_the_entries_allow_it() -> None:
    order = [(i, "GA", q) for i, q in enumerate([4, 3, 4, 2, 1, 1, 3], start=1)]
    winners = allocate(order, {"GA": 10})
    assert sum(q for i, _, q in order if i in winners) == 10


def test_ticket_types_have_their_own_seats() -> None:
    order = [(1, "VIP", 1), (2, "GA", 2), (3, "VIP", 1), (4, "GA", 1)]
    assert allocate(order, {"GA": 2, "VIP": 1}) == {1, 2}


def test_known_answer_vector() -> None:
    """docs/draw.md: seed 00..1f, REF01..REF10 with quantity 1 + i mod 3, 6 GA seats."""
    result = public_draw(TEN, {"GA": 6}, SEED)
    assert commitment(SEED) == \
        "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd"
    assert result.list_hash == \
        "e45b6a1cf110844fa7265d44aa78e6a985d99a21aab2351143b9e4f50531d089"
    assert [e.ref for e in result.order] == [
        "REF04", "REF03", "REF08", "REF01", "REF09", "REF06", "REF02", "REF07", "REF10",
        "REF05"]
    assert result.winners == {"REF04", "REF03", "REF08"}  # 2 + 1 + 3 seats


def test_the_beacon_changes_the_order() -> None:
    plain = public_draw(TEN, {"GA": 6}, SEED)
    mixed = public_draw(TEN, {"GA": 6}, SEED, bytes(32))
    assert [e.ref for e in mixed.order] == [
        "REF02", "REF06", "REF10", "REF03", "REF04", "REF01", "REF08", "REF09", "REF05",
        "REF07"]
    assert [e.ref for e in mixed.order] != [e.ref for e in plain.order]


def test_the_input_order_does_not_matter() -> None:
    shuffled_input = list(reversed(TEN))
    assert public_draw(shuffled_input, {"GA": 6}, SEED) == public_draw(TEN, {"GA": 6}, SEED)


def reference_implementation(entries: list[list], seats: dict, seed: bytes,
                             beacon: bytes | None) -> list[str]:
    """docs/draw.md, implemented again from the text alone (no import from core)."""
    rows = sorted(entries, key=lambda r: r[0])
    list_hash = hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).digest()
    key = hmac.new(seed, b"ticketq-draw-v2" + list_hash + (beacon or b""),
                   hashlib.sha256).digest()

    def numbers():
        counter = 0
        while True:
            block = hmac.new(key, b"ticketq-draw-v2" + counter.to_bytes(8, "big"),
                             hashlib.sha256).digest()
            for i in range(4):
                yield int.from_bytes(block[8 * i:8 * i + 8], "big")
            counter += 1

    stream = numbers()
    for i in range(len(rows) - 1, 0, -1):
        n = i + 1
        while (x := next(stream)) >= 2**64 - 2**64 % n:
            pass
        j = x % n
        rows[i], rows[j] = rows[j], rows[i]
    return [r[0] for r in rows]


@pytest.mark.parametrize("trial", range(20))
def test_the_documented_algorithm_reproduces_the_draw(trial: int) -> None:
    rng = random.Random(trial)
    entries = [PublicEntry(new_reference(), rng.randint(1, 4), rng.choice(["GA", "VIP"]))
               for _ in range(rng.randint(1, 60))]
    seed, beacon = new_seed(), (new_seed() if trial % 2 else None)
    ours = public_draw(entries, {"GA": 20, "VIP": 5}, seed, beacon)
    theirs = reference_implementation([[e.ref, e.quantity, e.ticket_type] for e in entries],
                                      {"GA": 20, "VIP": 5}, seed, beacon)
    assert [e.ref for e in ours.order] == theirs


def test_every_position_wins_equally_often_over_ten_thousand_draws() -> None:
    """Chi-square: the winner of a 1-seat, 8-entry lottery is uniform (p > 0.001), whatever
    the entry's position in the list or the time it entered."""
    entries = [PublicEntry(f"E{i}", 1, "GA") for i in range(8)]
    wins = Counter()
    for i in range(10_000):
        (winner,) = public_draw(entries, {"GA": 1}, i.to_bytes(32, "big")).winners
        wins[winner] += 1
    observed = [wins[e.ref] for e in entries]
    assert chisquare(observed).pvalue > 0.001
    # The first and the last entry in the list have the same chance.
    first_last = [wins["E0"], wins["E7"]]
    assert chisquare(first_last).pvalue > 0.001


def test_every_entry_reaches_every_position_uniformly() -> None:
    entries = [PublicEntry(f"E{i}", 1, "GA") for i in range(5)]
    positions = {e.ref: Counter() for e in entries}
    for i in range(10_000):
        for position, e in enumerate(public_draw(entries, {"GA": 1},
                                                 i.to_bytes(32, "big")).order):
            positions[e.ref][position] += 1
    for counts in positions.values():
        assert chisquare([counts[p] for p in range(5)]).pvalue > 0.001


def test_list_hash_covers_every_field() -> None:
    base = entry_list_hash(TEN)
    changed = [PublicEntry(e.ref, e.quantity + (e.ref == "REF05"), e.ticket_type) for e in TEN]
    assert entry_list_hash(changed) != base
    assert entry_list_hash(TEN[:-1]) != base


def test_the_entry_window_is_open_from_open_until_close() -> None:
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    window = LotteryWindow(t0, t0 + timedelta(hours=1), t0 + timedelta(hours=2), 2)
    assert window_phase(window, t0 - timedelta(seconds=1)) is WindowPhase.NOT_YET_OPEN
    assert window_phase(window, t0) is WindowPhase.OPEN
    assert window_phase(window, t0 + timedelta(hours=1)) is WindowPhase.CLOSED


@pytest.mark.parametrize("trial", range(20))
def test_the_draw_over_plain_rows_is_exactly_the_public_draw(trial: int) -> None:
    # The storage path draws over (id, ref, quantity, type) tuples; it must give the very
    # order, winners and list hash that anyone recomputes from the published entries.
    rng = random.Random(trial)
    refs = rng.sample(range(10**6), rng.randint(1, 400))
    rows = [(1000 + i, f"R{ref:07d}", rng.randint(1, 3), rng.choice(["GA", "VIP", "É ü"]))
            for i, ref in enumerate(refs)]
    seats = {"GA": rng.randint(0, 200), "VIP": rng.randint(0, 20), "É ü": rng.randint(0, 5)}
    seed, beacon = rng.randbytes(32), rng.choice([None, rng.randbytes(32)])
    public = public_draw([PublicEntry(r, q, tt) for _, r, q, tt in rows], seats, seed, beacon)
    fast = draw_rows(rows, seats, seed, beacon)
    by_id = {i: r for i, r, _, _ in rows}
    assert fast.list_hash == public.list_hash == rows_list_hash(sorted(rows, key=lambda x: x[1]))
    assert [r[1] for r in fast.order] == [e.ref for e in public.order]
    assert {by_id[i] for i in fast.winners} == set(public.winners)
    assert draw_rows(rows, seats, seed, beacon, list_hash=public.list_hash) == fast
