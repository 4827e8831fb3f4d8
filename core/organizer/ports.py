"""What the organizer's event editor needs from storage: drafts."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.organizer.draft import Draft


class DraftRepository(Protocol):
    """The event wizard's drafts, one per organizer."""

    async def get(self, user_id: int, *, lock: bool = False) -> Draft | None:
        """The user's open draft; ``lock`` holds its row until commit."""
        ...

    async def put(self, user_id: int, draft: Draft, *, now: datetime) -> None:
        """Store (or replace) the user's draft."""
        ...

    async def delete(self, user_id: int) -> bool:
        """Drop the user's draft; False if there was none."""
        ...
