"""The callback_data codec: round trips, size limit, and forged input decoding to None."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.callbacks import (
    MAX_BYTES,
    MAX_ID,
    MAX_PAGE,
    MAX_QUANTITY,
    Action,
    ChooseType,
    EnterLottery,
    EntryQuantity,
    HoldSeats,
    ListPage,
    MyTickets,
    Noop,
    Release,
    ShowEvent,
    ShowTicket,
    decode,
    encode,
)

ids = st.integers(min_value=1, max_value=MAX_ID)
actions = st.one_of(
    st.builds(ListPage, st.integers(min_value=0, max_value=MAX_PAGE)),
    st.builds(ShowEvent, ids),
    st.builds(ChooseType, ids),
    st.builds(HoldSeats, ids, st.integers(min_value=1, max_value=MAX_QUANTITY)),
    st.builds(Release, ids),
    st.builds(EnterLottery, ids),
    st.builds(EntryQuantity, ids, st.integers(min_value=1, max_value=MAX_QUANTITY)),
    st.builds(ShowTicket, ids),
    st.just(MyTickets()),
    st.just(Noop()),
)


@pytest.mark.parametrize(("action", "wire"), [
    (ShowEvent(42), "v1:ev:42"),
    (ListPage(2), "v1:ls:2"),
    (ChooseType(17), "v1:tt:17"),
    (HoldSeats(17, 3), "v1:q:17:3"),
    (Release(99), "v1:rel:99"),
    (EnterLottery(17), "v1:le:17"),
    (EntryQuantity(17, 2), "v1:lq:17:2"),
    (ShowTicket(55), "v1:tk:55"),
    (MyTickets(), "v1:my"),
    (Noop(), "v1:noop"),
])
def test_documented_wire_forms(action: Action, wire: str) -> None:
    assert encode(action) == wire
    assert decode(wire) == action


@given(actions)
def test_every_action_round_trips_within_64_ascii_bytes(action: Action) -> None:
    data = encode(action)
    assert data.isascii()
    assert len(data.encode()) <= MAX_BYTES
    assert decode(data) == action


def test_largest_ids_still_fit() -> None:
    assert len(encode(HoldSeats(MAX_ID, MAX_QUANTITY))) <= MAX_BYTES
    assert len(encode(EntryQuantity(MAX_ID, MAX_QUANTITY))) <= MAX_BYTES


@pytest.mark.parametrize("data", [
    "v1:le", "v1:le:", "v1:le:0", "v1:le:-17", "v1:le:017", "v1:le:17:2", "v1:le:abc",
    f"v1:le:{MAX_ID + 1}", "v1:le:17 ", "v1:le:１７", "v2:le:17", "v1:LE:17",
    "v1:lq", "v1:lq:17", "v1:lq:17:", "v1:lq::2", "v1:lq:17:0", "v1:lq:17:-1",
    f"v1:lq:17:{MAX_QUANTITY + 1}", "v1:lq:0:2", "v1:lq:17:02", "v1:lq:17:2:1",
    "v1:lq:17:2.0", "v1:lq:17:1e1", f"v1:lq:{MAX_ID + 1}:1", "v1:lq:17:²",
])
def test_forged_lottery_buttons_decode_to_none(data: str) -> None:
    assert decode(data) is None


@pytest.mark.parametrize("data", [
    "", "v1", "v1:", "v2:ev:42", "V1:ev:42", "ev:42", "v1:ev", "v1:ev:", "v1:ev:42:1",
    "v1:ev:-1", "v1:ev:0", "v1:ev:+5", "v1:ev:042", "v1:ev:4 2", "v1:ev: 42", "v1:ev:42 ",
    "v1:ev:1e3", "v1:ev:0x10", "v1:ev:٤٢", "v1:ev:²", f"v1:ev:{MAX_ID + 1}",
    "v1:ev:" + "9" * 40, "v1:q:17", "v1:q:17:0", f"v1:q:17:{MAX_QUANTITY + 1}", "v1:q:17:-3",
    "v1:my:1", "v1:noop:0", "v1:zz:1", "v1:ls:-1", f"v1:ls:{MAX_PAGE + 1}", "v1:rel:abc",
    "v1::ev:42", "v1:ev::42", "v1:tk:55\n", "v1:tk:55\x00", "v1:ev:42" + " " * 60,
])
def test_forged_or_malformed_data_decodes_to_none(data: str) -> None:
    assert decode(data) is None


@pytest.mark.parametrize("data", [None, 42, b"v1:ev:42", ["v1:ev:42"]])
def test_non_strings_decode_to_none(data: object) -> None:
    assert decode(data) is None


@given(st.text(max_size=100))
def test_random_text_never_raises_and_only_canonical_forms_decode(data: str) -> None:
    action = decode(data)
    if action is not None:
        assert encode(action) == data


@given(st.lists(st.sampled_from(["v1", "ev", "q", "ls", "my", "noop", "tk", "rel", "tt",
                                 "le", "lq", "0", "1", "17", "-1", "x", "", "007"]),
                max_size=5))
def test_near_miss_wire_forms_decode_canonically_or_not_at_all(parts: list[str]) -> None:
    data = ":".join(parts)
    action = decode(data)
    if action is not None:
        assert encode(action) == data


@pytest.mark.parametrize("action", [ShowEvent(0), ListPage(-1), HoldSeats(1, 0),
                                    ShowTicket(MAX_ID + 1), HoldSeats(1, MAX_QUANTITY + 1),
                                    EnterLottery(0), EntryQuantity(1, 0),
                                    EntryQuantity(MAX_ID + 1, 1),
                                    EntryQuantity(1, MAX_QUANTITY + 1)])
def test_encoding_out_of_range_values_is_a_programming_error(action: Action) -> None:
    with pytest.raises(ValueError):
        encode(action)
