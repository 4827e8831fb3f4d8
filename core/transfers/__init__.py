"""Ticket transfers: a holder gives a ticket to a friend through a single-use claim link."""
