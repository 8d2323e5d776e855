"""The deterministic keyspace (no I/O, no clock, no randomness: time and index are arguments)."""

from .keyspace import DATABASES, MAX_TOMBSTONES, Database, Keyspace, Value

__all__ = ["DATABASES", "MAX_TOMBSTONES", "Database", "Keyspace", "Value"]
