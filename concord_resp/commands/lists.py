"""List commands (LPUSH, LRANGE, LMOVE and friends), with Redis 7.0's replies and errors.

A list is a `ListValue` (a deque): pushes and pops at either end are O(1), indexing is a deque
walk from the nearer end. Every change happens inside `db.changing`, which bumps the version
WATCH compares and deletes a list left empty, as Redis does; a command that changes nothing
(LREM with no match, LINSERT without the pivot) leaves the key untouched. The pops that the
blocking commands share (`pop_elements`, `move_element`) are written once here; blocking
itself is in `blocking.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice
from typing import Final

from ..resp import NULL_ARRAY, OK, Reply
from ..store.events import NOTIFY_LIST
from ..store.types.list import LIST, ListValue
from .context import Context
from .errors import NO_SUCH_KEY, SYNTAX, CommandError, wrong_arity
from .lookup import lookup_read_typed, lookup_write_typed
from .parse import option_name, parse_int
from .spec import command

INDEX_OUT_OF_RANGE: Final = "ERR index out of range"
MUST_BE_POSITIVE: Final = "ERR value is out of range, must be positive"
RANK_ZERO: Final = (
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
    "or use negative to start from the end of the list"
)
NUMKEYS: Final = "ERR numkeys should be greater than 0"
COUNT_POSITIVE: Final = "ERR count should be greater than 0"

LEFT, RIGHT = True, False  # the end of a list a command works on (Redis's LIST_HEAD/TAIL)


def parse_positive(arg: bytes, error: str = MUST_BE_POSITIVE) -> int:
    """Redis's `getPositiveLongFromObjectOrReply`: 0 or more, else `error`."""
    value = parse_int(arg, error)
    if value < 0:
        raise CommandError(error)
    return value


def parse_end(arg: bytes) -> bool:
    """LEFT or RIGHT (case-insensitive), else a syntax error."""
    name = option_name(arg)
    if name == b"left":
        return LEFT
    if name == b"right":
        return RIGHT
    raise CommandError(SYNTAX)


def list_range(lst: ListValue, start: int, end: int) -> list[bytes]:
    """Redis's `addListRangeReply` indexes (negative from the end, clamped), head to tail."""
    size = len(lst)
    if start < 0:
        start += size
    if end < 0:
        end += size
    start = max(start, 0)
    if start > end or start >= size:
        return []
    end = min(end, size - 1)
    if start > size - 1 - end:  # nearer the tail: walk it backwards
        tail = list(islice(reversed(lst), size - 1 - end, size - start))
        tail.reverse()
        return tail
    return list(islice(lst, start, end + 1))


# -- pushing ------------------------------------------------------------------------------


def _push(ctx: Context, argv: list[bytes], left: bool, only_existing: bool) -> Reply:
    key = argv[1]
    if lookup_write_typed(ctx, key, LIST) is None and only_existing:
        return 0
    with ctx.db.changing(key, ctx.index, ListValue) as lst:
        if left:
            lst.extendleft(argv[2:])
        else:
            lst.extend(argv[2:])
        length = len(lst)
    if ctx.notifying:
        ctx.notify(NOTIFY_LIST, b"lpush" if left else b"rpush", key)
    return length


@command("lpush")
def lpush(ctx: Context, argv: list[bytes]) -> Reply:
    return _push(ctx, argv, LEFT, only_existing=False)


@command("rpush")
def rpush(ctx: Context, argv: list[bytes]) -> Reply:
    return _push(ctx, argv, RIGHT, only_existing=False)


@command("lpushx")
def lpushx(ctx: Context, argv: list[bytes]) -> Reply:
    return _push(ctx, argv, LEFT, only_existing=True)


@command("rpushx")
def rpushx(ctx: Context, argv: list[bytes]) -> Reply:
    return _push(ctx, argv, RIGHT, only_existing=True)


@command("linsert")
def linsert(ctx: Context, argv: list[bytes]) -> Reply:
    where = option_name(argv[2])
    if where not in (b"before", b"after"):
        raise CommandError(SYNTAX)
    key, pivot = argv[1], argv[3]
    lst = lookup_write_typed(ctx, key, LIST)
    if lst is None:
        return 0
    try:
        position = lst.index(pivot)
    except ValueError:
        return -1
    with ctx.db.changing(key, ctx.index, ListValue) as changed:
        changed.insert(position + (where == b"after"), argv[4])
        length = len(changed)
    ctx.notify(NOTIFY_LIST, b"linsert", key)
    return length


# -- popping ------------------------------------------------------------------------------


def pop_elements(ctx: Context, key: bytes, left: bool, count: int) -> list[bytes]:
    """Pop up to `count` (>= 1) elements of the non-empty list at `key`, in pop order; an
    emptied list is deleted (notified: the pop, then `del`)."""
    with ctx.db.changing(key, ctx.index, ListValue) as lst:
        pop = lst.popleft if left else lst.pop
        popped = [pop() for _ in range(min(count, len(lst)))]
    _notify_popped(ctx, key, left)
    return popped


def _notify_popped(ctx: Context, key: bytes, left: bool) -> None:
    if ctx.notifying:
        ctx.notify(NOTIFY_LIST, b"lpop" if left else b"rpop", key)
        ctx.notify_if_deleted(key)


def move_element(
    ctx: Context, source: bytes, destination: bytes, left: bool, to_left: bool
) -> bytes:
    """LMOVE's work once both keys are checked: pop from the non-empty `source`, push onto
    `destination` (created if missing); returns the element. Notified as Redis does: the
    push, then the pop (and `del` for an emptied source)."""
    db = ctx.db
    if source == destination:  # a rotation: the list is never empty in between
        with db.changing(source, ctx.index, ListValue) as lst:
            element = lst.popleft() if left else lst.pop()
            if to_left:
                lst.appendleft(element)
            else:
                lst.append(element)
    else:
        with db.changing(source, ctx.index, ListValue) as lst:
            element = lst.popleft() if left else lst.pop()
        with db.changing(destination, ctx.index, ListValue) as target:
            if to_left:
                target.appendleft(element)
            else:
                target.append(element)
    ctx.notify(NOTIFY_LIST, b"lpush" if to_left else b"rpush", destination)
    _notify_popped(ctx, source, left)
    return element


def _pop(ctx: Context, argv: list[bytes], left: bool) -> Reply:
    if len(argv) > 3:
        raise wrong_arity(argv[0].decode("latin-1").lower())
    count = parse_positive(argv[2]) if len(argv) == 3 else None
    key = argv[1]
    if lookup_write_typed(ctx, key, LIST) is None:
        return NULL_ARRAY if count is not None else None
    if count is None:
        return pop_elements(ctx, key, left, 1)[0]
    if count == 0:
        return []
    return pop_elements(ctx, key, left, count)


@command("lpop")
def lpop(ctx: Context, argv: list[bytes]) -> Reply:
    return _pop(ctx, argv, LEFT)


@command("rpop")
def rpop(ctx: Context, argv: list[bytes]) -> Reply:
    return _pop(ctx, argv, RIGHT)


LIST_ENDS: Final = {b"left": LEFT, b"right": RIGHT}


def parse_mpop(
    argv: list[bytes], numkeys_at: int, ends: Mapping[bytes, bool] = LIST_ENDS
) -> tuple[list[bytes], bool, int]:
    """The arguments of LMPOP/BLMPOP (and ZMPOP/BZMPOP, with their MIN|MAX `ends`) from
    numkeys on: numkeys, the keys, the end, [COUNT count]. Returns (keys, the end's value in
    `ends`, count)."""
    numkeys = parse_int(argv[numkeys_at], NUMKEYS)
    if numkeys < 1:
        raise CommandError(NUMKEYS)
    where_at = numkeys_at + numkeys + 1
    if where_at >= len(argv):
        raise CommandError(SYNTAX)
    end = ends.get(option_name(argv[where_at]))
    if end is None:
        raise CommandError(SYNTAX)
    count = -1
    i = where_at + 1
    while i < len(argv):
        if count == -1 and option_name(argv[i]) == b"count" and i + 1 < len(argv):
            count = parse_int(argv[i + 1], COUNT_POSITIVE)
            if count < 1:
                raise CommandError(COUNT_POSITIVE)
            i += 2
        else:
            raise CommandError(SYNTAX)
    return argv[numkeys_at + 1 : where_at], end, max(count, 1)


def first_list(ctx: Context, keys: list[bytes]) -> bytes | None:
    """The first of `keys` holding a list (write lookups, in order; WRONGTYPE for a key of
    another type met before one), or None."""
    for key in keys:
        if lookup_write_typed(ctx, key, LIST) is not None:
            return key
    return None


@command("lmpop")
def lmpop(ctx: Context, argv: list[bytes]) -> Reply:
    keys, left, count = parse_mpop(argv, 1)
    key = first_list(ctx, keys)
    if key is None:
        return NULL_ARRAY
    return [key, pop_elements(ctx, key, left, count)]


def _move(ctx: Context, source: bytes, destination: bytes, left: bool, to_left: bool) -> Reply:
    if lookup_write_typed(ctx, source, LIST) is None:
        return None
    lookup_write_typed(ctx, destination, LIST)  # WRONGTYPE before anything is popped
    return move_element(ctx, source, destination, left, to_left)


@command("lmove")
def lmove(ctx: Context, argv: list[bytes]) -> Reply:
    left, to_left = parse_end(argv[3]), parse_end(argv[4])
    return _move(ctx, argv[1], argv[2], left, to_left)


@command("rpoplpush")
def rpoplpush(ctx: Context, argv: list[bytes]) -> Reply:
    return _move(ctx, argv[1], argv[2], RIGHT, LEFT)


# -- reading ------------------------------------------------------------------------------


@command("llen")
def llen(ctx: Context, argv: list[bytes]) -> Reply:
    lst = lookup_read_typed(ctx, argv[1], LIST)
    return 0 if lst is None else len(lst)


@command("lindex")
def lindex(ctx: Context, argv: list[bytes]) -> Reply:
    lst = lookup_read_typed(ctx, argv[1], LIST)
    if lst is None:
        return None
    index = parse_int(argv[2])
    if not -len(lst) <= index < len(lst):
        return None
    return lst[index]


@command("lrange")
def lrange(ctx: Context, argv: list[bytes]) -> Reply:
    start, end = parse_int(argv[2]), parse_int(argv[3])
    lst = lookup_read_typed(ctx, argv[1], LIST)
    return [] if lst is None else list_range(lst, start, end)


@command("lpos")
def lpos(ctx: Context, argv: list[bytes]) -> Reply:
    element = argv[2]
    rank, count, maxlen = 1, -1, 0  # count -1: the option was not given
    i = 3
    while i < len(argv):
        option = option_name(argv[i])
        more = i + 1 < len(argv)
        if option == b"rank" and more:
            rank = parse_int(argv[i + 1])
            if rank == 0:
                raise CommandError(RANK_ZERO)
        elif option == b"count" and more:
            count = parse_positive(argv[i + 1], "ERR COUNT can't be negative")
        elif option == b"maxlen" and more:
            maxlen = parse_positive(argv[i + 1], "ERR MAXLEN can't be negative")
        else:
            raise CommandError(SYNTAX)
        i += 2
    lst = lookup_read_typed(ctx, argv[1], LIST)
    if lst is None:
        return [] if count != -1 else None
    matches = _positions(lst, element, rank, count, maxlen)
    if count != -1:
        return matches
    return matches[0] if matches else None


def _positions(lst: ListValue, element: bytes, rank: int, count: int, maxlen: int) -> list[int]:
    """LPOS's matches: from the head (rank > 0) or the tail (rank < 0), skipping the first
    |rank| - 1, at most `count` of them (0: all; -1: one), within `maxlen` elements (0: all)."""
    size = len(lst)
    scanned = size if maxlen == 0 else min(maxlen, size)
    wanted = 1 if count == -1 else count  # 0: every match
    skip = abs(rank) - 1
    found: list[int] = []
    if rank > 0:
        position = 0
        while position < scanned:
            try:
                position = lst.index(element, position, scanned)
            except ValueError:
                break
            if skip:
                skip -= 1
            else:
                found.append(position)
                if len(found) == wanted:
                    break
            position += 1
        return found
    for offset, item in enumerate(islice(reversed(lst), scanned)):
        if item == element:
            if skip:
                skip -= 1
            else:
                found.append(size - 1 - offset)
                if len(found) == wanted:
                    break
    return found


# -- changing in the middle ---------------------------------------------------------------


@command("lset")
def lset(ctx: Context, argv: list[bytes]) -> Reply:
    key = argv[1]
    lst = lookup_write_typed(ctx, key, LIST)
    if lst is None:
        raise CommandError(NO_SUCH_KEY)
    index = parse_int(argv[2])
    if not -len(lst) <= index < len(lst):
        raise CommandError(INDEX_OUT_OF_RANGE)
    with ctx.db.changing(key, ctx.index, ListValue) as changed:
        changed[index] = argv[3]
    ctx.notify(NOTIFY_LIST, b"lset", key)
    return OK


@command("ltrim")
def ltrim(ctx: Context, argv: list[bytes]) -> Reply:
    start, end = parse_int(argv[2]), parse_int(argv[3])
    key = argv[1]
    lst = lookup_write_typed(ctx, key, LIST)
    if lst is None:
        return OK
    size = len(lst)
    if start < 0:
        start += size
    if end < 0:
        end += size
    start = max(start, 0)
    if start > end or start >= size:
        ctx.db.delete(key, ctx.index)  # nothing is kept
        ctx.notify(NOTIFY_LIST, b"ltrim", key)
        ctx.notify_if_deleted(key)
        return OK
    end = min(end, size - 1)
    # Redis signals the key as modified even when nothing is trimmed.
    with ctx.db.changing(key, ctx.index, ListValue) as changed:
        if start + (size - 1 - end) > size // 2:
            kept = list(islice(changed, start, end + 1))
            changed.clear()
            changed.extend(kept)
        else:
            for _ in range(start):
                changed.popleft()
            for _ in range(size - 1 - end):
                changed.pop()
    ctx.notify(NOTIFY_LIST, b"ltrim", key)
    return OK


@command("lrem")
def lrem(ctx: Context, argv: list[bytes]) -> Reply:
    to_remove = parse_int(argv[2])
    key, element = argv[1], argv[3]
    lst = lookup_write_typed(ctx, key, LIST)
    if lst is None:
        return 0
    limit = abs(to_remove)
    kept: list[bytes] = []
    removed = 0
    items = reversed(lst) if to_remove < 0 else iter(lst)
    for item in items:
        if item == element and (limit == 0 or removed < limit):
            removed += 1
        else:
            kept.append(item)
    if not removed:
        return 0
    if to_remove < 0:
        kept.reverse()
    with ctx.db.changing(key, ctx.index, ListValue) as changed:
        changed.clear()
        changed.extend(kept)
    ctx.notify(NOTIFY_LIST, b"lrem", key)
    ctx.notify_if_deleted(key)
    return removed
