"""maxmemory with noeviction, decided by the node a command arrives at, before it is proposed:
which commands Redis refuses with -OOM (denyoom commands, scripts and functions by their
flags, anything queued inside MULTI, EXEC of a transaction holding a denyoom command), and
that a refused write never reaches the log.
"""

from __future__ import annotations

import pytest

from tests.server.conftest import InProcess

OOM = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
OK = b"+OK\r\n"
QUEUED = b"+QUEUED\r\n"

SET_SCRIPT = b"return redis.call('set', KEYS[1], 'v')"
LIBRARY = (
    b"#!lua name=lib\n"
    b"redis.register_function('grow', function(keys) return redis.call('set', keys[1], 'v') end)\n"
    b"redis.register_function{function_name='grow_anyway', callback=function(keys)"
    b" return redis.call('set', keys[1], 'v') end, flags={'allow-oom'}}\n"
    b"redis.register_function{function_name='look', callback=function(keys)"
    b" return redis.call('get', keys[1]) end, flags={'no-writes'}}\n"
)


def over_maxmemory(node: InProcess, over: bool = True) -> None:
    """Set maxmemory under (or back to none above) what the process uses, as CONFIG SET
    maxmemory does: the node samples its used memory at once."""
    node.state.settings.maxmemory = 1 if over else 0
    node.state.sample_used_memory()
    assert node.state.over_maxmemory is over


async def run(node: InProcess, client: object, *argv: bytes) -> bytes:
    (reply,) = await node.dispatcher.run_batch(client, [list(argv)])  # type: ignore[arg-type]
    return reply


async def test_denyoom_commands_are_refused_and_never_proposed(node: InProcess) -> None:
    client = node.client()
    assert await node.one(client, "SET k v") == OK
    over_maxmemory(node)
    applied = node.server.machine.applied_index
    assert await node.run(client, "SET k w", "APPEND k x", "LPUSH l a") == [OOM, OOM, OOM]
    assert node.server.machine.applied_index == applied  # nothing reached the log
    # What frees memory or only reads is served.
    assert await node.run(client, "GET k", "DEL k", "PING") == [
        b"$1\r\nv\r\n",
        b":1\r\n",
        b"+PONG\r\n",
    ]
    over_maxmemory(node, False)
    assert await node.one(client, "SET k w") == OK
    info = await node.one(client, "INFO errorstats")
    assert b"errorstat_OOM:count=3" in info


async def test_config_set_maxmemory_decides_at_once(node: InProcess) -> None:
    client = node.client()
    assert await node.one(client, "CONFIG SET maxmemory 1") == OK
    assert node.state.over_maxmemory
    assert await node.one(client, "SET k v") == OOM
    info = await node.one(client, "INFO memory")
    assert b"\r\nmaxmemory:1\r\n" in info
    assert b"\r\nmaxmemory_human:1B\r\n" in info
    assert await node.one(client, "CONFIG SET maxmemory 1gb") == OK
    assert not node.state.over_maxmemory
    assert await node.one(client, "SET k v") == OK


async def test_inside_multi_nothing_more_is_queued(node: InProcess) -> None:
    client = node.client()
    assert await node.run(client, "MULTI", "GET k") == [OK, QUEUED]
    over_maxmemory(node)
    # A queued read runs; a transaction that holds a denyoom command is refused whole.
    assert await node.one(client, "EXEC") == b"*1\r\n$-1\r\n"
    assert await node.run(client, "MULTI", "SET k v") == [OK, OOM]
    assert await node.one(client, "EXEC") == (
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    )
    over_maxmemory(node, False)
    assert await node.run(client, "MULTI", "SET k v") == [OK, QUEUED]
    over_maxmemory(node)
    assert await node.run(client, "PING", "DISCARD") == [OOM, OK]
    over_maxmemory(node, False)
    assert await node.run(client, "MULTI", "SET k v") == [OK, QUEUED]
    over_maxmemory(node)
    assert await node.one(client, "EXEC") == (
        b"-EXECABORT Transaction discarded because of: OOM command not allowed when used "
        b"memory > 'maxmemory'.\r\n"
    )
    # A command refused inside MULTI for what it is still gets that error first.
    assert await node.run(client, "MULTI", "SAVE") == [
        OK,
        b"-ERR Command not allowed inside a transaction\r\n",
    ]


@pytest.mark.parametrize(
    ("shebang", "refused"),
    [
        (b"#!lua\n", True),
        (b"#!lua flags=allow-oom\n", False),
        (b"#!lua flags=no-writes\n", False),
        (b"", False),  # no flags: Redis refuses its first growing call inside (not Concord)
    ],
    ids=["flags", "allow-oom", "no-writes", "no-shebang"],
)
async def test_scripts_by_their_flags(node: InProcess, shebang: bytes, refused: bool) -> None:
    client = node.client()
    body = shebang + (b"return 1" if b"no-writes" in shebang else SET_SCRIPT)
    sha = (await run(node, client, b"SCRIPT", b"LOAD", body)).split(b"\r\n")[1]
    over_maxmemory(node)
    for argv in ([b"EVAL", body, b"1", b"k"], [b"EVALSHA", sha, b"1", b"k"]):
        reply = await run(node, client, *argv)
        assert (reply == OOM) is refused, (argv[0], reply)


async def test_functions_by_their_flags(node: InProcess) -> None:
    client = node.client()
    assert await run(node, client, b"FUNCTION", b"LOAD", LIBRARY) == b"$3\r\nlib\r\n"
    over_maxmemory(node)
    assert await node.one(client, "FCALL grow 1 k") == OOM
    assert await node.one(client, "FCALL grow_anyway 1 k") == OK
    assert await node.one(client, "FCALL look 1 k") == b"$1\r\nv\r\n"
    assert await node.one(client, "FCALL_RO look 1 k") == b"$1\r\nv\r\n"
    assert await node.one(client, "FCALL nosuch 0") == b"-ERR Function not found\r\n"
