"""The simulator has teeth: with a known Raft bug switched back on, a short sweep finds it.

Each bug is hunted with the fault mix it needs (`BUG_PROFILES`): figure 8 needs leaders cut
off right after their election; stale reads need an old leader cut off and paused while
clients still talk to it; votes and acknowledgements sent before they are durable need
crashes between the write and the fsync; truncating on a matching append needs reordered
and duplicated appends; applying a retry twice needs clients that retry quickly; starting
a node whose disk lost acknowledged entries needs damaged disks; a promise made before its
fsync needs crashes between the write and the fsync.
"""

import os

import pytest

from concord_resp.sim import BUG_PROFILES, SimBug, SimConfig
from concord_resp.sim.sweep import sweep

SEEDS = 8  # each bug must be found in most of these seeds (typically all, see the report)
MIN_FOUND = 5

# How each bug shows: "safety" (an invariant checked every step), "core" (the core's own
# RaftInvariantError: e.g. a follower told to commit entries it lost) or "linearizability".
EXPECTED = {
    SimBug.COMMIT_PREVIOUS_TERM: {"safety"},
    SimBug.READ_WITHOUT_QUORUM: {"linearizability"},
    SimBug.VOTE_BEFORE_PERSIST: {"safety"},
    SimBug.ACK_BEFORE_PERSIST: {"safety", "core"},
    SimBug.TRUNCATE_ON_MATCH: {"safety", "core"},
    SimBug.APPLY_RETRY_TWICE: {"linearizability"},
    # A damaged node started anyway: a leader tells it to commit entries it lost ("core"),
    # or it helps elect a leader without them ("safety"; tests/sim/test_damaged_disk.py).
    SimBug.IGNORE_BROKEN_PROMISE: {"safety", "core", "linearizability"},
    # A promise made before the fsync: a crash reads as a damaged disk (a false alarm).
    SimBug.PROMISE_BEFORE_FSYNC: {"safety"},
}


@pytest.mark.parametrize("bug", list(SimBug), ids=lambda bug: bug.value)
def test_the_sweep_finds_each_bug(bug: SimBug, capsys: pytest.CaptureFixture[str]) -> None:
    configs = [SimConfig.for_seed(seed, bug=bug) for seed in range(SEEDS)]
    report = sweep(configs, jobs=min(2, os.cpu_count() or 1))
    found = report.failures
    with capsys.disabled():
        first = found[0] if found else None
        print(
            f"\n{bug.value} (profile {BUG_PROFILES[bug]}): found by {len(found)} of {SEEDS} seeds"
            + (
                f"; seed {first.seed}: {first.failure}: {first.detail.splitlines()[0]}"
                if first
                else ""
            )
        )
    assert len(found) >= MIN_FOUND, f"{bug.value} went unnoticed by {SEEDS - len(found)} seeds"
    for outcome in found:
        assert outcome.failure in EXPECTED[bug], outcome.summary
        assert "--bug " + bug.value in outcome.replay
