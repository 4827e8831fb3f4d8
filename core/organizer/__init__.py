"""organizer: see docs/architecture.md."""
