"""The CI sweep: a few hundred seeds with every bug switch off must find nothing.

Seeds cycle through every fault profile (the bug hunts' included) and both cluster sizes.
`scripts/sim --seeds N` runs longer sweeps the same way.
"""

import os

import pytest

from concord_resp.sim import PROFILES, SimConfig
from concord_resp.sim.sweep import main, sweep

CI_SEEDS = 400


def test_ci_sweep_finds_nothing_with_all_switches_off(capsys: pytest.CaptureFixture[str]) -> None:
    configs = [SimConfig.for_seed(seed) for seed in range(CI_SEEDS)]
    assert {c.profile.name for c in configs} == set(PROFILES)
    assert {c.nodes for c in configs} == {3, 5}
    report = sweep(configs, jobs=min(2, os.cpu_count() or 1))
    with capsys.disabled():
        print(f"\nCI sweep: {report.summary()}")
    assert len(report.outcomes) == CI_SEEDS
    assert not report.failures, "\n".join(o.summary for o in report.failures)
    assert not report.unknown, "\n".join(o.summary for o in report.unknown)
    # Compaction and InstallSnapshot are part of what the sweep exercises.
    assert report.total("node_compactions") > 1000
    assert report.total("node_snapshots_in") > 100
    # So are membership changes, during partitions and crashes.
    assert report.total("conf_changes") > 100
    assert report.total("partitions") > 100
    assert report.total("crashes") > 100


def test_the_sweep_command_reports_failing_seeds_with_their_replay_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--seeds", "2", "--start", "5", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 seeds, 0 failing, 0 unknown" in out
    assert "steps/s" in out
    assert main(["--seeds", "1", "--bug", "TRUNCATE_ON_MATCH", "--jobs", "1"]) == 1
    out = capsys.readouterr().out
    assert "seed 0: FAIL" in out
    assert "replay: python -m concord_resp.sim --seed 0" in out
    assert "--bug TRUNCATE_ON_MATCH --trace" in out
    assert "failing seeds: 0" in out
