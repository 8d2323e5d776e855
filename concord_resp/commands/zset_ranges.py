"""Sorted set ranges: ZRANGE (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES) and its older forms,
ZRANGESTORE, ZCOUNT, ZLEXCOUNT and ZREMRANGEBYRANK/SCORE/LEX.

Range arguments are parsed as Redis parses them, which is not how it parses scores: a score
bound goes through plain `strtod` (leading white space allowed, the text cut at a NUL byte,
"" is 0, an out-of-range literal is infinite), a lex bound is `[member`, `(member`, `-` or
`+`. The ranges themselves are `ScoreRange`/`LexRange` over a `ZSet`'s ranks (O(log n) to
find a range's start). ZRANGESTORE builds its result the way Redis does (a listpack unless
the rank range is longer than zset-max-listpack-entries, then member by member with the
usual conversion), so the stored encoding matches.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from itertools import islice, takewhile
from typing import Final

from ..resp import Reply
from ..store.events import NOTIFY_GENERIC, NOTIFY_ZSET
from ..store.types.zset import LEX_MAX, LEX_MIN, ZSET, LexBound, LexRange, ScoreRange, ZSet
from .context import Context
from .errors import SYNTAX, CommandError
from .lookup import check_type, lookup_read, lookup_read_typed, lookup_write, lookup_write_typed
from .parse import option_name, parse_int
from .spec import command
from .zsets import scored

NOT_A_FLOAT_RANGE: Final = "ERR min or max is not a float"
NOT_A_LEX_RANGE: Final = "ERR min or max not valid string range item"
LIMIT_NEEDS_RANGE: Final = (
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
)
WITHSCORES_AND_BYLEX: Final = "ERR syntax error, WITHSCORES not supported in combination with BYLEX"

BY_RANK, BY_SCORE, BY_LEX = "rank", "score", "lex"

_C_SPACE: Final = b" \t\n\v\f\r"
_DECIMAL: Final = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INFINITIES: Final = (b"inf", b"infinity")
_HEX: Final = re.compile(
    rb"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
)


# -- parsing ranges -----------------------------------------------------------------------


def strtod(text: bytes) -> float | None:
    """C `strtod` over all of `text` as zslParseRange calls it: leading white space skipped,
    "" is 0, a literal out of range is infinite (or zero) instead of refused; None if the
    text is not one number, or is NaN."""
    if not text:
        return 0.0  # nothing converted, and the end pointer is at the terminating NUL
    body = text.lstrip(_C_SPACE)
    if _DECIMAL.fullmatch(body):
        return float(body)  # correctly rounded, as glibc's; past the range: inf or 0 as well
    if _HEX.fullmatch(body):
        try:
            magnitude = float.fromhex(body.lstrip(b"+-").decode())
        except OverflowError:
            magnitude = math.inf
        return -magnitude if body[:1] == b"-" else magnitude
    unsigned = body[1:] if body[:1] in (b"+", b"-") else body
    return float(body) if unsigned.lower() in _INFINITIES else None


def _score_bound(arg: bytes) -> tuple[float, bool] | None:
    text = arg.split(b"\0", 1)[0]  # a C string
    open_end = text[:1] == b"("
    value = strtod(text[1:] if open_end else text)
    return None if value is None else (value, open_end)


def parse_score_range(low: bytes, high: bytes) -> ScoreRange:
    """Redis's zslParseRange: `[(]score` at each end."""
    first, second = _score_bound(low), _score_bound(high)
    if first is None or second is None:
        raise CommandError(NOT_A_FLOAT_RANGE)
    return ScoreRange(first[0], second[0], first[1], second[1])


def _lex_bound(arg: bytes) -> tuple[LexBound, bool] | None:
    head = arg[:1]
    if head in (b"+", b"-"):
        if len(arg) > 1 and arg[1] != 0:  # only "+" or "-" as a C string
            return None
        return (LEX_MAX if head == b"+" else LEX_MIN), True
    if head in (b"(", b"["):
        return (0, arg[1:]), head == b"("
    return None


def parse_lex_range(low: bytes, high: bytes) -> LexRange:
    """Redis's zslParseLexRange: `[member`, `(member`, `-` or `+` at each end."""
    first, second = _lex_bound(low), _lex_bound(high)
    if first is None or second is None:
        raise CommandError(NOT_A_LEX_RANGE)
    return LexRange(first[0], second[0], first[1], second[1])


# -- walking a range ----------------------------------------------------------------------


def score_range_items(
    zset: ZSet, spec: ScoreRange, reverse: bool, offset: int = 0, limit: int = -1
) -> list[tuple[float, bytes]]:
    """genericZrangebyscoreCommand's walk: from the first score in range (the last, when
    `reverse`), skip `offset` members, then take up to `limit` (negative: all) while the
    scores stay in range."""
    start = zset.last_in_score_range(spec) if reverse else zset.first_in_score_range(spec)
    in_range = spec.above_low if reverse else spec.below_high
    return _walk(zset, start, lambda item: in_range(item[0]), reverse, offset, limit)


def lex_range_items(
    zset: ZSet, spec: LexRange, reverse: bool, offset: int = 0, limit: int = -1
) -> list[tuple[float, bytes]]:
    """genericZrangebylexCommand's walk: as `score_range_items`, by member."""
    start = zset.last_in_lex_range(spec) if reverse else zset.first_in_lex_range(spec)
    in_range = spec.above_low if reverse else spec.below_high
    return _walk(zset, start, lambda item: in_range(item[1]), reverse, offset, limit)


def _walk(
    zset: ZSet,
    start: int | None,
    in_range: Callable[[tuple[float, bytes]], bool],
    reverse: bool,
    offset: int,
    limit: int,
) -> list[tuple[float, bytes]]:
    # Redis skips the offset without looking at the members skipped, then checks each one
    # it takes; a negative offset runs off the end (nothing).
    if start is None or offset < 0:
        return []
    start = start - offset if reverse else start + offset
    if not 0 <= start < len(zset):
        return []
    walk = takewhile(in_range, zset.walk(start, reverse))
    return list(walk if limit < 0 else islice(walk, limit))


def rank_range_positions(size: int, start: int, end: int) -> tuple[int, int]:
    """Redis's rank indexes (negative from the end, clamped) as ranks [first, stop)."""
    if start < 0:
        start += size
    if end < 0:
        end += size
    start = max(start, 0)
    if start > end or start >= size:
        return 0, 0
    return start, min(end, size - 1) + 1


# -- ZRANGE and its forms -----------------------------------------------------------------


def _zrange(
    ctx: Context,
    argv: list[bytes],
    key_at: int,
    destination: bytes | None,
    by: str | None,
    reverse: bool | None,
) -> Reply:
    """Redis's zrangeGenericCommand. `by` and `reverse` are None where the command takes
    BYSCORE/BYLEX and REV as options (ZRANGE, ZRANGESTORE); `destination` for ZRANGESTORE."""
    withscores = False
    offset, limit = 0, -1
    at = key_at + 3
    while at < len(argv):
        option = option_name(argv[at])
        if destination is None and option == b"withscores":
            withscores = True
        elif option == b"limit" and len(argv) - at - 1 >= 2:
            offset, limit = parse_int(argv[at + 1]), parse_int(argv[at + 2])
            at += 2
        elif reverse is None and option == b"rev":
            reverse = True
        elif by is None and option == b"bylex":
            by = BY_LEX
        elif by is None and option == b"byscore":
            by = BY_SCORE
        else:
            raise CommandError(SYNTAX)
        at += 1
    reverse = bool(reverse)
    by = by or BY_RANK
    if limit != -1 and by == BY_RANK:
        raise CommandError(LIMIT_NEEDS_RANGE)
    if withscores and by == BY_LEX:
        raise CommandError(WITHSCORES_AND_BYLEX)
    low, high = argv[key_at + 1], argv[key_at + 2]
    if reverse and by != BY_RANK:
        low, high = high, low  # given as max, min
    if by == BY_RANK:
        start, end = parse_int(low), parse_int(high)
    elif by == BY_SCORE:
        score_spec = parse_score_range(low, high)
    else:
        lex_spec = parse_lex_range(low, high)
    key = argv[key_at]
    zset = check_type(lookup_read(ctx, key, purge=destination is not None), ZSET)
    if zset is None:
        items: list[tuple[float, bytes]] = []
    elif by == BY_RANK:
        first, stop = rank_range_positions(len(zset), start, end)
        if reverse:
            first, stop = len(zset) - stop, len(zset) - first
        items = list(zset.items(first, stop, reverse))
    elif by == BY_SCORE:
        items = score_range_items(zset, score_spec, reverse, offset, limit)
    else:
        items = lex_range_items(zset, lex_spec, reverse, offset, limit)
    if destination is None:
        return scored(items, withscores)
    # zrangeResultBeginStore: a listpack unless the rank range is known to be too long.
    known = len(items) if by == BY_RANK else -1
    return store_result(ctx, destination, items, known)


def store_result(
    ctx: Context, destination: bytes, items: list[tuple[float, bytes]], known: int
) -> int:
    """ZRANGESTORE's result: built member by member (`known`: the length Redis knew when it
    chose the starting encoding, -1 if none), stored at `destination` (deleted if empty)."""
    if not items:
        if ctx.db.delete(destination, ctx.index):
            ctx.notify(NOTIFY_GENERIC, b"del", destination)
        return 0
    config = ctx.keyspace.config
    result = ZSet(listpack=known <= config.zset_max_listpack_entries)
    for score, member in items:
        result.insert(member, score, config)
    lookup_write(ctx, destination)
    ctx.db.set(destination, result, ctx.index)
    ctx.notify(NOTIFY_ZSET, b"zrangestore", destination)
    return len(items)


@command("zrange")
def zrange(ctx: Context, argv: list[bytes]) -> Reply:
    return _zrange(ctx, argv, 1, None, None, None)


@command("zrangestore")
def zrangestore(ctx: Context, argv: list[bytes]) -> Reply:
    return _zrange(ctx, argv, 2, argv[1], None, None)


@command("zrevrange")
def zrevrange(ctx: Context, argv: list[bytes]) -> Reply:
    return _zrange(ctx, argv, 1, None, BY_RANK, True)


@command("zrangebyscore")
def zrangebyscore(ctx: Context, argv: list[bytes]) -> Reply:
    return _zrange(ctx, argv, 1, None, BY_SCORE, False)


@command("zrevrangebyscore")
def zrevrangebyscore(ctx: Context, argv: list[bytes]) -> Reply:
    return _zrange(ctx, argv, 1, None, BY_SCORE, True)


@command("zrangebylex")
def zrangebylex(ctx: Context, argv: list[bytes]) -> Reply:
    return _zrange(ctx, argv, 1, None, BY_LEX, False)


@command("zrevrangebylex")
def zrevrangebylex(ctx: Context, argv: list[bytes]) -> Reply:
    return _zrange(ctx, argv, 1, None, BY_LEX, True)


# -- counting -----------------------------------------------------------------------------


@command("zcount")
def zcount(ctx: Context, argv: list[bytes]) -> Reply:
    spec = parse_score_range(argv[2], argv[3])
    zset = lookup_read_typed(ctx, argv[1], ZSET)
    if zset is None:
        return 0
    first, stop = zset.score_range_positions(spec)
    return stop - first


@command("zlexcount")
def zlexcount(ctx: Context, argv: list[bytes]) -> Reply:
    spec = parse_lex_range(argv[2], argv[3])
    zset = lookup_read_typed(ctx, argv[1], ZSET)
    if zset is None:
        return 0
    first, stop = zset.lex_range_positions(spec)
    return stop - first


# -- removing ranges ----------------------------------------------------------------------


def _remove_positions(ctx: Context, key: bytes, first: int, stop: int, event: bytes) -> int:
    if first >= stop:
        return 0
    with ctx.db.changing(key, ctx.index, ZSet) as zset:
        removed = zset.remove_positions(first, stop)
    ctx.notify(NOTIFY_ZSET, event, key)
    ctx.notify_if_deleted(key)
    return removed


@command("zremrangebyrank")
def zremrangebyrank(ctx: Context, argv: list[bytes]) -> Reply:
    start, end = parse_int(argv[2]), parse_int(argv[3])
    zset = lookup_write_typed(ctx, argv[1], ZSET)
    if zset is None:
        return 0
    first, stop = rank_range_positions(len(zset), start, end)
    return _remove_positions(ctx, argv[1], first, stop, b"zremrangebyrank")


@command("zremrangebyscore")
def zremrangebyscore(ctx: Context, argv: list[bytes]) -> Reply:
    spec = parse_score_range(argv[2], argv[3])
    zset = lookup_write_typed(ctx, argv[1], ZSET)
    if zset is None:
        return 0
    first, stop = zset.score_range_positions(spec)
    return _remove_positions(ctx, argv[1], first, stop, b"zremrangebyscore")


@command("zremrangebylex")
def zremrangebylex(ctx: Context, argv: list[bytes]) -> Reply:
    spec = parse_lex_range(argv[2], argv[3])
    zset = lookup_write_typed(ctx, argv[1], ZSET)
    if zset is None:
        return 0
    first, stop = zset.lex_range_positions(spec)
    return _remove_positions(ctx, argv[1], first, stop, b"zremrangebylex")
