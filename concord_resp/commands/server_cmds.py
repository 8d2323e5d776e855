"""Pure server and connection commands: PING, ECHO, SELECT, SWAPDB, DBSIZE, FLUSH*, TIME,
DEBUG DIGEST / DIGEST-VALUE.

These run in the state machine like data commands (so they work inside MULTI/EXEC, where
SELECT changes the database for the commands after it), and locally for reads. Also home of
the database-number parsing (`getIntFromObjectOrReply`) the key commands share.

DBSIZE counts live keys only: Redis also counts keys whose time has passed but that no
lookup or expiry cycle has deleted yet, which Concord's lazy reads never delete.
"""

from __future__ import annotations

from typing import Final

from ..limits import INT_MAX, INT_MIN
from ..resp import OK, PONG, Reply, SimpleString
from ..store import DATABASES
from ..store.digest import dataset_digest, value_digest
from .context import Context
from .errors import (
    DB_OUT_OF_RANGE,
    NOT_INTEGER,
    SYNTAX,
    CommandError,
    subcommand_syntax,
    wrong_arity,
)
from .parse import option_name, parse_int
from .registry import Route
from .spec import command

INT_OUT_OF_RANGE: Final = "ERR value is out of range, value must between -2147483648 and 2147483647"


def parse_int32(arg: bytes, error: str | None = None) -> int:
    """Redis's `getIntFromObjectOrReply`: a C int; `error` replaces both default texts."""
    value = parse_int(arg, NOT_INTEGER if error is None else error)
    if not INT_MIN <= value <= INT_MAX:
        raise CommandError(INT_OUT_OF_RANGE if error is None else error)
    return value


def parse_db_number(arg: bytes) -> int:
    """A database number for SELECT, MOVE and COPY ... DB."""
    number = parse_int32(arg)
    if not 0 <= number < DATABASES:
        raise CommandError(DB_OUT_OF_RANGE)
    return number


@command("ping", route=Route.LOCAL)
def ping(ctx: Context, argv: list[bytes]) -> Reply:
    if len(argv) > 2:
        raise wrong_arity("ping")
    return PONG if len(argv) == 1 else argv[1]


@command("echo", route=Route.LOCAL)
def echo(ctx: Context, argv: list[bytes]) -> Reply:
    return argv[1]


@command("select", route=Route.LOCAL)
def select(ctx: Context, argv: list[bytes]) -> Reply:
    ctx.select(parse_db_number(argv[1]))
    return OK


@command("swapdb")
def swapdb(ctx: Context, argv: list[bytes]) -> Reply:
    first = parse_int32(argv[1], "ERR invalid first DB index")
    second = parse_int32(argv[2], "ERR invalid second DB index")
    if not (0 <= first < DATABASES and 0 <= second < DATABASES):
        raise CommandError(DB_OUT_OF_RANGE)
    ctx.keyspace.swap(first, second, ctx.index)
    ctx.select(ctx.db_index)  # the selected number now names the other database
    return OK


@command("dbsize")
def dbsize(ctx: Context, argv: list[bytes]) -> Reply:
    return ctx.db.live_count(ctx.now)


def _check_flush_mode(argv: list[bytes]) -> None:
    """Redis's `getFlushCommandFlags`: nothing, SYNC or ASYNC (both flush at once here)."""
    if len(argv) == 2 and option_name(argv[1]) in (b"sync", b"async"):
        return
    if len(argv) != 1:
        raise CommandError(SYNTAX)


@command("flushdb")
def flushdb(ctx: Context, argv: list[bytes]) -> Reply:
    _check_flush_mode(argv)
    ctx.db.clear(ctx.index, ctx.now)
    return OK


@command("flushall")
def flushall(ctx: Context, argv: list[bytes]) -> Reply:
    _check_flush_mode(argv)
    ctx.keyspace.flush_all(ctx.index, ctx.now)
    return OK


@command("time", route=Route.LOCAL)
def time_(ctx: Context, argv: list[bytes]) -> Reply:
    seconds, micros = divmod(ctx.now_us, 1_000_000)
    return [b"%d" % seconds, b"%d" % micros]


@command("debug", route=Route.READ)
def debug(ctx: Context, argv: list[bytes]) -> Reply:
    """Only the fingerprints (store.digest): equal on every node at the same applied index.
    Unlike Redis, DEBUG needs no `enable-debug-command`: nothing here changes or crashes."""
    sub = option_name(argv[1])
    if sub == b"digest" and len(argv) == 2:
        return SimpleString(dataset_digest(ctx.keyspace).hex().encode())
    if sub == b"digest-value":
        return [SimpleString(value_digest(ctx.db, key).hex().encode()) for key in argv[2:]]
    raise subcommand_syntax(argv[1], "debug")
