"""TicketQ's domain: pure Python rules and use cases.

Nothing in this package knows about Telegram, Stripe, SQL or schedulers; adapters in ``bot/``
implement the Protocols in :mod:`core.ports`.
"""
