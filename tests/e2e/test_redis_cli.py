"""redis-cli, the real one, against Concord and against Redis 7.0.

A scripted session piped to `redis-cli` must print exactly the same on both servers (quoted
and binary arguments, a transaction, errors), and `redis-cli --pipe` mass insertion must
report no errors and every reply, with the data there afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from compat.harness import RawClient
from tests.support.cluster import LocalCluster
from tests.support.processes import ConcordProcess, RedisProcess

REDIS_CLI = shutil.which("redis-cli")
pytestmark = pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli is not installed")

SESSION_DB = "9"  # the servers are shared with other tests: this session owns database 9
PIPE_KEYS = 10_000

# One command per line, as a user would type them (redis-cli's own quoting rules).
SESSION = r"""FLUSHDB
SET greeting "hello world"
GET greeting
SET bin "a\x00b\xffc\r\n"
GET bin
STRLEN bin
SET 'single quoted' "x y"
GET 'single quoted'
SET "tab\tand\"quote" 'it''s'
SET "tab\tand\"quote" 'it\'s'
MGET greeting 'single quoted' "tab\tand\"quote" missing
APPEND greeting "!"
GETRANGE greeting 0 4
SET counter 10
INCRBY counter 5
INCRBYFLOAT counter 0.5
MULTI
SET a 1
INCR a
INCR greeting
GET a
EXEC
MULTI
SET a 2
NOSUCHCMD
EXEC
GET a
EXEC
DISCARD
WATCH a
SET a 3
MULTI
GET a
EXEC
GET nosuch
NOSUCHCMD foo "bar baz"
SET onlykey
CONFIG GET maxclients
COMMAND INFO get
CLIENT SETNAME cli-session
CLIENT GETNAME
EXPIRE greeting 100
TTL greeting
TYPE greeting
EXISTS greeting nosuch a
KEYS gree*
DEL greeting bin a 'single quoted' counter "tab\tand\"quote"
DBSIZE
PING
ECHO "tab\there"
"""


def redis_cli(port: int, *args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    assert REDIS_CLI is not None
    return subprocess.run(
        [REDIS_CLI, "-h", "127.0.0.1", "-p", str(port), *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_scripted_session_prints_the_same(
    redis_server: RedisProcess, concord_server: ConcordProcess
) -> None:
    outputs = []
    for port in (redis_server.port, concord_server.port):
        result = redis_cli(port, "-n", SESSION_DB, stdin=SESSION.encode())
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)
    redis_output, concord_output = outputs
    assert concord_output == redis_output
    # The session did what it says (and is not, say, a connection error on both sides).
    assert b"hello world\n" in concord_output
    assert b"a\x00b\xffc\r\n" in concord_output
    assert b"EXECABORT Transaction discarded because of previous errors." in concord_output


def protocol(*argv: bytes) -> bytes:
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in argv)


@pytest.mark.parametrize("server", ["concord", "redis"])
def test_pipe_mass_insertion(
    server: str,
    redis_server: RedisProcess,
    concord_server: ConcordProcess,
    tmp_path: Path,
) -> None:
    port = concord_server.port if server == "concord" else redis_server.port
    keys = [b"e2e-pipe:%05d" % i for i in range(PIPE_KEYS)]
    data = tmp_path / "sets.proto"
    data.write_bytes(b"".join(protocol(b"SET", key, b"value-" + key) for key in keys))
    result = redis_cli(port, "--pipe", stdin=data.read_bytes())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == b"errors: 0, replies: %d" % PIPE_KEYS
    client = RawClient(port)
    try:
        stored = client.call([b"KEYS", b"e2e-pipe:*"])
        assert len(stored.children) == PIPE_KEYS
        sample = [keys[0], keys[4321], keys[-1]]
        values = client.call([b"MGET", *sample])
        assert [child.raw for child in values.children] == [
            b"$%d\r\n%s\r\n" % (len(b"value-" + key), b"value-" + key) for key in sample
        ]
    finally:
        cleanup = protocol(b"DEL", *keys)
        assert redis_cli(port, "--pipe", stdin=cleanup).stdout.splitlines()[-1] == (
            b"errors: 0, replies: 1"
        )
        assert client.call([b"EXISTS", keys[0], keys[-1]]).raw == b":0\r\n"
        client.close()


REFUSED_IN_MULTI = b"""MULTI
SET refused:a b
SAVE
EXEC
MULTI
SET refused:a b
RAFT.NODES
EXEC
GET refused:a
PING
"""


def test_waiting_commands_inside_multi_are_refused_on_every_node(
    concord_cluster: LocalCluster,
) -> None:
    """SAVE and RAFT.NODES inside MULTI once made the server exit (a follower, then the
    leader: the cluster lost its quorum). They are refused when queued, as Redis refuses
    SAVE, and every node goes on serving."""
    leader = concord_cluster.leader()
    follower = next(name for name in concord_cluster.names if name != leader)
    refused = b"ERR Command not allowed inside a transaction"
    for name in (follower, leader):
        result = redis_cli(concord_cluster.ports[name], stdin=REFUSED_IN_MULTI)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines.count(refused) == 2, lines
        assert lines[-2:] == [b"", b"PONG"]  # GET of the key never set, then PING
    for name in concord_cluster.names:
        assert redis_cli(concord_cluster.ports[name], "PING", stdin=b"").stdout == b"PONG\n"


def test_shutdown_stops_the_node_as_redis_cli_expects(tmp_path: Path) -> None:
    """SHUTDOWN's refusals read as Redis's; SHUTDOWN itself ends the process cleanly (exit 0)
    with no reply, which redis-cli takes for success, and the data is there after a restart."""
    redis = RedisProcess(tmp_path / "redis").start()
    concord = ConcordProcess(tmp_path / "concord").start()

    def printed(port: int, *arguments: str) -> tuple[int, bytes]:
        done = redis_cli(port, *arguments, stdin=b"")
        return done.returncode, done.stdout

    try:
        for refused in (["BOGUS"], ["ABORT"], ["SAVE", "NOSAVE"], ["ABORT", "NOW"]):
            assert printed(concord.port, "SHUTDOWN", *refused) == printed(
                redis.port, "SHUTDOWN", *refused
            )
        assert printed(concord.port, "SET", "kept", "yes") == (0, b"OK\n")
        # redis-cli prints nothing but a newline for a server that closed on SHUTDOWN.
        assert printed(concord.port, "SHUTDOWN", "SAVE") == printed(redis.port, "SHUTDOWN")
        assert concord.wait_exit(timeout=30) == 0
        assert "SHUTDOWN asked by client" in concord.output()
        concord.start()
        assert printed(concord.port, "GET", "kept") == (0, b"yes\n")
    finally:
        concord.stop()
        redis.stop()
