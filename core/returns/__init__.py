"""Returns of paid tickets and the waiting list of sold-out ticket types."""
