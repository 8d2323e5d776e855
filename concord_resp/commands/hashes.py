"""Hash commands (HSET, HGET, HINCRBYFLOAT, HRANDFIELD, HSCAN and friends), as Redis 7.0's
t_hash.c answers them.

A hash is a `HashValue` (store/types/hash.py): a dict in Redis's listpack order, converted
to a hashtable where `hashTypeTryConversion` and `hashTypeSet` convert. Writes look the key
up for write first and change the hash only inside `db.changing`, which bumps the version
WATCH compares and deletes a hash left empty; a write that changes nothing (HDEL of absent
fields, HSETNX of a present one) bumps nothing. Replies are built from immutable bytes, never
the stored dict. HINCRBYFLOAT computes in x87 `long double` exactly, as INCRBYFLOAT does.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Final

from ..limits import LLONG_MAX, LLONG_MIN
from ..resp import OK, Map, Pairs, Reply, string2ll
from ..store.events import NOTIFY_HASH
from ..store.types.hash import HASH, HashValue
from .context import Context
from .errors import OVERFLOW, SYNTAX, CommandError, wrong_arity
from .floats import LONG_DOUBLE, format_long_double_human, round_to_format
from .glob import glob_match
from .keys import parse_cursor, parse_scan_options
from .lookup import lookup_read_typed, lookup_write_typed
from .members import draw, draw_distinct, parse_random_count
from .parse import option_name, parse_int, parse_long_double
from .spec import command

NOT_AN_INTEGER: Final = "ERR hash value is not an integer"
NOT_A_FLOAT: Final = "ERR hash value is not a float"
NAN_OR_INFINITY: Final = "ERR value is NaN or Infinity"
WOULD_BE_NAN_OR_INFINITY: Final = "ERR increment would produce NaN or Infinity"
OUT_OF_RANGE: Final = "ERR value is out of range"
WITHVALUES_LIMIT: Final = LLONG_MAX // 2  # HRANDFIELD ... WITHVALUES: C's LONG_MAX/2


# -- writes -------------------------------------------------------------------------------


@command("hset", "hmset")
def hset(ctx: Context, argv: list[bytes]) -> Reply:
    if len(argv) % 2:
        raise wrong_arity(argv[0].decode("latin-1").lower())
    key, config = argv[1], ctx.keyspace.config
    lookup_write_typed(ctx, key, HASH)
    with ctx.db.changing(key, ctx.index, HashValue) as hash_:
        hash_.try_conversion(argv[2:], config)
        created = 0
        for i in range(2, len(argv), 2):
            created += hash_.set_field(argv[i], argv[i + 1], config)
    if ctx.notifying:
        ctx.notify(NOTIFY_HASH, b"hset", key)
    # Redis tells the two apart by the command's second letter.
    return created if argv[0][1:2] in (b"s", b"S") else OK


@command("hsetnx")
def hsetnx(ctx: Context, argv: list[bytes]) -> Reply:
    key, field, value = argv[1], argv[2], argv[3]
    hash_ = lookup_write_typed(ctx, key, HASH)
    if hash_ is not None and field in hash_:
        return 0
    config = ctx.keyspace.config
    with ctx.db.changing(key, ctx.index, HashValue) as changed:
        changed.try_conversion((field, value), config)
        changed.set_field(field, value, config)
    ctx.notify(NOTIFY_HASH, b"hset", key)
    return 1


@command("hdel")
def hdel(ctx: Context, argv: list[bytes]) -> Reply:
    key, fields = argv[1], argv[2:]
    hash_ = lookup_write_typed(ctx, key, HASH)
    if hash_ is None or not any(field in hash_ for field in fields):
        return 0
    deleted = 0
    with ctx.db.changing(key, ctx.index, HashValue) as changed:
        for field in fields:
            deleted += changed.delete_field(field)
    ctx.notify(NOTIFY_HASH, b"hdel", key)
    ctx.notify_if_deleted(key)
    return deleted


@command("hincrby")
def hincrby(ctx: Context, argv: list[bytes]) -> Reply:
    increment = parse_int(argv[3])
    key, field = argv[1], argv[2]
    hash_ = lookup_write_typed(ctx, key, HASH)
    current = None if hash_ is None else hash_.get(field)
    value = 0
    if current is not None:
        parsed = string2ll(current)
        if parsed is None:
            raise CommandError(NOT_AN_INTEGER)
        value = parsed
    if not LLONG_MIN <= value + increment <= LLONG_MAX:
        raise CommandError(OVERFLOW)
    value += increment
    with ctx.db.changing(key, ctx.index, HashValue) as changed:
        changed.set_field(field, b"%d" % value, ctx.keyspace.config)
    ctx.notify(NOTIFY_HASH, b"hincrby", key)
    return value


@command("hincrbyfloat")
def hincrbyfloat(ctx: Context, argv: list[bytes]) -> Reply:
    """In x87 `long double` precision, stored and answered as `%.17Lf` without trailing
    zeros (Redis replicates the result as an HSET; here every replica computes it alike)."""
    increment = parse_long_double(argv[3])
    if increment is None:
        raise CommandError(NAN_OR_INFINITY)
    key, field = argv[1], argv[2]
    hash_ = lookup_write_typed(ctx, key, HASH)
    current = None if hash_ is None else hash_.get(field)
    value: Fraction | None = Fraction(0)
    if current is not None:
        value = parse_long_double(current, NOT_A_FLOAT)
    total = None if value is None else round_to_format(value + increment, LONG_DOUBLE)
    if total is None:  # a stored infinity, or an overflow
        raise CommandError(WOULD_BE_NAN_OR_INFINITY)
    text = format_long_double_human(total)
    with ctx.db.changing(key, ctx.index, HashValue) as changed:
        changed.set_field(field, text, ctx.keyspace.config)
    ctx.notify(NOTIFY_HASH, b"hincrbyfloat", key)
    return text


# -- reads --------------------------------------------------------------------------------


@command("hget")
def hget(ctx: Context, argv: list[bytes]) -> Reply:
    hash_ = lookup_read_typed(ctx, argv[1], HASH)
    return None if hash_ is None else hash_.get(argv[2])


@command("hmget")
def hmget(ctx: Context, argv: list[bytes]) -> Reply:
    hash_ = lookup_read_typed(ctx, argv[1], HASH)
    if hash_ is None:
        return [None] * (len(argv) - 2)
    return [hash_.get(field) for field in argv[2:]]


@command("hexists")
def hexists(ctx: Context, argv: list[bytes]) -> Reply:
    hash_ = lookup_read_typed(ctx, argv[1], HASH)
    return int(hash_ is not None and argv[2] in hash_)


@command("hlen")
def hlen(ctx: Context, argv: list[bytes]) -> Reply:
    hash_ = lookup_read_typed(ctx, argv[1], HASH)
    return 0 if hash_ is None else len(hash_)


@command("hstrlen")
def hstrlen(ctx: Context, argv: list[bytes]) -> Reply:
    hash_ = lookup_read_typed(ctx, argv[1], HASH)
    value = None if hash_ is None else hash_.get(argv[2])
    return 0 if value is None else len(value)


@command("hkeys")
def hkeys(ctx: Context, argv: list[bytes]) -> Reply:
    hash_ = lookup_read_typed(ctx, argv[1], HASH)
    return [] if hash_ is None else list(hash_)


@command("hvals")
def hvals(ctx: Context, argv: list[bytes]) -> Reply:
    hash_ = lookup_read_typed(ctx, argv[1], HASH)
    return [] if hash_ is None else list(hash_.values())


@command("hgetall")
def hgetall(ctx: Context, argv: list[bytes]) -> Reply:
    hash_ = lookup_read_typed(ctx, argv[1], HASH)
    return Map() if hash_ is None else Map(hash_)


@command("hrandfield")
def hrandfield(ctx: Context, argv: list[bytes]) -> Reply:
    """Redis's `hrandfieldCommand`: one field, or `count` of them: distinct for a positive
    count, possibly repeated for a negative one; WITHVALUES pairs each with its value."""
    if len(argv) < 3:
        hash_ = lookup_read_typed(ctx, argv[1], HASH)
        if hash_ is None:
            return None
        return hash_.picker()(ctx.rng.randrange(len(hash_)))
    count = parse_random_count(argv[2])
    if len(argv) > 4 or (len(argv) == 4 and option_name(argv[3]) != b"withvalues"):
        raise CommandError(SYNTAX)
    with_values = len(argv) == 4
    if with_values and not -WITHVALUES_LIMIT <= count <= WITHVALUES_LIMIT:
        raise CommandError(OUT_OF_RANGE)
    hash_ = lookup_read_typed(ctx, argv[1], HASH)
    if hash_ is None or count == 0:
        return []
    size = len(hash_)
    if count < 0 or count == 1:
        fields = draw(ctx.rng, hash_.picker(), size, abs(count))
    elif count >= size:
        return Pairs(hash_.items()) if with_values else list(hash_)
    else:
        fields = draw_distinct(ctx.rng, hash_.picker(), hash_.keys, size, count)
    if with_values:
        return Pairs([(field, hash_[field]) for field in fields])
    return fields


@command("hscan")
def hscan(ctx: Context, argv: list[bytes]) -> Reply:
    """Redis's `hscanCommand`: the cursor is checked first, then the key, then the options
    (a missing key answers an empty scan whatever they are)."""
    cursor = parse_cursor(argv[2])
    hash_ = lookup_read_typed(ctx, argv[1], HASH)
    if hash_ is None:
        return [b"0", []]
    count, pattern, _ = parse_scan_options(argv, 3)
    next_cursor, fields = hash_.scan(cursor, count)
    found: list[bytes] = []
    for field in fields:
        if pattern is None or glob_match(pattern, field):
            found.append(field)
            found.append(hash_[field])
    return [b"%d" % next_cursor, found]
