"""kernel: see docs/architecture.md."""
