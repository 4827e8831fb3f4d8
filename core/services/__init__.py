"""Use cases. Each takes ids and plain values and returns results or raises DomainError."""
