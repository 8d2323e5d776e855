"""Operating a live cluster of real processes: RAFT.NODES and RAFT.TRANSFER_LEADER on every
node, a leader that hands over leadership when it gets SIGTERM, and the `concord` tool's
status, members, join, remove, transfer-leader and snapshot commands (tables, --json, exit
codes). Membership changes under load are in test_membership.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.support.cluster import LocalCluster

TOOL = (sys.executable, "-c", "from concord_resp.cli import tool_main; tool_main()")


def concord(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TOOL, "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextmanager
def three_nodes(directory: Path) -> Iterator[tuple[LocalCluster, str]]:
    """A running 3-node cluster and its leader."""
    with LocalCluster(directory, 3, proxied=False) as cluster:
        cluster.start_all()
        yield cluster, cluster.leader()


def nodes(client: redis.Redis) -> list[dict[bytes, object]]:
    reply = client.execute_command("RAFT.NODES")
    assert isinstance(reply, list)
    # redis-py turns each flat field/value array into a dict already under RESP3 only.
    return [e if isinstance(e, dict) else dict(zip(e[::2], e[1::2], strict=True)) for e in reply]


def test_every_node_answers_raft_nodes_and_transfer_leader(tmp_path: Path) -> None:
    with three_nodes(tmp_path) as (cluster, leader):
        for name in cluster.names:
            client = cluster.client(name)
            rows = nodes(client)
            assert [row[b"name"] for row in rows] == [b"n1", b"n2", b"n3"]
            roles = {row[b"name"].decode(): row[b"role"] for row in rows}  # type: ignore[union-attr]
            assert roles[leader] == b"leader"
            assert all(row[b"voter"] == 1 and row[b"reachable"] == 1 for row in rows)
            client.close()
        follower = next(name for name in cluster.names if name != leader)
        other = next(name for name in cluster.names if name not in (leader, follower))
        client = cluster.client(follower)
        assert client.execute_command("RAFT.TRANSFER_LEADER", other) == b"OK"
        assert cluster.leader() == other
        assert client.execute_command("RAFT.TRANSFER_LEADER") == b"OK"  # the leader picks
        assert cluster.leader() != other
        for bad, error in (
            (["RAFT.TRANSFER_LEADER", "nosuch"], "no voter named 'nosuch'"),
            (["RAFT.TRANSFER_LEADER", "a", "b"], "syntax error"),
            (["RAFT.NODES", "x"], "wrong number of arguments for 'raft.nodes' command"),
        ):
            with pytest.raises(redis.ResponseError, match=re.escape(error)):
                client.execute_command(*bad)
        assert client.set("still", "serving")
        client.close()


def test_sigterm_on_the_leader_hands_over_leadership_first(tmp_path: Path) -> None:
    with three_nodes(tmp_path) as (cluster, leader):
        term = int(cluster.raft_info(leader)["raft_term"])
        assert cluster.members[leader].process.stop() == 0
        new = cluster.leader(exclude=[leader])
        log = cluster.members[leader].log.read_text()
        assert f"handed leadership to {new} before shutting down" in log
        # Handed over, not elected after a timeout: exactly one new term, no failed rounds.
        assert int(cluster.raft_info(new)["raft_term"]) == term + 1
        client = cluster.client(new)
        assert client.set("after", "handover")
        client.close()


def test_the_concord_tool_reports_and_operates_the_cluster(tmp_path: Path) -> None:
    with three_nodes(tmp_path) as (cluster, leader):
        follower = next(name for name in cluster.names if name != leader)
        port = cluster.members[follower].port

        result = concord(port, "status")
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1].startswith(
            f"OK: leader {leader}, 3/3 voters reachable (quorum 2)"
        )
        assert result.stdout.splitlines()[0].split() == [
            "NAME", "ADDRESS", "ROLE", "VOTER", "TERM", "COMMIT", "APPLIED", "LAG",
            "LAST-CONTACT-MS", "HEALTH",
        ]  # fmt: skip
        members = json.loads(concord(port, "members", "--json").stdout)
        assert [m["name"] for m in members] == ["n1", "n2", "n3"]
        assert {m["role"] for m in members} == {"leader", "follower"}

        result = concord(port, "transfer-leader", follower, "--json")
        assert result.returncode == 0
        assert json.loads(result.stdout) == {"leader": follower}
        result = concord(port, "transfer-leader", "nosuch")
        assert result.returncode == 1
        assert "no voter named 'nosuch'" in result.stderr
        result = concord(port, "snapshot")
        assert result.returncode == 0
        assert result.stdout.startswith("snapshot written at index")

        # A member added at an address nobody answers at stays a learner (never promoted
        # while the leader cannot reach it) until it is removed again.
        result = concord(port, "join", "n9", "127.0.0.1:1@2")
        assert result.returncode == 0, result.stderr
        time.sleep(1.5)  # three election timeouts: a reachable learner would be promoted
        rows = {m["name"]: m for m in json.loads(concord(port, "members", "--json").stdout)}
        assert (rows["n9"]["role"], rows["n9"]["voter"], rows["n9"]["reachable"]) == (
            "learner", 0, 0
        )  # fmt: skip
        assert concord(port, "status").returncode == 1  # a member is not healthy
        result = concord(port, "remove", "n9", "--json")
        assert result.returncode == 0
        assert json.loads(result.stdout) == {"removed": "n9"}
        result = concord(port, "remove", "nosuch")
        assert result.returncode == 1
        assert "no member named 'nosuch'" in result.stderr
        assert concord(port, "status").returncode == 0

        down = next(name for name in cluster.names if name != follower)
        cluster.kill(down)
        cluster.leader()  # the two left agree on one
        result = concord(port, "status", "--json")
        report = json.loads(result.stdout)
        assert result.returncode == 1
        assert report["healthy"] is False
        assert report["verdict"].startswith(f"DEGRADED: {down} not healthy")
        assert {row["name"]: row["health"] for row in report["nodes"]}[down] == "down"

        cluster.kill(next(name for name in cluster.names if name not in (follower, down)))
        result = concord(port, "status")
        assert result.returncode == 1
        assert result.stdout.splitlines()[-1].startswith("UNAVAILABLE")
