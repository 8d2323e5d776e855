"""Blocking pops (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP on lists; BZPOPMIN, BZPOPMAX,
BZMPOP on sorted sets): the pure half of blocking.

A blocking command runs like its non-blocking form when one of its keys holds elements. When
none does it returns `Block` instead of a reply: the state machine then registers the client
as a waiter (`state.blocked`, replicated state), and a later entry that gives one of the keys
elements serves it during its own apply (`serve`), oldest waiter first, as Redis serves
blocked clients after the command that pushed. Inside MULTI a blocking command never blocks
(`ctx.deny_blocking`): it answers as a timeout does. Timeouts are computed here from the
entry's time (`Block.timeout_ms`), so every replica agrees on every deadline.
"""

from __future__ import annotations

import math
from typing import Final

from ..limits import LLONG_MAX, LLONG_MIN
from ..resp import NULL_ARRAY, ErrorReply, Reply
from ..store.types.list import LIST, ListValue
from ..store.types.zset import ZSet
from .context import Context
from .errors import WRONGTYPE, CommandError
from .lists import LEFT, RIGHT, first_list, move_element, parse_end, parse_mpop, pop_elements
from .lookup import check_type, lookup_write_typed
from .parse import parse_long_double
from .spec import command
from .stream_groups import serve_stream
from .waits import WAITS_FOR_ZSET, Block
from .zsets import first_zset, parse_zmpop, pop_pairs, pop_zset

TIMEOUT_NOT_FLOAT: Final = "ERR timeout is not a float or out of range"
TIMEOUT_NEGATIVE: Final = "ERR timeout is negative"
UNBLOCKED: Final = ErrorReply(b"UNBLOCKED client unblocked via CLIENT UNBLOCK")


def parse_timeout(arg: bytes) -> int:
    """Redis's `getTimeoutFromObjectOrReply` in seconds: a long double, as milliseconds
    rounded up (`ceill`). Like Redis on x86, a value beyond a `long long` of milliseconds
    (infinity among them) converts to LLONG_MIN and is refused as negative."""
    seconds = parse_long_double(arg, TIMEOUT_NOT_FLOAT)
    millis = LLONG_MIN if seconds is None else math.ceil(seconds * 1000)
    if not LLONG_MIN <= millis <= LLONG_MAX:
        millis = LLONG_MIN
    if millis < 0:
        raise CommandError(TIMEOUT_NEGATIVE)
    return millis


def has_timeout(argv: list[bytes]) -> bool:
    """Whether a blocking command waits with a timeout (INFO's clients_in_timeout_table)."""
    name = argv[0].lower()
    if name in (b"xread", b"xreadgroup"):  # BLOCK <ms>, before STREAMS
        for at, arg in enumerate(argv[1:-1], 1):
            if arg.lower() == b"block":
                return argv[at + 1] not in (b"0", b"-0")
        return False
    at = {b"blmove": 5, b"brpoplpush": 3, b"blmpop": 1, b"bzmpop": 1}.get(name, len(argv) - 1)
    try:
        return parse_timeout(argv[at]) > 0
    except (CommandError, IndexError):
        return False


def timed_out_reply(argv: list[bytes]) -> Reply:
    """What a blocked client gets when its wait times out: a null array, whatever the
    command (Redis's `replyToBlockedClientTimedOut`; BLMOVE in MULTI answers a null bulk
    instead, without ever waiting)."""
    return NULL_ARRAY


# -- the commands -------------------------------------------------------------------------


def _blocking_pop(ctx: Context, argv: list[bytes], left: bool) -> Reply:
    keys = argv[1:-1]
    timeout = parse_timeout(argv[-1])
    key = first_list(ctx, keys)
    if key is not None:
        return [key, pop_elements(ctx, key, left, 1)[0]]
    if ctx.deny_blocking:
        return NULL_ARRAY
    return Block(keys, timeout)


@command("blpop")
def blpop(ctx: Context, argv: list[bytes]) -> Reply:
    return _blocking_pop(ctx, argv, LEFT)


@command("brpop")
def brpop(ctx: Context, argv: list[bytes]) -> Reply:
    return _blocking_pop(ctx, argv, RIGHT)


def _blocking_move(
    ctx: Context, argv: list[bytes], left: bool, to_left: bool, timeout: int
) -> Reply:
    source, destination = argv[1], argv[2]
    if lookup_write_typed(ctx, source, LIST) is None:
        if ctx.deny_blocking:
            return None
        return Block([source], timeout)
    lookup_write_typed(ctx, destination, LIST)  # WRONGTYPE before anything is popped
    return move_element(ctx, source, destination, left, to_left)


@command("blmove")
def blmove(ctx: Context, argv: list[bytes]) -> Reply:
    left, to_left = parse_end(argv[3]), parse_end(argv[4])
    return _blocking_move(ctx, argv, left, to_left, parse_timeout(argv[5]))


@command("brpoplpush")
def brpoplpush(ctx: Context, argv: list[bytes]) -> Reply:
    return _blocking_move(ctx, argv, RIGHT, LEFT, parse_timeout(argv[3]))


@command("blmpop")
def blmpop(ctx: Context, argv: list[bytes]) -> Reply:
    keys, left, count = parse_mpop(argv, 2)
    timeout = parse_timeout(argv[1])
    key = first_list(ctx, keys)
    if key is not None:
        return [key, pop_elements(ctx, key, left, count)]
    if ctx.deny_blocking:
        return NULL_ARRAY
    return Block(keys, timeout)


def _blocking_zpop(ctx: Context, argv: list[bytes], highest: bool) -> Reply:
    keys = argv[1:-1]
    timeout = parse_timeout(argv[-1])
    key = first_zset(ctx, keys)
    if key is not None:
        return [key, *pop_pairs(ctx, key, highest, 1)[0]]
    if ctx.deny_blocking:
        return NULL_ARRAY
    return Block(keys, timeout, WAITS_FOR_ZSET)


@command("bzpopmin")
def bzpopmin(ctx: Context, argv: list[bytes]) -> Reply:
    return _blocking_zpop(ctx, argv, highest=False)


@command("bzpopmax")
def bzpopmax(ctx: Context, argv: list[bytes]) -> Reply:
    return _blocking_zpop(ctx, argv, highest=True)


@command("bzmpop")
def bzmpop(ctx: Context, argv: list[bytes]) -> Reply:
    keys, highest, count = parse_zmpop(argv, 2)
    timeout = parse_timeout(argv[1])
    key = first_zset(ctx, keys)
    if key is not None:
        return pop_zset(ctx, key, highest, count)
    if ctx.deny_blocking:
        return NULL_ARRAY
    return Block(keys, timeout, WAITS_FOR_ZSET)


# -- serving a waiter ---------------------------------------------------------------------


def serve(ctx: Context, argv: list[bytes], key: bytes) -> Reply | None:
    """Serve the waiter blocked by `argv` from `key`, which now holds elements: pop what the
    command pops (and push, for BLMOVE), and return its reply; None if the key holds a type
    this waiter does not wait for (it stays blocked), as Redis leaves such a client."""
    name = argv[0].lower()
    if name in (b"xread", b"xreadgroup"):
        return serve_stream(ctx, argv, key)
    value = ctx.db.get_for_write(key, ctx.now)
    if name in (b"bzpopmin", b"bzpopmax", b"bzmpop"):
        if type(value) is not ZSet:
            return None
        if name == b"bzmpop":
            _, highest, count = parse_zmpop(argv, 2)
            return pop_zset(ctx, key, highest, count)
        return [key, *pop_pairs(ctx, key, name == b"bzpopmax", 1)[0]]
    if type(value) is not ListValue:
        return None
    if name in (b"blpop", b"brpop"):
        return [key, pop_elements(ctx, key, name == b"blpop", 1)[0]]
    if name == b"blmpop":
        _, left, count = parse_mpop(argv, 2)
        return [key, pop_elements(ctx, key, left, count)]
    if name == b"blmove":
        left, to_left = parse_end(argv[3]), parse_end(argv[4])
    else:  # brpoplpush
        left, to_left = RIGHT, LEFT
    destination = argv[2]
    try:
        check_type(ctx.db.get_for_write(destination, ctx.now), LIST)
    except CommandError:
        return ErrorReply(WRONGTYPE.encode())  # Redis answers the waiter with the error
    return move_element(ctx, key, destination, left, to_left)
