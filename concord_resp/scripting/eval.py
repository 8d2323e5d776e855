"""EVAL, EVALSHA, their _RO forms, and SCRIPT: scripts run against the state machine.

A script that may write is one log entry (EVAL, EVALSHA: the LOG route), run by every replica
at the same index with the entry's time and seed, under the same instruction budget, so each
ends at the same point with the same effects. EVAL_RO and EVALSHA_RO are linearizable reads.
`redis.call` runs commands through `ScriptCall`, which refuses what Redis refuses inside a
script (unknown commands, wrong arity, `noscript` commands, writes from a read-only script)
with Redis's texts, and runs the rest with the script's own context: SELECT inside a script
changes the database for the rest of the script only, and a blocking command does not block.
Pure: the node-local parts (the Lua runtime, the budget) are reached through `ctx.scripting`.
"""

from __future__ import annotations

import logging
from typing import Final, cast

from ..commands import CommandError, CommandTable, Context, Route
from ..commands.parse import parse_int
from ..commands.spec import command
from ..resp import OK, ErrorReply, Reply
from ..security import DENIED_CHANNEL, DENIED_CMD, DENIED_KEY, User
from ..security.commands import users_of
from .engine import LuaEngine, LuaError, sha1hex
from .functions import Functions
from .scripts import Scripts, Shebang, lua_source, parse_shebang

log = logging.getLogger("concord.scripting")

NOSCRIPT: Final = "NOSCRIPT No matching script. Please use EVAL."
UNKNOWN_COMMAND: Final = b"ERR Unknown Redis command called from script"
WRONG_ARITY: Final = b"ERR Wrong number of args calling Redis command from script"
NOT_ALLOWED: Final = b"ERR This Redis command is not allowed from script"
# What a script's call gets when its user may not run it (Redis's getAclErrorMessage).
ACL_DENIED: Final = {
    DENIED_CMD: b"ERR The user executing the script can't run this command or subcommand",
    DENIED_KEY: b"ERR The user executing the script can't access at least one of the keys"
    b" mentioned in the command arguments",
    DENIED_CHANNEL: b"ERR The user executing the script can't publish to the channel"
    b" mentioned in the command",
}
WRITE_IN_READ_ONLY: Final = b"ERR Write commands are not allowed from read-only scripts."
WRITE_FLAGS: Final = frozenset({"write", "may_replicate"})


class Scripting:
    """A state machine's scripting: the replicated script cache and function libraries,
    the node's Lua engine (created on first use) and the instruction budget."""

    def __init__(self, table: CommandTable) -> None:
        self.table = table
        self.scripts = Scripts()
        self.functions = Functions()
        self.budget = 0  # (tests: a budget of their own; 0: the replicated setting)
        self._engine: LuaEngine | None = None
        self.running: ScriptCall | None = None  # the call in progress (SCRIPT KILL, BUSY)
        # While this node has MONITOR clients: the commands scripts run, as (database,
        # argv), for the node to show (node-local: it changes nothing a replica computes).
        self.calls: list[tuple[int, list[bytes]]] | None = None

    def take_calls(self) -> list[tuple[int, list[bytes]]]:
        """The commands scripts ran since the last take (MONITOR's `lua` lines)."""
        calls = self.calls
        if not calls:
            return []
        taken = calls.copy()
        calls.clear()
        return taken

    @property
    def engine(self) -> LuaEngine:
        if self._engine is None:
            self._engine = LuaEngine()
        return self._engine

    def budget_of(self, ctx: Context) -> int:
        """The instruction budget of a script or function run with `ctx`."""
        return self.budget or ctx.keyspace.config.script_instruction_limit

    def vm_memory(self) -> int:
        """Bytes the Lua heap holds (INFO's used_memory_lua): 0 before the first script."""
        return 0 if self._engine is None else self._engine.memory_used()

    def flush(self) -> None:
        """SCRIPT FLUSH: the cache and the compiled functions (a fresh Lua state)."""
        self.scripts.flush()
        self._engine = None

    def run(
        self,
        ctx: Context,
        sha: bytes,
        body: bytes,
        shebang: Shebang,
        keys: list[bytes],
        args: list[bytes],
        read_only: bool,
        cache: bool = False,
    ) -> Reply:
        """Compile (once) and run a script; `cache`: add it to the replicated cache once
        it compiles (EVAL does, as Redis does)."""
        engine = self.engine
        try:
            function = engine.compile(sha, lua_source(body))
        except LuaError as error:
            raise CommandError(str(error)) from None
        if cache:
            self.scripts.add(sha, body)
        call = ScriptCall(self.table, _script_context(ctx), read_only or shebang.read_only)
        config = ctx.keyspace.config
        budget = self.budget_of(ctx)
        self.running = call
        try:
            return engine.run(
                function, sha, keys, args, ctx.index, budget, call, config.script_memory_limit
            )
        finally:
            self.running = None


class ScriptCall:
    """One running script: what `redis.call` runs its commands with (a `ScriptHost`)."""

    __slots__ = ("calls", "ctx", "killable", "read_only", "resp", "table", "wrote")

    def __init__(self, table: CommandTable, ctx: Context, read_only: bool) -> None:
        self.table = table
        self.ctx = ctx
        self.read_only = read_only
        # Only a read-only script run as a read on this node may be killed: one from the log
        # runs on every replica, and stopping this node's copy would make them differ.
        self.killable = read_only and not ctx.logged
        self.resp = 2
        self.wrote = False
        scripting = ctx.scripting
        self.calls = scripting.calls if isinstance(scripting, Scripting) else None

    def call(self, argv: list[bytes]) -> Reply:
        spec = self.table.find(argv)
        if spec is None:
            return ErrorReply(UNKNOWN_COMMAND)
        if not spec.arity_ok(len(argv)) or (spec.is_container and len(argv) < 2):
            return ErrorReply(WRONG_ARITY)
        if "noscript" in spec.flags or spec.handler is None:
            return ErrorReply(NOT_ALLOWED)
        user = self.ctx.user
        if user is not None:
            denial = cast(User, user).check(users_of(self.ctx).catalog, spec, argv)
            if denial is not None:
                return ErrorReply(ACL_DENIED[denial.reason])
        if spec.flags & WRITE_FLAGS:
            if self.read_only:
                return ErrorReply(WRITE_IN_READ_ONLY)
            self.wrote = True
        try:
            return spec.handler(self.ctx, argv)
        except CommandError as error:
            return ErrorReply(error.message)
        except Exception:
            name = spec.name
            log.exception(
                "internal error running %s from a script at index %d", name, self.ctx.index
            )
            return ErrorReply(b"ERR internal error while running '%s'" % name.encode())
        finally:
            if self.calls is not None:  # (this node has monitors: the database after it)
                self.calls.append((self.ctx.db_index, argv))

    def may_run(self, argv: list[bytes]) -> bool | None:
        spec = self.table.find(argv)
        if spec is None:
            return None
        user = self.ctx.user
        if user is None:
            return True
        return cast(User, user).check(users_of(self.ctx).catalog, spec, argv) is None


def _script_context(ctx: Context) -> Context:
    """The script's own context: its SELECTs end with it; blocking commands do not block."""
    own = Context(ctx.keyspace, ctx.db_index, ctx.now_us, ctx.index, ctx.rng, ctx.stats)
    own.scripting = ctx.scripting
    own.acl, own.user = ctx.acl, ctx.user
    own.deny_blocking = True
    own.in_script = True
    own.logged = ctx.logged
    return own


def scripting_of(ctx: Context) -> Scripting:
    return cast(Scripting, ctx.scripting)


def split_keys(argv: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """numkeys, keys and args of EVAL and its family (Redis's evalGetKeys checks)."""
    numkeys = parse_int(argv[2])
    if numkeys > len(argv) - 3:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    if numkeys < 0:
        raise CommandError("ERR Number of keys can't be negative")
    return argv[3 : 3 + numkeys], argv[3 + numkeys :]


def _eval(ctx: Context, argv: list[bytes], read_only: bool) -> Reply:
    keys, args = split_keys(argv)
    body = argv[1]
    shebang = parse_shebang(body)
    sha = sha1hex(body)
    # (EVAL_RO runs on one node only: it leaves the replicated cache alone.)
    return scripting_of(ctx).run(ctx, sha, body, shebang, keys, args, read_only, not read_only)


def _evalsha(ctx: Context, argv: list[bytes], read_only: bool) -> Reply:
    keys, args = split_keys(argv)
    sha = argv[1].lower()
    scripting = scripting_of(ctx)
    body = scripting.scripts.bodies.get(sha) if len(sha) == 40 else None
    if body is None:
        raise CommandError(NOSCRIPT)
    return scripting.run(ctx, sha, body, parse_shebang(body), keys, args, read_only)


@command("eval", route=Route.LOG)
def eval_(ctx: Context, argv: list[bytes]) -> Reply:
    return _eval(ctx, argv, read_only=False)


@command("eval_ro", route=Route.READ)
def eval_ro(ctx: Context, argv: list[bytes]) -> Reply:
    return _eval(ctx, argv, read_only=True)


@command("evalsha", route=Route.LOG)
def evalsha(ctx: Context, argv: list[bytes]) -> Reply:
    return _evalsha(ctx, argv, read_only=False)


@command("evalsha_ro", route=Route.READ)
def evalsha_ro(ctx: Context, argv: list[bytes]) -> Reply:
    return _evalsha(ctx, argv, read_only=True)


@command("script|load", route=Route.LOG)
def script_load(ctx: Context, argv: list[bytes]) -> Reply:
    body = argv[2]
    parse_shebang(body)
    sha = sha1hex(body)
    scripting = scripting_of(ctx)
    try:
        scripting.engine.compile(sha, lua_source(body))
    except LuaError as error:
        raise CommandError(str(error)) from None
    scripting.scripts.add(sha, body)
    return sha


@command("script|exists", route=Route.READ)
def script_exists(ctx: Context, argv: list[bytes]) -> Reply:
    bodies = scripting_of(ctx).scripts.bodies
    return [1 if sha.lower() in bodies else 0 for sha in argv[2:]]


@command("script|flush", route=Route.LOG)
def script_flush(ctx: Context, argv: list[bytes]) -> Reply:
    if len(argv) > 3:
        raise CommandError("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    if len(argv) == 3 and argv[2].lower() not in (b"sync", b"async"):
        raise CommandError("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    scripting_of(ctx).flush()
    return OK
