"""payments: see docs/architecture.md."""
