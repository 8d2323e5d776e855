"""The Lua 5.1 runtime scripts run in (lupa), and the conversions between Lua and replies.

One `LuaEngine` per node holds one Lua state, sandboxed by `sandbox.BOOTSTRAP`. It compiles
a script body once (by its SHA1) and runs it with KEYS and ARGV, a seed, a budget and a
`ScriptHost`: the host runs each `redis.call` against the state machine and says which RESP
version the script has asked for. The engine turns what the script returns (or raises) into a
reply value as Redis 7.0 does (`luaReplyToRedisReply`), and command replies into Lua values
for RESP2 or RESP3 (`redisProtocolToLuaType`). Pure: no clock, no I/O; the randomness is the
seed it is given. Function libraries go through the same state: `load_library` runs a
library's code as FUNCTION LOAD does, `call_function` runs it again and then one function.

Lupa is created so that Lua strings are Python `bytes` both ways, no `python` module is
registered, and Lua code can reach no attribute of any Python object handed to it.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Final, Protocol

from lupa import lua51

from ..resp import (
    NULL_ARRAY,
    BigNumber,
    ErrorReply,
    HumanDouble,
    Map,
    MapPairs,
    NestedMap,
    Pairs,
    Push,
    Receivers,
    Reply,
    RespSet,
    SimpleString,
    Verbatim,
)
from ..resp.encoder import format_double
from .libs import LibraryError as CallError
from .libs import install
from .sandbox import CALL_COST, INTERNAL_CHUNK, bootstrap_source

USER_CHUNK: Final = "@user_script"
FUNCTION_CHUNK: Final = "@user_function"
LOAD_TIMEOUT: Final = b"ERR FUNCTION LOAD timeout"
BUDGET_SPENT: Final = b"ERR Script exceeded its instruction budget (script-instruction-limit)"
KILLED: Final = b"ERR Script killed by user with SCRIPT KILL..."
MEMORY_SPENT: Final = b"ERR Script exceeded its memory limit (script-memory-limit)"
OUT_OF_MEMORY: Final = b"not enough memory"  # Lua's own text for a failed allocation
COLLECT_ABOVE: Final = 16 * 1024 * 1024  # a Lua heap this big is collected before a script
LLONG_MIN: Final = -(2**63)
LLONG_MAX: Final = 2**63 - 1


class LuaError(Exception):
    """A script could not be compiled (the message is Redis's reply text)."""


class LibraryError(Exception):
    """A function library could not be loaded: `message` is Redis's reply text."""

    def __init__(self, message: bytes) -> None:
        super().__init__(message)
        self.message = message


class ScriptHost(Protocol):
    """What a running script calls back into: the commands and the settings of one call."""

    resp: int  # the RESP version of redis.call replies (redis.setresp), 2 at the start

    def call(self, argv: list[bytes]) -> Reply:
        """Run one command for `redis.call`/`redis.pcall`; errors come back as ErrorReply."""

    def may_run(self, argv: list[bytes]) -> bool | None:
        """Whether the script's user may run argv (redis.acl_check_cmd); None: no such
        command."""


def sha1hex(body: bytes) -> bytes:
    return hashlib.sha1(body).hexdigest().encode()


def lua_number_text(number: float) -> bytes:
    """A Lua number as Lua 5.1 turns it into a string (`%.14g`)."""
    if isinstance(number, int) and -(10**14) < number < 10**14:
        return b"%d" % number
    value = float(number)
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    if math.isnan(value):
        return b"nan" if math.copysign(1.0, value) > 0 else b"-nan"
    return b"%.14g" % value


def _argument_text(number: float) -> bytes:
    """A Lua number given to redis.call, as Redis turns it into an argument (`%.17g`)."""
    if isinstance(number, int) and -(10**17) < number < 10**17:
        return b"%d" % number
    return b"%.17g" % float(number)


def error_fields(text: bytes) -> bytes:
    """An error as a script's error table holds it (Redis's luaPushErrorBuff): `CODE msg`,
    the code taken from a leading `-CODE ` or else ERR, trailing CR/LF trimmed."""
    if text[:1] == b"-":
        code, space, message = text[1:].partition(b" ")
        if not space:
            code, message = b"ERR", text[1:]
    else:
        code, message = b"ERR", text
    return code + b" " + message.strip(b"\r\n")


class LuaEngine:
    """One node's Lua runtime: compiled scripts by SHA1, and the call machinery."""

    def __init__(self, memory_limit: int = 0) -> None:
        self.memory_limit = memory_limit
        self.runtime = lua51.LuaRuntime(
            encoding=None,
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            attribute_filter=_deny_attributes,
            max_memory=0,
        )
        self._host: ScriptHost | None = None
        self._used = 0  # instructions (and CALL_COST per command) the running script spent
        self._budget = 0
        self._killed = False
        self.compiled: dict[bytes, Any] = {}
        api = self.runtime.table_from(
            {
                b"call": self._call,
                b"pcall": self._pcall,
                b"sha1hex": self._sha1hex,
                b"error_reply": self._error_reply,
                b"status_reply": self._status_reply,
                b"log": self._log,
                b"setresp": self._setresp,
                b"set_repl": self._set_repl,
                b"replicate_commands": _true,
                b"breakpoint": _false,
                b"debug": _nothing,
                b"acl_check_cmd": self._acl_check_cmd,
            }
        )
        library_host = self.runtime.table_from(
            {b"register_function": self._register_function, b"collected": self._collected}
        )
        setup = self.runtime.compile(bootstrap_source().encode(), INTERNAL_CHUNK.encode())
        self._run, self._compile, self._add_library, functions = setup(
            api, self._tick, self._unwrap, library_host
        )
        self._load_library, self._function_caller = functions[b"load"], functions[b"caller"]
        self._try_register = functions[b"register"]
        self.libraries: dict[bytes, Any] = {}  # a library's code -> its compiled chunk
        # FCALL, while the library's code runs again: the position of the function called
        # among its registrations (from 1), how many have been seen, and its arguments.
        self._collecting = 0
        self._registered = 0
        self._registration: tuple[Any, ...] = ()
        self._table_from = self.runtime.table_from
        self._reset_libraries = install(self.runtime)
        found = self.runtime.globals()
        for library in (b"cjson", b"struct", b"cmsgpack", b"bit"):
            self._add_library(library, found[library])

    # -- compiling ----------------------------------------------------------------------

    def compile(self, sha: bytes, body: bytes) -> Any:
        """The script's function (cached by SHA1). Raises LuaError with Redis's text."""
        function = self.compiled.get(sha)
        if function is None:
            function, message = self._compile(body, USER_CHUNK.encode())
            if function is False:
                raise LuaError(
                    "ERR Error compiling script (new function): "
                    + _text(message).removeprefix('[string "user_script"]')
                )
            self.compiled[sha] = function
        return function

    def memory_used(self) -> int:
        """Bytes the Lua heap holds beyond the empty runtime's own."""
        used: int = self.runtime.get_memory_used()
        return used

    def forget(self, sha: bytes) -> None:
        self.compiled.pop(sha, None)

    def forget_all(self) -> None:
        self.compiled.clear()

    # -- function libraries -------------------------------------------------------------

    def compile_library(self, code: bytes) -> Any:
        """A library's code (from the end of its `#!lua` line on) as a Lua chunk, cached by
        the code. Raises LibraryError with Redis's text."""
        chunk = self.libraries.get(code)
        if chunk is None:
            chunk, message = self._compile(code, FUNCTION_CHUNK.encode())
            if chunk is False:
                raise LibraryError(b"ERR Error compiling function: " + _bytes(message))
            self.libraries[code] = chunk
        return chunk

    def forget_library(self, code: bytes) -> None:
        self.libraries.pop(code, None)

    def load_library(self, code: bytes, budget: int) -> list[tuple[bytes, bytes | None, int]]:
        """Run a library's code as FUNCTION LOAD does (under `budget`): the functions it
        registers, as (name, description, flags), in order. Raises LibraryError."""
        chunk = self.compile_library(code)
        self._used, self._budget, self._killed = 0, budget, False
        try:
            ok, result = self._load_library(chunk)
        except lua51.LuaMemoryError:
            raise LibraryError(b"ERR Error registering functions: not enough memory") from None
        if self._tick(0):
            # (Redis stops a load after 500 ms; the budget stops it at the same point on
            # every replica, with Redis's text.)
            raise LibraryError(b"ERR Error registering functions: " + LOAD_TIMEOUT)
        if not ok:
            message = _bytes(result[b"err"]) if lua51.lua_type(result) == "table" else b""
            raise LibraryError(b"ERR Error registering functions: " + message)
        entries = [result[position] for position in range(1, len(result) + 1)]
        return [
            (entry[1], entry[2] if type(entry[2]) is bytes else None, int(entry[3]))
            for entry in entries
        ]

    def call_function(
        self,
        code: bytes,
        name: bytes,
        position: int,
        keys: list[bytes],
        args: list[bytes],
        seed: int,
        budget: int,
        host: ScriptHost,
        memory_limit: int = 0,
    ) -> Reply:
        """FCALL: run the library's code afresh, then the function it registers at
        `position` (from 1; `name`, which errors give) with the keys and the args tables,
        as `run` runs a script."""
        caller = self._function_caller(self.compile_library(code))
        self._collecting, self._registered, self._registration = position, 0, ()
        try:
            return self.run(caller, name, keys, args, seed, budget, host, memory_limit)
        finally:
            self._collecting, self._registration = 0, ()

    # -- running ------------------------------------------------------------------------

    def run(
        self,
        function: Any,
        name: bytes,
        keys: list[bytes],
        args: list[bytes],
        seed: int,
        budget: int,
        host: ScriptHost,
        memory_limit: int = 0,
    ) -> Reply:
        """Run a compiled script; its reply (an ErrorReply if it raised, ran out of its
        budget or grew the Lua heap by more than `memory_limit` bytes: 0, no limit). `name`
        is what errors call it (the SHA1 for EVAL)."""
        previous = self._host
        self._host = host
        self._used, self._budget, self._killed = 0, budget, False
        self._reset_libraries()
        runtime = self.runtime
        if memory_limit:
            if runtime.get_memory_used() > COLLECT_ABOVE:
                runtime.gccollect()  # (garbage of earlier scripts does not count against it)
            runtime.set_max_memory(runtime.get_memory_used() + memory_limit)
        try:
            ok, result = self._run(function, seed, len(keys), *keys, *args)
        except lua51.LuaMemoryError:
            ok, result = False, OUT_OF_MEMORY
        finally:
            self._host = previous
            if memory_limit:
                runtime.set_max_memory(0)
        if not ok and _out_of_memory(result):
            return ErrorReply(b"%s script: %s." % (MEMORY_SPENT, name))
        spent = self._tick(0)
        if spent and (ok or lua51.lua_type(result) != "table" or result[b"err"] != spent):
            # Spent, yet the script caught the error and went on: it ends with it all the same.
            return ErrorReply(b"%s script: %s." % (spent, name))
        if not ok:
            return self._script_error(result, name)
        return self.to_reply(result, host.resp)

    @property
    def used(self) -> int:
        """What the last script spent of its budget (instructions, CALL_COST per command)."""
        return self._used

    def kill(self) -> None:
        """Make the running script stop at its next budget check (SCRIPT KILL)."""
        self._killed = True

    def _tick(self, instructions: int) -> bytes | bool:
        """The count hook's news: `instructions` more ran. The error text once the budget
        is spent (or the script killed), else False."""
        self._used += instructions
        if self._killed:
            return KILLED
        if self._used > self._budget:
            return BUDGET_SPENT
        return False

    def _script_error(self, table: Any, name: bytes) -> ErrorReply:
        if lua51.lua_type(table) != "table":
            return ErrorReply(b"ERR " + _bytes(table))
        message = _bytes(table[b"err"])
        source, line = table[b"source"], table[b"line"]
        if source is None:
            return ErrorReply(message)
        return ErrorReply(
            b"%s script: %s, on %s:%s." % (message, name, _bytes(source), _line_text(line))
        )

    # -- Lua -> reply -------------------------------------------------------------------

    def to_reply(self, value: Any, resp: int) -> Reply:
        """What a script returns, as Redis replies with it (`resp`: the script's RESP)."""
        kind = type(value)
        if kind is bytes:
            return value
        if kind is int:
            return value
        if kind is float:
            return _truncate(value)
        if kind is bool:
            if resp == 2:
                return 1 if value else None
            return value
        if value is None:
            return None
        if lua51.lua_type(value) != "table":
            return None
        return self._table_reply(value, resp)

    def _table_reply(self, table: Any, resp: int) -> Reply:
        err = table[b"err"]
        if type(err) is bytes:
            return ErrorReply(err)
        ok = table[b"ok"]
        if type(ok) is bytes:
            return SimpleString(ok.replace(b"\r", b" ").replace(b"\n", b" "))
        double = table[b"double"]
        if type(double) in (int, float):
            return float(double)
        big = table[b"big_number"]
        if type(big) is bytes:
            return BigNumber(big.replace(b"\r", b" ").replace(b"\n", b" "))
        verbatim = table[b"verbatim_string"]
        if lua51.lua_type(verbatim) == "table":
            format_, text = verbatim[b"format"], verbatim[b"string"]
            if type(format_) is bytes and type(text) is bytes:
                return Verbatim(text, format_)
        mapping = table[b"map"]
        if lua51.lua_type(mapping) == "table":
            return MapPairs(
                (self.to_reply(k, resp), self.to_reply(v, resp)) for k, v in mapping.items()
            )
        members = table[b"set"]
        if lua51.lua_type(members) == "table":
            return RespSet(self.to_reply(k, resp) for k in members)
        out: list[Reply] = []
        position = 1
        while True:
            item = table[position]
            if item is None:
                return out
            out.append(self.to_reply(item, resp))
            position += 1

    # -- reply -> Lua -------------------------------------------------------------------

    def to_lua(self, reply: Any, resp: int) -> Any:
        """A command's reply as `redis.call` gives it to the script."""
        kind = type(reply)
        if kind is bytes or kind is int:
            return reply
        if kind is list or kind is tuple:
            return self._table_from([self.to_lua(item, resp) for item in reply])
        if reply is None or reply is NULL_ARRAY:
            return False if resp == 2 else None
        if kind is SimpleString:
            return self._table_from({b"ok": bytes(reply)})
        if kind is ErrorReply:
            return self._table_from({b"err": error_fields(b"-" + bytes(reply))})
        if kind is bool:
            if resp == 2:
                return 1 if reply else 0
            return reply
        if kind is float:
            if resp == 2:
                return format_double(reply)
            return self._table_from({b"double": reply})
        if kind is HumanDouble or kind is bytearray:
            if resp == 2 or kind is bytearray:
                return bytes(reply)
            return self._table_from({b"double": float(reply)})
        if kind is Map or kind is MapPairs or kind is Pairs or kind is NestedMap:
            pairs = reply.items() if kind is Map else reply
            if kind is NestedMap and resp == 2:
                return self._table_from(
                    [
                        self._table_from([self.to_lua(a, resp), self.to_lua(b, resp)])
                        for a, b in pairs
                    ]
                )
            if resp == 2:
                flat: list[Any] = []
                for key, value in pairs:
                    flat.append(self.to_lua(key, resp))
                    flat.append(self.to_lua(value, resp))
                return self._table_from(flat)
            if kind is Pairs:
                return self._table_from(
                    [
                        self._table_from([self.to_lua(a, resp), self.to_lua(b, resp)])
                        for a, b in pairs
                    ]
                )
            inner = self.runtime.table()
            for key, value in pairs:
                inner[self.to_lua(key, resp)] = self.to_lua(value, resp)
            return self._table_from({b"map": inner})
        if kind is RespSet or kind is Push:
            if resp == 2 or kind is Push:
                return self._table_from([self.to_lua(item, resp) for item in reply])
            inner = self.runtime.table()
            for item in reply:
                inner[self.to_lua(item, resp)] = True
            return self._table_from({b"set": inner})
        if kind is Verbatim:
            if resp == 2:
                return reply.text
            return self._table_from(
                {
                    b"verbatim_string": self._table_from(
                        {b"format": reply.format, b"string": reply.text}
                    )
                }
            )
        if kind is BigNumber:
            number = reply.value
            text = number if type(number) is bytes else b"%d" % number
            if resp == 2:
                return text
            return self._table_from({b"big_number": text})
        if kind is Receivers:
            return 0  # PUBLISH: not delivered yet (and a count no replica could agree on)
        raise TypeError(f"no Lua form for reply {reply!r}")

    # -- the redis table (Python functions: C functions to Lua) -----------------------------

    def _call(self, *args: Any) -> Any:
        ok, value = self._command(args)
        if not ok:
            raise _Raise(value)
        return value

    def _pcall(self, *args: Any) -> Any:
        return self._command(args)[1]

    def _command(self, args: tuple[Any, ...]) -> tuple[bool, Any]:
        host = self._host
        if host is None:
            raise _Raise(self._error_table(b"redis.call is not available here"))
        self._used += CALL_COST
        spent = self._tick(0)
        if spent:
            raise _Raise(spent)
        argv = self._argv_of(args)
        if type(argv) is not list:
            return False, argv  # (an error table)
        reply = host.call(argv)
        if type(reply) is ErrorReply:
            return False, self._table_from({b"err": error_fields(b"-" + bytes(reply))})
        return True, self.to_lua(reply, host.resp)

    def _error_table(self, text: bytes) -> Any:
        """A misuse of the API, as Redis raises it (luaPushError: an ERR error table)."""
        return self._table_from({b"err": error_fields(text)})

    def _sha1hex(self, *args: Any) -> bytes:
        if len(args) != 1:
            raise _Raise(self._error_table(b"wrong number of arguments"))
        value = args[0]
        if type(value) is bytes:
            return sha1hex(value)
        if type(value) in (int, float):
            return sha1hex(lua_number_text(value))
        return sha1hex(b"")  # Redis hashes what lua_tolstring gives: nothing for a table

    def _error_reply(self, *args: Any) -> Any:
        if len(args) != 1 or type(args[0]) is not bytes:  # (returned, not raised: as Redis)
            return self._error_table(b"wrong number or type of arguments")
        text = args[0] if args[0][:1] == b"-" else b"-" + args[0]
        return self._table_from({b"err": error_fields(text)})

    def _status_reply(self, *args: Any) -> Any:
        if len(args) != 1 or type(args[0]) is not bytes:
            return self._error_table(b"wrong number or type of arguments")
        return self._table_from({b"ok": args[0]})

    def _log(self, *args: Any) -> None:
        if len(args) < 2:
            raise _Raise(self._error_table(b"redis.log() requires two arguments or more."))
        if type(args[0]) not in (int, float):
            raise _Raise(self._error_table(b"First argument must be a number (log level)."))
        if not 0 <= args[0] <= 3:
            raise _Raise(self._error_table(b"Invalid debug level."))
        # (Scripts do not write to the server's log: a replica's log is its own.)

    def _setresp(self, *args: Any) -> None:
        if len(args) != 1:
            raise _Raise(self._error_table(b"redis.setresp() requires one argument."))
        version = args[0]
        if type(version) not in (int, float) or version not in (2, 3):
            raise _Raise(self._error_table(b"RESP version must be 2 or 3."))
        if self._host is not None:
            self._host.resp = int(version)

    def _set_repl(self, *args: Any) -> None:
        if len(args) != 1:
            raise _Raise(self._error_table(b"redis.set_repl() requires one argument."))
        flags = args[0]
        if type(flags) not in (int, float) or int(flags) & ~3:
            raise _Raise(
                self._error_table(
                    b"Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."
                )
            )
        # Every effect of a script is its log entry: there is nothing to choose.

    def _argv_of(self, args: tuple[Any, ...]) -> Any:
        """A redis lib call's arguments as argv, or the error table Redis raises."""
        if not args:
            return self._error_table(
                b"Please specify at least one argument for this redis lib call"
            )
        argv: list[bytes] = []
        for arg in args:
            kind = type(arg)
            if kind is bytes:
                argv.append(arg)
            elif kind is int or kind is float:
                argv.append(_argument_text(arg))
            else:
                return self._error_table(
                    b"Lua redis lib command arguments must be strings or integers"
                )
        return argv

    def _acl_check_cmd(self, *args: Any) -> bool:
        """redis.acl_check_cmd: whether the script's user may run that command."""
        host = self._host
        if host is None:
            raise _Raise(
                self._error_table(
                    b"redis.acl_check_cmd can only be called inside a script invocation"
                )
            )
        argv = self._argv_of(args)
        if type(argv) is not list:
            raise _Raise(argv)
        allowed = host.may_run(argv)
        if allowed is None:
            raise _Raise(self._error_table(b"Invalid command passed to redis.acl_check_cmd()"))
        return allowed

    def _register_function(self, *args: Any) -> None:
        """redis.register_function (a Python function, so that it is never the target of
        a tail call and an error names the line that called it, as Redis's C function)."""
        if self._collecting:
            # FCALL: the code registers what it registered when it was loaded (it is the
            # same code); keep the arguments of the function called.
            self._registered += 1
            if self._registered == self._collecting:
                self._registration = args
            return
        ok, error = self._try_register(*args)
        if not ok:
            raise _Raise(error)

    def _collected(self) -> Any:
        """The callback of the function FCALL calls, once its library's code has run."""
        args, self._collecting = self._registration, 0
        if len(args) == 2:
            return args[1]
        callback = None
        for key, value in args[0].items():  # (Lua's `next` order: the last `callback` wins)
            if type(key) is bytes and key.split(b"\0", 1)[0].lower() == b"callback":
                callback = value
        return callback

    def _unwrap(self, error: Any) -> Any:
        """The Lua value an error raised by one of these functions stands for."""
        if isinstance(error, (_Raise, CallError)):
            return error.value
        return str(error).encode()


class _Raise(Exception):
    """Raised by the redis table's functions: lupa hands it to Lua as the error, and the
    sandbox turns it back into `value` (an error table, or an error text)."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


def _true(*args: Any) -> bool:
    return True


def _false(*args: Any) -> bool:
    return False


def _nothing(*args: Any) -> None:
    return None


def _out_of_memory(error: Any) -> bool:
    """Whether a script's error is Lua running out of the memory it may use (the error
    handler may itself have failed to allocate: "error in error handling")."""
    if lua51.lua_type(error) == "table":
        error = error[b"err"]
    return type(error) is bytes and (
        OUT_OF_MEMORY in error or error.endswith(b"error in error handling")
    )


def _deny_attributes(obj: object, name: object, is_setting: bool) -> object:
    raise AttributeError("access to Python attributes is not allowed")


def _truncate(value: float) -> int:
    """(long long) of a Lua number, as C casts it (NaN and overflow as x86-64 gives them)."""
    if math.isnan(value) or math.isinf(value) or not LLONG_MIN <= value < 2.0**63:
        return LLONG_MIN
    return int(value)


def _bytes(value: Any) -> bytes:
    if type(value) is bytes:
        return value
    if type(value) in (int, float):
        return lua_number_text(value)
    return str(value).encode()


def _text(value: Any) -> str:
    return _bytes(value).decode("utf-8", "replace")


def _line_text(line: Any) -> bytes:
    if type(line) in (int, float):
        return b"%d" % int(line)
    return _bytes(line)
