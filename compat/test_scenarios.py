"""Every scenario in compat/scenarios/ against a real redis-server and concord-server: a
single node, and a follower of a 3-node cluster (its writes are forwarded to the leader and
its reads go through ReadIndex, so clients must not be able to tell the difference)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compat.harness import SCENARIOS, run_scenario
from tests.support.cluster import LocalCluster
from tests.support.processes import ConcordProcess, RedisProcess

SCENARIO_FILES = sorted(SCENARIOS.glob("*.txt"))


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.stem)
def test_scenario_matches_redis(
    path: Path, redis_server: RedisProcess, concord_server: ConcordProcess
) -> None:
    mismatches = run_scenario(path, redis_server.port, concord_server.port)
    assert not mismatches, "\n".join(str(m) for m in mismatches)


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.stem)
def test_scenario_matches_redis_on_a_cluster_follower(
    path: Path, redis_server: RedisProcess, concord_cluster: LocalCluster
) -> None:
    leader = concord_cluster.leader()
    follower = next(name for name in concord_cluster.names if name != leader)
    mismatches = run_scenario(path, redis_server.port, concord_cluster.ports[follower])
    assert not mismatches, "\n".join(str(m) for m in mismatches)


def test_there_are_scenarios() -> None:
    assert SCENARIO_FILES
