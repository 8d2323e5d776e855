"""FCALL, FCALL_RO and FUNCTION LOAD/DELETE/FLUSH/RESTORE/LIST/DUMP/STATS over the libraries.

What changes the libraries (LOAD, DELETE, FLUSH, RESTORE) and FCALL are log entries, run by
every replica at the same index with the same budget; FCALL_RO and LIST, DUMP and STATS are
linearizable reads. A function runs as a script does (`ScriptCall` runs its redis.call
commands, with Redis's refusals) and gets its keys and args as two tables; a function without
the `no-writes` flag is refused by FCALL_RO, and one with it may not write under FCALL either.
The other flags (allow-oom, allow-stale, no-cluster, allow-cross-slot-keys) are kept and
listed, and change nothing: Concord has no maxmemory, no stale replicas and no cluster slots.
Checks and errors follow functions.c in its order. Pure: the Lua engine is `ctx.scripting`'s.
"""

from __future__ import annotations

from typing import Final

from ..commands import CommandError, CommandTable, Context, Route
from ..commands.errors import subcommand_syntax
from ..commands.glob import glob_match
from ..commands.parse import option_name, parse_int
from ..commands.spec import command
from ..resp import OK, Map, Reply, RespSet, SimpleString
from ..store.rdb import footer_is_valid
from ..store.rdb.functions import FunctionPayloadError, dump_libraries, library_codes
from .eval import ScriptCall, _script_context, scripting_of
from .functions import ENGINE, Function, Functions, Library, c_string, create_library
from .scripts import FLAG_NAMES, NO_WRITES

NOT_FOUND: Final = "ERR Function not found"
WRITE_FLAG_RO: Final = "ERR Can not execute a script with write flag using *_ro command."
BUSY_EVAL: Final = (
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
)


class FunctionCall(ScriptCall):
    """A running function: what FUNCTION STATS shows and FUNCTION KILL may stop.
    `killable`: it runs on this node only (FCALL_RO); an FCALL runs on every replica, and
    stopping one replica's copy would make the replicas differ."""

    __slots__ = ("argv", "name", "started_us")

    def __init__(
        self,
        table: CommandTable,
        ctx: Context,
        read_only: bool,
        name: bytes,
        argv: list[bytes],
        killable: bool,
    ) -> None:
        super().__init__(table, ctx, read_only)
        self.name = name
        self.argv = argv
        self.killable = killable and not ctx.logged
        self.started_us = ctx.now_us


def _fcall(ctx: Context, argv: list[bytes], read_only: bool) -> Reply:
    scripting = scripting_of(ctx)
    found = scripting.functions.find(argv[1])
    if found is None:
        raise CommandError(NOT_FOUND)
    library, function = found
    numkeys = parse_int(argv[2], "ERR Bad number of keys provided")
    if numkeys > len(argv) - 3:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    if numkeys < 0:
        raise CommandError("ERR Number of keys can't be negative")
    no_writes = bool(function.flags & NO_WRITES)
    if read_only and not no_writes:
        raise CommandError(WRITE_FLAG_RO)
    call = FunctionCall(
        scripting.table,
        _script_context(ctx),
        read_only or no_writes,
        function.name,
        argv,
        killable=read_only,
    )
    scripting.running = call
    try:
        return scripting.engine.call_function(
            library.body,
            function.name,
            library.functions.index(function) + 1,
            argv[3 : 3 + numkeys],
            argv[3 + numkeys :],
            ctx.index,
            scripting.budget_of(ctx),
            call,
            ctx.keyspace.config.script_memory_limit,
        )
    finally:
        scripting.running = None


@command("fcall", route=Route.LOG)
def fcall(ctx: Context, argv: list[bytes]) -> Reply:
    return _fcall(ctx, argv, read_only=False)


@command("fcall_ro", route=Route.READ)
def fcall_ro(ctx: Context, argv: list[bytes]) -> Reply:
    return _fcall(ctx, argv, read_only=True)


@command("function|load", route=Route.LOG)
def function_load(ctx: Context, argv: list[bytes]) -> Reply:
    replace = False
    position = 2
    while position < len(argv) - 1:
        option = argv[position]
        position += 1
        if option_name(option) == b"replace":
            replace = True
            continue
        raise CommandError(b"ERR Unknown option given: %s" % c_string(option))
    scripting = scripting_of(ctx)
    library = create_library(
        scripting.functions, argv[position], replace, scripting.engine, scripting.budget_of(ctx)
    )
    return library.name


@command("function|delete", route=Route.LOG)
def function_delete(ctx: Context, argv: list[bytes]) -> Reply:
    scripting = scripting_of(ctx)
    library = scripting.functions.remove(argv[2])
    if library is None:
        raise CommandError("ERR Library not found")
    scripting.engine.forget_library(library.body)
    return OK


@command("function|flush", route=Route.LOG)
def function_flush(ctx: Context, argv: list[bytes]) -> Reply:
    if len(argv) > 3:
        raise subcommand_syntax(argv[1], "function")
    if len(argv) == 3 and option_name(argv[2]) not in (b"sync", b"async"):
        raise CommandError("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
    scripting = scripting_of(ctx)
    scripting.functions.flush()
    scripting.engine.libraries.clear()
    return OK


@command("function|restore", route=Route.LOG)
def function_restore(ctx: Context, argv: list[bytes]) -> Reply:
    if len(argv) > 4:
        raise subcommand_syntax(argv[1], "function")
    policy = option_name(argv[3]) if len(argv) == 4 else b"append"
    if policy not in (b"append", b"replace", b"flush"):
        raise CommandError(
            "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
        )
    payload = argv[2]
    if not footer_is_valid(payload):
        raise CommandError("ERR DUMP payload version or checksum are wrong")
    scripting = scripting_of(ctx)
    restored = Functions()
    try:
        for code in library_codes(payload):
            create_library(restored, code, False, scripting.engine, scripting.budget_of(ctx))
    except FunctionPayloadError as error:
        raise CommandError("ERR " + str(error)) from None
    if policy == b"flush":
        scripting.functions.flush()
        scripting.functions.join(restored, replace=False)
    else:
        scripting.functions.join(restored, replace=policy == b"replace")
    return OK


@command("function|list", route=Route.READ)
def function_list(ctx: Context, argv: list[bytes]) -> Reply:
    with_code = False
    pattern: bytes | None = None
    position = 2
    while position < len(argv):
        argument = argv[position]
        name = option_name(argument)
        if not with_code and name == b"withcode":
            with_code = True
            position += 1
            continue
        if pattern is None and name == b"libraryname":
            if position >= len(argv) - 1:
                raise CommandError("ERR library name argument was not given")
            pattern = argv[position + 1]
            position += 2
            continue
        raise CommandError(b"ERR Unknown argument %s" % c_string(argument))
    return [
        _library_reply(library, with_code)
        for library in scripting_of(ctx).functions.libraries.values()
        if pattern is None or glob_match(pattern, library.name, nocase=True)
    ]


def _library_reply(library: Library, with_code: bool) -> Map:
    reply = Map(
        {
            b"library_name": library.name,
            b"engine": ENGINE,
            b"functions": [_function_reply(function) for function in library.functions],
        }
    )
    if with_code:
        reply[b"library_code"] = library.code
    return reply


def _function_reply(function: Function) -> Map:
    return Map(
        {
            b"name": function.name,
            b"description": function.description,
            b"flags": RespSet(
                SimpleString(name) for name, bit in FLAG_NAMES.items() if function.flags & bit
            ),
        }
    )


@command("function|dump", route=Route.READ)
def function_dump(ctx: Context, argv: list[bytes]) -> Reply:
    libraries = scripting_of(ctx).functions.libraries.values()
    return dump_libraries(library.code for library in libraries)


@command("function|stats", route=Route.READ)
def function_stats(ctx: Context, argv: list[bytes]) -> Reply:
    scripting = scripting_of(ctx)
    running = scripting.running
    if running is not None and not isinstance(running, FunctionCall):
        raise CommandError(BUSY_EVAL)
    functions = scripting.functions
    return Map(
        {
            b"running_script": None if running is None else _running_reply(ctx, running),
            b"engines": Map(
                {
                    ENGINE: Map(
                        {
                            b"libraries_count": len(functions.libraries),
                            b"functions_count": functions.function_count,
                        }
                    )
                }
            ),
        }
    )


def _running_reply(ctx: Context, running: FunctionCall) -> Map:
    # (The duration in the time of the state machine: this read's, less the call's start.)
    return Map(
        {
            b"name": running.name,
            b"command": list(running.argv),
            b"duration_ms": max(0, (ctx.now_us - running.started_us) // 1000),
        }
    )
