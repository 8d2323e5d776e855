"""The safety checks themselves: each accepts what Raft allows and rejects a violation."""

import pytest

from concord_resp.raft.core import Entry, EntryKind
from concord_resp.sim.invariants import Invariants, SafetyViolation, check_monotonic


def entry(index: int, term: int, data: bytes = b"") -> Entry:
    return Entry(index, term, EntryKind.NORMAL, data or b"%d/%d" % (index, term))


def test_one_leader_and_one_vote_per_term() -> None:
    checks = Invariants()
    checks.leader("a", 1)
    checks.leader("a", 1)
    checks.leader("b", 2)
    with pytest.raises(SafetyViolation, match="two leaders in term 2"):
        checks.leader("c", 2)
    checks.vote_granted("a", 3, "b")
    checks.vote_granted("a", 3, "b")  # a duplicate answer to the same candidate
    with pytest.raises(SafetyViolation, match="voted twice in term 3"):
        checks.vote_granted("a", 3, "c")


def test_log_matching() -> None:
    checks = Invariants()
    checks.appended("a", 0, [entry(1, 1), entry(2, 1)])
    checks.appended("b", 1, [entry(2, 1), entry(3, 2)])  # same (2, 1) and same history
    with pytest.raises(SafetyViolation, match="different data"):
        checks.appended("c", 1, [entry(2, 1, b"other")])
    with pytest.raises(SafetyViolation, match="different previous term"):
        checks.appended("c", 2, [entry(3, 2)])


def test_committed_entries_never_change() -> None:
    checks = Invariants()
    checks.committed_entries("a", 2, [entry(1, 1), entry(2, 2)])
    checks.committed_entries("b", 3, [entry(1, 1), entry(2, 2)])
    checks.committed_at("c", 2, 2)
    with pytest.raises(SafetyViolation, match="committed entry 2 changed"):
        checks.committed_entries("c", 4, [entry(2, 3)])
    with pytest.raises(SafetyViolation, match="committed entry 1 changed"):
        checks.committed_at("c", 1, 5)
    assert checks.committed[2].commit_term == 2


def test_leader_completeness() -> None:
    checks = Invariants()
    checks.committed_entries("a", 2, [entry(1, 1), entry(2, 2)])
    terms = {0: 0, 1: 1, 2: 2}
    checks.leader_complete("b", 3, lambda i: terms.get(i, 0), 1)
    # Committed in term 2: a leader of term 2 itself (elected late) need not have it.
    checks.leader_complete("c", 2, lambda i: 0, 1)
    with pytest.raises(SafetyViolation, match="leader completeness"):
        checks.leader_complete("c", 3, lambda i: {1: 1, 2: 1}.get(i, 0), 1)
    # Compacted away under the new leader's snapshot: nothing to compare.
    checks.leader_complete("d", 3, lambda i: 0, 4)


def test_state_machines_durable_terms_and_monotonic_indexes() -> None:
    checks = Invariants()
    checks.applied("a", 5, "x")
    checks.applied("b", 5, "x")
    with pytest.raises(SafetyViolation, match="state machines differ at applied index 5"):
        checks.applied("c", 5, "y")
    checks.durable_term("a", 3)
    checks.durable_term("a", 3)
    with pytest.raises(SafetyViolation, match="durable term went down"):
        checks.durable_term("a", 2)
    check_monotonic("a", "commit index", 3, 4)
    with pytest.raises(SafetyViolation, match="went back"):
        check_monotonic("a", "commit index", 4, 3)
