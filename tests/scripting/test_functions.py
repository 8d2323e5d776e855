"""Redis 7.0 functions on the state machine: FUNCTION LOAD and its restricted environment,
FCALL/FCALL_RO and the flags, LIST/DUMP/RESTORE/STATS, snapshots, the budget, determinism.

Entries go through `StateMachine.apply` as committed log entries; FCALL_RO and the FUNCTION
reads through a read context. Expected replies, error texts and DUMP payloads were taken from
Redis 7.0.15 (redis-cli against the Debian package, `--no-raw` for the payloads); the compat
scenarios (compat/scenarios/function_*.txt) compare the rest byte for byte.
"""

from __future__ import annotations

import pytest

from concord_resp.commands import CommandError, build_table
from concord_resp.resp import ErrorReply, Map, Reply, SimpleString, encode_reply
from concord_resp.scripting.eval import ScriptCall
from concord_resp.state import StateMachine
from concord_resp.state.snapshot import restore_records, snapshot_records
from tests.scripting.test_eval import Machine

OK = SimpleString(b"OK")


@pytest.fixture
def m() -> Machine:
    return Machine()


def library(name: str, body: str) -> bytes:
    return f"#!lua name={name}\n{body}".encode()


MYLIB = (
    b"#!lua name=mylib\n"
    b"redis.register_function('myfunc', function(keys, args) return args[1] end)\n"
    b"redis.register_function{function_name='myro', callback=function(keys, args)"
    b" return redis.call('get', keys[1]) end, flags={'no-writes'},"
    b" description='reads a key'}"
)
# redis-cli FUNCTION DUMP after FUNCTION LOAD of MYLIB (the only library)
MYLIB_DUMP = bytes.fromhex(
    "f5c340ba40fe1f23216c7561206e616d653d6d796c69620a72656469732e72656769737465725f0b66756e"
    "6374696f6e28276d79400b02272c2040066012116b6579732c2061726773292072657475726e600c075b315d"
    "20656e6429e00f4a007bc040005f6076205801726f20560863616c6c6261636b3dc01ee00b5f809d402a0428"
    "2767657420364084207100294072209b1a6c6167733d7b276e6f2d777269746573277d2c20646573637269"
    "7040b3083d2772656164732061403701277d0a0013e0c05345dd386d"
)
# redis-cli FUNCTION DUMP with MYLIB and `#!lua name=other\nredis.register_function('other',
# function() return 'other' end)` loaded (Redis's hash order: other, then mylib)
TWO_LIBRARIES_DUMP = bytes.fromhex(
    "f5c3404740501f23216c7561206e616d653d6f746865720a72656469732e72656769737465725f0966756e63"
    "74696f6e2827601e02272c20e0001108292072657475726e20a01a0420656e6429f5c340ba40fe1f23216c75"
    "61206e616d653d6d796c69620a72656469732e72656769737465725f0b66756e6374696f6e28276d79400b02"
    "272c2040066012116b6579732c2061726773292072657475726e600c075b315d20656e6429e00f4a007bc040"
    "005f6076205801726f20560863616c6c6261636b3dc01ee00b5f809d402a0428276765742036408420710029"
    "4072209b1a6c6167733d7b276e6f2d777269746573277d2c206465736372697040b3083d2772656164732061"
    "403701277d0a00bc12671d03ec3f9e"
)


def test_load_then_call_with_keys_and_args(m: Machine) -> None:
    assert m.write("function", "load", MYLIB) == b"mylib"
    assert m.write("fcall", "myfunc", 0, "hello") == b"hello"
    assert m.write("fcall", "MYFUNC", 0, "any case") == b"any case"
    m.write("set", "k", "v")
    assert m.read("fcall_ro", "myro", 1, "k") == b"v"
    both = library("both", "redis.register_function('both', function(k, a) return {k, a} end)")
    m.write("function", "load", both)
    assert m.write("fcall", "both", 2, "a", "b", "c") == [[b"a", b"b"], [b"c"]]


def test_errors_name_the_function_and_its_line(m: Machine) -> None:
    code = "\n".join(
        [
            "redis.register_function('boom', function() error('boom') end)",
            "redis.register_function('call', function() return redis.call('nosuch') end)",
            "redis.register_function('keys', function() return KEYS end)",
            "redis.register_function('table', function() return {err='My error'} end)",
        ]
    )
    m.write("function", "load", library("errors", code))
    assert m.write("fcall", "boom", 0) == ErrorReply(
        b"ERR user_function:2: boom script: boom, on @user_function:2."
    )
    assert m.write("fcall", "call", 0) == ErrorReply(
        b"ERR Unknown Redis command called from script script: call, on @user_function:3."
    )
    assert m.write("fcall", "keys", 0) == ErrorReply(
        b"ERR user_function:4: Script attempted to access nonexistent global variable 'KEYS'"
        b" script: keys, on @user_function:4."
    )
    assert m.write("fcall", "table", 0) == ErrorReply(b"My error")
    assert m.write("fcall", "nosuch", 0) == ErrorReply(b"ERR Function not found")
    assert m.write("fcall", "boom", "x") == ErrorReply(b"ERR Bad number of keys provided")
    assert m.write("fcall", "boom", 1) == ErrorReply(
        b"ERR Number of keys can't be greater than number of args"
    )
    assert m.write("fcall", "boom", -1) == ErrorReply(b"ERR Number of keys can't be negative")


def test_the_library_code_sees_only_its_api_while_it_loads(m: Machine) -> None:
    for body, error in [
        ("x = 1", b"ERR user_function:2: Attempt to modify a readonly table"),
        (
            "local s = string.len('abc')",
            b"ERR user_function:2: Script attempted to access nonexistent global variable 'string'",
        ),
        (
            "redis.call('set', 'x', 1)",
            b"ERR user_function:2: Script attempted to access nonexistent global variable 'call'",
        ),
        ("redis.log(1)", b"ERR redis.log() requires two arguments or more."),
        ("redis.register_function('a', 2)", b"ERR second argument to redis.register_function"),
        (
            "redis.register_function{function_name='a', callback=function() end, flags={'x'}}",
            b"ERR unknown flag given",
        ),
        (
            "redis.register_function('a-b', function() end)",
            b"ERR Library names can only contain letters, numbers, or underscores(_)",
        ),
    ]:
        reply = m.write("function", "load", library("x", body))
        assert isinstance(reply, ErrorReply)
        assert reply.startswith(b"ERR Error registering functions: " + error), (body, reply)
    assert m.write("function", "load", library("x", "local x =")) == ErrorReply(
        b"ERR Error compiling function: user_function:2: unexpected symbol near '<eof>'"
    )
    assert m.write("function", "load", library("x", "local a = 1")) == ErrorReply(
        b"ERR No functions registered"
    )
    assert m.write("function", "load", b"#!lua\nreturn 1") == ErrorReply(
        b"ERR Library name was not given"
    )
    assert m.write("function", "load", b"#!js name=x\nreturn 1") == ErrorReply(
        b"ERR Engine 'js' not found"
    )
    assert not m.machine.scripting.functions.libraries
    # ... and its functions see the script globals when they run
    m.write(
        "function",
        "load",
        library("g", "redis.register_function('g', function() return string.len('abc') end)"),
    )
    assert m.write("fcall", "g", 0) == 3
    assert m.write("eval", "return redis.register_function == nil", 0) == 1


def test_names_are_unique_without_regard_to_case(m: Machine) -> None:
    m.write("function", "load", library("a", "redis.register_function('f', function() end)"))
    assert m.write(
        "function", "load", library("b", "redis.register_function('F', function() end)")
    ) == ErrorReply(b"ERR Function F already exists")
    # Redis 7.0 takes `f` and `F` in one library, then fails an assertion when that library
    # is replaced or deleted: Concord refuses the second.
    assert m.write(
        "function",
        "load",
        library(
            "c",
            "redis.register_function('g', function() end)"
            " redis.register_function('G', function() end)",
        ),
    ) == ErrorReply(b"ERR Error registering functions: ERR Function already exists in the library")
    assert m.write(
        "function", "load", library("a", "redis.register_function('h', function() end)")
    ) == ErrorReply(b"ERR Library 'a' already exists")
    assert (
        m.write(
            "function",
            "load",
            "replace",
            library("a", "redis.register_function('h', function() return 'h' end)"),
        )
        == b"a"
    )
    assert m.write("fcall", "f", 0) == ErrorReply(b"ERR Function not found")
    assert m.write("fcall", "h", 0) == b"h"


def test_flags(m: Machine) -> None:
    m.write("function", "load", MYLIB)
    m.write(
        "function",
        "load",
        library(
            "w",
            "redis.register_function{function_name='ro_write', callback=function()"
            " return redis.call('set', 'k', 1) end, flags={'no-writes'}}",
        ),
    )
    assert m.read("fcall_ro", "myfunc", 0, "x") == ErrorReply(
        b"ERR Can not execute a script with write flag using *_ro command."
    )
    assert m.write("fcall", "ro_write", 0) == ErrorReply(
        b"ERR Write commands are not allowed from read-only scripts."
        b" script: ro_write, on @user_function:2."
    )
    assert m.read("get", "k") is None


def test_function_list(m: Machine) -> None:
    m.write("function", "load", MYLIB)
    m.write("function", "load", library("b", "redis.register_function('b', function() end)"))
    listed = m.read("function", "list", "libraryname", "MY*")
    assert listed == [
        Map(
            {
                b"library_name": b"mylib",
                b"engine": b"LUA",
                b"functions": [
                    Map({b"name": b"myfunc", b"description": None, b"flags": []}),
                    Map(
                        {
                            b"name": b"myro",
                            b"description": b"reads a key",
                            b"flags": [SimpleString(b"no-writes")],
                        }
                    ),
                ],
            }
        )
    ]
    assert encode_reply(listed, 3).startswith(b"*1\r\n%3\r\n$12\r\nlibrary_name\r\n$5\r\nmylib")
    names = [lib[b"library_name"] for lib in m.read("function", "list")]  # type: ignore[union-attr, index]
    assert names == [b"b", b"mylib"]  # (name order: Redis's is its hash order)
    with_code = m.read("function", "list", "withcode", "libraryname", "b")
    assert with_code[0][b"library_code"] == library(
        "b", "redis.register_function('b', function() end)"
    )  # type: ignore[index]
    assert m.read("function", "list", "libraryname") == ErrorReply(
        b"ERR library name argument was not given"
    )
    assert m.read("function", "list", "withcode", "withcode") == ErrorReply(
        b"ERR Unknown argument withcode"
    )


def test_dump_is_redis_payload_and_restores_redis_payloads(m: Machine) -> None:
    m.write("function", "load", MYLIB)
    assert m.read("function", "dump") == MYLIB_DUMP
    other = Machine()
    assert other.write("function", "restore", TWO_LIBRARIES_DUMP) == OK
    assert list(other.machine.scripting.functions.libraries) == [b"mylib", b"other"]
    assert other.write("fcall", "other", 0) == b"other"
    assert other.write("fcall", "myfunc", 0, "x") == b"x"
    # APPEND (the default) refuses a library that exists; REPLACE replaces it; FLUSH empties
    assert other.write("function", "restore", MYLIB_DUMP) == ErrorReply(
        b"ERR Library mylib already exists"
    )
    assert other.write("function", "restore", MYLIB_DUMP, "replace") == OK
    assert other.write("function", "restore", MYLIB_DUMP, "FLUSH") == OK
    assert list(other.machine.scripting.functions.libraries) == [b"mylib"]
    assert other.write("function", "restore", MYLIB_DUMP, "nosuch") == ErrorReply(
        b"ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
    )
    assert other.write("function", "restore", MYLIB_DUMP[:-1] + b"x") == ErrorReply(
        b"ERR DUMP payload version or checksum are wrong"
    )


def test_stats(m: Machine) -> None:
    assert m.read("function", "stats") == Map(
        {
            b"running_script": None,
            b"engines": Map({b"LUA": Map({b"libraries_count": 0, b"functions_count": 0})}),
        }
    )
    m.write("function", "load", MYLIB)
    engines = m.read("function", "stats")[b"engines"]  # type: ignore[index]
    assert engines[b"LUA"] == Map({b"libraries_count": 1, b"functions_count": 2})


def test_libraries_are_in_snapshots(m: Machine) -> None:
    m.write("function", "load", MYLIB)
    restored = StateMachine(build_table())
    restore_records(restored, snapshot_records(m.machine))
    assert restored.scripting.functions.libraries == m.machine.scripting.functions.libraries
    other = Machine()
    other.machine, other.index = restored, m.index
    assert other.write("fcall", "myfunc", 0, "after restore") == b"after restore"


COUNTER = library(
    "counter",
    "local calls = 0\n"
    "redis.register_function('count', function() calls = calls + 1 return calls end)\n"
    "redis.register_function{function_name='peek', callback=function() calls = calls + 10"
    " return calls end, flags={'no-writes'}}",
)


def test_no_call_sees_what_another_left_behind(m: Machine) -> None:
    # Redis keeps `calls` between calls (1, 2, ...) until the library is loaded again, so a
    # replica that restarted, or served an FCALL_RO, would count differently from the others.
    # Concord runs the library's code before every call: each call starts from its state
    # right after the load, on every replica.
    m.write("function", "load", COUNTER)
    assert m.write("fcall", "count", 0) == 1
    assert m.read("fcall_ro", "peek", 0) == 10
    assert m.write("fcall", "count", 0) == 1
    m.write("script", "flush")  # a new Lua state: the same again
    assert m.write("fcall", "count", 0) == 1


def test_the_budget_stops_a_load_and_a_call(m: Machine) -> None:
    m.machine.scripting.budget = 1_000_000
    assert m.write("function", "load", library("x", "while true do end")) == ErrorReply(
        b"ERR Error registering functions: ERR FUNCTION LOAD timeout"
    )
    m.write(
        "function",
        "load",
        library(
            "loop",
            "redis.register_function('loop', function()"
            " while true do redis.call('incr', 'n') end end)",
        ),
    )
    reply = m.write("fcall", "loop", 0)
    assert isinstance(reply, ErrorReply)
    assert reply.startswith(
        b"ERR Script exceeded its instruction budget (script-instruction-limit) script: loop"
    )
    counted = m.read("get", "n")
    other = Machine()
    other.machine.scripting.budget = 1_000_000
    other.write("function", "restore", m.read("function", "dump"))
    other.write("fcall", "loop", 0)
    assert other.read("get", "n") == counted


def test_delete_and_flush(m: Machine) -> None:
    m.write("function", "load", MYLIB)
    assert m.write("function", "delete", "MYLIB") == ErrorReply(b"ERR Library not found")
    assert m.write("function", "delete", "mylib") == OK
    assert m.write("fcall", "myfunc", 0) == ErrorReply(b"ERR Function not found")
    m.write("function", "load", MYLIB)
    assert m.write("function", "flush", "x") == ErrorReply(
        b"ERR FUNCTION FLUSH only supports SYNC|ASYNC option"
    )
    assert m.write("function", "flush", "async") == OK
    assert m.machine.scripting.functions.function_count == 0


SPIN = library(
    "spin",
    "redis.register_function{function_name='spin', callback=function()"
    " redis.call('ping') while true do end end, flags={'no-writes'}}\n"
    "redis.register_function('spinw', function() redis.call('set', 'w', 1) while true do end end)",
)


def _while_running(
    m: Machine, monkeypatch: pytest.MonkeyPatch, *commands: list[bytes]
) -> list[object]:
    """Run `commands` (connection-level handlers, or FUNCTION STATS) from inside the first
    redis.call of the running function, as another client would while it runs."""
    from types import SimpleNamespace

    from concord_resp.server.handlers import scripting as handlers

    seen: list[object] = []
    original = ScriptCall.call
    node = SimpleNamespace(machine=m.machine)

    def call(self: ScriptCall, argv: list[bytes]) -> Reply:
        if not seen:
            for command in commands:
                name = b" ".join(command[:2]).lower()
                try:
                    if name == b"function stats":
                        seen.append(m.read(*command))
                    else:
                        handler = getattr(handlers, name.decode().replace(" ", "_"))
                        seen.append(handler(node, None, command))
                except CommandError as error:
                    seen.append(ErrorReply(error.message))
        return original(self, argv)

    monkeypatch.setattr(ScriptCall, "call", call)
    return seen


def test_function_kill_stops_an_fcall_ro_only(m: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    m.write("function", "load", SPIN)
    seen = _while_running(
        m,
        monkeypatch,
        [b"FUNCTION", b"STATS"],
        [b"SCRIPT", b"KILL"],
        [b"FUNCTION", b"KILL"],
    )
    assert m.read("fcall_ro", "spin", 0) == ErrorReply(
        b"ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2."
    )
    running = Map({b"name": b"spin", b"command": [b"fcall_ro", b"spin", b"0"], b"duration_ms": 0})
    assert seen[0][b"running_script"] == running  # type: ignore[index]
    assert seen[1:] == [
        ErrorReply(
            b"BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN"
            b" NOSAVE."
        ),
        OK,
    ]
    # An FCALL runs on every replica: no node may stop its copy (the budget ends it).
    m.machine.scripting.budget = 1_000_000
    seen.clear()
    reply = m.write("fcall", "spinw", 0)
    assert isinstance(reply, ErrorReply)
    assert reply.startswith(b"ERR Script exceeded its instruction budget")
    unkillable = ErrorReply(
        b"UNKILLABLE Sorry the script already executed write commands against the dataset. You"
        b" can either wait the script termination or kill the server in a hard way using the"
        b" SHUTDOWN NOSAVE command."
    )
    assert seen[1:] == [unkillable, unkillable]
    assert m.read("function", "stats")[b"running_script"] is None  # type: ignore[index]
