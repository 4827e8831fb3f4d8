"""Money is integer minor units of one currency."""

import pytest

from core.kernel.errors import DomainError, ErrorCode
from core.kernel.money import Money, currency_exponent, normalize_currency


def test_amounts_add_and_multiply_in_minor_units() -> None:
    assert Money(2500, "EUR").times(3) + Money(1, "EUR") == Money(7501, "EUR")


def test_adding_two_currencies_is_refused() -> None:
    with pytest.raises(DomainError) as exc:
        Money(1, "EUR") + Money(1, "USD")
    assert exc.value.code is ErrorCode.CURRENCY_MISMATCH


def test_floats_are_not_money() -> None:
    with pytest.raises(TypeError):
        Money(12.5, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize(("money", "text"), [
    (Money(2500, "EUR"), "25.00"), (Money(5, "EUR"), "0.05"), (Money(500, "JPY"), "500"),
    (Money(1234, "KWD"), "1.234"), (Money(-150, "USD"), "-1.50"),
])
def test_decimal_rendering_uses_the_currency_exponent(money: Money, text: str) -> None:
    assert money.decimal_str() == text


def test_currency_codes_are_three_letters() -> None:
    assert normalize_currency(" eur ") == "EUR"
    assert currency_exponent("XTR") == 0
    with pytest.raises(DomainError):
        normalize_currency("EURO")
