"""Sorted set algebra: ZUNION, ZINTER, ZDIFF, their STORE forms, and ZINTERCARD.

Redis's zunionInterDiffGenericCommand, step for step: numkeys, the inputs looked up (a set
counts as a sorted set whose scores are all 1; any other type is WRONGTYPE, before the
options are read), WEIGHTS/AGGREGATE/WITHSCORES/LIMIT, then the inputs of a union or an
intersection sorted by size (stably) and each sorted set walked from its highest rank, so that
scores are aggregated in Redis's order (floating-point sums depend on it). A weighted score or
a SUM that is NaN (inf - inf, inf * 0) counts as 0, as in Redis. A stored result is built as a
skiplist and becomes a listpack if it is within the thresholds (zsetConvertToListpackIfNeeded).

A set value is read through `len()`, iteration (its members, as bytes) and `in`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, Final

from ..resp import Reply
from ..store.events import NOTIFY_GENERIC, NOTIFY_ZSET
from ..store.types import type_name
from ..store.types.zset import ZSet
from .context import Context
from .errors import SYNTAX, WRONGTYPE, CommandError
from .lookup import lookup_read, lookup_write
from .parse import option_name, parse_float, parse_int
from .spec import command
from .zsets import scored

WEIGHT_NOT_FLOAT: Final = "ERR weight value is not a float"
LIMIT_NEGATIVE: Final = "ERR LIMIT can't be negative"

UNION, INTER, DIFF = "union", "inter", "diff"


def _sum(total: float, value: float) -> float:
    total += value
    return 0.0 if math.isnan(total) else total


def _min(total: float, value: float) -> float:
    return value if value < total else total


def _max(total: float, value: float) -> float:
    return value if value > total else total


AGGREGATES: Final[dict[bytes, Callable[[float, float], float]]] = {
    b"sum": _sum,
    b"min": _min,
    b"max": _max,
}


class Source:
    """One input: a sorted set, a set (every score 1) or a missing key (empty), weighted."""

    __slots__ = ("value", "weight")

    def __init__(self, value: Any) -> None:
        self.value = value
        self.weight = 1.0

    def __len__(self) -> int:
        return 0 if self.value is None else len(self.value)

    def items(self) -> Iterator[tuple[bytes, float]]:
        """(member, score): a sorted set from its highest rank down, as Redis walks it."""
        value = self.value
        if value is None:
            return iter(())
        if type(value) is ZSet:
            return ((member, score) for score, member in value.order.islice(reverse=True))
        return ((member, 1.0) for member in value)

    def find(self, member: bytes) -> float | None:
        value = self.value
        if value is None:
            return None
        if type(value) is ZSet:
            return value.scores.get(member)
        return 1.0 if member in value else None


def _algebra(
    ctx: Context,
    argv: list[bytes],
    numkeys_at: int,
    op: str,
    destination: bytes | None = None,
    cardinality: bool = False,
) -> Reply:
    argc = len(argv)
    count = parse_int(argv[numkeys_at])
    if count < 1:
        name = argv[0].decode("latin-1").lower()
        raise CommandError(f"ERR at least 1 input key is needed for '{name}' command")
    if count > argc - (numkeys_at + 1):
        raise CommandError(SYNTAX)
    sources: list[Source] = []
    for key in argv[numkeys_at + 1 : numkeys_at + 1 + count]:
        value = lookup_read(ctx, key, purge=destination is not None)
        if value is not None and type_name(value) not in (b"zset", b"set"):
            raise CommandError(WRONGTYPE)
        sources.append(Source(value))
    aggregate: Callable[[float, float], float] = _sum
    withscores = False
    limit = 0
    at = numkeys_at + 1 + count
    weighted = op != DIFF and not cardinality
    while at < argc:
        remaining = argc - at
        option = option_name(argv[at])
        if weighted and remaining >= count + 1 and option == b"weights":
            for source, arg in zip(sources, argv[at + 1 : at + 1 + count], strict=True):
                source.weight = parse_float(arg, WEIGHT_NOT_FLOAT)
            at += count + 1
        elif weighted and remaining >= 2 and option == b"aggregate":
            found = AGGREGATES.get(option_name(argv[at + 1]))
            if found is None:
                raise CommandError(SYNTAX)
            aggregate = found
            at += 2
        elif destination is None and not cardinality and option == b"withscores":
            withscores = True
            at += 1
        elif cardinality and remaining >= 2 and option == b"limit":
            limit = parse_int(argv[at + 1], LIMIT_NEGATIVE)
            if limit < 0:
                raise CommandError(LIMIT_NEGATIVE)
            at += 2
        else:
            raise CommandError(SYNTAX)
    if op != DIFF:
        sources.sort(key=len)  # stable, as glibc's qsort (a merge sort) is
    if cardinality:
        return _intersection_size(sources, limit)
    if op == UNION:
        result = _union(sources, aggregate)
    elif op == INTER:
        result = _intersection(sources, aggregate)
    else:
        result = _difference(sources)
    zset = ZSet.skiplist_of(result)
    if destination is None:
        return scored(zset.order, withscores)
    if not result:
        if ctx.db.delete(destination, ctx.index):
            ctx.notify(NOTIFY_GENERIC, b"del", destination)
        return 0
    zset.to_listpack_if_small(ctx.keyspace.config)
    lookup_write(ctx, destination)
    ctx.db.set(destination, zset, ctx.index)
    ctx.notify(NOTIFY_ZSET, _STORE_EVENTS[op], destination)
    return len(zset)


_STORE_EVENTS: Final = {UNION: b"zunionstore", INTER: b"zinterstore", DIFF: b"zdiffstore"}


def _weighted(source: Source, score: float) -> float:
    value = source.weight * score
    return 0.0 if math.isnan(value) else value


def _union(sources: list[Source], aggregate: Callable[[float, float], float]) -> dict[bytes, float]:
    scores: dict[bytes, float] = {}
    for source in sources:
        for member, score in source.items():
            value = _weighted(source, score)
            total = scores.get(member)
            scores[member] = value if total is None else aggregate(total, value)
    return scores


def _matches(sources: list[Source]) -> Iterator[tuple[bytes, float, list[float]]]:
    """The members of the smallest input found in every other, with the first's score and
    the others' (unweighted)."""
    first, others = sources[0], sources[1:]
    if not len(first):
        return
    for member, score in first.items():
        found: list[float] = []
        for other in others:
            value = score if other.value is first.value else other.find(member)
            if value is None:
                break
            found.append(value)
        else:
            yield member, score, found


def _intersection(
    sources: list[Source], aggregate: Callable[[float, float], float]
) -> dict[bytes, float]:
    scores: dict[bytes, float] = {}
    for member, score, found in _matches(sources):
        total = _weighted(sources[0], score)
        for other, value in zip(sources[1:], found, strict=True):
            total = aggregate(total, value * other.weight)
        scores[member] = total
    return scores


def _intersection_size(sources: list[Source], limit: int) -> int:
    size = 0
    for _ in _matches(sources):
        size += 1
        if size == limit:
            break
    return size


def _difference(sources: list[Source]) -> dict[bytes, float]:
    first, others = sources[0], sources[1:]
    if any(other.value is first.value for other in others if other.value is not None):
        return {}  # the first input is subtracted from itself
    return {
        member: score
        for member, score in first.items()
        if all(other.find(member) is None for other in others)
    }


@command("zunion")
def zunion(ctx: Context, argv: list[bytes]) -> Reply:
    return _algebra(ctx, argv, 1, UNION)


@command("zinter")
def zinter(ctx: Context, argv: list[bytes]) -> Reply:
    return _algebra(ctx, argv, 1, INTER)


@command("zdiff")
def zdiff(ctx: Context, argv: list[bytes]) -> Reply:
    return _algebra(ctx, argv, 1, DIFF)


@command("zintercard")
def zintercard(ctx: Context, argv: list[bytes]) -> Reply:
    return _algebra(ctx, argv, 1, INTER, cardinality=True)


@command("zunionstore")
def zunionstore(ctx: Context, argv: list[bytes]) -> Reply:
    return _algebra(ctx, argv, 2, UNION, destination=argv[1])


@command("zinterstore")
def zinterstore(ctx: Context, argv: list[bytes]) -> Reply:
    return _algebra(ctx, argv, 2, INTER, destination=argv[1])


@command("zdiffstore")
def zdiffstore(ctx: Context, argv: list[bytes]) -> Reply:
    return _algebra(ctx, argv, 2, DIFF, destination=argv[1])
