"""DUMP and RESTORE: values moved between servers in Redis 7.0's RDB format (`store.rdb`).

DUMP is a read: the key's value serialized as Redis 7.0 serializes it for its encoding, so a
real Redis RESTOREs it (and for a small value the bytes are Redis's own). RESTORE is a write
and runs in the state machine from its log entry, so every replica decodes the same payload
into the same value, with the encoding Redis would give it under the replicated thresholds.
Checks and errors follow cluster.c's restoreCommand in its order: options (syntax, IDLETIME,
FREQ), BUSYKEY, the TTL, the payload's footer, then the value ("Bad data format"). A TTL in
the past (ABSTTL) creates nothing and answers OK, as Redis does.

IDLETIME sets the key's idle time as Redis's objectSetLRUOrLFU does with its 24-bit LRU
clock (seconds since the epoch, wrapping), computed from the entry's time: the node-local
access time every replica records is set so that OBJECT IDLETIME answers what Redis would.
FREQ is validated and, as in Redis without an LFU policy, has no effect (Concord has no LFU).
"""

from __future__ import annotations

from typing import Final

from ..limits import LLONG_MIN
from ..resp import OK, Reply
from ..store.events import NOTIFY_GENERIC
from ..store.rdb import BadPayload, dump_payload, footer_is_valid, load_payload
from .context import Context
from .errors import SYNTAX, CommandError
from .lookup import lookup_read, lookup_write
from .parse import option_name, parse_int
from .spec import command

BUSYKEY: Final = "BUSYKEY Target key name already exists."
INVALID_TTL: Final = "ERR Invalid TTL value, must be >= 0"
INVALID_IDLETIME: Final = "ERR Invalid IDLETIME value, must be >= 0"
INVALID_FREQ: Final = "ERR Invalid FREQ value, must be >= 0 and <= 255"
BAD_FOOTER: Final = "ERR DUMP payload version or checksum are wrong"
BAD_DATA: Final = "ERR Bad data format"

LRU_CLOCK_MAX: Final = (1 << 24) - 1  # Redis's object LRU field: 24 bits of seconds


@command("dump")
def dump(ctx: Context, argv: list[bytes]) -> Reply:
    value = lookup_read(ctx, argv[1])
    if value is None:
        return None
    return dump_payload(value, ctx.keyspace.config)


@command("restore")
def restore(ctx: Context, argv: list[bytes]) -> Reply:
    replace = absolute = False
    idle: int | None = None
    frequency: int | None = None
    i = 4
    while i < len(argv):
        option = option_name(argv[i])
        more = i + 1 < len(argv)
        if option == b"replace":
            replace = True
        elif option == b"absttl":
            absolute = True
        elif option == b"idletime" and more and frequency is None:
            idle = parse_int(argv[i + 1])
            if idle < 0:
                raise CommandError(INVALID_IDLETIME)
            i += 1
        elif option == b"freq" and more and idle is None:
            frequency = parse_int(argv[i + 1])
            if not 0 <= frequency <= 255:
                raise CommandError(INVALID_FREQ)
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    db, key, payload = ctx.db, argv[1], argv[3]
    if not replace and lookup_write(ctx, key) is not None:
        raise CommandError(BUSYKEY)
    ttl = parse_int(argv[2])
    if ttl < 0:
        raise CommandError(INVALID_TTL)
    if not footer_is_valid(payload):
        raise CommandError(BAD_FOOTER)
    try:
        value = load_payload(payload, ctx.keyspace.config)
    except BadPayload:
        raise CommandError(BAD_DATA) from None
    deleted = replace and db.delete(key, ctx.index)
    if ttl and not absolute:
        ttl = _wrap(ttl + ctx.now)  # Redis adds in a C long long
    if ttl and ttl <= ctx.now:  # checkAlreadyExpired: nothing is created
        if deleted:
            ctx.notify(NOTIFY_GENERIC, b"del", key)
        return OK
    db.set(key, value, ctx.index)
    if ttl:
        db.set_expiry(key, ttl, ctx.index)
    # The node-local access time (OBJECT IDLETIME): now, or the restored idle time.
    idle_seconds = 0 if idle is None else redis_idle_time(ctx.now, idle)
    db.access[key] = (ctx.now // 1000 - idle_seconds) * 1000
    ctx.notify(NOTIFY_GENERIC, b"restore", key)
    return OK


def _wrap(number: int) -> int:
    """A C long long result of an addition that may overflow (two's complement)."""
    return (number - LLONG_MIN) % (1 << 64) + LLONG_MIN


def redis_idle_time(now_ms: int, idle: int) -> int:
    """OBJECT IDLETIME in Redis 7.0 right after RESTORE ... IDLETIME `idle` at `now_ms`:
    objectSetLRUOrLFU stores the LRU clock minus the idle time (C arithmetic, an underflow
    corrected once by LRU_CLOCK_MAX, then truncated to the 24-bit field), and
    estimateObjectIdleTime measures from it on the wrapping clock."""
    clock = (now_ms // 1000) & LRU_CLOCK_MAX
    scaled = _wrap(idle * 1000)  # lru_idle * 1000 / LRU_CLOCK_RESOLUTION, in C
    seconds = abs(scaled) // 1000 * (1 if scaled >= 0 else -1)
    stored = clock - seconds
    if stored < 0:
        stored += LRU_CLOCK_MAX
    stored &= (1 << 24) - 1
    return clock - stored if clock >= stored else clock + LRU_CLOCK_MAX - stored
