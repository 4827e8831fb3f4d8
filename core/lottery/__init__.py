"""lottery: see docs/architecture.md."""
