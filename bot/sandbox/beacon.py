"""A test randomness beacon in the drand style, served by the sandbox under ``/beacon``.

Round ``r`` is published at ``genesis + (r - 1) * period`` and its randomness is
``SHA-256("ticketq-sandbox-beacon" || r)``: predictable, which is fine for tests and demos and
exactly what a real beacon is not. ``now`` can follow a test's clock.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from aiohttp import web


class TestBeacon:
    """Serves ``/beacon/info`` and ``/beacon/public/{round}``."""

    __test__ = False  # not a pytest test class

    def __init__(self, *, period: float = 3.0, genesis: float | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self.period = period
        self.now = now
        self.genesis = genesis if genesis is not None else now() - 3600
        self.requests = 0

    def randomness(self, round_number: int) -> bytes:
        """The value of a round."""
        return hashlib.sha256(b"ticketq-sandbox-beacon" + str(round_number).encode()).digest()

    def published(self, round_number: int) -> bool:
        """Whether a round is out yet."""
        return self.now() >= self.genesis + (round_number - 1) * self.period

    async def handle_info(self, request: web.Request) -> web.Response:
        """drand's ``/info``."""
        self.requests += 1
        return web.json_response({"period": self.period, "genesis_time": self.genesis,
                                  "hash": "ticketq-sandbox"})

    async def handle_round(self, request: web.Request) -> web.Response:
        """drand's ``/public/{round}``: 404 until the round is published."""
        self.requests += 1
        try:
            round_number = int(request.match_info["round"])
        except ValueError:
            return web.json_response({"error": "bad round"}, status=400)
        if round_number < 1 or not self.published(round_number):
            return web.json_response({"error": "round not yet available"}, status=404)
        return web.json_response({"round": round_number,
                                  "randomness": self.randomness(round_number).hex()})
