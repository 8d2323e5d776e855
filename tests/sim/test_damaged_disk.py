"""A disk that loses acknowledged entries on one node must not lose a committed entry
cluster-wide: the node refuses to start (its log broke its promise, raft/core/promise.py),
and the operator replaces it. With the check switched off (`IGNORE_BROKEN_PROMISE`), the
same script does lose a committed entry: the damaged node helps elect a leader without it.

The script (3 voters, no random faults): B is cut off while the leader L and A commit
entries B never sees; A's disk then loses them and A restarts while L is down. A's vote is
all B needs to lead without those committed entries.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from concord_resp.sim import PROFILES, SafetyViolation, SimBug, SimConfig
from concord_resp.sim.cluster import Cluster
from concord_resp.sim.network import Partition
from concord_resp.sim.node import REFUSED, REMOVED, UP
from concord_resp.sim.sweep import sweep

QUIET = replace(
    PROFILES["calm"], name="calm", p_membership=0.0, p_transfer=0.0, p_drop=0.0, p_slow=0.0
)


def run_until(cluster: Cluster, done: object, limit: int = 3000) -> None:
    for _ in range(limit):
        if callable(done) and done():
            return
        cluster.step()
    raise AssertionError("the scripted cluster did not get there in time")


def damaged_disk_script(bugs: frozenset[SimBug]) -> tuple[Cluster, str, str, str, int]:
    """Runs the script up to A's restart; returns the cluster, L, A, B and the last entry
    committed before A's disk was damaged (which B never had)."""
    cluster = Cluster(SimConfig(seed=7, nodes=3, profile=QUIET, bugs=bugs))
    run_until(cluster, lambda: cluster._stable_leader() is not None)
    leader = cluster._stable_leader()
    assert leader is not None
    assert leader.rn is not None
    voters = [v for v in leader.rn.raft.voters if v != leader.id]
    a, b = voters
    cluster.network.partition = Partition("split", ((b,), tuple(sorted({leader.id, a, "n4"}))))
    cluster.nemesis.partition_until = 10**9  # (the nemesis would heal it at once)
    committed_before = leader.rn.raft.log.committed
    run_until(
        cluster,
        lambda: leader.rn is not None and leader.rn.raft.log.committed > committed_before + 10,
    )
    node_b = cluster.nodes[b]
    assert node_b.rn is not None
    b_last = node_b.rn.raft.log.last_index()
    committed = leader.rn.raft.log.committed
    assert committed > b_last  # entries only L and A (and the learner) hold
    node_a = cluster.nodes[a]
    node_a.crash()
    assert node_a.disk.lose_after(b_last) is not None  # A's disk loses them
    assert node_a.disk.promise.index >= committed  # ... which A had acknowledged
    leader.crash()
    cluster.network.partition = None
    for _ in range(30):  # what L had sent before it went down is delivered or lost
        cluster.step()
    node_a.start()
    return cluster, leader.id, a, b, committed


def test_a_node_whose_disk_lost_acknowledged_entries_refuses_and_nothing_committed_is_lost() -> (
    None
):
    cluster, leader, a, b, committed = damaged_disk_script(frozenset())
    assert cluster.nodes[a].status == REFUSED
    # B alone is no majority: no leader, nothing lost. L comes back and leads with B.
    for _ in range(200):
        cluster.step()
    assert cluster.leader() is None
    cluster.nodes[leader].start()
    run_until(cluster, lambda: cluster._stable_leader() is not None)
    new = cluster._stable_leader()
    assert new is not None
    assert new.rn is not None
    assert new.rn.raft.log.last_index() >= committed
    # The operator removes A (the nemesis does it for a node that refused).
    run_until(cluster, lambda: cluster.nodes[a].status == REMOVED, limit=1000)
    assert cluster.nodes[b].status == UP


def test_without_the_check_the_same_damage_loses_a_committed_entry() -> None:
    cluster, _, a, _, _ = damaged_disk_script(frozenset({SimBug.IGNORE_BROKEN_PROMISE}))
    assert cluster.nodes[a].status == UP  # started on what was left
    with pytest.raises(SafetyViolation, match=r"leader completeness: n\d leads term \d+ without"):
        run_until(cluster, lambda: False, limit=500)


def test_the_sweep_with_damaged_disks_finds_nothing_and_replaces_refusing_nodes() -> None:
    configs = [SimConfig.for_seed(seed, profile="damage") for seed in range(16)]
    report = sweep(configs, jobs=2)
    assert not report.failures, "\n".join(o.summary for o in report.failures)
    assert report.total("damaged") >= 10
    assert report.total("refused") >= 10


def test_the_promise_on_the_simulated_disk_never_runs_ahead_of_a_crash() -> None:
    """A crash between the fsync and the promise (or anywhere else) never reads as damage:
    the persist profile crashes nodes around their fsyncs; no node ever refuses."""
    configs = [
        SimConfig.for_seed(seed, profile=name) for seed in range(4) for name in ("persist", "vote")
    ]
    report = sweep(configs, jobs=2)
    assert not report.failures
    assert report.total("crashes") > 50
    assert report.total("refused") == 0
