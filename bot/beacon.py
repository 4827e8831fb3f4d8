"""A drand-style public randomness beacon over HTTP (implements ``core.lottery.ports.Beacon``).

``GET {url}/info`` -> ``{"period": seconds, "genesis_time": unix seconds}``;
``GET {url}/public/{round}`` -> ``{"round": n, "randomness": "<hex>"}`` (404 until published).
drand's public endpoints (e.g. ``https://api.drand.sh/<chain hash>``) answer this way; the
sandbox serves a test beacon at ``{sandbox}/beacon``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import httpx


class HttpBeacon:
    """Reads rounds from a drand-compatible HTTP endpoint."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self._url = url.rstrip("/")
        self._timeout = timeout
        self._info: dict[str, Any] | None = None

    @property
    def url(self) -> str:
        """The beacon's base URL."""
        return self._url

    async def _get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            return await client.get(f"{self._url}{path}")

    async def round_after(self, when: datetime) -> int:
        """The first round published strictly after ``when``."""
        if self._info is None:
            response = await self._get("/info")
            response.raise_for_status()
            self._info = response.json()
        period = float(self._info["period"])
        genesis = float(self._info["genesis_time"])
        elapsed = max(0.0, when.timestamp() - genesis)
        # Round 1 is published at genesis; round r at genesis + (r - 1) * period.
        return math.floor(elapsed / period) + 2

    async def value(self, round_number: int) -> bytes | None:
        """The round's randomness, or None while unpublished or unreachable."""
        try:
            response = await self._get(f"/public/{round_number}")
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        body = response.json()
        if int(body.get("round", -1)) != round_number:
            return None
        return bytes.fromhex(str(body["randomness"]))
