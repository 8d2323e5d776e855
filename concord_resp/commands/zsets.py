"""Sorted set commands on members: ZADD, ZINCRBY, ZREM, scores, ranks, pops, ZRANDMEMBER, ZSCAN.

A sorted set is a `ZSet` (store/types/zset.py). Every change happens inside `db.changing`,
entered only once a change is certain, so a write that changes nothing (ZADD NX of an existing
member, ZREM of absent ones) leaves the key's version alone, as Redis signals no change; an
emptied sorted set is deleted. Scores reply as doubles (RESP3 `,`; RESP2 bulk `%.17g`) and
scored lists as `Pairs` (nested in RESP3, flat in RESP2), as Redis 7.0 does. The pops that
the blocking commands share (`pop_pairs`, `first_zset`, `parse_zmpop`, `pop_zset`) live here;
ranges are in `zset_ranges.py`, the set algebra in `zset_algebra.py`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

from ..limits import LLONG_MAX
from ..resp import NULL_ARRAY, Pairs, Reply
from ..store.events import NOTIFY_ZSET
from ..store.types.zset import ZSET, ZSet, format_score, listpack_score_text
from .context import Context
from .errors import SYNTAX, CommandError
from .glob import glob_match
from .keys import parse_cursor, parse_scan_options
from .lists import parse_mpop, parse_positive
from .lookup import lookup_read_typed, lookup_write_typed
from .members import check_draw, parse_random_count
from .parse import option_name, parse_float
from .spec import command

NAN_SCORE: Final = "ERR resulting score is not a number (NaN)"
XX_AND_NX: Final = "ERR XX and NX options at the same time are not compatible"
GT_LT_NX: Final = "ERR GT, LT, and/or NX options at the same time are not compatible"
INCR_ONE_PAIR: Final = "ERR INCR option supports a single increment-element pair"
OUT_OF_RANGE: Final = "ERR value is out of range"

LOWEST, HIGHEST = False, True  # the end a pop takes from (Redis's ZSET_MIN, ZSET_MAX)


def scored(items: Iterable[tuple[float, bytes]], withscores: bool) -> Reply:
    """(score, member) items as a reply: members, or (member, score) `Pairs`."""
    if withscores:
        return Pairs((member, score) for score, member in items)
    return [member for _, member in items]


# -- adding -------------------------------------------------------------------------------


@command("zadd")
def zadd(ctx: Context, argv: list[bytes]) -> Reply:
    return _zadd(ctx, argv, incr=False)


@command("zincrby")
def zincrby(ctx: Context, argv: list[bytes]) -> Reply:
    return _zadd(ctx, argv, incr=True)


def _zadd(ctx: Context, argv: list[bytes], incr: bool) -> Reply:
    """Redis's zaddGenericCommand: options, then score/member pairs; every check (options,
    scores, the key's type) comes before any change."""
    nx = xx = gt = lt = ch = False
    at = 2
    while at < len(argv):
        option = option_name(argv[at])
        if option == b"nx":
            nx = True
        elif option == b"xx":
            xx = True
        elif option == b"ch":
            ch = True
        elif option == b"incr":
            incr = True
        elif option == b"gt":
            gt = True
        elif option == b"lt":
            lt = True
        else:
            break
        at += 1
    arguments = len(argv) - at
    if arguments == 0 or arguments % 2:
        raise CommandError(SYNTAX)
    if nx and xx:
        raise CommandError(XX_AND_NX)
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise CommandError(GT_LT_NX)
    if incr and arguments > 2:
        raise CommandError(INCR_ONE_PAIR)
    scores = [parse_float(argv[i]) for i in range(at, len(argv), 2)]
    members = argv[at + 1 :: 2]
    key = argv[1]
    zset = lookup_write_typed(ctx, key, ZSET)
    if zset is None and xx:
        return None if incr else 0
    config = ctx.keyspace.config
    listpack = not (
        config.zset_max_listpack_entries == 0 or config.zset_max_listpack_value < len(members[0])
    )
    # First what each pair does (a member given twice sees its first score), then the
    # changes, all together: nothing is changed when nothing would be.
    changes: list[tuple[bytes, float, bool]] = []  # (member, new score, new member?)
    pending: dict[bytes, float] = {}
    added = updated = processed = 0
    result = 0.0
    for score, member in zip(scores, members, strict=True):
        current = pending.get(member)
        if current is None and zset is not None:
            current = zset.score(member)
        if current is None:
            if xx:
                continue
        else:
            if nx:
                continue
            if incr:
                score += current
                if math.isnan(score):
                    raise CommandError(NAN_SCORE)
            if (lt and score >= current) or (gt and score <= current):
                continue
        processed += 1
        result = score
        if current == score:
            continue
        changes.append((member, score, current is None))
        pending[member] = score
        if current is None:
            added += 1
        else:
            updated += 1
    if changes:
        with ctx.db.changing(key, ctx.index, lambda: ZSet(listpack)) as changed:
            for member, score, new in changes:
                if new:
                    changed.insert(member, score, config)
                else:
                    changed.update(member, score)
        if ctx.notifying:
            ctx.notify(NOTIFY_ZSET, b"zincr" if incr else b"zadd", key)
    if incr:
        return result if processed else None
    return added + updated if ch else added


# -- removing -----------------------------------------------------------------------------


@command("zrem")
def zrem(ctx: Context, argv: list[bytes]) -> Reply:
    key, members = argv[1], argv[2:]
    zset = lookup_write_typed(ctx, key, ZSET)
    if zset is None or all(zset.score(member) is None for member in members):
        return 0
    deleted = 0
    with ctx.db.changing(key, ctx.index, ZSet) as changed:
        for member in members:
            deleted += changed.remove(member)
            if not changed:
                break
    ctx.notify(NOTIFY_ZSET, b"zrem", key)
    ctx.notify_if_deleted(key)
    return deleted


# -- reading ------------------------------------------------------------------------------


@command("zcard")
def zcard(ctx: Context, argv: list[bytes]) -> Reply:
    zset = lookup_read_typed(ctx, argv[1], ZSET)
    return 0 if zset is None else len(zset)


@command("zscore")
def zscore(ctx: Context, argv: list[bytes]) -> Reply:
    zset = lookup_read_typed(ctx, argv[1], ZSET)
    return None if zset is None else zset.score(argv[2])


@command("zmscore")
def zmscore(ctx: Context, argv: list[bytes]) -> Reply:
    zset = lookup_read_typed(ctx, argv[1], ZSET)
    if zset is None:
        return [None] * (len(argv) - 2)
    return [zset.score(member) for member in argv[2:]]


def _rank(ctx: Context, argv: list[bytes], reverse: bool) -> Reply:
    zset = lookup_read_typed(ctx, argv[1], ZSET)
    if zset is None:
        return None
    rank = zset.rank(argv[2])
    if rank is None or not reverse:
        return rank
    return len(zset) - 1 - rank


@command("zrank")
def zrank(ctx: Context, argv: list[bytes]) -> Reply:
    return _rank(ctx, argv, reverse=False)


@command("zrevrank")
def zrevrank(ctx: Context, argv: list[bytes]) -> Reply:
    return _rank(ctx, argv, reverse=True)


# -- popping ------------------------------------------------------------------------------


def pop_pairs(ctx: Context, key: bytes, highest: bool, count: int) -> list[tuple[bytes, float]]:
    """Pop up to `count` (>= 1) members of the non-empty sorted set at `key`, lowest (or
    highest) first, as (member, score); an emptied sorted set is deleted. The pop of ZPOPMIN,
    ZPOPMAX and ZMPOP, and of their blocking forms."""
    with ctx.db.changing(key, ctx.index, ZSet) as zset:
        pairs = [zset.pop(highest) for _ in range(min(count, len(zset)))]
    if ctx.notifying:
        ctx.notify(NOTIFY_ZSET, b"zpopmax" if highest else b"zpopmin", key)
        ctx.notify_if_deleted(key)
    return pairs


def pop_zset(ctx: Context, key: bytes, highest: bool, count: int) -> Reply:
    """ZMPOP's (and BZMPOP's) reply after popping from the non-empty sorted set at `key`:
    [key, [[member, score], ...]], nested in RESP2 too."""
    return [key, [[member, score] for member, score in pop_pairs(ctx, key, highest, count)]]


def first_zset(ctx: Context, keys: list[bytes]) -> bytes | None:
    """The first of `keys` holding a sorted set (write lookups, in order; WRONGTYPE for a key
    of another type met before one), or None."""
    for key in keys:
        if lookup_write_typed(ctx, key, ZSET) is not None:
            return key
    return None


ZSET_ENDS: Final = {b"min": LOWEST, b"max": HIGHEST}


def parse_zmpop(argv: list[bytes], numkeys_at: int) -> tuple[list[bytes], bool, int]:
    """ZMPOP's (and BZMPOP's) arguments from numkeys on: (keys, highest, count)."""
    return parse_mpop(argv, numkeys_at, ZSET_ENDS)


def _zpop(ctx: Context, argv: list[bytes], highest: bool) -> Reply:
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    count = parse_positive(argv[2]) if len(argv) == 3 else None
    key = argv[1]
    if lookup_write_typed(ctx, key, ZSET) is None or count == 0:
        return []
    pairs = pop_pairs(ctx, key, highest, 1 if count is None else count)
    if count is None:
        member, score = pairs[0]
        return [member, score]  # flat in RESP3 too
    return Pairs(pairs)


@command("zpopmin")
def zpopmin(ctx: Context, argv: list[bytes]) -> Reply:
    return _zpop(ctx, argv, LOWEST)


@command("zpopmax")
def zpopmax(ctx: Context, argv: list[bytes]) -> Reply:
    return _zpop(ctx, argv, HIGHEST)


@command("zmpop")
def zmpop(ctx: Context, argv: list[bytes]) -> Reply:
    keys, highest, count = parse_zmpop(argv, 1)
    key = first_zset(ctx, keys)
    if key is None:
        return NULL_ARRAY
    return pop_zset(ctx, key, highest, count)


# -- random members -----------------------------------------------------------------------


@command("zrandmember")
def zrandmember(ctx: Context, argv: list[bytes]) -> Reply:
    if len(argv) == 2:
        zset = lookup_read_typed(ctx, argv[1], ZSET)
        if zset is None:
            return None
        return zset.at(ctx.rng.randrange(len(zset)))[1]
    count = parse_random_count(argv[2])
    if len(argv) > 4 or (len(argv) == 4 and option_name(argv[3]) != b"withscores"):
        raise CommandError(SYNTAX)
    withscores = len(argv) == 4
    if withscores and not -(LLONG_MAX // 2) <= count <= LLONG_MAX // 2:
        raise CommandError(OUT_OF_RANGE)
    zset = lookup_read_typed(ctx, argv[1], ZSET)
    if zset is None or count == 0:
        return []
    return scored(_random_items(ctx, zset, count), withscores)


def _random_items(ctx: Context, zset: ZSet, count: int) -> list[tuple[float, bytes]]:
    """Redis's zrandmemberWithCountCommand cases: a negative count (or 1) picks with
    repetition; a count covering the whole set takes it all, highest rank first, as Redis
    iterates; otherwise `count` distinct members (Floyd's sampling: O(count log n))."""
    size = len(zset)
    rng = ctx.rng
    if count < 0 or count == 1:
        check_draw(abs(count))
        return [zset.at(rng.randrange(size)) for _ in range(abs(count))]
    if count >= size:
        return list(zset.items(0, size, reverse=True))
    chosen: dict[int, None] = {}
    for top in range(size - count, size):
        position = rng.randrange(top + 1)
        chosen[top if position in chosen else position] = None
    return [zset.at(position) for position in chosen]


# -- ZSCAN --------------------------------------------------------------------------------


@command("zscan")
def zscan(ctx: Context, argv: list[bytes]) -> Reply:
    """A listpack is returned whole with cursor 0, as Redis does; a skiplist is walked in
    `ZSet.scan` steps (members by crc32), scores formatted as Redis's `%.17Lg`."""
    cursor = parse_cursor(argv[2])
    zset = lookup_read_typed(ctx, argv[1], ZSET)
    if zset is None:
        return [b"0", []]
    count, pattern, _ = parse_scan_options(argv, 3)
    if zset.listpack:
        next_cursor = 0
        pairs = [(member, listpack_score_text(score)) for score, member in zset.order]
    else:
        next_cursor, batch = zset.scan(cursor, count)
        pairs = [(member, format_score(score)) for member, score in batch]
    found: list[bytes] = []
    for member, text in pairs:
        if pattern is None or glob_match(pattern, member):
            found += (member, text)
    return [b"%d" % next_cursor, found]
