"""tickets: see docs/architecture.md."""
