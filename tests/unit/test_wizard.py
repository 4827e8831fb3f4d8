"""The event wizard's dialogue: one question at a time, each answer checked at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.catalog.model import (
    Event,
    EventStatus,
    LotteryState,
    LotteryWindow,
    SaleMode,
    TicketType,
)
from core.catalog.spec import TicketTypeSpec, parse_event_spec
from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.organizer.draft import EditBase, finish
from handlers.wizard import steps as wz
from handlers.wizard.steps import Draft, Step

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SKIP = "skip"  # in run(): the Skip button


def run(draft: Draft, *answers: str, base: EditBase | None = None) -> wz.Outcome:
    """Answer each in turn; every answer must be accepted except possibly the last.
    ``SKIP`` stands for tapping the Skip button (a typed "skip" is an answer like any other)."""
    outcome = wz.Outcome(draft)
    for i, text in enumerate(answers):
        outcome = (wz.skip(outcome.draft, now=NOW, base=base) if text == SKIP
                   else wz.answer(outcome.draft, text, now=NOW, base=base))
        if i < len(answers) - 1:
            assert outcome.accepted, (text, outcome.issue)
    return outcome


HEAD = ("Winter Gala", "A night of music.", "Town Hall", "Europe/Berlin", "2026-12-12 21:00")
GA = ("GA", "25.00", "EUR", "200", "4")


def at_types() -> Draft:
    return run(wz.new_draft(), *HEAD).draft


def at_sale_mode() -> Draft:
    return run(at_types(), *GA, "done").draft


def test_a_direct_event_from_title_to_preview_is_exactly_an_import_document() -> None:
    outcome = run(wz.new_draft(), *HEAD, *GA, "add", "VIP", "80", "skip", "20", "2", "done",
                  "direct")
    assert outcome.accepted and outcome.draft.step is Step.PREVIEW
    assert outcome.draft.doc == {
        "title": "Winter Gala", "description": "A night of music.", "venue": "Town Hall",
        "timezone": "Europe/Berlin", "starts_at": "2026-12-12T21:00", "sale_mode": "direct",
        "ticket_types": [
            {"name": "GA", "price": "25.00", "currency": "EUR", "capacity": 200,
             "per_user_limit": 4},
            {"name": "VIP", "price": "80", "currency": "EUR", "capacity": 20,
             "per_user_limit": 2}]}
    spec = finish(outcome.draft.doc, now=NOW)
    assert spec == parse_event_spec(outcome.draft.doc, now=NOW)
    assert spec.starts_at == datetime(2026, 12, 12, 20, 0, tzinfo=UTC)
    assert [t.price for t in spec.ticket_types] == [Money(2500, "EUR"), Money(8000, "EUR")]


@pytest.mark.parametrize(("step_answers", "bad", "code"), [
    ((), "", "required"),
    ((), "x" * 121, "too_long"),
    (HEAD[:3], "Mars/Olympus", "unknown_timezone"),
    (HEAD[:4], "next friday", "bad_datetime"),
    (HEAD[:4], "31.02.2026 21:00", "bad_datetime"),
    (HEAD[:4], "2020-01-01 10:00", "in_past"),
    (HEAD, "x" * 33, "too_long"),
    ((*HEAD, "GA"), "cheap", "bad_price"),
    ((*HEAD, "GA"), "25.001", "too_many_decimals"),
    ((*HEAD, "GA", "25"), "EURO", "bad_currency"),
    ((*HEAD, "GA", "25"), "XTR", "unsupported_currency"),
    ((*HEAD, "GA", "25", "EUR"), "lots", "not_integer"),
    ((*HEAD, "GA", "25", "EUR"), "0", "out_of_range"),
    ((*HEAD, "GA", "25", "EUR", "10"), "51", "out_of_range"),
])
def test_a_wrong_answer_is_refused_with_the_validators_code_and_the_question_stays(
        step_answers: tuple[str, ...], bad: str, code: str) -> None:
    draft = run(wz.new_draft(), *step_answers).draft if step_answers else wz.new_draft()
    outcome = wz.answer(draft, bad, now=NOW)
    assert outcome.issue is not None and outcome.issue.code == code
    assert outcome.draft == draft


def test_dates_are_read_in_both_formats_as_local_times_of_the_event() -> None:
    for typed in ("12.12.2026 21:00", "2026-12-12 21:00", "2026-12-12T21:00", "12.12.2026, 21.00"):
        draft = run(wz.new_draft(), *HEAD[:4], typed).draft
        assert draft.doc["starts_at"] == "2026-12-12T21:00", typed
        assert draft.step is Step.TYPE_NAME


def test_time_zones_are_found_in_any_case_or_by_a_unique_city() -> None:
    for typed, zone in (("europe/berlin", "Europe/Berlin"), ("Tokyo", "Asia/Tokyo"),
                        ("new york", "America/New_York")):
        assert run(wz.new_draft(), *HEAD[:3], typed).draft.doc["timezone"] == zone


def test_the_description_can_be_skipped_or_cleared() -> None:
    skipped = run(wz.new_draft(), "Gala", "skip").draft
    assert skipped.doc["description"] == "" and skipped.step is Step.VENUE
    cleared = run(wz.new_draft(), "Gala", "-").draft
    assert cleared.doc["description"] == ""


def test_a_typed_skip_is_an_answer_like_any_other() -> None:
    titled = wz.answer(wz.new_draft(), "skip", now=NOW)
    assert titled.accepted and titled.draft.doc["title"] == "skip"
    assert titled.draft.step is Step.DESCRIPTION
    described = wz.answer(titled.draft, "SKIP", now=NOW)
    assert described.accepted and described.draft.doc["description"] == "SKIP"


def test_a_required_answer_cannot_be_skipped() -> None:
    outcome = wz.skip(wz.new_draft(), now=NOW)
    assert outcome.issue is not None and outcome.issue.code == "required"
    assert outcome.issue.path == "title"


def test_the_type_loop_asks_each_type_and_offers_the_first_currency_for_the_next() -> None:
    draft = run(at_types(), *GA).draft
    assert draft.step is Step.MORE_TYPES
    assert wz.prompt(draft).choices == (wz.ADD_TYPE, wz.DONE)
    draft = run(draft, "add", "VIP", "80.00").draft
    assert draft.step is Step.TYPE_CURRENCY and draft.index == 1
    question = wz.prompt(draft)
    assert question.choices == ("EUR",) and question.current == "EUR" and question.skippable
    assert run(draft, "skip").draft.doc["ticket_types"][1]["currency"] == "EUR"


def test_two_currencies_are_refused_at_the_second_type() -> None:
    draft = run(at_types(), *GA, "add", "VIP", "80.00").draft
    outcome = wz.answer(draft, "USD", now=NOW)
    assert outcome.issue is not None and outcome.issue.code == "mixed_currencies"


def test_a_currency_without_decimals_sends_the_draft_back_to_the_price() -> None:
    draft = run(at_types(), "GA", "25.50").draft
    outcome = wz.answer(draft, "JPY", now=NOW)
    assert outcome.issue is not None and outcome.issue.code == "too_many_decimals"
    assert outcome.draft.step is Step.TYPE_PRICE
    fixed = run(outcome.draft, "2550")
    assert fixed.accepted and fixed.draft.step is Step.TYPE_CURRENCY
    assert wz.prompt(fixed.draft).current == "JPY"


def test_duplicate_type_names_and_an_eleventh_type_are_refused() -> None:
    draft = run(at_types(), *GA, "add").draft
    outcome = wz.answer(draft, "ga", now=NOW)
    assert outcome.issue is not None and outcome.issue.code == "duplicate_name"
    for n in range(1, 10):
        draft = run(draft, f"T{n}", "1", "skip", "5", "skip", "add").draft
    assert len(draft.doc["ticket_types"]) == 10 and draft.step is Step.MORE_TYPES
    full = wz.answer(draft, "add", now=NOW)
    assert full.issue is not None and full.issue.code == "too_many"


def test_a_lottery_asks_its_window_draw_per_entry_and_beacon() -> None:
    outcome = run(at_sale_mode(), "lottery", "01.11.2026 10:00", "2026-11-20 18:00",
                  "2026-11-21 12:00", "2", "yes")
    assert outcome.accepted and outcome.draft.step is Step.PREVIEW
    spec = finish(outcome.draft.doc, now=NOW)
    assert spec.sale_mode is SaleMode.LOTTERY
    assert spec.lottery == LotteryWindow(datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
                                         datetime(2026, 11, 20, 17, 0, tzinfo=UTC),
                                         datetime(2026, 11, 21, 11, 0, tzinfo=UTC), 2, True)


@pytest.mark.parametrize(("answers", "code"), [
    (("2026-11-01 10:00", "2026-10-01 10:00"), "close_before_open"),
    (("2026-11-01 10:00", "2026-11-20 18:00", "2026-11-19 12:00"), "draw_before_close"),
    (("2026-11-01 10:00", "2026-11-20 18:00", "2026-12-13 12:00"), "draw_after_start"),
    (("2026-11-01 10:00", "2026-11-20 18:00", "2026-11-21 12:00", "99"), "out_of_range"),
    (("2026-11-01 10:00", "2026-11-20 18:00", "2026-11-21 12:00", "1", "maybe"),
     "not_boolean"),
])
def test_lottery_answers_are_checked_against_each_other(answers: tuple[str, ...],
                                                        code: str) -> None:
    outcome = run(at_sale_mode(), "lottery", *answers)
    assert outcome.issue is not None and outcome.issue.code == code


def test_lottery_defaults_are_one_ticket_per_entry_and_no_beacon() -> None:
    outcome = run(at_sale_mode(), "lottery", "2026-11-01 10:00", "2026-11-20 18:00",
                  "2026-11-21 12:00", "skip", "skip")
    assert outcome.draft.doc["lottery"] == {
        "entries_open_at": "2026-11-01T10:00", "entries_close_at": "2026-11-20T18:00",
        "draw_at": "2026-11-21T12:00", "max_per_entry": 1, "beacon": False}


def test_back_keeps_answers_and_skip_keeps_them_again() -> None:
    draft = run(at_types(), "GA", "25").draft
    assert draft.step is Step.TYPE_CURRENCY
    draft = wz.back(wz.back(draft))
    assert draft.step is Step.TYPE_NAME and wz.prompt(draft).current == "GA"
    draft = run(draft, "skip", "skip").draft
    assert draft.step is Step.TYPE_CURRENCY and draft.doc["ticket_types"] == [
        {"name": "GA", "price": "25"}]
    assert wz.back(wz.new_draft()).step is Step.TITLE


def test_back_walks_the_whole_way_from_the_preview_to_the_title() -> None:
    draft = run(at_sale_mode(), "direct").draft
    seen = [draft.step]
    while draft.step is not Step.TITLE:
        draft = wz.back(draft)
        seen.append(draft.step)
    assert seen == [Step.PREVIEW, Step.SALE_MODE, Step.MORE_TYPES, Step.TYPE_LIMIT,
                    Step.TYPE_CAPACITY, Step.TYPE_CURRENCY, Step.TYPE_PRICE, Step.TYPE_NAME,
                    Step.STARTS_AT, Step.TIMEZONE, Step.VENUE, Step.DESCRIPTION, Step.TITLE]


def test_a_problem_found_at_the_preview_sends_the_draft_to_its_step() -> None:
    draft = run(at_sale_mode(), "lottery", "2026-11-01 10:00", "2026-11-20 18:00",
                "2026-11-21 12:00", "1", "no").draft
    # Going back to move the start before the draw: accepted there, caught at the preview.
    moved = run(Draft(Step.STARTS_AT, draft.doc, 0), "2026-11-21 10:00")
    assert moved.accepted
    last = wz.answer(Draft(Step.LOTTERY_BEACON, moved.draft.doc, 0), "no", now=NOW)
    assert last.issue is not None and last.issue.code == "draw_after_start"
    assert last.draft.step is Step.LOTTERY_DRAW


def test_the_preview_only_takes_buttons() -> None:
    draft = run(at_sale_mode(), "direct").draft
    outcome = wz.answer(draft, "publish please", now=NOW)
    assert outcome.issue is not None and outcome.issue.code == "use_buttons"


def test_the_cursor_round_trips_through_storage_and_survives_garbage() -> None:
    draft = run(at_types(), "GA", "25").draft
    assert draft.cursor == "type_currency:0"
    assert Draft.restore(draft.cursor, draft.doc, None) == draft
    assert Draft.restore("type_capacity:7", draft.doc, None).step is Step.TYPE_NAME
    assert Draft.restore("warp_drive", {}, 3) == Draft(Step.TITLE, {}, 0, 3)


def _stored(sale_mode: SaleMode = SaleMode.DIRECT,
            lottery: LotteryWindow | None = None) -> tuple[Event, list[TicketType]]:
    event = Event(7, "Gala", "Music.", "Hall", datetime(2026, 12, 12, 20, 0, tzinfo=UTC),
                  "Europe/Berlin", EventStatus.PUBLISHED, sale_mode, lottery,
                  LotteryState.OPEN if lottery else None)
    types = [TicketType(1, 7, "GA", Money(2500, "EUR"), 100, 4),
             TicketType(2, 7, "VIP", Money(8050, "EUR"), 10, 2, 1)]
    return event, types


def _base(types: list[TicketType], sold: tuple[int, ...], *, locked: bool = False,
          sale_mode: SaleMode = SaleMode.DIRECT,
          lottery: LotteryWindow | None = None) -> EditBase:
    return EditBase(sale_mode, lottery,
                    tuple(TicketTypeSpec(t.name, t.price, t.capacity, t.per_user_limit)
                          for t in types), sold, locked)


def test_editing_starts_from_the_stored_values_and_skip_keeps_every_one() -> None:
    event, types = _stored()
    draft = wz.draft_from_event(event, types)
    assert draft.doc["starts_at"] == "2026-12-12T21:00"
    assert draft.doc["ticket_types"][1]["price"] == "80.50"
    assert wz.prompt(draft).current == "Gala"
    outcome = run(draft, *["skip"] * 15, "done", "skip", base=_base(types, (0, 0)))
    assert outcome.accepted and outcome.draft.step is Step.PREVIEW
    spec = finish(outcome.draft.doc, now=NOW)
    assert (spec.title, spec.starts_at, spec.ticket_types[1].price) == (
        "Gala", event.starts_at, Money(8050, "EUR"))


def test_an_edit_cannot_put_a_capacity_below_what_is_sold() -> None:
    event, types = _stored()
    base = _base(types, (30, 0))
    draft = run(wz.draft_from_event(event, types), *["skip"] * 8, base=base).draft
    assert draft.step is Step.TYPE_CAPACITY
    refused = wz.answer(draft, "29", now=NOW, base=base)
    assert refused.issue is not None and refused.issue.code == "capacity_below_sold"
    assert refused.issue.params == {"name": "GA", "sold": 30}
    assert wz.answer(draft, "30", now=NOW, base=base).accepted
    # And at the very end (sales may have happened meanwhile):
    whole = run(wz.draft_from_event(event, types), *["skip"] * 15, "done", "skip",
                base=_base(types, (0, 0)))
    with pytest.raises(DomainError) as below:
        finish(whole.draft.doc, now=NOW, base=_base(types, (101, 0)))
    assert below.value.code is ErrorCode.CAPACITY_BELOW_SOLD
    assert below.value.params["name"] == "GA" and below.value.params["sold"] == 101


def test_the_sale_mode_is_fixed_once_something_is_sold() -> None:
    event, types = _stored()
    draft = Draft(Step.SALE_MODE, wz.draft_from_event(event, types).doc, 0, 7)
    base = _base(types, (1, 0))
    outcome = run(draft, "lottery", "2026-11-01 10:00", "2026-11-20 18:00",
                  "2026-11-21 12:00", "1", "no", base=base)
    assert outcome.issue is not None and outcome.issue.code == "sale_mode_locked"
    assert outcome.draft.step is Step.SALE_MODE


def test_an_open_lottery_keeps_its_terms_but_its_title_can_change() -> None:
    window = LotteryWindow(datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC),
                           datetime(2026, 11, 2, tzinfo=UTC), 2)
    event, types = _stored(SaleMode.LOTTERY, window)
    base = _base(types, (0, 0), locked=True, sale_mode=SaleMode.LOTTERY, lottery=window)
    draft = wz.draft_from_event(event, types)
    renamed = run(draft, "Gala (moved)", *["skip"] * 14, "done", *["skip"] * 6, base=base)
    assert renamed.accepted and renamed.draft.step is Step.PREVIEW
    assert finish(renamed.draft.doc, now=NOW, base=base).title == "Gala (moved)"
    dearer = run(draft, *["skip"] * 6, "30.00", *["skip"] * 8, "done", *["skip"] * 6,
                 base=base)
    assert dearer.issue is not None and dearer.issue.code == "lottery_locked"
    assert (dearer.draft.step, dearer.draft.index) == (Step.TYPE_PRICE, 0)
    later = run(draft, *["skip"] * 15, "done", "skip", "skip", "skip", "2026-11-03 10:00",
                base=base)
    assert later.accepted  # the draw answer itself is valid ...
    final = run(later.draft, "skip", "skip", base=base)
    assert final.issue is not None and final.issue.code == "lottery_locked"


def test_the_draw_time_of_an_unopened_lottery_may_change() -> None:
    window = LotteryWindow(NOW + timedelta(days=30), NOW + timedelta(days=60),
                           NOW + timedelta(days=61), 2)
    event, types = _stored(SaleMode.LOTTERY, window)
    base = _base(types, (0, 0), sale_mode=SaleMode.LOTTERY, lottery=window)
    outcome = run(wz.draft_from_event(event, types), *["skip"] * 15, "done", "skip", "skip",
                  "skip", "2026-08-03 10:00", "skip", "skip", base=base)
    assert outcome.accepted and outcome.draft.step is Step.PREVIEW


def test_the_preview_switches_transfers_off_and_on_for_a_direct_sale() -> None:
    at_preview = run(at_sale_mode(), "direct").draft
    assert finish(at_preview.doc, now=NOW).transfers.allowed  # a direct sale's default
    off = wz.toggle_transfers(at_preview, now=NOW)
    assert off.accepted and off.draft.step is Step.PREVIEW
    assert not finish(off.draft.doc, now=NOW).transfers.allowed
    on = wz.toggle_transfers(off.draft, now=NOW)
    assert finish(on.draft.doc, now=NOW).transfers.allowed
    # Only the preview has the switch: a question is left as it is.
    asking = at_sale_mode()
    assert wz.toggle_transfers(asking, now=NOW).draft == asking


def test_a_phone_verified_lottery_cannot_switch_transfers_on() -> None:
    doc = {"title": "Gig", "venue": "Hall", "timezone": "UTC", "starts_at": "2026-12-12T21:00",
           "sale_mode": "lottery",
           "ticket_types": [{"name": "GA", "price": "30", "currency": "EUR", "capacity": 5}],
           "lottery": {"entries_open_at": "2026-11-01T10:00",
                       "entries_close_at": "2026-11-08T10:00", "draw_at": "2026-11-08T12:00",
                       "require_phone": True}}
    bound = Draft(Step.PREVIEW, doc, 0, None)
    refused = wz.toggle_transfers(bound, now=NOW)
    assert not refused.accepted and refused.issue is not None
    assert refused.issue.code == "transfers_bound" and refused.draft == bound
