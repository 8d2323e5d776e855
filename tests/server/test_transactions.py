"""MULTI/EXEC/WATCH through the real dispatcher and log, with a hand-set clock.

These are the cases a differential scenario cannot reach without sleeping: keys that expire
between WATCH and EXEC, keys already expired when watched, other connections writing, and
what INFO counts for transactions.
"""

from __future__ import annotations

import pytest

from concord_resp.server.client import ClientState
from tests.server.conftest import InProcess

NULL = b"*-1\r\n"
OK = b"+OK\r\n"
QUEUED = b"+QUEUED\r\n"


async def exec_transaction(node: InProcess, client: ClientState, *, writes: bool) -> bytes:
    """MULTI, one command (a logged write, or a read run locally), EXEC: EXEC's reply."""
    body = "SET other 1" if writes else "GET other"
    replies = await node.run(client, "MULTI", body, "EXEC")
    assert replies[:2] == [OK, QUEUED]
    return replies[2]


@pytest.mark.parametrize("writes", [True, False], ids=["logged", "read-only"])
async def test_key_expiring_between_watch_and_exec_aborts(node: InProcess, writes: bool) -> None:
    client = node.client()
    assert await node.one(client, "SET k v PX 1000") == OK
    node.now_ms += 500
    assert await node.one(client, "WATCH k") == OK  # live when watched
    node.now_ms += 1000  # expired now, not yet deleted
    assert await exec_transaction(node, client, writes=writes) == NULL


@pytest.mark.parametrize("writes", [True, False], ids=["logged", "read-only"])
async def test_key_alive_at_exec_does_not_abort(node: InProcess, writes: bool) -> None:
    client = node.client()
    await node.one(client, "SET k v PX 1000")
    assert await node.one(client, "WATCH k") == OK
    node.now_ms += 1000  # expiry is at +1000: still live (gone only after it)
    assert await exec_transaction(node, client, writes=writes) != NULL


async def test_key_expiring_then_deleted_by_active_expiry_aborts(node: InProcess) -> None:
    client = node.client()
    await node.one(client, "SET k v PX 1000")
    await node.one(client, "WATCH k")
    node.now_ms += 2000
    await node.expire_now()
    assert not node.server.machine.keyspace.dbs[0].data  # really deleted
    assert await exec_transaction(node, client, writes=True) == NULL


@pytest.mark.parametrize("writes", [True, False], ids=["logged", "read-only"])
async def test_key_expired_at_watch_then_deleted_by_expiry_does_not_abort(
    node: InProcess, writes: bool
) -> None:
    # Redis 7: the key was already logically gone when watched; its deletion changes nothing.
    client = node.client()
    await node.one(client, "SET k v PX 1000")
    node.now_ms += 2000
    assert await node.one(client, "WATCH k") == OK
    await node.expire_now()
    assert b"k" not in node.server.machine.keyspace.dbs[0].data
    assert await exec_transaction(node, client, writes=writes) != NULL


async def test_key_expired_at_watch_then_lazily_deleted_does_not_abort(node: InProcess) -> None:
    client = node.client()
    await node.one(client, "SET k v PX 1000")
    node.now_ms += 2000
    await node.one(client, "WATCH k")
    assert await node.one(node.client(), "DEL k") == b":0\r\n"  # deletes the expired key first
    assert await exec_transaction(node, client, writes=True) != NULL


async def test_key_expired_at_watch_left_alone_does_not_abort(node: InProcess) -> None:
    client = node.client()
    await node.one(client, "SET k v PX 1000")
    node.now_ms += 2000
    await node.one(client, "WATCH k")
    node.now_ms += 5000
    assert await exec_transaction(node, client, writes=True) != NULL


async def test_key_expired_at_watch_then_recreated_aborts(node: InProcess) -> None:
    client = node.client()
    await node.one(client, "SET k v PX 1000")
    node.now_ms += 2000
    await node.one(client, "WATCH k")
    await node.one(node.client(), "SET k again")
    assert await exec_transaction(node, client, writes=True) == NULL


async def test_key_expired_at_watch_then_flushed_does_not_abort(node: InProcess) -> None:
    client = node.client()
    await node.one(client, "SET k v PX 1000")
    node.now_ms += 2000
    await node.one(client, "WATCH k")
    await node.one(node.client(), "FLUSHDB")
    assert await exec_transaction(node, client, writes=True) != NULL


@pytest.mark.parametrize(
    "change",
    ["SET k changed", "DEL k", "EXPIRE k 100", "FLUSHALL", "FLUSHDB", "SWAPDB 0 1", "MOVE k 1"],
)
async def test_another_connection_changing_a_watched_key_aborts(
    node: InProcess, change: str
) -> None:
    client, other = node.client(), node.client()
    await node.one(client, "SET k v")
    await node.one(client, "WATCH k")
    assert (await node.one(other, change))[:1] != b"-"
    assert await exec_transaction(node, client, writes=True) == NULL
    # The aborted EXEC forgot the watch: the next transaction runs.
    assert await exec_transaction(node, client, writes=True) == b"*1\r\n+OK\r\n"


async def test_watches_in_several_databases(node: InProcess) -> None:
    client, other = node.client(), node.client()
    await node.run(client, "SELECT 1", "SET k one", "WATCH k", "SELECT 0", "WATCH k")
    await node.run(other, "SET k zero")  # db 0's k: watched, changed
    assert await exec_transaction(node, client, writes=False) == NULL
    await node.run(client, "SELECT 1", "WATCH k", "SELECT 0", "WATCH k")
    await node.run(other, "SELECT 2", "SET k two")  # a k in an unwatched db
    assert await exec_transaction(node, client, writes=False) == b"*1\r\n$-1\r\n"
    await node.run(client, "SELECT 1", "WATCH k", "SELECT 0")
    await node.run(other, "SELECT 1", "SET k changed")
    assert await exec_transaction(node, client, writes=True) == NULL


async def test_a_pipelined_transaction_answers_in_order(node: InProcess) -> None:
    client = node.client()
    replies = await node.run(
        client,
        "SET a 1",
        "MULTI",
        "SELECT 2",
        "CLIENT SETNAME piped",
        "SET a 2",
        "GET a",
        "EXEC",
        "GET a",
        "CLIENT GETNAME",
        "SELECT 0",
        "GET a",
    )
    assert replies == [
        OK,
        OK,
        QUEUED,
        QUEUED,
        QUEUED,
        QUEUED,
        b"*4\r\n+OK\r\n+OK\r\n+OK\r\n$1\r\n2\r\n",
        b"$1\r\n2\r\n",  # the transaction's SELECT stays in force
        b"$5\r\npiped\r\n",
        OK,
        b"$1\r\n1\r\n",
    ]


async def test_hello_inside_a_read_only_transaction_switches_protocol_mid_reply(
    node: InProcess,
) -> None:
    # Redis encodes the replies after HELLO 3 in RESP3, inside the same EXEC array.
    client = node.client()
    replies = await node.run(client, "MULTI", "GET missing", "HELLO 3", "GET missing", "EXEC")
    executed = replies[-1]
    assert executed.startswith(b"*3\r\n$-1\r\n%7\r\n")
    assert executed.endswith(b"_\r\n")
    assert client.proto == 3


def _stat(info: bytes, field: str) -> str:
    for line in info.split(b"\r\n"):
        if line.startswith(field.encode() + b":"):
            return line.split(b":", 1)[1].decode()
    raise AssertionError(f"{field} not in INFO")


async def test_info_counts_transactions_like_redis(node: InProcess) -> None:
    client = node.client()
    await node.one(client, "CONFIG RESETSTAT")
    await node.run(
        client,
        "MULTI",
        "SET a",  # refused while queueing: rejected, and the transaction fails
        "GET a",
        "EXEC",  # EXECABORT: a failed EXEC; GET never ran
        "MULTI",
        "SET a 1",
        "SET a 1 EX -1",  # fails when run: the others still run
        "GET a",
        "EXEC",
        "NOSUCH",  # unknown: an error, no command's stats
        "EXEC extra",  # refused EXEC: rejected, EXECABORT
    )
    info = await node.one(client, "INFO commandstats")
    assert b"cmdstat_set:calls=2,usec=" in info
    assert b"rejected_calls=1,failed_calls=1" in info.split(b"cmdstat_set:")[1].split(b"\r\n")[0]
    get_line = info.split(b"cmdstat_get:")[1].split(b"\r\n")[0]
    assert get_line.startswith(b"calls=1,")
    assert get_line.endswith(b"failed_calls=0")
    exec_line = info.split(b"cmdstat_exec:")[1].split(b"\r\n")[0]
    assert exec_line.startswith(b"calls=2,")
    assert exec_line.endswith(b"rejected_calls=1,failed_calls=1")
    stats = await node.one(client, "INFO stats")
    # RESETSTAT, 2 MULTI, 2 EXEC, 3 commands inside EXEC, INFO (counted once it ran).
    assert _stat(stats, "total_commands_processed") == "9"
    assert _stat(stats, "total_error_replies") == "5"
    errors = await node.one(client, "INFO errorstats")
    assert b"errorstat_ERR:count=3\r\nerrorstat_EXECABORT:count=2\r\n" in errors


async def test_exec_of_a_writing_transaction_takes_no_read_point(
    node: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # WATCH is checked when the entry is applied, so EXEC needs no ReadIndex round first;
    # WATCH itself, and a transaction that only reads, do take a read point.
    rounds: list[str] = []
    reads = node.server.node.reads
    real = reads.barrier

    async def counting() -> None:
        rounds.append("read point")
        await real()

    # As on a node of a cluster: no read point comes for free (a lone leader's does).
    monkeypatch.setattr(reads, "alone_and_current", lambda: False)
    monkeypatch.setattr(reads, "barrier", counting)
    client = node.client()
    await node.run(client, "MULTI", "SET a 1", "INCR a", "EXEC")
    assert rounds == []
    await node.run(client, "WATCH a")
    assert rounds == ["read point"]
    replies = await node.run(client, "MULTI", "SET a 5", "EXEC")
    assert replies[-1] == b"*1\r\n+OK\r\n"
    assert rounds == ["read point"]
    await node.run(client, "MULTI", "GET a", "EXEC")
    assert rounds == ["read point"] * 2


async def test_hello_inside_a_writing_transaction_changes_the_replies_after_it(
    node: InProcess,
) -> None:
    # As in Redis 7.0: each reply of EXEC is encoded as its command runs, so after HELLO 3
    # the CONFIG GET is a RESP3 map, and so is every reply after EXEC.
    client = node.client()
    replies = await node.run(
        client, "MULTI", "SET a 1", "HELLO 3", "CONFIG GET maxclients", "INCRBYFLOAT f 1.5", "EXEC"
    )
    executed = replies[-1]
    assert executed.startswith(b"*4\r\n+OK\r\n%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n")
    assert executed.endswith(b"%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n$3\r\n1.5\r\n")
    assert await node.one(client, "CONFIG GET maxclients") == (
        b"%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n"
    )
