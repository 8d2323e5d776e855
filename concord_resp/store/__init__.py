"""The deterministic keyspace and its value types (`store.types`).

No I/O, no clock, no randomness: time and log index are arguments, so every replica applying
the same entries holds the same state. Imports no layer above it (only the `limits` constants).
"""

from .encoding import ENCODING_PARAMETERS, EncodingConfig, EncodingParameter
from .keyspace import DATABASES, MAX_TOMBSTONES, Database, Keyspace, Value

__all__ = [
    "DATABASES",
    "ENCODING_PARAMETERS",
    "MAX_TOMBSTONES",
    "Database",
    "EncodingConfig",
    "EncodingParameter",
    "Keyspace",
    "Value",
]
