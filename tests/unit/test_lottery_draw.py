"""The draw: secure random order, all-or-nothing entries, skipping what does not fit."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from core.catalog import LotteryWindow
from core.lottery import (
    Candidate,
    WindowPhase,
    allocate,
    draw,
    new_seed,
    shuffled,
    window_phase,
)

GA, VIP = 1, 2


def c(entry_id: int, quantity: int = 1, ticket_type: int = GA) -> Candidate:
    return Candidate(entry_id, ticket_type, quantity)


def test_an_entry_wins_all_its_tickets_or_none() -> None:
    assert allocate([c(1, 3), c(2, 2)], {GA: 4}) == {1}


def test_an_entry_that_does_not_fit_is_skipped_and_the_next_one_tried() -> None:
    # 3 seats: #1 takes 2, #2 (2 tickets) does not fit, #3 (1 ticket) takes the last seat.
    assert allocate([c(1, 2), c(2, 2), c(3, 1)], {GA: 3}) == {1, 3}


def test_all_seats_are_used_when_the_entries_allow_it() -> None:
    order = [c(i, q) for i, q in enumerate([4, 3, 4, 2, 1, 1, 3], start=1)]
    winners = allocate(order, {GA: 10})
    assert sum(x.quantity for x in order if x.entry_id in winners) == 10


def test_ticket_types_have_their_own_seats() -> None:
    order = [c(1, 1, VIP), c(2, 2, GA), c(3, 1, VIP), c(4, 1, GA)]
    assert allocate(order, {GA: 2, VIP: 1}) == {1, 2}


def test_a_fixed_seed_gives_a_fixed_result() -> None:
    seed = bytes(range(32))
    entries = [c(i, 1 + i % 3) for i in range(1, 11)]
    result = draw(entries, {GA: 6}, seed)
    again = draw(list(reversed(entries)), {GA: 6}, seed)  # input order does not matter
    assert [x.entry_id for x in result.order] == [x.entry_id for x in again.order]
    # Known answer (docs/draw.md): order, then 6 seats allocated down it.
    assert [(x.entry_id, x.quantity) for x in result.order] == [
        (2, 3), (10, 2), (4, 2), (7, 2), (9, 1), (6, 1), (8, 3), (1, 2), (3, 1), (5, 3)]
    assert result.winners == {2, 10, 9}  # 3 + 2 seats, 4 and 7 skipped, 9 takes the last


def test_the_order_contains_every_entry_exactly_once() -> None:
    entries = [c(i) for i in range(1, 501)]
    result = draw(entries, {GA: 50}, new_seed())
    assert sorted(x.entry_id for x in result.order) == list(range(1, 501))
    assert len(result.winners) == 50


def test_every_position_is_equally_likely() -> None:
    # 4 entries, 12,000 seeded shuffles: each entry should be first about 1/4 of the time.
    firsts = Counter(shuffled([1, 2, 3, 4], i.to_bytes(32, "big"))[0] for i in range(12_000))
    for entry in (1, 2, 3, 4):
        assert firsts[entry] == pytest.approx(3000, abs=250)


def test_the_entry_window_is_open_from_open_until_close() -> None:
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    window = LotteryWindow(t0, t0 + timedelta(hours=1), t0 + timedelta(hours=2), 2)
    assert window_phase(window, t0 - timedelta(seconds=1)) is WindowPhase.NOT_YET_OPEN
    assert window_phase(window, t0) is WindowPhase.OPEN
    assert window_phase(window, t0 + timedelta(hours=1)) is WindowPhase.CLOSED
