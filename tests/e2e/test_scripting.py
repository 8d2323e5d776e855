"""Lua scripts on a 3-node cluster of real processes, with redis-py clients.

The script cache is replicated state (SCRIPT LOAD through one node, EVALSHA on the others at
once); a script that writes is one log entry that every node runs alike (equal DEBUG DIGEST);
a runaway script ends with the budget's error on every node while the cluster keeps its
leader and goes on acknowledging other clients' writes; redis-py's `Lock` (SET NX and Lua
release) holds across clients on different nodes.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import pytest
import redis

from tests.support.cluster import LocalCluster

INCR_BY_ARGV = "return redis.call('incrby', KEYS[1], ARGV[1])"


def wait_for(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def clients(cluster: LocalCluster, timeout: float = 30.0) -> dict[str, redis.Redis]:
    return {name: cluster.client(name, timeout=timeout) for name in cluster.names}


def digests(cluster: LocalCluster) -> set[bytes]:
    found = set()
    for name in cluster.names:
        client = cluster.client(name)
        try:
            found.add(client.execute_command("DEBUG", "DIGEST"))
        finally:
            client.close()
    return found


def test_a_script_loaded_through_one_node_runs_on_every_other(
    concord_cluster: LocalCluster,
) -> None:
    nodes = clients(concord_cluster)
    try:
        names = concord_cluster.names
        sha = nodes[names[0]].script_load(INCR_BY_ARGV)
        for name in names[1:]:
            assert nodes[name].script_exists(sha) == [True]
            assert isinstance(nodes[name].evalsha(sha, 1, "e2e:script:n", 2), int)
        assert nodes[names[0]].get("e2e:script:n") == b"4"
        for client in nodes.values():  # INFO memory: the cache is everyone's, the heap local
            memory = client.info("memory")
            assert memory["number_of_cached_scripts"] >= 1
            assert memory["used_memory_scripts_eval"] >= len(INCR_BY_ARGV) + 40
            assert memory["used_memory_lua"] > 0
    finally:
        for client in nodes.values():
            client.close()


def test_a_script_that_writes_leaves_every_node_alike(concord_cluster: LocalCluster) -> None:
    script = """
    for i = 1, tonumber(ARGV[1]) do
      redis.call('rpush', KEYS[1], i)
      redis.call('hset', KEYS[2], 'f' .. i, math.random(1000000))
      redis.call('zadd', KEYS[3], math.random(), 'm' .. i)
    end
    return redis.call('llen', KEYS[1])
    """
    leader = concord_cluster.leader()
    follower = next(name for name in concord_cluster.names if name != leader)
    client = concord_cluster.client(follower)
    try:
        assert client.eval(script, 3, "e2e:sl", "e2e:sh", "e2e:sz", 50) == 50
        assert client.eval(script, 3, "e2e:sl", "e2e:sh", "e2e:sz", 10) == 60
    finally:
        client.close()
    assert len(digests(concord_cluster)) == 1


def test_a_runaway_script_ends_alike_everywhere_and_the_cluster_serves_meanwhile(
    concord_cluster: LocalCluster,
) -> None:
    leader = concord_cluster.leader()
    term = int(concord_cluster.raft_info(leader)["raft_term"])
    follower = next(name for name in concord_cluster.names if name != leader)
    other = next(name for name in concord_cluster.names if name not in (leader, follower))
    writer = concord_cluster.client(other, timeout=30)
    stop = threading.Event()
    acknowledged: list[float] = []

    def write() -> None:
        n = 0
        while not stop.is_set() and n < 100_000:
            writer.set("e2e:runaway:w", n)
            acknowledged.append(time.monotonic())
            n += 1

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        for name in (follower, leader):
            runner = concord_cluster.client(name, timeout=30)
            try:
                started = time.monotonic()
                before = len(acknowledged)
                with pytest.raises(redis.ResponseError, match=r"^Script exceeded its instruction"):
                    runner.eval("redis.call('incr', 'e2e:runaway:n') while true do end", 0)
                ended = time.monotonic()
            finally:
                runner.close()
            wait_for("writes after the script", lambda b=before: len(acknowledged) > b + 10)
            assert ended - started < 10  # the budget ends it, not a human with SCRIPT KILL
    finally:
        stop.set()
        thread.join(30)
        writer.close()
    assert not thread.is_alive()
    gaps = [later - earlier for earlier, later in itertools.pairwise(acknowledged)]
    assert max(gaps) < 10  # never frozen: at worst each write waited for one script
    now_leader = concord_cluster.leader()
    now_term = int(concord_cluster.raft_info(now_leader)["raft_term"])
    assert now_leader == leader or now_term <= term + 1
    check = concord_cluster.client(leader)
    try:
        assert check.get("e2e:runaway:n") == b"2"  # its write before the loop, on each run
    finally:
        check.close()
    assert len(digests(concord_cluster)) == 1


def test_redis_py_lock_holds_across_nodes(concord_cluster: LocalCluster) -> None:
    nodes = clients(concord_cluster)
    holders: list[str] = []
    overlaps: list[str] = []
    guard = threading.Lock()
    rounds = 25

    def contend(name: str) -> None:
        client = nodes[name]
        for _ in range(rounds):
            lock = client.lock("e2e:lock", timeout=10, blocking_timeout=60)
            assert lock.acquire()
            with guard:
                if holders:
                    overlaps.append(f"{name} while {holders[0]}")
                holders.append(name)
            value = int(client.get("e2e:lock:counter") or 0)
            client.set("e2e:lock:counter", value + 1)
            with guard:
                holders.remove(name)
            lock.release()

    threads = [threading.Thread(target=contend, args=(n,)) for n in concord_cluster.names]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(thread.is_alive() for thread in threads)
        assert overlaps == []
        total = rounds * len(threads)
        assert nodes[concord_cluster.names[0]].get("e2e:lock:counter") == str(total).encode()
    finally:
        for client in nodes.values():
            client.close()


def test_a_no_writes_script_is_a_read_on_every_node(concord_cluster: LocalCluster) -> None:
    body = "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])"
    leader = concord_cluster.leader()
    nodes = clients(concord_cluster)
    try:
        nodes[leader].set("e2e:ro:k", "v")
        sha = nodes[leader].script_load(body)  # cached: from now on a read
        last = int(concord_cluster.raft_info(leader)["raft_last_index"])
        for client in nodes.values():
            assert client.evalsha(sha, 1, "e2e:ro:k") == b"v"
            assert client.eval(body, 1, "e2e:ro:k") == b"v"
            assert client.evalsha_ro(sha, 1, "e2e:ro:k") == b"v"
            with pytest.raises(redis.ResponseError, match="not allowed from read-only scripts"):
                client.eval("#!lua flags=no-writes\nreturn redis.call('set', 'x', 1)", 0)
        # No entry was appended for any of them (the refused EVAL was not cached: it went
        # through the log once, as the first EVAL of a script does).
        assert int(concord_cluster.raft_info(leader)["raft_last_index"]) <= last + 1
    finally:
        for client in nodes.values():
            client.close()
