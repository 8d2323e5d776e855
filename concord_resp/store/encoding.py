"""The thresholds that decide how values are encoded: Redis 7.0's `*-max-listpack-*` family.

Redis stores a small hash or sorted set as a listpack and a small set of integers as an
intset, and converts a value to the general encoding (hashtable, skiplist) once it outgrows
these limits; the conversion is one-way. Concord keeps the encoding with each value (the value
classes of `store.types`), decided when a command changes it, by these thresholds. They are
replicated state, not node configuration: a CONFIG SET of one of them becomes a log entry, so
every replica decides every conversion alike, and they are part of snapshots. Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Final

from ..limits import INT_MAX, INT_MIN, LLONG_MAX


@dataclass(frozen=True, slots=True)
class EncodingConfig:
    """The thresholds, with Redis 7.0's defaults."""

    hash_max_listpack_entries: int = 512
    hash_max_listpack_value: int = 64
    list_max_listpack_size: int = -2
    list_compress_depth: int = 0
    set_max_intset_entries: int = 512
    zset_max_listpack_entries: int = 128
    zset_max_listpack_value: int = 64
    hll_sparse_max_bytes: int = 3000
    stream_node_max_bytes: int = 4096
    stream_node_max_entries: int = 100
    # Not an encoding, but replicated alike: where every replica stops a script.
    script_instruction_limit: int = 200_000_000
    script_memory_limit: int = 128 * 1024 * 1024  # bytes a script may grow the Lua heap by
    # Which keyspace notifications entries publish (`store.events` flags): every replica
    # must publish the same ones.
    notify_keyspace_events: int = 0

    def changed(self, settings: list[tuple[str, int]]) -> EncodingConfig:
        """A copy with (field name, value) pairs set."""
        return replace(self, **dict(settings))

    def as_pairs(self) -> list[tuple[str, int]]:
        """Every (field name, value), in declaration order (snapshots)."""
        return [(field.name, getattr(self, field.name)) for field in fields(self)]


@dataclass(frozen=True, slots=True)
class EncodingParameter:
    """A CONFIG parameter that sets one of the thresholds, as Redis declares it."""

    name: str
    alias: str | None
    field: str
    low: int
    high: int
    memory: bool  # Redis's MEMORY_CONFIG: accepts "64kb" and the like


# (Redis 7.0's config.c: size_t parameters range over 0..LONG_MAX.)
ENCODING_PARAMETERS: Final = (
    EncodingParameter(
        "hash-max-listpack-entries",
        "hash-max-ziplist-entries",
        "hash_max_listpack_entries",
        0,
        LLONG_MAX,
        False,
    ),
    EncodingParameter(
        "hash-max-listpack-value",
        "hash-max-ziplist-value",
        "hash_max_listpack_value",
        0,
        LLONG_MAX,
        True,
    ),
    EncodingParameter(
        "list-max-listpack-size",
        "list-max-ziplist-size",
        "list_max_listpack_size",
        INT_MIN,
        INT_MAX,
        False,
    ),
    EncodingParameter("list-compress-depth", None, "list_compress_depth", 0, INT_MAX, False),
    EncodingParameter(
        "set-max-intset-entries", None, "set_max_intset_entries", 0, LLONG_MAX, False
    ),
    EncodingParameter(
        "zset-max-listpack-entries",
        "zset-max-ziplist-entries",
        "zset_max_listpack_entries",
        0,
        LLONG_MAX,
        False,
    ),
    EncodingParameter(
        "zset-max-listpack-value",
        "zset-max-ziplist-value",
        "zset_max_listpack_value",
        0,
        LLONG_MAX,
        True,
    ),
    EncodingParameter("hll-sparse-max-bytes", None, "hll_sparse_max_bytes", 0, LLONG_MAX, True),
    EncodingParameter("stream-node-max-bytes", None, "stream_node_max_bytes", 0, LLONG_MAX, True),
    EncodingParameter(
        "stream-node-max-entries", None, "stream_node_max_entries", 0, LLONG_MAX, False
    ),
    EncodingParameter(
        "script-instruction-limit", None, "script_instruction_limit", 1000, LLONG_MAX, False
    ),
    EncodingParameter(
        "script-memory-limit", None, "script_memory_limit", 1024 * 1024, LLONG_MAX, True
    ),
)
# Every field a `Configure` entry may set: the thresholds above, and the notification classes
# (`notify-keyspace-events`, whose parameter parses letters: `server.settings`).
FIELDS: Final = frozenset(parameter.field for parameter in ENCODING_PARAMETERS) | {
    "notify_keyspace_events"
}
