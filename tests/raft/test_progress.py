"""Progress (probe / replicate / snapshot flow control), the in-flight window and the quorum
arithmetic."""

from __future__ import annotations

import pytest

from concord_resp.raft.core.progress import (
    Inflights,
    Progress,
    ProgressState,
    VoteResult,
    committed_index,
    quorum,
    vote_result,
)


def replicating(match: int, next_index: int, capacity: int = 4) -> Progress:
    progress = Progress(next_index, capacity)
    progress.match = match
    progress.become_replicate()
    progress.next = next_index
    return progress


# -- Inflights ------------------------------------------------------------------------------


def test_inflights_fill_up_and_free_in_order() -> None:
    window = Inflights(3)
    for index in (5, 7, 9):
        window.add(index)
    assert window.full()
    with pytest.raises(AssertionError):
        window.add(10)
    window.free_le(7)
    assert window.count() == 1
    assert not window.full()
    window.free_le(6)  # nothing at or below 6 left
    assert window.count() == 1
    window.free_first_one()
    assert window.count() == 0
    window.free_first_one()  # freeing an empty window is harmless
    window.add(11)
    window.reset()
    assert window.count() == 0


# -- state machine ----------------------------------------------------------------------------


def test_a_new_progress_probes() -> None:
    progress = Progress(6, 4)
    assert (progress.state, progress.match, progress.next) == (ProgressState.PROBE, 0, 6)
    assert not progress.is_paused()


def test_probe_sends_one_append_at_a_time() -> None:
    progress = Progress(6, 4)
    progress.sent_entries(8)
    assert progress.is_paused()
    assert progress.next == 6  # probing does not move next optimistically
    assert progress.maybe_update(8)
    assert not progress.is_paused()
    assert (progress.match, progress.next) == (8, 9)


def test_replicate_pipelines_up_to_the_window() -> None:
    progress = replicating(5, 6, capacity=2)
    progress.sent_entries(7)
    progress.sent_entries(9)
    assert progress.next == 10
    assert progress.is_paused()  # window full
    progress.sent_entries(None)  # an empty append takes no slot
    assert progress.inflights.count() == 2
    assert progress.maybe_update(7)
    progress.inflights.free_le(7)
    assert not progress.is_paused()


def test_maybe_update_ignores_stale_acknowledgements() -> None:
    progress = replicating(5, 8)
    assert not progress.maybe_update(4)
    assert (progress.match, progress.next) == (5, 8)
    assert progress.maybe_update(9)
    assert (progress.match, progress.next) == (9, 10)


def test_become_probe_restarts_after_the_match() -> None:
    progress = replicating(5, 9)
    progress.sent_entries(9)
    progress.become_probe()
    assert (progress.state, progress.next, progress.inflights.count()) == (
        ProgressState.PROBE,
        6,
        0,
    )


def test_snapshot_state_pauses_until_it_ends() -> None:
    progress = Progress(3, 4)
    progress.become_snapshot(20)
    assert progress.is_paused()
    assert progress.pending_snapshot == 20
    # Leaving it (e.g. the snapshot was reported sent) probes after the snapshot.
    progress.become_probe()
    assert (progress.state, progress.next, progress.pending_snapshot) == (
        ProgressState.PROBE,
        21,
        0,
    )


def test_become_replicate_resumes_after_the_match() -> None:
    progress = Progress(3, 4)
    progress.match = 10
    progress.become_replicate()
    assert (progress.state, progress.next) == (ProgressState.REPLICATE, 11)


def test_maybe_decrease_to_in_replicate_ignores_stale_rejections() -> None:
    progress = replicating(5, 9)
    assert not progress.maybe_decrease_to(4, 0)  # rejected at or below the match: stale
    assert progress.next == 9
    assert progress.maybe_decrease_to(7, 2)
    assert progress.next == 6  # back to just after the match


def test_maybe_decrease_to_in_probe_follows_the_hint() -> None:
    progress = Progress(10, 4)
    progress.sent_entries(None)
    assert not progress.maybe_decrease_to(5, 2)  # not the append we are waiting for
    assert progress.maybe_decrease_to(9, 3)
    assert progress.next == 4
    assert not progress.is_paused()
    progress.next = 4
    assert progress.maybe_decrease_to(3, 7)  # a hint past the rejected index is capped
    assert progress.next == 3
    progress.next = 1
    assert progress.maybe_decrease_to(0, 0)
    assert progress.next == 1  # never below 1


# -- quorum ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("voters", "size"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)])
def test_quorum(voters: int, size: int) -> None:
    assert quorum(voters) == size


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        ({"1": 5, "2": 5, "3": 5}, 5),
        ({"1": 9, "2": 5, "3": 1}, 5),
        ({"1": 9, "2": 1, "3": 1}, 1),
        ({"1": 9}, 0),  # the others have acknowledged nothing
    ],
)
def test_committed_index_of_three_voters(match: dict[str, int], expected: int) -> None:
    assert committed_index(("1", "2", "3"), match) == expected


def test_committed_index_of_four_voters_needs_three() -> None:
    assert committed_index(("1", "2", "3", "4"), {"1": 9, "2": 8, "3": 2, "4": 1}) == 2


def test_committed_index_ignores_learners() -> None:
    match = {"1": 9, "2": 1, "3": 1, "4": 9, "5": 9}  # 4 and 5 are learners
    assert committed_index(("1", "2", "3"), match) == 1
    assert committed_index((), match) == 0


def test_vote_result() -> None:
    voters = ("1", "2", "3")
    assert vote_result(voters, {"1": True}) == VoteResult.PENDING
    assert vote_result(voters, {"1": True, "2": True}) == VoteResult.WON
    assert vote_result(voters, {"1": True, "2": False}) == VoteResult.PENDING
    assert vote_result(voters, {"1": True, "2": False, "3": False}) == VoteResult.LOST
    assert vote_result(voters, {"1": True, "4": True}) == VoteResult.PENDING  # 4 is no voter
    assert vote_result(("1", "2", "3", "4"), {"1": True, "2": True}) == VoteResult.PENDING
