"""No client can take a server down: refusals inside MULTI, and bugs contained to one client.

- Every connection-level command works inside MULTI, or is refused when queued as Redis
  refuses SAVE (`no_multi`); none answers an internal error or stops the node.
- A handler that raises answers `-ERR internal error ...` and the connection goes on.
- Anything else that raises while serving one connection ends that connection only (it is
  told `-ERR internal error` first); other clients, and new ones, are served.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import trio

from concord_resp.config import Config
from concord_resp.server.app import Server
from concord_resp.server.handlers import CONNECTION
from tests.server.conftest import InProcess
from tests.support.waiting import wait_until

# One call of every connection-level command, as it would be queued in a transaction.
SAMPLES: dict[str, str] = {
    "hello": "HELLO 2",
    "client|id": "CLIENT ID",
    "client|setname": "CLIENT SETNAME tx",
    "client|getname": "CLIENT GETNAME",
    "client|setinfo": "CLIENT SETINFO lib-name x",
    "client|info": "CLIENT INFO",
    "client|list": "CLIENT LIST",
    "client|kill": "CLIENT KILL ID 999999",
    "client|unblock": "CLIENT UNBLOCK 999999",
    "client|no-evict": "CLIENT NO-EVICT on",
    "client|no-touch": "CLIENT NO-TOUCH on",
    "client|help": "CLIENT HELP",
    "client|pause": "CLIENT PAUSE 0 WRITE",
    "client|unpause": "CLIENT UNPAUSE",
    "client|reply": "CLIENT REPLY ON",
    "client|tracking": "CLIENT TRACKING off",
    "client|caching": "CLIENT CACHING yes",
    "client|getredir": "CLIENT GETREDIR",
    "client|trackinginfo": "CLIENT TRACKINGINFO",
    "monitor": "MONITOR",
    "config|get": "CONFIG GET hz",
    "config|set": "CONFIG SET hz 10",
    "config|resetstat": "CONFIG RESETSTAT",
    "config|help": "CONFIG HELP",
    "config|rewrite": "CONFIG REWRITE",
    "command": "COMMAND",
    "command|count": "COMMAND COUNT",
    "command|info": "COMMAND INFO get",
    "command|docs": "COMMAND DOCS get",
    "command|list": "COMMAND LIST",
    "command|getkeys": "COMMAND GETKEYS SET a b",
    "command|help": "COMMAND HELP",
    "info": "INFO",
    "slowlog|get": "SLOWLOG GET",
    "slowlog|len": "SLOWLOG LEN",
    "slowlog|reset": "SLOWLOG RESET",
    "slowlog|help": "SLOWLOG HELP",
    "latency|latest": "LATENCY LATEST",
    "latency|history": "LATENCY HISTORY command",
    "latency|reset": "LATENCY RESET",
    "latency|graph": "LATENCY GRAPH command",
    "latency|doctor": "LATENCY DOCTOR",
    "latency|histogram": "LATENCY HISTOGRAM",
    "latency|help": "LATENCY HELP",
    "memory|stats": "MEMORY STATS",
    "memory|doctor": "MEMORY DOCTOR",
    "memory|malloc-stats": "MEMORY MALLOC-STATS",
    "memory|purge": "MEMORY PURGE",
    "script|kill": "SCRIPT KILL",
    "script|help": "SCRIPT HELP",
    "function|kill": "FUNCTION KILL",
    "function|help": "FUNCTION HELP",
    "readonly": "READONLY",
    "readwrite": "READWRITE",
    "bgsave": "BGSAVE",
    "save": "SAVE",
    "shutdown": "SHUTDOWN ABORT",
    "lastsave": "LASTSAVE",
    "raft.nodes": "RAFT.NODES",
    "raft.transfer_leader": "RAFT.TRANSFER_LEADER",
    "raft.node|add": "RAFT.NODE ADD n9 127.0.0.1:1@2",
    "raft.node|remove": "RAFT.NODE REMOVE n9",
    "raft.backup|open": "RAFT.BACKUP OPEN",
    "raft.backup|read": "RAFT.BACKUP READ snapshot-00000000000000000001-00000000000000000001.snap 0 1",
    "auth": "AUTH default nopassword",
    "acl|whoami": "ACL WHOAMI",
    "acl|genpass": "ACL GENPASS",
    "acl|log": "ACL LOG",
    "acl|save": "ACL SAVE",
    "acl|load": "ACL LOAD",
    "acl|help": "ACL HELP",
    "subscribe": "SUBSCRIBE ch",
    "psubscribe": "PSUBSCRIBE ch*",
    "ssubscribe": "SSUBSCRIBE ch",
    "unsubscribe": "UNSUBSCRIBE",
    "punsubscribe": "PUNSUBSCRIBE",
    "sunsubscribe": "SUNSUBSCRIBE ch",
    "pubsub|channels": "PUBSUB CHANNELS",
    "pubsub|shardchannels": "PUBSUB SHARDCHANNELS x*",
    "pubsub|numsub": "PUBSUB NUMSUB a b",
    "pubsub|shardnumsub": "PUBSUB SHARDNUMSUB a",
    "pubsub|numpat": "PUBSUB NUMPAT",
    "pubsub|help": "PUBSUB HELP",
}
# Never queued: the transaction's own commands, and QUIT and RESET, which run at once
# (tests/server/test_transactions.py).
NOT_QUEUED = {"multi", "exec", "discard", "watch", "unwatch", "quit", "reset"}


def test_every_connection_level_command_has_a_sample() -> None:
    assert set(SAMPLES) == set(CONNECTION.entries) - NOT_QUEUED


@pytest.mark.parametrize("name", sorted(SAMPLES))
async def test_connection_level_commands_inside_multi(node: InProcess, name: str) -> None:
    client = node.client()
    line = SAMPLES[name]
    queued, exec_reply = (await node.run(client, "MULTI", "SET x 1", line, "EXEC"))[2:]
    spec = node.dispatcher.lookup([part.encode() for part in line.split()])
    if "no_multi" in spec.flags:
        assert queued == b"-ERR Command not allowed inside a transaction\r\n"
        assert exec_reply.startswith(b"-EXECABORT")
    else:
        assert queued == b"+QUEUED\r\n"
        assert exec_reply.startswith(b"*2\r\n+OK\r\n")
        assert b"internal error" not in exec_reply
    # The node goes on serving this client (unless the command closed it) and others.
    other = node.client()
    assert await node.one(other, "SET y 2") == b"+OK\r\n"
    assert await node.one(other, "GET x") == (
        b"$-1\r\n" if "no_multi" in spec.flags else b"$1\r\n1\r\n"
    )


async def test_a_handler_that_raises_answers_an_error(
    node: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> object:
        raise RuntimeError("a bug")

    spec = node.state.table.by_name(b"client|getname")
    assert spec is not None
    monkeypatch.setattr(spec, "local_handler", broken)
    client = node.client()
    replies = await node.run(client, "CLIENT GETNAME", "MULTI", "CLIENT GETNAME", "SET a 1", "EXEC")
    assert replies[0] == b"-ERR internal error while running 'client|getname'\r\n"
    assert replies[-1] == (b"*2\r\n-ERR internal error while running 'client|getname'\r\n+OK\r\n")
    assert await node.one(client, "GET a") == b"$1\r\n1\r\n"


def _call(sock: socket.socket, line: bytes) -> bytes:
    sock.sendall(line + b"\r\n")
    return sock.recv(4096)


async def test_a_failure_serving_one_connection_ends_only_that_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = Server(Config(dir=tmp_path / "data", port=0, fsync="never"))
    real = server.dispatcher.dispatch

    async def dispatch(client: object, commands: list[list[bytes]], sink: object) -> None:
        if commands[0][0] == b"BOOM":
            raise RuntimeError("a bug outside any handler")
        await real(client, commands, sink)  # type: ignore[arg-type]

    monkeypatch.setattr(server.dispatcher, "dispatch", dispatch)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.serve)
        await wait_until(lambda: not server.node.loading)  # it listens while it loads

        def clients() -> list[bytes]:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as bystander,
                socket.create_connection(("127.0.0.1", port), timeout=5) as victim,
            ):
                seen = [_call(bystander, b"SET k v"), _call(victim, b"BOOM")]
                seen.append(victim.recv(100))  # then the server closes it
                seen.append(_call(bystander, b"GET k"))
            with socket.create_connection(("127.0.0.1", port), timeout=5) as newcomer:
                seen.append(_call(newcomer, b"PING"))
            return seen

        with trio.fail_after(20):
            seen = await trio.to_thread.run_sync(clients)
        server.shutdown.set()
    assert seen == [b"+OK\r\n", b"-ERR internal error\r\n", b"", b"$1\r\nv\r\n", b"+PONG\r\n"]
