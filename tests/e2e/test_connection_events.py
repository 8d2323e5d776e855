"""The connection commands of issue 15 on a 3-node cluster of real concord-server processes.

- CLIENT TRACKING: a key written through another node invalidates this node's clients (each
  node's apply of the entry sends them), in RESP3 pushes and through a RESP2 redirect to a
  client subscribed to `__redis__:invalidate`; redis-py's client-side cache stays right.
- MONITOR on a follower shows what that node serves, and nothing another node serves.
- CLIENT PAUSE WRITE on one node holds its writes while another node's go on; held clients
  go in the order they came, and one that leaves meanwhile is let go (a single node).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import pytest
import redis
from redis.cache import CacheConfig
from redis.connection import CacheProxyConnection

from compat.harness import RawClient
from tests.support.cluster import LocalCluster
from tests.support.processes import ConcordProcess


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Poll `condition` (bounded in time and in count) until it holds."""
    deadline = time.monotonic() + timeout
    for _ in range(100_000):
        if condition():
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def nodes(cluster: LocalCluster) -> tuple[str, str, str]:
    """The leader and the two followers."""
    leader = cluster.leader()
    first, second = (name for name in cluster.names if name != leader)
    return leader, first, second


def call(client: RawClient, *argv: str | int) -> bytes:
    return client.call([str(arg).encode() for arg in argv]).raw


def invalidation(key: bytes, resp: int = 3) -> bytes:
    keys = b"*1\r\n$%d\r\n%s\r\n" % (len(key), key)
    if resp == 3:
        return b">2\r\n$10\r\ninvalidate\r\n" + keys
    return b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n" + keys


def test_a_key_written_through_another_node_invalidates_resp3_clients(
    concord_cluster: LocalCluster,
) -> None:
    leader, follower, other = nodes(concord_cluster)
    ports = concord_cluster.ports
    tracker = RawClient(ports[follower])
    writers = {name: RawClient(ports[name]) for name in (leader, other)}
    try:
        call(tracker, "HELLO", 3)
        assert call(tracker, "CLIENT", "TRACKING", "on") == b"+OK\r\n"
        for step, (name, writer) in enumerate(writers.items()):
            key = f"tracked:{step}"
            assert call(tracker, "GET", key) == b"_\r\n"
            assert call(writer, "SET", key, name) == b"+OK\r\n"
            assert tracker.read().raw == invalidation(key.encode())
        # A whole database flushed through another node: a null invalidation.
        call(tracker, "GET", "tracked:0")
        assert call(writers[leader], "FLUSHDB") == b"+OK\r\n"
        assert tracker.read().raw == b">2\r\n$10\r\ninvalidate\r\n_\r\n"
        # BCAST: every key under the prefix, whoever wrote it.
        call(tracker, "CLIENT", "TRACKING", "off")
        call(tracker, "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "bc:")
        call(writers[other], "SET", "bc:1", "x")
        assert tracker.read().raw == invalidation(b"bc:1")
    finally:
        tracker.close()
        for writer in writers.values():
            writer.close()


def test_a_resp2_redirect_gets_invalidations_of_writes_through_another_node(
    concord_cluster: LocalCluster,
) -> None:
    leader, follower, _ = nodes(concord_cluster)
    ports = concord_cluster.ports
    tracker, listener = RawClient(ports[follower]), RawClient(ports[follower])
    writer = RawClient(ports[leader])
    try:
        listener_id = int(call(listener, "CLIENT", "ID")[1:-2])
        assert call(listener, "SUBSCRIBE", "__redis__:invalidate").startswith(b"*3\r\n")
        assert call(tracker, "CLIENT", "TRACKING", "on", "REDIRECT", listener_id) == b"+OK\r\n"
        assert call(tracker, "CLIENT", "GETREDIR") == b":%d\r\n" % listener_id
        call(tracker, "GET", "redirected")
        assert call(writer, "SET", "redirected", 1) == b"+OK\r\n"
        assert listener.read().raw == invalidation(b"redirected", resp=2)
    finally:
        for client in (tracker, listener, writer):
            client.close()


def test_redis_py_client_side_cache_sees_writes_through_another_node(
    concord_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # redis-py refuses its cache below Redis 7.4 by version alone (Concord reports 7.0):
    # the protocol it uses (RESP3, CLIENT TRACKING, invalidate pushes) is 6.0's.
    monkeypatch.setattr(CacheProxyConnection, "MIN_ALLOWED_VERSION", "7.0.0")
    leader, follower, _ = nodes(concord_cluster)
    ports = concord_cluster.ports
    cached = redis.Redis(port=ports[follower], protocol=3, cache_config=CacheConfig())
    writer = concord_cluster.client(leader)
    try:
        writer.set("csc", "first")
        assert cached.get("csc") == b"first"
        assert cached.get("csc") == b"first"  # from the cache
        cache = cached.get_cache()
        assert cache is not None
        assert cache.size == 1
        writer.set("csc", "second")
        # The invalidation arrives with the follower's apply; the next read sees it.
        wait_until(lambda: cached.get("csc") == b"second", timeout=10)
    finally:
        cached.close()
        writer.close()


MONITOR_LINE = re.compile(rb"^\+\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] (.*)\r\n$")


def test_monitor_on_a_follower_shows_what_that_node_serves(
    concord_cluster: LocalCluster,
) -> None:
    leader, follower, _ = nodes(concord_cluster)
    ports = concord_cluster.ports
    monitor, local, remote = (RawClient(ports[name]) for name in (follower, follower, leader))
    try:
        assert call(monitor, "MONITOR") == b"+OK\r\n"
        call(remote, "SET", "mon", "through-the-leader")  # served by another node: not shown
        call(local, "SET", "mon", "here")
        call(local, "GET", "mon")
        call(local, "CLIENT", "LIST")  # admin: not shown
        call(local, "AUTH", "secret")
        shown = [MONITOR_LINE.match(monitor.read().raw) for _ in range(3)]
        assert [m.group(1) if m else None for m in shown] == [
            b'"SET" "mon" "here"',
            b'"GET" "mon"',
            b'"AUTH" "(redacted)"',
        ]
        assert call(monitor, "GET", "mon") == b"-ERR Replica can't interact with the keyspace\r\n"
        assert call(monitor, "RESET") == b"+RESET\r\n"
        assert call(monitor, "GET", "mon") == b"$4\r\nhere\r\n"
    finally:
        for client in (monitor, local, remote):
            client.close()


def test_client_pause_write_holds_this_nodes_writes_only(
    concord_cluster: LocalCluster,
) -> None:
    # The leader paused: its clients wait, while a follower's writes (which the leader
    # proposes) go on.
    paused_node, other, _ = nodes(concord_cluster)
    ports = concord_cluster.ports
    admin, held, elsewhere = (RawClient(ports[name]) for name in (paused_node, paused_node, other))
    result: list[bytes] = []
    try:
        assert call(admin, "CLIENT", "PAUSE", 60_000, "WRITE") == b"+OK\r\n"
        sender = threading.Thread(target=lambda: result.append(call(held, "SET", "paused", "held")))
        sender.start()
        wait_until(lambda: b"blocked_clients:1\r\n" in call(admin, "INFO", "clients"), timeout=10)
        # Another node's writes go on, and this node still serves reads.
        assert call(elsewhere, "SET", "paused", "elsewhere") == b"+OK\r\n"
        wait_until(lambda: call(admin, "GET", "paused") == b"$9\r\nelsewhere\r\n", timeout=10)
        assert not result
        assert call(admin, "CLIENT", "UNPAUSE") == b"+OK\r\n"
        sender.join(timeout=10)
        assert result == [b"+OK\r\n"]
        assert call(elsewhere, "GET", "paused") == b"$4\r\nheld\r\n"
    finally:
        call(admin, "CLIENT", "UNPAUSE")
        for client in (admin, held, elsewhere):
            client.close()


def test_held_clients_go_in_order_and_one_that_leaves_is_let_go(
    concord_server: ConcordProcess,
) -> None:
    port = concord_server.port
    admin = RawClient(port)
    held = [RawClient(port) for _ in range(4)]
    try:
        call(admin, "DEL", "pause:log")
        assert call(admin, "CLIENT", "PAUSE", 60_000, "WRITE") == b"+OK\r\n"
        for number, client in enumerate(held):
            client.send([b"APPEND", b"pause:log", b"%d" % number])
            wanted = b"blocked_clients:%d\r\n" % (number + 1)
            wait_until(lambda wanted=wanted: wanted in call(admin, "INFO", "clients"))
        held[1].close()  # gone while held: its command is not run
        wait_until(lambda: b"blocked_clients:3\r\n" in call(admin, "INFO", "clients"))
        assert call(admin, "CLIENT", "UNPAUSE") == b"+OK\r\n"
        assert [held[n].read().raw for n in (0, 2, 3)] == [b":1\r\n", b":2\r\n", b":3\r\n"]
        assert call(admin, "GET", "pause:log") == b"$3\r\n023\r\n"
    finally:
        call(admin, "CLIENT", "UNPAUSE")
        admin.close()
        for number in (0, 2, 3):
            held[number].close()


def test_shutdown_lets_held_clients_go_without_running_their_commands(
    concord_factory: Callable[..., ConcordProcess],
) -> None:
    server = concord_factory()
    admin, held = RawClient(server.port), RawClient(server.port)
    try:
        assert call(admin, "CLIENT", "PAUSE", 600_000, "WRITE") == b"+OK\r\n"
        held.send([b"SET", b"never", b"1"])
        wait_until(lambda: b"blocked_clients:1\r\n" in call(admin, "INFO", "clients"))
        started = time.monotonic()
        assert server.stop(timeout=20) == 0
        assert time.monotonic() - started < 5  # not the shutdown timeout (10 s)
        assert "clients still busy" not in server.output()
    finally:
        admin.close()
        held.close()
