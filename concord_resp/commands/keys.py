"""Generic key commands (DEL, EXISTS, EXPIRE, RENAME, COPY, MOVE, SCAN, OBJECT, ...).

Replies, errors and the order of checks follow Redis 7.0's db.c, expire.c and object.c.
Writes run in the state machine at the entry's time: they look keys up with `get_for_write`
(an expired key is deleted first, as `lookupKeyWrite` does on a primary) and change keys only
through the `Database` methods, which bump the versions WATCH compares; a write that changes
nothing (EXPIRE NX on a key with a TTL, PERSIST without TTL) bumps nothing. Reads never
delete and are counted as Redis counts them (`lookup`). Nothing here names a value type: TYPE,
OBJECT ENCODING/REFCOUNT, COPY and SCAN ... TYPE ask the value's `ValueType`.
"""

from __future__ import annotations

from typing import Final

from ..limits import LLONG_MAX, ULONG_MAX
from ..resp import OK, Reply, SimpleString
from ..store import Database, Value
from ..store.events import NOTIFY_GENERIC
from ..store.types import type_name, value_type
from ..store.types.member_index import scan_batch
from .context import Context
from .errors import NO_SUCH_KEY, SYNTAX, CommandError, invalid_expire
from .glob import glob_match, is_literal
from .help import help_reply
from .lookup import lookup_notouch, lookup_read
from .parse import option_name, parse_int
from .registry import Route
from .server_cmds import parse_db_number
from .spec import command

RANDOM_TRIES: Final = 100  # random draws before RANDOMKEY falls back to listing live keys

SAME_OBJECT: Final = "ERR source and destination objects are the same"
LFU_NOT_SELECTED: Final = (
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note "
    "that when switching between policies at runtime LRU and LFU data will take some time "
    "to adjust."
)
NX_INCOMPATIBLE: Final = "ERR NX and XX, GT or LT options at the same time are not compatible"
GT_LT_INCOMPATIBLE: Final = "ERR GT and LT options at the same time are not compatible"


# -- existence, type, deletion ------------------------------------------------------------


@command("del", "unlink")
def delete(ctx: Context, argv: list[bytes]) -> Reply:
    db = ctx.db
    deleted = 0
    for key in argv[1:]:
        if db.get_for_write(key, ctx.now) is not None:
            db.delete(key, ctx.index)
            if ctx.notifying:
                ctx.notify(NOTIFY_GENERIC, b"del", key)
            deleted += 1
    return deleted


@command("exists")
def exists(ctx: Context, argv: list[bytes]) -> Reply:
    return sum(1 for key in argv[1:] if lookup_notouch(ctx, key) is not None)


@command("touch")
def touch(ctx: Context, argv: list[bytes]) -> Reply:
    return sum(1 for key in argv[1:] if lookup_read(ctx, key) is not None)


@command("type")
def type_(ctx: Context, argv: list[bytes]) -> Reply:
    return SimpleString(type_name(lookup_notouch(ctx, argv[1])))


# -- expiry -------------------------------------------------------------------------------

_NX, _XX, _GT, _LT = 1, 2, 4, 8
_EXPIRE_FLAGS: Final = {b"nx": _NX, b"xx": _XX, b"gt": _GT, b"lt": _LT}


def _expire_flags(argv: list[bytes]) -> int:
    """Redis's `parseExtendedExpireArgumentsOrReply`: NX/XX/GT/LT after the time."""
    flags = 0
    for arg in argv[3:]:
        flag = _EXPIRE_FLAGS.get(option_name(arg))
        if flag is None:
            # addReplyErrorFormat trims trailing CR/LF; %s stops at a NUL.
            option = arg.split(b"\0", 1)[0].rstrip(b"\r\n")
            raise CommandError(b"ERR Unsupported option " + option)
        flags |= flag
    if flags & _NX and flags & (_XX | _GT | _LT):
        raise CommandError(NX_INCOMPATIBLE)
    if flags & _GT and flags & _LT:
        raise CommandError(GT_LT_INCOMPATIBLE)
    return flags


def _expire(ctx: Context, argv: list[bytes], name: str, unit_ms: int, relative: bool) -> Reply:
    """Redis's `expireGenericCommand`; a time already past deletes the key."""
    flags = _expire_flags(argv)
    when = parse_int(argv[2])
    if unit_ms == 1000:
        # C division truncates toward zero: LLONG_MIN / 1000 is -9223372036854775.
        if when > LLONG_MAX // 1000 or when < -(LLONG_MAX // 1000):
            raise invalid_expire(name)
        when *= 1000
    base = ctx.now if relative else 0
    if when > LLONG_MAX - base:
        raise invalid_expire(name)
    when += base
    db, key = ctx.db, argv[1]
    if db.get_for_write(key, ctx.now) is None:
        return 0
    if flags and not _expire_allowed(flags, db.ttl_ms(key), when):
        return 0
    if when <= ctx.now:  # checkAlreadyExpired
        db.delete(key, ctx.index)
        ctx.notify(NOTIFY_GENERIC, b"del", key)
    else:
        db.set_expiry(key, when, ctx.index)
        ctx.notify(NOTIFY_GENERIC, b"expire", key)
    return 1


def _expire_allowed(flags: int, current: int | None, when: int) -> bool:
    # No TTL counts as an infinite one: GT never passes, LT always does.
    if flags & _NX and current is not None:
        return False
    if flags & _XX and current is None:
        return False
    if flags & _GT and (current is None or when <= current):
        return False
    return not (flags & _LT and current is not None and when >= current)


@command("expire")
def expire(ctx: Context, argv: list[bytes]) -> Reply:
    return _expire(ctx, argv, "expire", 1000, relative=True)


@command("pexpire")
def pexpire(ctx: Context, argv: list[bytes]) -> Reply:
    return _expire(ctx, argv, "pexpire", 1, relative=True)


@command("expireat")
def expireat(ctx: Context, argv: list[bytes]) -> Reply:
    return _expire(ctx, argv, "expireat", 1000, relative=False)


@command("pexpireat")
def pexpireat(ctx: Context, argv: list[bytes]) -> Reply:
    return _expire(ctx, argv, "pexpireat", 1, relative=False)


def _ttl(ctx: Context, key: bytes, in_ms: bool, absolute: bool) -> Reply:
    """Redis's `ttlGenericCommand`: -2 missing, -1 no TTL; seconds are rounded."""
    if lookup_notouch(ctx, key) is None:
        return -2
    when = ctx.db.ttl_ms(key)
    if when is None:
        return -1
    ttl = max(when if absolute else when - ctx.now, 0)
    return ttl if in_ms else (ttl + 500) // 1000


@command("ttl")
def ttl(ctx: Context, argv: list[bytes]) -> Reply:
    return _ttl(ctx, argv[1], in_ms=False, absolute=False)


@command("pttl")
def pttl(ctx: Context, argv: list[bytes]) -> Reply:
    return _ttl(ctx, argv[1], in_ms=True, absolute=False)


@command("expiretime")
def expiretime(ctx: Context, argv: list[bytes]) -> Reply:
    return _ttl(ctx, argv[1], in_ms=False, absolute=True)


@command("pexpiretime")
def pexpiretime(ctx: Context, argv: list[bytes]) -> Reply:
    return _ttl(ctx, argv[1], in_ms=True, absolute=True)


@command("persist")
def persist(ctx: Context, argv: list[bytes]) -> Reply:
    db, key = ctx.db, argv[1]
    if db.get_for_write(key, ctx.now) is None:
        return 0
    if not db.persist(key, ctx.index):
        return 0
    ctx.notify(NOTIFY_GENERIC, b"persist", key)
    return 1


# -- renaming, copying, moving ------------------------------------------------------------


def _rename(ctx: Context, argv: list[bytes], nx: bool) -> Reply:
    db, now = ctx.db, ctx.now
    source, target = argv[1], argv[2]
    if db.get_for_write(source, now) is None:
        raise CommandError(NO_SUCH_KEY)
    if source == target:
        return 0 if nx else OK
    if db.get_for_write(target, now) is not None:
        if nx:
            return 0
        db.delete(target, ctx.index)
    db.transfer(source, db, target, ctx.index)
    ctx.notify(NOTIFY_GENERIC, b"rename_from", source)
    ctx.notify(NOTIFY_GENERIC, b"rename_to", target)
    return 1 if nx else OK


@command("rename")
def rename(ctx: Context, argv: list[bytes]) -> Reply:
    return _rename(ctx, argv, nx=False)


@command("renamenx")
def renamenx(ctx: Context, argv: list[bytes]) -> Reply:
    return _rename(ctx, argv, nx=True)


@command("move")
def move(ctx: Context, argv: list[bytes]) -> Reply:
    number = parse_db_number(argv[2])
    if number == ctx.db_index:
        raise CommandError(SAME_OBJECT)
    source, target, key = ctx.db, ctx.keyspace.dbs[number], argv[1]
    if source.get_for_write(key, ctx.now) is None:
        return 0
    if target.get_for_write(key, ctx.now) is not None:
        return 0
    source.transfer(key, target, key, ctx.index)
    events = ctx.keyspace.events
    events.notify(NOTIFY_GENERIC, b"move_from", key, source.number)
    events.notify(NOTIFY_GENERIC, b"move_to", key, target.number)
    return 1


@command("copy")
def copy(ctx: Context, argv: list[bytes]) -> Reply:
    number = ctx.db_index
    replace = False
    i = 3
    while i < len(argv):
        option = option_name(argv[i])
        if option == b"replace":
            replace = True
        elif option == b"db" and i + 1 < len(argv):
            number = parse_db_number(argv[i + 1])
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    key, new_key = argv[1], argv[2]
    if number == ctx.db_index and key == new_key:
        raise CommandError(SAME_OBJECT)
    source, target, now = ctx.db, ctx.keyspace.dbs[number], ctx.now
    # Redis's lookupKeyRead deletes an expired source on a primary too.
    if lookup_read(ctx, key, purge=True) is None:
        return 0
    value = source.data[key]
    if target.get_for_write(new_key, now) is not None:
        if not replace:
            return 0
        target.delete(new_key, ctx.index)
    when = source.ttl_ms(key)
    override = source.encoding_override(key)
    kind = value_type(value)
    target.set(new_key, kind.duplicate(value), ctx.index)
    if when is not None:
        target.set_expiry(new_key, when, ctx.index)
    # A copy (dupStringObject and the like) keeps the encoding but is never shared: a copied
    # shared integer is an int with refcount 1.
    encoding, refcount = override if override is not None else kind.encoding(value)
    if override is not None or refcount != 1:
        target.override_encoding(new_key, encoding, 1)
    ctx.keyspace.events.notify(NOTIFY_GENERIC, b"copy_to", new_key, target.number)
    return 1


# -- finding keys -------------------------------------------------------------------------


@command("keys")
def keys(ctx: Context, argv: list[bytes]) -> Reply:
    pattern, db, now = argv[1], ctx.db, ctx.now
    if is_literal(pattern):
        return [pattern] if db.peek(pattern, now) is not None else []
    if pattern == b"*":
        return list(db.live_keys(now))
    return [key for key in db.live_keys(now) if glob_match(pattern, key)]


@command("randomkey")
def randomkey(ctx: Context, argv: list[bytes]) -> Reply:
    db, now = ctx.db, ctx.now
    order = db.scan_order()  # indexable and deterministic, unlike the dict
    size = len(order)
    if size == 0:
        return None
    for _ in range(RANDOM_TRIES):
        key: bytes = order[ctx.rng.randrange(size)][1]
        if not db.is_expired(key, now):
            return key
    # Mostly expired keys: choose among the live ones directly.
    live = [key for _, key in order if not db.is_expired(key, now)]
    return live[ctx.rng.randrange(len(live))] if live else None


@command("scan")
def scan(ctx: Context, argv: list[bytes]) -> Reply:
    """SCAN walks `db.scan_order()` (keys ordered by crc32) in `scan_batch` steps: the cursor
    is the crc32 to resume from, and every key present for the whole iteration is returned at
    least once, whatever is inserted or deleted."""
    cursor = parse_cursor(argv[1])
    count, pattern, wanted_type = parse_scan_options(argv, 2, with_type=True)
    db, now = ctx.db, ctx.now
    next_cursor, batch = scan_batch(db.scan_order(), cursor, count)
    found: list[Reply] = []
    for _, key in batch:
        if pattern is not None and not glob_match(pattern, key):
            continue
        if wanted_type is not None:
            value = lookup_notouch(ctx, key)  # counted, as Redis's type check is
            if type_name(value) != wanted_type:
                continue
        else:
            value = db.peek(key, now)
        if value is None:
            continue
        found.append(key)
    return [b"%d" % next_cursor, found]


def parse_scan_options(
    argv: list[bytes], start: int, *, with_type: bool = False
) -> tuple[int, bytes | None, bytes | None]:
    """(COUNT, MATCH pattern or None for any, TYPE or None) of SCAN (`with_type`) and of
    HSCAN/SSCAN/ZSCAN, from `argv[start]` on, as Redis's `scanGenericCommand` parses them."""
    count = 10
    pattern: bytes | None = None
    wanted_type: bytes | None = None
    i, argc = start, len(argv)
    while i < argc:
        option = option_name(argv[i])
        if option == b"count" and i + 1 < argc:
            count = parse_int(argv[i + 1])
            if count < 1:
                raise CommandError(SYNTAX)
        elif option == b"match" and i + 1 < argc:
            pattern = None if argv[i + 1] == b"*" else argv[i + 1]
        elif with_type and option == b"type" and i + 1 < argc:
            wanted_type = option_name(argv[i + 1])  # an unknown type simply matches nothing
        else:
            raise CommandError(SYNTAX)
        i += 2
    return count, pattern, wanted_type


def parse_cursor(arg: bytes) -> int:
    """Redis's `parseScanCursorOrReply`: C `strtoul` on the text up to the first NUL."""
    text = arg.split(b"\0", 1)[0]
    if text[:1].isspace():
        raise CommandError("ERR invalid cursor")
    if not text:
        return 0
    sign = text[:1]
    digits = text[1:] if sign in (b"+", b"-") else text
    if not digits or not digits.isdigit() or not digits.isascii() or len(digits) > 20:
        raise CommandError("ERR invalid cursor")  # (more than 20 digits: strtoul's ERANGE)
    value = int(digits)
    if value > ULONG_MAX:
        raise CommandError("ERR invalid cursor")
    return (-value) % (ULONG_MAX + 1) if sign == b"-" else value


# -- OBJECT -------------------------------------------------------------------------------


def _encoding_and_refcount(db: Database, key: bytes, value: Value) -> tuple[bytes, int]:
    """The key's recorded override if it has one, else what its value's type says."""
    override = db.encoding_override(key)
    if override is not None:
        return override
    return value_type(value).encoding(value)


@command("object|encoding")
def object_encoding(ctx: Context, argv: list[bytes]) -> Reply:
    value = lookup_notouch(ctx, argv[2], keymiss=False)
    if value is None:
        return None
    return _encoding_and_refcount(ctx.db, argv[2], value)[0]


@command("object|refcount")
def object_refcount(ctx: Context, argv: list[bytes]) -> Reply:
    value = lookup_notouch(ctx, argv[2], keymiss=False)
    if value is None:
        return None
    return _encoding_and_refcount(ctx.db, argv[2], value)[1]


@command("object|idletime")
def object_idletime(ctx: Context, argv: list[bytes]) -> Reply:
    db, key = ctx.db, argv[2]
    if lookup_notouch(ctx, key, keymiss=False) is None:
        return None
    accessed = db.last_access(key)
    if accessed is None:
        return 0
    # Redis's LRU clock ticks in whole seconds.
    return max(ctx.now // 1000 - accessed // 1000, 0)


@command("object|freq")
def object_freq(ctx: Context, argv: list[bytes]) -> Reply:
    if lookup_notouch(ctx, argv[2], keymiss=False) is None:
        return None
    # Concord has no LFU eviction policy, so frequencies are never tracked.
    raise CommandError(LFU_NOT_SELECTED)


_OBJECT_HELP: Final = (
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
)


@command("object|help", route=Route.LOCAL)
def object_help(ctx: Context, argv: list[bytes]) -> Reply:
    return help_reply("object", _OBJECT_HELP)
