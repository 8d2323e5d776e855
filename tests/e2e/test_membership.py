"""Membership changes on live clusters of real processes, under a client workload whose history
the linearizability checker must find legal: grow 3 to 5 with `--join` and shrink back,
replace a killed node, remove the leader, and restart every node in turn."""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path

import pytest
import redis

from tests.support.cluster import LocalCluster
from tests.support.jepsen import Workload

REMOVED = "this node was removed from the cluster"


def voters(cluster: LocalCluster, via: str) -> set[str]:
    client = cluster.client(via)
    try:
        rows = client.execute_command("RAFT.NODES")
    finally:
        client.close()
    return {row[b"name"].decode() for row in rows if row[b"voter"] == 1}


def wait_voters(cluster: LocalCluster, via: str, expected: set[str]) -> None:
    deadline = time.monotonic() + 30
    seen: set[str] | str = "nothing yet"
    while seen != expected:
        assert time.monotonic() < deadline, f"voters {seen}, not {expected}"
        time.sleep(0.05)
        try:
            seen = voters(cluster, via)
        except redis.RedisError as error:  # no leader for a moment (a change, a restart)
            seen = str(error)


def raft(cluster: LocalCluster, via: str, *args: str) -> object:
    client = cluster.client(via, timeout=30)
    try:
        return client.execute_command(*args)
    finally:
        client.close()


def finish(workload: Workload, nodes: list[str], cluster: LocalCluster) -> None:
    """Stop the clients, read every key on `nodes`, and require a legal history."""
    workload.stop()
    workload.ports.update({name: cluster.members[name].port for name in nodes})
    workload.final_reads(nodes)
    result = workload.check()
    assert result.verdict == "ok", result
    assert workload.problems() == []
    digests = {raft(cluster, name, "DEBUG", "DIGEST") for name in nodes}
    assert len(digests) == 1


def test_grow_from_three_to_five_and_shrink_back_under_load(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 3, proxied=False) as cluster:
        cluster.start_all()
        cluster.leader()
        workload = Workload({"n3": cluster.members["n3"].port}, clients=4, seed=61).start()
        workload.wait_for(20, writes=True)
        cluster.join("n4", through="n1")
        cluster.join("n5", through="n2")  # a follower or the leader: either forwards
        wait_voters(cluster, "n3", {"n1", "n2", "n3", "n4", "n5"})
        done = workload.count("ok", writes=True)
        workload.wait_for(done + 20, writes=True)
        # A joined node restarted with its data directory (and --join again) is not added
        # twice: it carries on as the member it is.
        assert cluster.members["n4"].process.stop() == 0
        cluster.start("n4")
        assert cluster.members["n4"].log.read_text().count("joined the cluster") == 1
        wait_voters(cluster, "n4", {"n1", "n2", "n3", "n4", "n5"})
        # Shrink: whichever of n1 and n2 leads hands leadership over first.
        for name in ("n1", "n2"):
            assert raft(cluster, "n3", "RAFT.NODE", "REMOVE", name) == b"OK"
        wait_voters(cluster, "n3", {"n3", "n4", "n5"})
        done = workload.count("ok", writes=True)
        workload.wait_for(done + 20, writes=True)
        for name in ("n1", "n2"):
            with pytest.raises(redis.ResponseError, match=REMOVED):
                raft(cluster, name, "GET", "x")
        finish(workload, ["n3", "n4", "n5"], cluster)


def test_replace_a_dead_node(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 3, proxied=False) as cluster:
        cluster.start_all()
        leader = cluster.leader()
        dead, live = (name for name in cluster.names if name != leader)
        workload = Workload({leader: cluster.members[leader].port}, clients=4, seed=62).start()
        workload.wait_for(20, writes=True)
        cluster.kill(dead)
        # Removing the other follower too would leave one reachable voter of two.
        with pytest.raises(redis.ResponseError, match="fewer than a quorum"):
            raft(cluster, leader, "RAFT.NODE", "REMOVE", live)
        assert raft(cluster, live, "RAFT.NODE", "REMOVE", dead) == b"OK"
        cluster.join("n4", through=live)
        wait_voters(cluster, leader, {leader, live, "n4"})
        done = workload.count("ok", writes=True)
        workload.wait_for(done + 20, writes=True)
        finish(workload, [leader, live, "n4"], cluster)


def test_remove_the_leader_under_load(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 3, proxied=False) as cluster:
        cluster.start_all()
        leader = cluster.leader()
        rest = [name for name in cluster.names if name != leader]
        ports = {name: cluster.members[name].port for name in rest}
        workload = Workload(ports, clients=4, seed=63).start()
        workload.wait_for(20, writes=True)
        assert raft(cluster, rest[0], "RAFT.NODE", "REMOVE", leader) == b"OK"
        wait_voters(cluster, rest[0], set(rest))
        assert cluster.leader(exclude=[leader]) in rest
        done = workload.count("ok", writes=True)
        workload.wait_for(done + 20, writes=True)
        with pytest.raises(redis.ResponseError, match=REMOVED):
            raft(cluster, leader, "SET", "x", "y")
        finish(workload, rest, cluster)


def test_a_rolling_restart_keeps_writes_available(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 3, proxied=False) as cluster:
        cluster.start_all()
        cluster.leader()
        ports = {name: cluster.members[name].port for name in cluster.names}
        workload = Workload(ports, clients=6, seed=64).start()
        workload.wait_for(30, writes=True)
        for name in cluster.names:  # SIGTERM, then start again on the same data
            assert cluster.members[name].process.stop() == 0
            cluster.start(name)
            done = workload.count("ok", writes=True)
            workload.wait_for(done + 10, writes=True)
        records = sorted(
            (r for r in workload.records() if r.status == "ok" and r.kind != "get"),
            key=lambda r: r.complete,
        )
        gap = max(b.complete - a.complete for a, b in itertools.pairwise(records))
        print(f"\nrolling restart: longest time without a write acknowledged: {gap / 1e9:.3f} s")
        handed = sum(
            len(re.findall(r"handed leadership to", cluster.members[n].log.read_text()))
            for n in cluster.names
        )
        assert handed >= 1  # the leader's restart handed over instead of an election
        finish(workload, list(cluster.names), cluster)
