"""A button is one declaration plus its flow: the registry refuses what could not work."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import handlers.router  # noqa: F401 - imports every module whose flows answer buttons
from handlers import callbacks as cb
from handlers.callbacks import Action, Buttons, Id, PageNo


def test_every_declared_action_has_a_flow() -> None:
    assert cb.BUTTONS.by_kind, "no button declared"
    assert cb.BUTTONS.unhandled() == []


def test_an_action_declared_without_a_flow_is_reported() -> None:
    buttons = Buttons()

    @buttons.declare("ab")
    @dataclass(frozen=True, slots=True)
    class Orphan(Action):
        order_id: Id

    assert buttons.unhandled() == ["Orphan"]


def test_two_actions_cannot_share_a_tag() -> None:
    buttons = Buttons()

    @buttons.declare("rf")
    @dataclass(frozen=True, slots=True)
    class Refund(Action):
        order_id: Id

    @dataclass(frozen=True, slots=True)
    class Refuse(Action):
        order_id: Id

    with pytest.raises(ValueError, match="taken"):
        buttons.declare("rf")(Refuse)
    assert buttons.decode("v1:rf:9") == Refund(9)


def test_the_live_registry_refuses_a_tag_already_in_chats() -> None:
    @dataclass(frozen=True, slots=True)
    class Another(Action):
        event_id: Id

    with pytest.raises(ValueError, match="taken"):
        cb.declare("ev")(Another)
    assert cb.decode("v1:ev:42") == cb.ShowEvent(42)


def test_an_action_whose_data_could_exceed_64_bytes_is_refused() -> None:
    @dataclass(frozen=True, slots=True)
    class ThreeIds(Action):  # v1:big: + 3 x 19 digits + 2 colons = 66 bytes
        a: Id
        b: Id
        c: Id

    buttons = Buttons()
    with pytest.raises(ValueError, match="64"):
        buttons.declare("big")(ThreeIds)
    assert "big" not in buttons.by_tag


def test_a_field_without_a_range_or_a_bad_tag_is_refused() -> None:
    @dataclass(frozen=True, slots=True)
    class Loose(Action):
        page: int

    @dataclass(frozen=True, slots=True)
    class Fine(Action):
        page: PageNo

    buttons = Buttons()
    with pytest.raises(ValueError, match="Range"):
        buttons.declare("lo")(Loose)
    for tag in ("", "v1:x", "UP", "toolongtag", "é"):
        with pytest.raises(ValueError, match="tag"):
            buttons.declare(tag)(Fine)


def test_a_flow_needs_a_declared_action_and_only_one_flow_answers_it() -> None:
    buttons = Buttons()

    @buttons.declare("pg")
    @dataclass(frozen=True, slots=True)
    class Page(Action):
        page: PageNo

    @dataclass(frozen=True, slots=True)
    class Undeclared(Action):
        page: PageNo

    async def flow(update: object, context: object, action: Action) -> None:
        return None

    buttons.handles(Page)(flow)
    with pytest.raises(ValueError, match="already"):
        buttons.handles(Page)(flow)
    with pytest.raises(ValueError, match="not a declared"):
        buttons.handles(Undeclared)(flow)
    assert buttons.flow(Page(3)) is flow


@pytest.mark.parametrize("declared", list(cb.BUTTONS.by_kind.values()),
                         ids=lambda d: d.tag)
def test_every_declared_action_at_its_largest_values_fits_in_64_ascii_bytes(
        declared: cb.Declared) -> None:
    largest = declared.kind(*(r.high for _, r in declared.fields))
    data = cb.encode(largest)
    assert data.isascii() and len(data.encode()) <= cb.MAX_BYTES
    assert cb.decode(data) == largest
