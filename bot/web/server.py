"""One aiohttp server for every HTTP endpoint TicketQ offers.

A feature contributes routes through a *mount*: a function that adds its routes (and, if it
needs one, its own middleware-free sub-application) to the shared :class:`aiohttp.web.Application`.
The server knows nothing about what it serves; :mod:`bot.app` decides which mounts a process runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

log = logging.getLogger(__name__)

Mount = Callable[[web.Application], None]

# Telegram sends updates of at most a few kilobytes; a Mini App request is smaller still.
# Anything much larger is refused before it is read (413), not buffered.
MAX_REQUEST_BYTES = 1024 * 1024


class WebServer:
    """The process's HTTP listener: ``await start()`` ... ``await stop()``."""

    def __init__(self, host: str, port: int, *,
                 max_request_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.host = host
        self.port = port
        self.app = web.Application(client_max_size=max_request_bytes)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    def mount(self, add_routes: Mount) -> None:
        """Let a feature add its routes. Call before :meth:`start`."""
        if self._runner is not None:
            raise RuntimeError("mount before the server starts")
        add_routes(self.app)

    async def start(self) -> None:
        """Listen. With port 0 the operating system picks a free port (see :attr:`port`)."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.port)
        await self._site.start()
        # The bound socket tells the real port when 0 was asked for.
        for address in self._runner.addresses:
            self.port = int(address[1])
            break
        log.info("http: listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Stop accepting requests and finish the ones in flight."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    @property
    def base_url(self) -> str:
        """Where this server is reachable from this machine."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"
