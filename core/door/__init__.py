"""door: see docs/architecture.md."""
