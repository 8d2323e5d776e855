"""String commands (GET, SET and friends), with Redis 7's options, replies and errors.

Values are `bytes`; APPEND and SETRANGE turn a value into a `bytearray` (Redis's "raw"
encoding) and then change it in place inside `db.changing`, so repeated APPENDs are amortised
O(1) and WATCH sees every change. Because a stored bytearray can change after a handler
returns, a reply never hands one out: `string_reply` copies it. Keys are looked up through
`lookup` (read lookups: GET, MGET, GETRANGE, LCS and the read half of GETSET/GETDEL/GETEX/SET
... GET; write lookups for the rest), as Redis counts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from ..limits import LLONG_MAX, LLONG_MIN
from ..resp import OK, Map, Reply, string2ll
from ..store.events import NOTIFY_GENERIC, NOTIFY_STRING
from ..store.types import STRING, String
from .context import Context
from .errors import (
    OFFSET_OUT_OF_RANGE,
    OVERFLOW,
    SYNTAX,
    CommandError,
    invalid_expire,
    wrong_arity,
)
from .floats import LONG_DOUBLE, format_long_double_human, round_to_format
from .lookup import check_type, get_string, get_string_for_write, lookup_read
from .parse import option_name, parse_int, parse_long_double
from .spec import command

PROTO_MAX_BULK_LEN: Final = 512 * 1024 * 1024
"""Redis's default `proto-max-bulk-len`: the largest string APPEND/SETRANGE may build."""

TOO_BIG: Final = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
NAN_OR_INFINITY: Final = "ERR increment would produce NaN or Infinity"
LCS_NOT_STRINGS: Final = "ERR The specified keys must contain string values"
LCS_LEN_AND_IDX: Final = "ERR If you want both the length and indexes, please just use IDX."
LCS_TOO_BIG: Final = "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"


# -- replies ---------------------------------------------------------------------------


def string_reply(value: String | None) -> bytes | None:
    """A stored string as a reply: a bytearray may change in place later, so it is copied."""
    return bytes(value) if isinstance(value, bytearray) else value


# -- expiry options --------------------------------------------------------------------


def expire_at_ms(ctx: Context, arg: bytes, unit_ms: int, relative: bool, name: str) -> int:
    """Redis's `getExpireMillisecondsOrReply`: an absolute expiry time in ms."""
    amount = parse_int(arg)
    if amount <= 0 or (unit_ms == 1000 and amount > LLONG_MAX // 1000):
        raise invalid_expire(name)
    when = amount * unit_ms
    if relative:
        when += ctx.now
        if when > LLONG_MAX:
            raise invalid_expire(name)
    return when


_EXPIRY_UNITS: Final[dict[bytes, tuple[int, bool]]] = {
    # option: (unit in ms, relative to now?)
    b"ex": (1000, True),
    b"px": (1, True),
    b"exat": (1000, False),
    b"pxat": (1, False),
}


@dataclass(slots=True)
class _StringOptions:
    nx: bool = False
    xx: bool = False
    get: bool = False
    keep_ttl: bool = False
    persist: bool = False
    expiry: bytes | None = None  # ex, px, exat or pxat
    expiry_arg: bytes = b""


def _parse_string_options(argv: list[bytes], start: int, for_set: bool) -> _StringOptions:
    """Redis's `parseExtendedStringArgumentsOrReply`, for SET (`for_set`) or GETEX.

    As in Redis, repeating an option is allowed (the last expiry value wins), but two
    different expiry options, or one with KEEPTTL/PERSIST, are a syntax error.
    """
    opts = _StringOptions()
    argc = len(argv)
    i = start
    while i < argc:
        opt = option_name(argv[i])
        if for_set and opt == b"nx" and not opts.xx:
            opts.nx = True
        elif for_set and opt == b"xx" and not opts.nx:
            opts.xx = True
        elif for_set and opt == b"get":
            opts.get = True
        elif for_set and opt == b"keepttl" and opts.expiry is None:
            opts.keep_ttl = True
        elif not for_set and opt == b"persist" and opts.expiry is None:
            opts.persist = True
        elif (
            opt in _EXPIRY_UNITS
            and opts.expiry in (None, opt)
            and not (opts.keep_ttl or opts.persist)
            and i + 1 < argc
        ):
            opts.expiry = opt
            i += 1
            opts.expiry_arg = argv[i]
        else:
            raise CommandError(SYNTAX)
        i += 1
    return opts


def _expiry_time(ctx: Context, opts: _StringOptions, name: str) -> int | None:
    if opts.expiry is None:
        return None
    unit_ms, relative = _EXPIRY_UNITS[opts.expiry]
    return expire_at_ms(ctx, opts.expiry_arg, unit_ms, relative, name)


def _store(
    ctx: Context,
    key: bytes,
    value: String,
    when: int | None = None,
    keep_ttl: bool = False,
    event: bytes = b"set",
) -> None:
    """Redis's `setKey` (+ `setExpire`), with their notifications (`event`, then `expire`).
    The caller has looked key up for write already."""
    db = ctx.db
    db.set(key, value, ctx.index, keep_ttl=keep_ttl or when is not None)
    if ctx.notifying:
        ctx.notify(NOTIFY_STRING, event, key)
    if when is not None:
        db.set_expiry(key, when, ctx.index)
        if ctx.notifying:
            ctx.notify(NOTIFY_GENERIC, b"expire", key)


# -- GET / SET family ------------------------------------------------------------------


@command("get")
def get(ctx: Context, argv: list[bytes]) -> Reply:
    return string_reply(get_string(ctx, argv[1]))


@command("set")
def set_(ctx: Context, argv: list[bytes]) -> Reply:
    if len(argv) == 3:  # SET key value, the common case: no options to read
        key = argv[1]
        ctx.db.get_for_write(key, ctx.now)  # (an expired key goes first, as Redis's lookup)
        _store(ctx, key, argv[2])
        return OK
    opts = _parse_string_options(argv, 3, for_set=True)
    when = _expiry_time(ctx, opts, "set")
    key = argv[1]
    old = string_reply(get_string(ctx, key, purge=True)) if opts.get else None
    found = ctx.db.get_for_write(key, ctx.now) is not None
    if (opts.nx and found) or (opts.xx and not found):
        return old  # None when GET was not asked for: a null reply either way
    _store(ctx, key, argv[2], when, keep_ttl=opts.keep_ttl)
    return old if opts.get else OK


@command("setnx")
def setnx(ctx: Context, argv: list[bytes]) -> Reply:
    key = argv[1]
    if ctx.db.get_for_write(key, ctx.now) is not None:
        return 0
    _store(ctx, key, argv[2])
    return 1


def _set_with_expiry(ctx: Context, argv: list[bytes], unit_ms: int, name: str) -> Reply:
    when = expire_at_ms(ctx, argv[2], unit_ms, True, name)
    ctx.db.get_for_write(argv[1], ctx.now)
    _store(ctx, argv[1], argv[3], when)
    return OK


@command("setex")
def setex(ctx: Context, argv: list[bytes]) -> Reply:
    return _set_with_expiry(ctx, argv, 1000, "setex")


@command("psetex")
def psetex(ctx: Context, argv: list[bytes]) -> Reply:
    return _set_with_expiry(ctx, argv, 1, "psetex")


@command("getset")
def getset(ctx: Context, argv: list[bytes]) -> Reply:
    old = string_reply(get_string(ctx, argv[1], purge=True))
    _store(ctx, argv[1], argv[2])  # clears any TTL, as GETSET does
    return old


@command("getdel")
def getdel(ctx: Context, argv: list[bytes]) -> Reply:
    old = string_reply(get_string(ctx, argv[1], purge=True))
    if old is not None:
        ctx.db.delete(argv[1], ctx.index)
        ctx.notify(NOTIFY_GENERIC, b"del", argv[1])
    return old


@command("getex")
def getex(ctx: Context, argv: list[bytes]) -> Reply:
    opts = _parse_string_options(argv, 2, for_set=False)
    key = argv[1]
    value = string_reply(get_string(ctx, key, purge=True))
    if value is None:
        return None  # a bad expiry argument is not even looked at for a missing key
    when = _expiry_time(ctx, opts, "getex")
    db = ctx.db
    if when is not None:
        if opts.expiry in (b"exat", b"pxat") and when <= ctx.now:  # checkAlreadyExpired
            db.delete(key, ctx.index)
            ctx.notify(NOTIFY_GENERIC, b"del", key)
        else:
            db.set_expiry(key, when, ctx.index)
            ctx.notify(NOTIFY_GENERIC, b"expire", key)
    elif opts.persist and db.persist(key, ctx.index):
        ctx.notify(NOTIFY_GENERIC, b"persist", key)
    return value


@command("mget")
def mget(ctx: Context, argv: list[bytes]) -> Reply:
    replies: list[bytes | None] = []
    for key in argv[1:]:
        value = lookup_read(ctx, key)
        replies.append(string_reply(value) if isinstance(value, (bytes, bytearray)) else None)
    return replies


def _check_pairs(argv: list[bytes]) -> None:
    if len(argv) % 2 == 0:
        raise wrong_arity(argv[0].decode("latin-1").lower())


@command("mset")
def mset(ctx: Context, argv: list[bytes]) -> Reply:
    _check_pairs(argv)
    db = ctx.db
    for i in range(1, len(argv), 2):
        db.get_for_write(argv[i], ctx.now)
        _store(ctx, argv[i], argv[i + 1])
    return OK


@command("msetnx")
def msetnx(ctx: Context, argv: list[bytes]) -> Reply:
    _check_pairs(argv)
    db = ctx.db
    for i in range(1, len(argv), 2):
        if db.get_for_write(argv[i], ctx.now) is not None:
            return 0
    for i in range(1, len(argv), 2):
        _store(ctx, argv[i], argv[i + 1])
    return 1


# -- in-place edits --------------------------------------------------------------------


def check_string_length(size: int, append: int) -> None:
    """Redis's `checkStringLength`: the result may not exceed proto-max-bulk-len."""
    if size + append > PROTO_MAX_BULK_LEN:
        raise CommandError(TOO_BIG)


def _raw_string(ctx: Context, key: bytes, value: String) -> bytearray:
    """The value as a bytearray stored at key (Redis's `dbUnshareStringValue`)."""
    if type(value) is bytearray:
        return value
    raw = bytearray(value)
    ctx.db.set(key, raw, ctx.index, keep_ttl=True)
    return raw


@command("append")
def append(ctx: Context, argv: list[bytes]) -> Reply:
    key, tail = argv[1], argv[2]
    value = get_string_for_write(ctx, key)
    if value is None:
        _store(ctx, key, tail, event=b"append")  # a new key holds the argument as is
        return len(tail)
    check_string_length(len(value), len(tail))
    raw = _raw_string(ctx, key, value)  # even an empty tail makes it raw, as in Redis
    with ctx.db.changing(key, ctx.index):
        raw.extend(tail)
    ctx.notify(NOTIFY_STRING, b"append", key)
    return len(raw)


@command("setrange")
def setrange(ctx: Context, argv: list[bytes]) -> Reply:
    key, patch = argv[1], argv[3]
    offset = parse_int(argv[2])
    if offset < 0:
        raise CommandError(OFFSET_OUT_OF_RANGE)
    value = get_string_for_write(ctx, key)
    if not patch:
        return 0 if value is None else len(value)
    check_string_length(offset, len(patch))
    if value is not None:
        _raw_string(ctx, key, value)
    with ctx.db.changing(key, ctx.index, create=bytearray) as raw:  # a missing key starts empty
        end = offset + len(patch)
        if end > len(raw):
            raw.extend(bytes(end - len(raw)))  # the gap is zero-filled
        raw[offset:end] = patch
    ctx.notify(NOTIFY_STRING, b"setrange", key)
    return len(raw)


# -- counters --------------------------------------------------------------------------


def _increment(ctx: Context, key: bytes, delta: int) -> Reply:
    """Redis's `incrDecrCommand`: the TTL is kept, the result is stored as text."""
    value = get_string_for_write(ctx, key)
    current = 0 if value is None else parse_int(value)
    result = current + delta
    if not LLONG_MIN <= result <= LLONG_MAX:
        raise CommandError(OVERFLOW)
    _store(ctx, key, b"%d" % result, keep_ttl=True, event=b"incrby")
    return result


@command("incr")
def incr(ctx: Context, argv: list[bytes]) -> Reply:
    return _increment(ctx, argv[1], 1)


@command("decr")
def decr(ctx: Context, argv: list[bytes]) -> Reply:
    return _increment(ctx, argv[1], -1)


@command("incrby")
def incrby(ctx: Context, argv: list[bytes]) -> Reply:
    return _increment(ctx, argv[1], parse_int(argv[2]))


@command("decrby")
def decrby(ctx: Context, argv: list[bytes]) -> Reply:
    delta = parse_int(argv[2])
    if delta == LLONG_MIN:  # its negation does not fit
        raise CommandError("ERR decrement would overflow")
    return _increment(ctx, argv[1], -delta)


@command("incrbyfloat")
def incrbyfloat(ctx: Context, argv: list[bytes]) -> Reply:
    """In x87 `long double` precision, printed with `%.17Lf` minus trailing zeros."""
    key = argv[1]
    value = get_string_for_write(ctx, key)
    current = Fraction(0) if value is None else parse_long_double(value)
    delta = parse_long_double(argv[2])
    total = (
        None if current is None or delta is None else round_to_format(current + delta, LONG_DOUBLE)
    )
    if total is None:  # an infinite operand, or an overflow
        raise CommandError(NAN_OR_INFINITY)
    text = format_long_double_human(total)
    _store(ctx, key, text, keep_ttl=True, event=b"incrbyfloat")
    if len(text) <= 20 and string2ll(text) is not None:
        # Redis stores the text without tryObjectEncoding: "3" here is embstr, not int.
        ctx.db.override_encoding(key, b"embstr", 1)
    return text


# -- reads -----------------------------------------------------------------------------


@command("strlen")
def strlen(ctx: Context, argv: list[bytes]) -> Reply:
    value = get_string(ctx, argv[1])
    return 0 if value is None else len(value)


@command("getrange", "substr")
def getrange(ctx: Context, argv: list[bytes]) -> Reply:
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    value = get_string(ctx, argv[1])
    if value is None:
        return b""
    size = len(value)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start += size
    if end < 0:
        end += size
    start = max(start, 0)
    end = min(max(end, 0), size - 1)
    if start > end or size == 0:
        return b""
    return bytes(value[start : end + 1])


@command("lcs")
def lcs(ctx: Context, argv: list[bytes]) -> Reply:
    try:
        first = check_type(lookup_read(ctx, argv[1]), STRING) or b""
        second = check_type(lookup_read(ctx, argv[2]), STRING) or b""
    except CommandError:
        raise CommandError(LCS_NOT_STRINGS) from None
    want_len = want_idx = with_match_len = False
    min_match_len = 0
    i = 3
    while i < len(argv):
        opt = option_name(argv[i])
        if opt == b"idx":
            want_idx = True
        elif opt == b"len":
            want_len = True
        elif opt == b"withmatchlen":
            with_match_len = True
        elif opt == b"minmatchlen" and i + 1 < len(argv):
            i += 1
            min_match_len = max(parse_int(argv[i]), 0)
        else:
            raise CommandError(SYNTAX)
        i += 1
    if want_idx and want_len:
        raise CommandError(LCS_LEN_AND_IDX)
    if (len(first) + 1) * (len(second) + 1) * 4 > PROTO_MAX_BULK_LEN:  # Redis's uint32 table
        raise CommandError(LCS_TOO_BIG)
    table = LcsTable(bytes(first), bytes(second), keep_rows=want_idx or not want_len)
    if want_len and not want_idx:
        return table.length
    common, matches = table.walk(min_match_len, with_match_len)
    if want_idx:
        return Map({b"matches": matches, b"len": table.length})
    return common


class LcsTable:
    """The LCS table of two strings, computed bit-parallel (Hyyro 2004), walked like Redis.

    Row i is an integer whose bit j-1 is clear exactly where LCS(i, j) > LCS(i, j-1), so
    LCS(i, j) is j minus the set bits among the low j bits. A row costs a few big-integer
    operations instead of len(b) Python steps, and the rows take len(a)*len(b) bits.
    """

    __slots__ = ("a", "b", "length", "rows")

    def __init__(self, a: bytes, b: bytes, keep_rows: bool) -> None:
        self.a = a
        self.b = b
        width = (1 << len(b)) - 1
        # One bit mask per byte value (bit j set where b[j] is that byte), each built in one
        # linear pass in C: setting bits one by one would copy the mask len(b) times.
        # (A set of ints: its order is not hash-seeded, and it only fills this lookup table.)
        masks: dict[int, int] = {}
        for byte in set(a) & set(b):
            table = bytes(49 if value == byte else 48 for value in range(256))  # "1"/"0"
            masks[byte] = int(b.translate(table)[::-1], 2)
        row = width
        rows = [row]
        for byte in a:
            matched = row & masks.get(byte, 0)
            row = ((row + matched) | (row - matched)) & width
            if keep_rows:
                rows.append(row)
        self.rows = rows
        self.length = len(b) - row.bit_count()

    def walk(self, min_match_len: int, with_match_len: bool) -> tuple[bytes, list[Reply]]:
        """The LCS string and the matching ranges, by Redis's backward walk (same ties).

        The walk compares LCS(i-1, j) with LCS(i, j-1) at every step. Counting the low j bits
        of a row afresh each time would cost O(len(b)) per step, so the counts for rows i and
        i-1 are kept up to date as j and i go down (one bit per step; one fresh count per row).
        """
        a, b, rows = self.a, self.b, self.rows
        width = (len(b) + 7) // 8
        i, j = len(a), len(b)

        def row_bytes(row: int) -> bytes:
            return rows[row].to_bytes(width, "little") if row >= 0 else b""

        def low_count(row: int, bits: int) -> int:
            return (rows[row] & ((1 << bits) - 1)).bit_count() if row >= 0 else 0

        cur, prev = row_bytes(i), row_bytes(i - 1)
        count_cur, count_prev = low_count(i, j), low_count(i - 1, j)  # set bits below j
        unset = len(a)  # Redis marks "no range open" with alen
        a_start, a_end, b_start, b_end = unset, 0, 0, 0
        common = bytearray()
        matches: list[Reply] = []
        while i > 0 and j > 0:
            emit = False
            # The bits at j-1 of rows i and i-1 leave the counts when j goes down.
            shift = (j - 1) & 7
            bit_cur = (cur[(j - 1) >> 3] >> shift) & 1
            bit_prev = (prev[(j - 1) >> 3] >> shift) & 1 if prev else 0
            if a[i - 1] == b[j - 1]:
                common.append(a[i - 1])
                if a_start == unset:
                    a_start = a_end = i - 1
                    b_start = b_end = j - 1
                elif a_start == i and b_start == j:  # contiguous: extend backwards
                    a_start -= 1
                    b_start -= 1
                else:
                    emit = True
                if a_start == 0 or b_start == 0:
                    emit = True
                move_i = move_j = True
            else:
                up = j - count_prev  # LCS(i-1, j)
                left = (j - 1) - (count_cur - bit_cur)  # LCS(i, j-1)
                move_i = up > left
                move_j = not move_i
                if a_start != unset:
                    emit = True
            if move_j:
                j -= 1
                count_cur -= bit_cur
                count_prev -= bit_prev
            if move_i:
                i -= 1
                cur, count_cur = prev, count_prev
                prev, count_prev = row_bytes(i - 1), low_count(i - 1, j)
            if emit:
                match_len = a_end - a_start + 1
                if min_match_len == 0 or match_len >= min_match_len:
                    match: list[Reply] = [[a_start, a_end], [b_start, b_end]]
                    if with_match_len:
                        match.append(match_len)
                    matches.append(match)
                a_start = unset
        common.reverse()
        return bytes(common), matches
