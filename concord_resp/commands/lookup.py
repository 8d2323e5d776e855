"""Key lookups for every type's commands: Redis's lookupKeyRead, lookupKeyWrite, NOTOUCH.

A read lookup counts a keyspace hit or miss (INFO) and records an access (OBJECT IDLETIME); a
NOTOUCH lookup (EXISTS, TYPE, TTL, OBJECT, SCAN ... TYPE) counts but records no access; a
write lookup counts nothing. Reads never delete; a write lookup, or a read lookup made by a
write command (`purge`), deletes an expired key first, as a Redis primary does, so a write
never inherits a past expiry. The typed forms raise WRONGTYPE for a key of another type and
give None for a missing one. A read or NOTOUCH lookup that misses publishes `keymiss`
(notification class m; not OBJECT's and MEMORY's, as in Redis), a write lookup does not.
"""

from __future__ import annotations

from typing import TypeVar, cast

from ..store import Value
from ..store.events import NOTIFY_KEY_MISS
from ..store.types import String, ValueType
from .context import Context
from .errors import WRONGTYPE, CommandError

V = TypeVar("V")


def lookup_read(ctx: Context, key: bytes, *, purge: bool = False) -> Value | None:
    """Redis's `lookupKeyRead`: the live value (any type), counted as a keyspace hit or miss.

    `purge` (write commands only) deletes the key first if it has expired.
    """
    db = ctx.db
    value = db.get_for_write(key, ctx.now) if purge else db.get(key, ctx.now)
    if value is None:
        ctx.stats.keyspace_misses += 1
        if ctx.notifying & NOTIFY_KEY_MISS:
            ctx.notify(NOTIFY_KEY_MISS, b"keymiss", key)
    else:
        ctx.stats.keyspace_hits += 1
    return value


def lookup_write(ctx: Context, key: bytes) -> Value | None:
    """Redis's `lookupKeyWrite`: an expired key is deleted first; nothing is counted."""
    return ctx.db.get_for_write(key, ctx.now)


def lookup_notouch(ctx: Context, key: bytes, *, keymiss: bool = True) -> Value | None:
    """Redis's `lookupKeyReadWithFlags(LOOKUP_NOTOUCH)`: a counted read that is no access.
    Without `keymiss` (OBJECT's LOOKUP_NONOTIFY) a miss publishes nothing."""
    value = ctx.db.peek(key, ctx.now)
    if value is None:
        ctx.stats.keyspace_misses += 1
        if keymiss and ctx.notifying & NOTIFY_KEY_MISS:
            ctx.notify(NOTIFY_KEY_MISS, b"keymiss", key)
    else:
        ctx.stats.keyspace_hits += 1
    return value


def check_type(value: Value | None, value_type: ValueType[V]) -> V | None:
    """The value if it is of `value_type` (None stays None); WRONGTYPE otherwise."""
    if value is None or type(value) in value_type.classes:
        return cast(V, value)
    raise CommandError(WRONGTYPE)


def lookup_read_typed(
    ctx: Context, key: bytes, value_type: ValueType[V], *, purge: bool = False
) -> V | None:
    """`lookup_read`, then WRONGTYPE if the key holds another type (the lookup is counted)."""
    return check_type(lookup_read(ctx, key, purge=purge), value_type)


def lookup_write_typed(ctx: Context, key: bytes, value_type: ValueType[V]) -> V | None:
    """`lookup_write`, then WRONGTYPE if the key holds another type."""
    return check_type(lookup_write(ctx, key), value_type)


# The string forms are `lookup_read_typed`/`lookup_write_typed` for STRING, written out: they
# are on the path of every GET and SET.


def get_string(ctx: Context, key: bytes, *, purge: bool = False) -> String | None:
    """The string at key (None if missing), as a read lookup; WRONGTYPE for other types."""
    db = ctx.db
    value = db.get_for_write(key, ctx.now) if purge else db.get(key, ctx.now)
    if value is None:
        ctx.stats.keyspace_misses += 1
        if ctx.notifying & NOTIFY_KEY_MISS:
            ctx.notify(NOTIFY_KEY_MISS, b"keymiss", key)
        return None
    ctx.stats.keyspace_hits += 1
    if type(value) is bytes or type(value) is bytearray:
        return value
    raise CommandError(WRONGTYPE)


def get_string_for_write(ctx: Context, key: bytes) -> String | None:
    """Redis's `lookupKeyWrite` + type check: an expired key is deleted first."""
    value = ctx.db.get_for_write(key, ctx.now)
    if value is None or type(value) is bytes or type(value) is bytearray:
        return value
    raise CommandError(WRONGTYPE)
