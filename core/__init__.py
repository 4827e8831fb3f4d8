"""TicketQ's domain: pure Python rules and use cases, one folder per feature.

Each feature folder (``catalog``, ``sales``, ``lottery``, ``door``, ``tickets``, ``access``,
``organizer``, ``payments``) holds its model, its service and its ports (Protocols);
``kernel`` holds what every feature shares and :mod:`core.unit_of_work` gathers the ports of
one transaction. Nothing here knows about Telegram, Stripe, SQL or schedulers: adapters in
``bot/`` implement the ports.
"""
