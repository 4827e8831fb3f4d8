"""The event file format: every problem reported with its field path; nothing half-valid."""

from datetime import UTC, datetime

import pytest

from core.catalog.model import SaleMode
from core.catalog.spec import parse_event_spec
from core.kernel.errors import DomainError
from core.kernel.money import Money
from tests.factories import event_doc

NOW = datetime(2030, 6, 1, tzinfo=UTC)


def issues_of(doc: object) -> dict[str, str]:
    with pytest.raises(DomainError) as exc:
        parse_event_spec(doc, now=NOW)
    return {i.path: i.code for i in exc.value.params["issues"]}


def test_a_valid_file_becomes_a_spec_with_local_time_converted_to_utc() -> None:
    spec = parse_event_spec(event_doc(vip_capacity=5), now=NOW)
    assert spec.starts_at == datetime(2030, 12, 12, 20, 0, tzinfo=UTC)  # 21:00 CET
    assert spec.timezone == "Europe/Berlin" and spec.sale_mode is SaleMode.DIRECT
    assert [t.name for t in spec.ticket_types] == ["GA", "VIP"]
    assert spec.ticket_types[0].price == Money(2500, "EUR")


def test_prices_are_parsed_without_floats() -> None:
    doc = event_doc(price="19.99")
    assert parse_event_spec(doc, now=NOW).ticket_types[0].price.amount == 1999
    doc["ticket_types"][0]["price"] = 0.1  # YAML float: taken by its decimal text
    assert parse_event_spec(doc, now=NOW).ticket_types[0].price.amount == 10


def test_every_problem_is_reported_at_once_with_its_path() -> None:
    doc = event_doc(timezone="Mars/Olympus", price="12.345")
    doc["ticket_types"][0]["capacity"] = 0
    doc.pop("venue")
    assert issues_of(doc) == {
        "venue": "required", "timezone": "unknown_timezone",
        "ticket_types[0].price": "too_many_decimals",
        "ticket_types[0].capacity": "out_of_range",
    }


def test_events_in_the_past_and_bad_dates_are_refused() -> None:
    assert issues_of(event_doc(starts_at="2020-01-01T10:00")) == {"starts_at": "in_past"}
    assert issues_of(event_doc(starts_at="next friday")) == {"starts_at": "bad_datetime"}


def test_duplicate_type_names_and_mixed_currencies_are_refused() -> None:
    doc = event_doc(vip_capacity=5)
    doc["ticket_types"][1]["name"] = "ga"
    doc["ticket_types"][1]["currency"] = "USD"
    assert issues_of(doc) == {"ticket_types[1].name": "duplicate_name",
                              "ticket_types": "mixed_currencies"}


def test_a_lottery_needs_a_coherent_window() -> None:
    doc = event_doc(sale_mode="lottery", lottery={
        "entries_open_at": "2030-07-02T10:00", "entries_close_at": "2030-07-01T10:00",
        "draw_at": "2030-06-30T10:00", "max_per_entry": 2})
    assert issues_of(doc) == {"lottery.entries_close_at": "close_before_open",
                              "lottery.draw_at": "draw_before_close"}


@pytest.mark.parametrize("doc", [None, [], "title: x", 42])
def test_documents_that_are_not_mappings_are_refused(doc: object) -> None:
    assert issues_of(doc) == {"": "not_mapping"}


def test_telegram_stars_are_refused_because_stripe_cannot_refund_them() -> None:
    assert issues_of(event_doc(currency="XTR")) == {"ticket_types[0].currency":
                                                    "unsupported_currency"}
