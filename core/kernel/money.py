"""Money as integer minor units plus an ISO 4217 currency code (or Telegram Stars, ``XTR``)."""

from __future__ import annotations

from dataclasses import dataclass

from core.kernel.errors import DomainError, ErrorCode

# Currencies whose minor unit is not 1/100 (ISO 4217). Everything else has two decimals.
_EXPONENTS: dict[str, int] = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0, "XTR": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}


def currency_exponent(currency: str) -> int:
    """Number of decimal places of ``currency``'s minor unit (EUR -> 2, JPY -> 0)."""
    return _EXPONENTS.get(currency.upper(), 2)


def normalize_currency(code: str) -> str:
    """Validate and upper-case a currency code.

    Raises:
        DomainError: ``invalid_currency`` if the code is not three ASCII letters.
    """
    upper = code.strip().upper()
    if len(upper) != 3 or not upper.isascii() or not upper.isalpha():
        raise DomainError(ErrorCode.INVALID_CURRENCY, currency=code)
    return upper


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount in minor units (cents) of one currency. Never a float."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError("Money.amount must be an int of minor units")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def times(self, quantity: int) -> Money:
        """This amount multiplied by a whole quantity."""
        return Money(self.amount * quantity, self.currency)

    def decimal_str(self) -> str:
        """The amount as a plain decimal string without currency, e.g. ``"12.50"``."""
        exp = currency_exponent(self.currency)
        sign = "-" if self.amount < 0 else ""
        whole, frac = divmod(abs(self.amount), 10**exp)
        return f"{sign}{whole}.{frac:0{exp}d}" if exp else f"{sign}{whole}"

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise DomainError(
                ErrorCode.CURRENCY_MISMATCH, left=self.currency, right=other.currency
            )
