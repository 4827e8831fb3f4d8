"""The availability rule: capacity - sold - live holds; expired holds free themselves."""

from datetime import UTC, datetime, timedelta

import pytest

from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money
from core.sales.model import (
    Order,
    OrderStatus,
    Stock,
    check_hold_request,
    hold_deadline,
    invoice_payload,
    max_selectable,
    parse_invoice_payload,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def order(status: OrderStatus = OrderStatus.HELD, minutes_left: int = 5) -> Order:
    return Order(1, 10, 1, 1, 2, Money(2500, "EUR"), status, NOW,
                 NOW + timedelta(minutes=minutes_left))


def test_available_seats_are_capacity_minus_sold_minus_held() -> None:
    assert Stock(capacity=10, sold=4, held=3).available == 3
    assert Stock(capacity=10, sold=8, held=3).available == 0  # never negative
    assert Stock(capacity=5, sold=5, held=0).sold_out


def test_a_hold_is_live_only_until_its_deadline() -> None:
    assert order(minutes_left=1).hold_is_live(NOW)
    assert not order(minutes_left=0).hold_is_live(NOW)
    assert not order(OrderStatus.RELEASED).hold_is_live(NOW)


def test_hold_deadline_is_n_minutes_later() -> None:
    assert hold_deadline(NOW, 10) == NOW + timedelta(minutes=10)


def test_an_order_total_is_unit_price_times_quantity() -> None:
    assert order().total == Money(5000, "EUR")


def test_picker_is_bounded_by_stock_and_remaining_user_limit() -> None:
    assert max_selectable(Stock(100, 0, 0), per_user_limit=4, user_owned=1) == 3
    assert max_selectable(Stock(10, 8, 0), per_user_limit=4, user_owned=0) == 2
    assert max_selectable(Stock(10, 0, 0), per_user_limit=4, user_owned=4) == 0


@pytest.mark.parametrize(("quantity", "stock", "owned", "code"), [
    (0, Stock(10, 0, 0), 0, ErrorCode.INVALID_QUANTITY),
    (5, Stock(10, 0, 0), 0, ErrorCode.USER_LIMIT_REACHED),
    (1, Stock(10, 0, 0), 4, ErrorCode.USER_LIMIT_REACHED),
    (1, Stock(10, 9, 1), 0, ErrorCode.SOLD_OUT),
    (3, Stock(10, 8, 0), 0, ErrorCode.NOT_ENOUGH_SEATS),
])
def test_hold_requests_are_refused_with_a_stable_code(quantity, stock, owned, code) -> None:
    with pytest.raises(DomainError) as exc:
        check_hold_request(quantity, stock, per_user_limit=4, user_owned=owned)
    assert exc.value.code is code


def test_not_enough_seats_says_how_many_are_left() -> None:
    with pytest.raises(DomainError) as exc:
        check_hold_request(3, Stock(10, 8, 0), per_user_limit=4, user_owned=0)
    assert exc.value.params == {"available": 2}


def test_invoice_payload_round_trips_and_rejects_foreign_payloads() -> None:
    assert parse_invoice_payload(invoice_payload(42)) == 42
    assert len(invoice_payload(10**17).encode()) <= 128
    for bad in ("", "tq1:o:", "tq1:o:-1", "tq1:o:1e3", "other:42", "tq1:o:" + "9" * 40):
        with pytest.raises(DomainError):
            parse_invoice_payload(bad)
