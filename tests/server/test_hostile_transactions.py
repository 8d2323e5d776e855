"""Transactions carrying hostile arguments, and refusals inside MULTI.

A logged transaction runs its commands inside the node's apply loop; a command that blows up
there must answer an error and leave the node running (and able to restart: the entry is in
the log and is applied again on replay).
"""

from __future__ import annotations

from pathlib import Path

import trio

from concord_resp.commands import build_table
from concord_resp.raft.core import Entry, EntryKind
from concord_resp.raft.driver import WriteAheadLog
from concord_resp.state import StateMachine, decode_op
from tests.server.conftest import InProcess

OK = b"+OK\r\n"
QUEUED = b"+QUEUED\r\n"
DEEP_PATTERN = "a*" * 1005 + "b"


async def test_deep_glob_and_huge_cursor_inside_a_logged_transaction(
    node: InProcess, tmp_path: Path
) -> None:
    client = node.client()
    replies = await node.run(
        client,
        "MULTI",
        "SET x 1",
        "SET " + "a" * 3000 + " v",  # a key the deep pattern has to work through
        f"KEYS {DEEP_PATTERN}",
        "SCAN " + "9" * 5000,
        "EXEC",
    )
    assert replies[:5] == [OK, QUEUED, QUEUED, QUEUED, QUEUED]
    assert replies[5] == b"*4\r\n+OK\r\n+OK\r\n*0\r\n-ERR invalid cursor\r\n"
    assert await node.one(client, "GET x") == b"$1\r\n1\r\n"
    # The entry replays (a restarted node applies it again) without stopping.
    replica = StateMachine(build_table())
    log_dir = node.server.config.dir / "wal"
    records = [r for r in WriteAheadLog(log_dir).replay() if isinstance(r, Entry)]
    for record in records:
        if record.kind == EntryKind.NORMAL:
            replica.apply(record.index, decode_op(record.data))
    assert replica.keyspace.dbs[0].data[b"x"] == b"1"


async def test_a_bug_in_a_command_answers_an_error_and_the_node_keeps_going(
    node: InProcess,
) -> None:
    from concord_resp.commands import PURE

    def broken(ctx: object, argv: list[bytes]) -> object:
        raise ZeroDivisionError("a bug")

    spec = node.server.machine.table.by_name(b"strlen")
    real = PURE.handler("strlen")
    assert spec is not None
    assert spec.handler is real
    spec.handler = broken
    try:
        client = node.client()
        replies = await node.run(client, "MULTI", "SET y 1", "STRLEN y", "EXEC")
        assert replies[3] == b"*2\r\n+OK\r\n-ERR internal error while running 'strlen'\r\n"
        assert await node.one(client, "STRLEN y") == (
            b"-ERR internal error while running 'strlen'\r\n"
        )
        assert await node.one(client, "GET y") == b"$1\r\n1\r\n"
    finally:
        spec.handler = real


async def test_a_huge_config_value_inside_a_transaction(node: InProcess) -> None:
    client = node.client()
    replies = await node.run(
        client, "MULTI", "SET z 1", "CONFIG SET proto-max-bulk-len " + "9" * 5000, "EXEC"
    )
    assert replies[3].startswith(b"*2\r\n+OK\r\n-ERR CONFIG SET failed")
    assert await node.one(client, "PING") == b"+PONG\r\n"


async def test_a_command_refused_while_loading_makes_exec_fail(node: InProcess) -> None:
    client = node.client()
    assert await node.one(client, "MULTI") == OK
    node.server.node.loading = True
    try:
        loading = await node.one(client, "SET a 1")
    finally:
        node.server.node.loading = False
    assert loading == b"-LOADING Concord is loading the dataset in memory\r\n"
    assert await node.one(client, "SET b 2") == QUEUED
    exec_reply = await node.one(client, "EXEC")
    assert exec_reply.startswith(b"-EXECABORT")
    assert await node.one(client, "EXISTS a b") == b":0\r\n"
    await trio.lowlevel.checkpoint()
