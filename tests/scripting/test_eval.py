"""EVAL and its family on the state machine: replies, errors and their positions, the
sandbox, determinism and the instruction budget.

Entries go through `StateMachine.apply` as committed log entries; EVAL_RO through a read
context. The expected replies and error texts were taken from Redis 7.0.15 (redis-cli
against the Debian package); the compat scenarios compare the rest byte for byte.
"""

from __future__ import annotations

import pytest

from concord_resp.commands import build_table
from concord_resp.resp import ErrorReply, Reply, SimpleString
from concord_resp.scripting import sha1hex
from concord_resp.scripting.eval import ScriptCall
from concord_resp.state import Command, Configure, StateMachine
from concord_resp.state.snapshot import restore_records, snapshot_records


class Machine:
    def __init__(self) -> None:
        self.machine = StateMachine(build_table())
        self.index = 0

    def write(self, *args: object) -> Reply:
        self.index += 1
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return self.machine.apply(self.index, Command(1_000_000 * self.index, 0, argv)).reply

    def read(self, *args: object) -> Reply:
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        ctx = self.machine.read_context(0, 1_000_000 * (self.index + 1), _NoRng())
        return self.machine.run(ctx, argv)


class _NoRng:
    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        raise AssertionError("reads draw nothing here")


@pytest.fixture
def m() -> Machine:
    return Machine()


def _error(script: bytes, text: bytes, line: int = 1) -> ErrorReply:
    return ErrorReply(b"%s script: %s, on @user_script:%d." % (text, sha1hex(script), line))


def test_conversions_from_lua(m: Machine) -> None:
    assert m.write("eval", "return {1, 2, {3, 'x'}, nil, 5}", 0) == [1, 2, [3, b"x"]]
    assert m.write("eval", "return 3.99", 0) == 3
    assert m.write("eval", "return -3.99", 0) == -3
    assert m.write("eval", "return true", 0) == 1
    assert m.write("eval", "return false", 0) is None
    assert m.write("eval", "return {err='My Error'}", 0) == ErrorReply(b"My Error")
    assert m.write("eval", "return redis.error_reply('x y')", 0) == ErrorReply(b"x y")
    assert m.write("eval", "return redis.error_reply('nospace')", 0) == ErrorReply(b"ERR nospace")
    assert m.write("eval", "return {ok='fine'}", 0) == SimpleString(b"fine")
    assert m.write("eval", "return redis.status_reply('A\\r\\nB')", 0) == SimpleString(b"A  B")


def test_calls_and_their_errors(m: Machine) -> None:
    assert m.write("eval", "return redis.call('incr', KEYS[1])", 1, "k") == 1
    assert m.write("set", "s", "abc") == SimpleString(b"OK")
    script = b"return redis.call('incr', KEYS[1])"
    assert m.write("eval", script, 1, "s") == _error(
        script, b"ERR value is not an integer or out of range"
    )
    assert m.write("eval", "return redis.pcall('incr', KEYS[1])", 1, "s") == ErrorReply(
        b"ERR value is not an integer or out of range"
    )
    for script, text in [
        (b"return redis.call('nosuch')", b"ERR Unknown Redis command called from script"),
        (
            b"return redis.call('get')",
            b"ERR Wrong number of args calling Redis command from script",
        ),
        (b"return redis.call('multi')", b"ERR This Redis command is not allowed from script"),
        (
            b"return redis.call()",
            b"ERR Please specify at least one argument for this redis lib call",
        ),
        (
            b"return redis.call({})",
            b"ERR Lua redis lib command arguments must be strings or integers",
        ),
        (b"return redis.setresp(4)", b"ERR RESP version must be 2 or 3."),
    ]:
        assert m.write("eval", script, 0) == _error(script, text)


def test_errors_of_the_script_itself(m: Machine) -> None:
    script = b"return x"
    assert m.write("eval", script, 0) == _error(
        script,
        b"ERR user_script:1: Script attempted to access nonexistent global variable 'x'",
    )
    script = b"\n\nerror('boom')"
    assert m.write("eval", script, 0) == _error(script, b"ERR user_script:3: boom", 3)
    for script in (b"x = 1", b"string.x = 1", b"redis.call = nil"):
        assert m.write("eval", script, 0) == _error(
            script, b"ERR user_script:1: Attempt to modify a readonly table"
        )
    assert m.write("eval", "syntax error here", 0) == ErrorReply(
        b"ERR Error compiling script (new function): user_script:1: '=' expected near 'error'"
    )


def test_numkeys(m: Machine) -> None:
    assert m.write("eval", "return 1", -1) == ErrorReply(b"ERR Number of keys can't be negative")
    assert m.write("eval", "return 1", 2, "a") == ErrorReply(
        b"ERR Number of keys can't be greater than number of args"
    )
    assert m.write("eval", "return 1", "x") == ErrorReply(
        b"ERR value is not an integer or out of range"
    )
    assert m.write("eval", "return {KEYS[1], ARGV[1], #KEYS, #ARGV}", 1, "k", "a") == [
        b"k",
        b"a",
        1,
        1,
    ]


def test_script_cache_and_evalsha(m: Machine) -> None:
    sha = m.write("script", "load", "return 7")
    assert sha == sha1hex(b"return 7")
    assert m.write("evalsha", sha, 0) == 7
    assert m.write("evalsha", sha.upper(), 0) == 7  # type: ignore[union-attr]
    assert m.write("evalsha", "0123", 0) == ErrorReply(
        b"NOSCRIPT No matching script. Please use EVAL."
    )
    m.write("eval", "return 8", 0)  # EVAL caches what it runs
    assert m.read("script", "exists", sha, sha1hex(b"return 8"), "ff") == [1, 1, 0]
    assert m.write("script", "flush") == SimpleString(b"OK")
    assert m.read("script", "exists", sha) == [0]
    assert m.write("evalsha", sha, 0) == ErrorReply(
        b"NOSCRIPT No matching script. Please use EVAL."
    )


def test_the_script_cache_is_in_snapshots(m: Machine) -> None:
    sha = m.write("script", "load", "return 'kept'")
    records = list(snapshot_records(m.machine))
    other = StateMachine(build_table())
    restore_records(other, records)
    assert other.scripting.scripts.bodies == {sha: b"return 'kept'"}


def test_read_only_scripts(m: Machine) -> None:
    m.write("set", "k", "v")
    assert m.read("eval_ro", "return redis.call('get', KEYS[1])", 1, "k") == b"v"
    script = b"return redis.call('set', KEYS[1], 1)"
    assert m.read("eval_ro", script, 1, "k") == _error(
        script, b"ERR Write commands are not allowed from read-only scripts."
    )
    script = b"#!lua flags=no-writes\nreturn redis.call('set', 'a', 1)"
    assert m.write("eval", script, 0) == _error(
        script, b"ERR Write commands are not allowed from read-only scripts.", 2
    )
    assert m.write("eval", "#!lua flags=bad\nreturn 1", 0) == ErrorReply(
        b"ERR Unexpected flag in script shebang: bad"
    )
    assert m.write("eval", "#!luax\nreturn 1", 0) == ErrorReply(
        b"ERR Unexpected engine in script shebang: #!luax"
    )
    assert m.write("eval", "#!lua name=x\nreturn 1", 0) == ErrorReply(
        b"ERR Unknown lua shebang option: name=x"
    )


def test_resp3_conversions(m: Machine) -> None:
    m.write("hset", "h", "f", "v")
    assert m.write("eval", "redis.setresp(3) return redis.call('hgetall', 'h').map.f", 0) == b"v"
    assert m.write("eval", "return redis.call('hgetall', 'h')", 0) == [b"f", b"v"]
    assert m.write("eval", "redis.setresp(3) return redis.call('get', 'nokey') == nil", 0) == 1
    assert m.write("eval", "return redis.call('get', 'nokey') == false", 0) == 1


def test_nothing_reaches_the_host() -> None:
    m = Machine()
    for script in (
        "return os",
        "return io",
        "return require",
        "return loadfile",
        "return dofile",
        "return print",
        "return redis.call.__class__",
    ):
        reply = m.write("eval", script, 0)
        assert isinstance(reply, ErrorReply), script
    assert m.write("eval", "return loadstring(string.dump(function() end))", 0) is None


def test_deterministic_names_and_random(m: Machine) -> None:
    assert m.write(
        "eval", "return tostring({}) .. ' ' .. tostring(rawget(_G, 'print') ~= nil)", 0
    ) == (b"table: 0x00000001 false")
    first = m.write("eval", "return {math.random(1000), math.random(1000)}", 0)
    other = Machine()
    other.index = m.index - 1
    assert other.write("eval", "return {math.random(1000), math.random(1000)}", 0) == first
    # After math.randomseed(n) the sequence is Redis's rand48 (redis-cli: EVAL
    # "math.randomseed(1) return {math.random(1000), math.random(1000)}" 0 -> 42, 455).
    assert m.write(
        "eval", "math.randomseed(1) return {math.random(1000), math.random(1000)}", 0
    ) == [
        42,
        455,
    ]


def test_the_budget_ends_a_runaway_script_at_the_same_point(m: Machine) -> None:
    m.machine.scripting.budget = 1_000_000
    for script in (
        b"while true do end",
        b"while true do pcall(function() while true do end end) end",
        b"local co = coroutine.create(function() while true do end end)"
        b" return coroutine.resume(co)",
        b"while true do redis.call('incr', 'n') end",
    ):
        reply = m.write("eval", script, 0)
        assert isinstance(reply, ErrorReply), script
        assert reply.startswith(b"ERR Script exceeded its instruction budget"), reply
    # 1M units at 2,000 per call: the same number of INCRs on every replica
    counted = m.read("get", "n")
    other = Machine()
    other.machine.scripting.budget = 1_000_000
    other.write("eval", "while true do redis.call('incr', 'n') end", 0)
    assert other.read("get", "n") == counted
    assert isinstance(counted, bytes)
    assert 0 < int(counted) <= 500


def test_the_memory_limit_ends_a_greedy_script(m: Machine) -> None:
    m.index += 1
    limit = [("script_memory_limit", 4 * 1024 * 1024)]
    m.machine.apply(m.index, Configure(1_000_000 * m.index, 0, limit))
    script = b"local t = {} for i = 1, 1e8 do t[i] = string.rep('x', 100) .. i end"
    reply = m.write("eval", script, 0)
    assert reply == ErrorReply(
        b"ERR Script exceeded its memory limit (script-memory-limit) script: %s." % sha1hex(script)
    )
    assert m.write("eval", "return #string.rep('x', 1000000)", 0) == 1_000_000  # it recovered
    caught = b"return {pcall(string.rep, 'x', 1e7)}"
    assert m.write("eval", caught, 0) == [None, b"not enough memory"]


def test_library_settings_do_not_outlive_a_script(m: Machine) -> None:
    # (Redis keeps cjson's settings in its Lua state; a replica's runtime may never have
    # seen the script that changed them, so here each script starts from the defaults.)
    m.write("eval", "cjson.encode_max_depth(1) return 1", 0)
    assert m.write("eval", "return cjson.encode({{1}})", 0) == b"[[1]]"
    assert m.read("eval_ro", "return cjson.encode({{1}})", 0) == b"[[1]]"


def test_precompiled_bytecode_is_refused(m: Machine) -> None:
    from lupa import lua51

    bytecode = lua51.LuaRuntime(encoding=None).eval("string.dump(function() return 42 end)")
    assert bytecode[:1] == b"\x1b"
    # redis-cli EVAL "$(printf '\x1bLua')" 0 gives the same text.
    assert m.write("eval", bytecode, 0) == ErrorReply(
        b"ERR Error compiling script (new function): user_script:1: unexpected symbol near"
        b" 'char(27)'"
    )
    assert m.write("script", "load", bytecode) == ErrorReply(
        b"ERR Error compiling script (new function): user_script:1: unexpected symbol near"
        b" 'char(27)'"
    )
    assert m.write("eval", "return loadstring(ARGV[1])", 0, bytecode) is None


def test_only_a_read_only_script_run_as_a_read_is_killable(m: Machine) -> None:
    table = m.machine.table
    logged = m.machine.read_context(0, 0, _NoRng())
    logged.logged = True  # as StateMachine.apply makes it
    read = m.machine.read_context(0, 0, _NoRng())
    assert ScriptCall(table, read, read_only=True).killable
    assert not ScriptCall(table, read, read_only=False).killable
    assert not ScriptCall(table, logged, read_only=True).killable  # EVAL of a no-writes script
    m.machine.scripting.engine.kill()  # a kill aimed at nothing stops nothing later
    assert m.write("eval", "return 7", 0) == 7


def test_scripts_see_the_c_locale() -> None:
    # concord-server pins LC_CTYPE to "C" at start-up: Lua's string.lower and pattern classes
    # then treat bytes above 127 alike on every replica, whatever its environment (and as
    # Redis does). (This machine has no 8-bit locale to show the difference with.)
    import locale

    from concord_resp.cli import pin_c_locale

    before = locale.setlocale(locale.LC_CTYPE)
    try:
        pin_c_locale()
        assert locale.setlocale(locale.LC_CTYPE) == "C"
        m = Machine()
        assert m.write("eval", "return string.lower(ARGV[1])", 0, b"A\xc9") == b"a\xc9"
        assert m.write("eval", "return (string.find(ARGV[1], '%a+'))", 0, b"\xc9x") == 2
    finally:
        locale.setlocale(locale.LC_CTYPE, before)
