"""Everything TicketQ serves over HTTP, on one aiohttp server.

Each feature mounts its own routes (see :class:`bot.web.server.WebServer`): the Telegram
webhook, the operator's ``/healthz`` and ``/metrics``, and the Mini App.
"""
