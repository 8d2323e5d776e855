"""A 3-node cluster of real concord-server processes, as clients and operators see it.

Any node serves any command; INFO raft tells the same story on every node; READONLY trades
linearizability for local reads and READWRITE takes it back; a node cut off from the others
answers the errors of DESIGN.md section 8 and serves again once healed; a node refuses peers
of another cluster and says so in its log. Faults and checked histories are in
test_cluster_faults.py.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.support.cluster import LocalCluster
from tests.support.processes import ConcordProcess, free_port

NODE_ERRORS = ("TIMEOUT no quorum for read", "CLUSTERDOWN No raft leader")


def error_of(call: Callable[[], object]) -> str:
    """The error reply `call` got, as the server sent it (redis-py strips CLUSTERDOWN)."""
    try:
        result = call()
    except redis.exceptions.ClusterDownError as error:
        return f"CLUSTERDOWN {error}"
    except redis.ResponseError as error:
        return str(error)
    raise AssertionError(f"expected an error reply, got {result!r}")


def follower_of(cluster: LocalCluster, leader: str) -> str:
    return next(name for name in cluster.names if name != leader)


def test_every_node_serves_reads_and_writes(concord_cluster: LocalCluster) -> None:
    clients = {name: concord_cluster.client(name) for name in concord_cluster.names}
    try:
        for step in range(30):  # each write on one node, read back at once on every node
            writer = concord_cluster.names[step % 3]
            assert clients[writer].set(f"every:{step}", step) is True
            for name, client in clients.items():
                assert client.get(f"every:{step}") == b"%d" % step, (writer, name)
        assert clients["n1"].incr("every:counter") == 1
        assert clients["n2"].incr("every:counter") == 2
        assert clients["n3"].incrby("every:counter", 10) == 12
        transaction = clients["n2"].pipeline(transaction=True)
        transaction.incr("every:counter").get("every:counter")
        assert transaction.execute() == [13, b"13"]
    finally:
        for client in clients.values():
            client.close()


def test_watch_on_one_node_sees_a_write_made_on_another(concord_cluster: LocalCluster) -> None:
    first, second = concord_cluster.client("n1"), concord_cluster.client("n3")
    try:
        first.set("watched", "a")
        with first.pipeline(transaction=True) as pipe:
            pipe.watch("watched")
            second.set("watched", "b")  # through another node, after the WATCH
            pipe.multi()
            pipe.set("watched", "c")
            with pytest.raises(redis.WatchError):
                pipe.execute()
        assert second.get("watched") == b"b"
    finally:
        first.close()
        second.close()


def test_info_raft_agrees_across_nodes(concord_cluster: LocalCluster) -> None:
    leader = concord_cluster.leader()
    client = concord_cluster.client(leader)
    client.set("info:k", "v")  # something committed, so the indexes below are past the no-op
    client.close()
    infos = {name: concord_cluster.raft_info(name) for name in concord_cluster.names}
    for name, info in infos.items():
        assert info["raft_node"] == name
        assert info["raft_leader"] == leader
        assert info["raft_role"] == ("leader" if name == leader else "follower")
        assert info["raft_voters"] == "n1,n2,n3"
        for member in concord_cluster.members.values():
            line = info[f"member_{member.name}"]
            assert line.startswith(f"address=127.0.0.1:{member.port}@{member.cluster_port},")
            assert ",voter=1," in line
    assert len({info["raft_term"] for info in infos.values()}) == 1
    lead = infos[leader]
    assert int(lead["raft_commit_index"]) >= 2
    for name in concord_cluster.names:  # the leader knows how far each member's log matches
        match = lead[f"member_{name}"].split("match=")[1].split(",")[0]
        assert int(match) >= 1
    full = concord_cluster.client(leader).execute_command("INFO", "everything")
    assert full["raft_leader"] == leader


def test_concord_tool_works_against_any_node(concord_cluster: LocalCluster) -> None:
    for member in concord_cluster.members.values():
        command = [sys.executable, "-c", "from concord_resp.cli import tool_main; tool_main()"]
        ping = subprocess.run(
            [*command, "-p", str(member.port), "ping"], capture_output=True, text=True, timeout=30
        )
        assert (ping.returncode, ping.stdout) == (0, "PONG\n")
        info = subprocess.run(
            [*command, "-p", str(member.port), "info", "raft"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert info.returncode == 0
        assert f"raft_node:{member.name}\n" in info.stdout


def wait_for(predicate: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


def test_a_cut_off_node_answers_errors_readonly_reads_locally(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 3) as cluster:
        leader = cluster.leader()
        lonely = follower_of(cluster, leader)
        writer, reader = cluster.client(leader), cluster.client(lonely)
        stale = cluster.client(lonely)
        try:
            assert writer.set("k", "old") is True
            assert reader.get("k") == b"old"
            assert stale.execute_command("READONLY") is True
            assert cluster.proxy is not None
            cluster.proxy.isolate(lonely)
            assert writer.set("k", "new") is True  # the majority goes on
            # The cut-off node serves no linearizable read, and no write...
            assert error_of(lambda: reader.get("k")) in NODE_ERRORS
            assert error_of(lambda: reader.set("k", "lonely")) in (
                "TIMEOUT not committed yet",
                "CLUSTERDOWN No raft leader",
            )
            # ...but a READONLY connection reads its local, stale state.
            assert stale.get("k") == b"old"
            assert stale.execute_command("READWRITE") is True
            assert error_of(lambda: stale.get("k")) in NODE_ERRORS
            # Once it has given up on the old leader it says so at once.
            wait_for(lambda: cluster.raft_info(lonely)["raft_leader"] == "none")
            assert error_of(lambda: reader.set("k", "x")) == "CLUSTERDOWN No raft leader"
            cluster.proxy.heal()
            wait_for(lambda: cluster.raft_info(lonely)["raft_leader"] != "none")
            assert reader.get("k") == b"new"
            assert writer.get("k") == b"new"  # the write it could not confirm never landed
        finally:
            for client in (writer, reader, stale):
                client.close()


def test_the_minority_side_errors_and_the_majority_serves(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 3) as cluster:
        leader = cluster.leader()
        others = [n for n in cluster.names if n != leader]
        assert cluster.proxy is not None
        cluster.proxy.partition([leader], others)  # the old leader is the minority
        new_leader = cluster.leader(exclude=[leader])
        majority, minority = cluster.client(new_leader), cluster.client(leader)
        try:
            assert majority.set("split", "majority") is True
            assert error_of(lambda: minority.get("split")) in NODE_ERRORS
            assert error_of(lambda: minority.set("split", "minority")) in (
                "TIMEOUT not committed yet",
                "CLUSTERDOWN No raft leader",
            )
            cluster.proxy.heal()
            wait_for(lambda: cluster.raft_info(leader)["raft_leader"] == new_leader)
            assert minority.get("split") == b"majority"
        finally:
            majority.close()
            minority.close()


def test_a_node_refuses_peers_of_another_cluster(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 3, proxied=False) as cluster:
        target = cluster.members["n1"]
        # A stray node that believes it founded another cluster with n1's address in it.
        port = free_port()
        stray = ConcordProcess(
            tmp_path / "stray",
            "--name",
            "x1",
            "--cluster-port",
            str(free_port()),
            "--initial-cluster",
            f"x1=127.0.0.1:{port}@{free_port()},n1=127.0.0.1:{target.port}@{target.cluster_port}",
            port=port,
        )
        stray.start(wait=False)
        try:
            wait_for(lambda: "refused peer link" in target.process.output())
            refusal = next(
                line for line in target.process.output().splitlines() if "refused peer" in line
            )
            assert "cluster id mismatch" in refusal
            assert "'x1'" in refusal
            assert cluster.leader()  # the cluster itself is unharmed
        finally:
            stray.kill()


def test_every_node_has_the_same_digest(concord_cluster: LocalCluster) -> None:
    clients = {name: concord_cluster.client(name) for name in concord_cluster.names}
    try:
        for step in range(60):  # writes through every node, expiring keys and transactions too
            client = clients[concord_cluster.names[step % 3]]
            client.set(f"digest:{step}", step, px=10_000_000 if step % 4 == 0 else None)
            client.append(f"digest:log:{step % 5}", f"{step};")
        pipe = clients["n2"].pipeline(transaction=True)
        pipe.incr("digest:counter").delete("digest:0")
        pipe.execute()
        digests = {name: c.execute_command("DEBUG", "DIGEST") for name, c in clients.items()}
        assert len(set(digests.values())) == 1, digests
        assert digests["n1"] not in (b"0" * 40, "0" * 40)
        keys = ["digest:1", "digest:4", "digest:log:3", "digest:0"]
        values = {
            name: c.execute_command("DEBUG", "DIGEST-VALUE", *keys) for name, c in clients.items()
        }
        assert len({tuple(v) for v in values.values()}) == 1, values
        assert values["n1"][-1] == b"0" * 40  # deleted
    finally:
        for client in clients.values():
            client.close()


def test_the_encoding_thresholds_are_the_same_on_every_node(
    concord_cluster: LocalCluster,
) -> None:
    # Replicated state, not node configuration: a CONFIG SET on one node is a log entry,
    # and a CONFIG GET of it is a linearizable read on any other.
    leader = concord_cluster.leader()
    follower = follower_of(concord_cluster, leader)
    clients = {name: concord_cluster.client(name) for name in concord_cluster.names}
    try:
        assert clients[follower].config_set("zset-max-listpack-entries", 17) is True
        for client in clients.values():
            assert client.config_get("zset-max-*-entries") == {
                "zset-max-listpack-entries": "17",
                "zset-max-ziplist-entries": "17",
            }
        # Mixed with a parameter of this node's own: all or nothing, the node's part local.
        assert clients[leader].config_set("zset-max-listpack-entries", 128, "hz", 11) is True
        assert clients[follower].config_get("zset-max-listpack-entries") == {
            "zset-max-listpack-entries": "128"
        }
        assert clients[leader].config_get("hz") == {"hz": "11"}
        assert clients[follower].config_get("hz") == {"hz": "10"}
        assert clients[leader].config_set("hz", 10) is True
        with clients[follower].pipeline(transaction=True) as pipe:
            pipe.config_set("set-max-intset-entries", 3)
            (refused,) = pipe.execute(raise_on_error=False)
        assert "not allowed inside a transaction" in str(refused)
        assert clients[leader].config_get("set-max-intset-entries") == {
            "set-max-intset-entries": "512"
        }
    finally:
        for client in clients.values():
            client.close()
