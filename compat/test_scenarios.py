"""Every scenario in compat/scenarios/ against a real redis-server and concord-server."""

from __future__ import annotations

from pathlib import Path

import pytest

from compat.harness import SCENARIOS, run_scenario
from tests.support.processes import ConcordProcess, RedisProcess

SCENARIO_FILES = sorted(SCENARIOS.glob("*.txt"))


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.stem)
def test_scenario_matches_redis(
    path: Path, redis_server: RedisProcess, concord_server: ConcordProcess
) -> None:
    mismatches = run_scenario(path, redis_server.port, concord_server.port)
    assert not mismatches, "\n".join(str(m) for m in mismatches)


def test_there_are_scenarios() -> None:
    assert SCENARIO_FILES
