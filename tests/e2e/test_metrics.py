"""`/metrics` on a 3-node cluster of real processes under a write load, and across the
kill -9 of its leader: the consensus metrics are there on every node, agree with INFO, and
move as they should (a new leader seen, the term up, a leader known again)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.cluster import HOST, LocalCluster, reserved_ports

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")
Samples = dict[str, float]  # `name{labels}` -> value


def scrape(port: int) -> Samples:
    """GET /metrics and parse every sample line (raises if one does not parse)."""
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    samples: Samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, line
        samples[match[1] + (match[2] or "")] = float(match[3])
    return samples


def histogram_count(samples: Samples, name: str) -> float:
    return samples[f"{name}_count"]


@pytest.fixture
def metered(tmp_path: Path) -> Iterator[tuple[LocalCluster, dict[str, int]]]:
    cluster = LocalCluster(tmp_path, 3)
    ports = dict(zip(cluster.names, reserved_ports(3), strict=True))
    for name, member in cluster.members.items():
        member.process.args += ["--metrics-port", str(ports[name])]
    with cluster:
        yield cluster, ports


class Load:
    """Writes through every live node in a thread until stopped (errors while the leader
    is gone are expected and counted)."""

    def __init__(self, cluster: LocalCluster, names: list[str]) -> None:
        self.clients = {name: cluster.client(name, timeout=3) for name in names}
        self.written = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 60  # bounded whatever the test does
        step = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            for client in self.clients.values():
                try:
                    client.set(f"load:{step % 500}", step)
                    client.get(f"load:{step % 500}")  # a linearizable read: ReadIndex
                    self.written += 1
                except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                    self.errors += 1  # (no leader for a moment: expected)
                step += 1

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for client in self.clients.values():
            client.close()


def wait_for(condition: object, what: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if condition():  # type: ignore[operator]
                return
        except (urllib.error.URLError, ConnectionError, KeyError):
            pass  # not up yet, or the metric not there yet
        time.sleep(0.1)
    raise AssertionError(f"not within {within} s: {what}")


def test_metrics_are_present_and_move_when_the_leader_is_killed(
    metered: tuple[LocalCluster, dict[str, int]],
) -> None:
    cluster, ports = metered
    leader = cluster.leader()
    followers = [name for name in cluster.names if name != leader]
    with Load(cluster, cluster.names) as load:
        wait_for(lambda: load.written >= 300, "300 writes under load")
        before = {name: scrape(port) for name, port in ports.items()}

    for name, samples in before.items():
        assert samples["concord_server_has_leader"] == 1, name
        assert samples["concord_server_is_leader"] == (name == leader), name
        assert samples["concord_server_leader_changes_seen_total"] >= 1, name
        assert samples["concord_cluster_members"] == 3, name
        assert samples["concord_cluster_voters"] == 3, name
        assert samples["concord_server_apply_lag"] >= 0, name
        assert histogram_count(samples, "concord_disk_wal_fsync_duration_seconds") > 0, name
        sets = samples['concord_commands_total{command="set"}']
        assert sets > 0, name
        # Its latency histogram counts the same commands (INFO latencystats').
        assert samples['concord_command_duration_seconds_count{command="set"}'] == sets, name
        assert samples['concord_command_duration_seconds_bucket{command="set",le="+Inf"}'] == sets
        for peer in cluster.names:
            if peer != name:
                assert f'concord_network_peer_reachable{{peer="{peer}"}}' in samples, name
    assert histogram_count(before[leader], "concord_server_commit_duration_seconds") > 0
    # 300 writes: past --snapshot-entries 200 on every node.
    for name, samples in before.items():
        taken = samples["concord_server_snapshots_taken_total"]
        assert taken >= 1, name
        assert histogram_count(samples, "concord_server_snapshot_save_duration_seconds") == taken
        assert "[event=snapshot_taken index=" in cluster.members[name].process.output()
    rtt = f'concord_network_peer_round_trip_time_seconds_count{{peer="{followers[0]}"}}'
    assert before[leader][rtt] > 0
    for name in followers:
        assert histogram_count(before[name], "concord_server_read_index_duration_seconds") > 0
    # The same counters as INFO raft (read just after: nothing changes them without load).
    for name in cluster.names:
        info = cluster.raft_info(name)
        samples = scrape(ports[name])
        assert (
            int(info["raft_leader_changes"]) == samples["concord_server_leader_changes_seen_total"]
        )
        assert int(info["raft_term"]) == samples["concord_server_term"]
        assert int(info["raft_commit_index"]) == samples["concord_server_proposals_committed_total"]

    with Load(cluster, followers) as load:
        cluster.kill(leader)
        successor = cluster.leader(exclude=[leader])

        def moved(name: str) -> bool:
            now, then = scrape(ports[name]), before[name]
            return (
                now["concord_server_has_leader"] == 1
                and now["concord_server_is_leader"] == (name == successor)
                and now["concord_server_leader_changes_seen_total"]
                > then["concord_server_leader_changes_seen_total"]
                and now["concord_server_term"] > then["concord_server_term"]
                and now[f'concord_network_peer_reachable{{peer="{leader}"}}'] == 0
            )

        for name in followers:
            wait_for(lambda name=name: moved(name), f"{name}'s metrics after the kill")
        written = load.written
        wait_for(lambda: load.written >= written + 50, "writes after the new leader")
        after = scrape(ports[successor])
    assert histogram_count(after, "concord_server_commit_duration_seconds") > 0
    # The telemetry events are in the survivors' logs.
    for name in followers:
        log = cluster.members[name].process.output()
        assert f"[event=leader_changed leader={successor} " in log, name


def test_a_metrics_port_in_use_stops_start_up_with_a_clear_error(tmp_path: Path) -> None:
    port, metrics_port = reserved_ports(2)
    with socket.socket() as taken:
        taken.bind((HOST, metrics_port))
        taken.listen()
        result = subprocess.run(
            [
                *(sys.executable, "-m", "concord_resp", "--port", str(port)),
                *("--dir", str(tmp_path), "--metrics-port", str(metrics_port)),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on {HOST}:{metrics_port}: Address already in use" in (
        result.stdout + result.stderr
    )
