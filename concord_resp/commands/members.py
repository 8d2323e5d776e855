"""What the collection commands share: random draws (HRANDFIELD, SRANDMEMBER, ZRANDMEMBER,
SPOP), with Redis 7.0's rules and errors.

A draw takes its positions from `ctx.rng` (seeded by the log entry for a write, the node's
own for a read) and turns them into members through the collection's `picker`, which is
O(1) or O(log n) a pick, so asking for a few members of a big collection costs a few picks,
as in Redis. The cases (repeats allowed, the whole collection, removing from a copy, picking
until enough are distinct) are t_set.c's and t_hash.c's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from ..limits import LLONG_MAX
from .context import Rng
from .errors import CommandError
from .parse import parse_int

COUNT_OUT_OF_RANGE: Final = (
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
)
DRAW_LIMIT: Final = 10_000_000
"""The most members one call may draw with repetition (a negative count): such a reply is
not bounded by the collection, and Redis builds any size asked for, running out of memory on
a huge one. Concord answers an error instead of stopping the node."""
TOO_MANY: Final = f"ERR count out of range: Concord draws at most {DRAW_LIMIT} elements at once"
SUB_STRATEGY_MUL: Final = 3
"""HRANDFIELD_SUB_STRATEGY_MUL, SRANDMEMBER_SUB_STRATEGY_MUL: below a third of the
collection, distinct members are picked at random; above, removed at random from a copy."""


def parse_random_count(arg: bytes) -> int:
    """Redis's `getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)`: a count whose negation
    fits (a negative count asks for members that may repeat)."""
    count = parse_int(arg)
    if count < -LLONG_MAX:
        raise CommandError(COUNT_OUT_OF_RANGE)
    return count


def check_draw(count: int) -> None:
    """Refuse a draw of more than DRAW_LIMIT members with repetition."""
    if count > DRAW_LIMIT:
        raise CommandError(TOO_MANY)


def draw(rng: Rng, pick: Callable[[int], bytes], size: int, count: int) -> list[bytes]:
    """`count` members of a collection of `size` (> 0), each at random: they may repeat."""
    check_draw(count)
    return [pick(rng.randrange(size)) for _ in range(count)]


def draw_distinct(
    rng: Rng,
    pick: Callable[[int], bytes],
    members: Callable[[], Iterable[bytes]],
    size: int,
    count: int,
) -> list[bytes]:
    """`count` distinct members (0 < count < size) at random, in no particular order.

    Near the whole collection (count * 3 > size), every member is copied and random ones are
    dropped until `count` remain (Redis's CASE 3); otherwise members are picked at random
    until `count` distinct ones are found (CASE 4), which needs few repeats.
    """
    if count * SUB_STRATEGY_MUL > size:
        kept = list(members())
        while len(kept) > count:
            position = rng.randrange(len(kept))
            kept[position] = kept[-1]
            kept.pop()
        return kept
    found: dict[bytes, None] = {}
    while len(found) < count:
        found[pick(rng.randrange(size))] = None
    return list(found)
