"""Pure server and connection commands: PING, ECHO, SELECT, SWAPDB, DBSIZE, FLUSH*, TIME.

These run in the state machine like data commands (so they work inside MULTI/EXEC, where
SELECT changes the database for the commands after it), and locally for reads.
"""

from __future__ import annotations

from ..resp import OK, PONG, Reply
from ..store import DATABASES
from .context import Context
from .errors import DB_OUT_OF_RANGE, NOT_INTEGER, SYNTAX, CommandError, wrong_arity
from .parse import parse_int
from .spec import command


@command("ping")
def ping(ctx: Context, argv: list[bytes]) -> Reply:
    if len(argv) > 2:
        raise wrong_arity("ping")
    return PONG if len(argv) == 1 else argv[1]


@command("echo")
def echo(ctx: Context, argv: list[bytes]) -> Reply:
    return argv[1]


def parse_db_index(arg: bytes) -> int:
    index = parse_int(arg, NOT_INTEGER)
    if not 0 <= index < DATABASES:
        raise CommandError(DB_OUT_OF_RANGE)
    return index


@command("select")
def select(ctx: Context, argv: list[bytes]) -> Reply:
    ctx.select(parse_db_index(argv[1]))
    return OK


@command("swapdb")
def swapdb(ctx: Context, argv: list[bytes]) -> Reply:
    try:
        first = parse_int(argv[1], "ERR invalid first DB index")
        second = parse_int(argv[2], "ERR invalid second DB index")
    except CommandError:
        raise
    if not (0 <= first < DATABASES and 0 <= second < DATABASES):
        raise CommandError(DB_OUT_OF_RANGE)
    ctx.keyspace.swap(first, second, ctx.index)
    ctx.select(ctx.db_index)
    return OK


@command("dbsize")
def dbsize(ctx: Context, argv: list[bytes]) -> Reply:
    return ctx.db.live_count(ctx.now)


def _flush_mode(argv: list[bytes]) -> None:
    if len(argv) > 2:
        raise CommandError(SYNTAX)
    if len(argv) == 2 and argv[1].lower() not in (b"sync", b"async"):
        raise CommandError(SYNTAX)


@command("flushdb")
def flushdb(ctx: Context, argv: list[bytes]) -> Reply:
    _flush_mode(argv)
    ctx.db.clear(ctx.index)
    return OK


@command("flushall")
def flushall(ctx: Context, argv: list[bytes]) -> Reply:
    _flush_mode(argv)
    ctx.keyspace.flush_all(ctx.index)
    return OK


@command("time")
def time_(ctx: Context, argv: list[bytes]) -> Reply:
    seconds, micros = divmod(ctx.now_us, 1_000_000)
    return [b"%d" % seconds, b"%d" % micros]
