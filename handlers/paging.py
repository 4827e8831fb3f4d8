"""Pages of a list: every list the bot shows is one message with previous/next buttons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

# Items per page of each list (one message each; Telegram allows 100 buttons and 4096
# characters, and a phone screen shows about this many rows comfortably).
EVENTS_PER_PAGE = 6
PEOPLE_PER_PAGE = 10
TICKETS_PER_PAGE = 8


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list.

    Attributes:
        items: the items on this page.
        page: this page's 0-based number (always a page that exists).
        pages: how many pages there are (at least 1, even for an empty list).
        total: how many items the whole list has.
    """

    items: tuple[T, ...]
    page: int
    pages: int
    total: int

    @property
    def has_prev(self) -> bool:
        """A previous page exists."""
        return self.page > 0

    @property
    def has_next(self) -> bool:
        """A next page exists."""
        return self.page + 1 < self.pages


def paginate(items: Sequence[T], page: int, size: int) -> Page[T]:
    """The ``page``-th slice of ``size`` items; a page past the end (the list shrank since
    the button was sent) shows the last page, a negative one the first.

    Raises:
        ValueError: ``size`` is not positive.
    """
    if size < 1:
        raise ValueError("page size must be positive")
    total = len(items)
    pages = max(1, -(-total // size))
    page = min(max(page, 0), pages - 1)
    start = page * size
    return Page(tuple(items[start:start + size]), page, pages, total)
