"""RaftLog: appending with truncation only at a real conflict, conflict search (including the
fast backtracking by term), reads across storage and the unstable tail, snapshots, and what
may be applied (committed and durable only)."""

from __future__ import annotations

import pytest

from concord_resp.raft.core import (
    Compacted,
    ConfState,
    Entry,
    EntryKind,
    MemoryStorage,
    RaftInvariantError,
    RaftLog,
    Snapshot,
    SnapshotMeta,
)

CONF = ConfState(("1", "2", "3"))


def entry(index: int, term: int, data: bytes = b"") -> Entry:
    return Entry(index, term, EntryKind.NORMAL, data)


def entries(*terms: int, start: int = 1) -> list[Entry]:
    """Entries with consecutive indexes from `start`, of the given terms."""
    return [entry(start + offset, term) for offset, term in enumerate(terms)]


def stable_log(*terms: int) -> RaftLog:
    """A log whose entries (index 1.., of `terms`) are all durable."""
    storage = MemoryStorage(CONF)
    storage.append(entries(*terms))
    return RaftLog(storage)


def terms_of(log: RaftLog) -> list[int]:
    return [e.term for e in log.slice(log.first_index(), log.last_index() + 1)]


# -- maybe_append -------------------------------------------------------------------------


def test_maybe_append_refuses_when_the_previous_entry_does_not_match() -> None:
    log = stable_log(1, 1, 2)
    assert log.maybe_append(3, 1, 3, tuple(entries(3, start=4))) is None  # term 2 at index 3
    assert log.maybe_append(4, 2, 3, tuple(entries(3, start=5))) is None  # index 4 missing
    assert terms_of(log) == [1, 1, 2]
    assert log.committed == 0


def test_maybe_append_appends_new_entries_and_commits_up_to_the_last_new_one() -> None:
    log = stable_log(1, 1, 2)
    assert log.maybe_append(3, 2, 10, tuple(entries(2, 2, start=4))) == 5
    assert terms_of(log) == [1, 1, 2, 2, 2]
    # Figure 2, AppendEntries rule 5: min(leaderCommit, index of last new entry).
    assert log.committed == 5


def test_maybe_append_commits_only_what_the_append_vouches_for() -> None:
    log = stable_log(1, 1, 1, 1, 1)
    # An append with an older previous index says nothing about our entries after it.
    assert log.maybe_append(1, 1, 4, tuple(entries(1, start=2))) == 2
    assert log.committed == 2
    assert log.last_index() == 5


def test_maybe_append_truncates_at_the_first_conflict_only() -> None:
    log = stable_log(1, 1, 1, 1)
    assert log.maybe_append(1, 1, 0, (entry(2, 1), entry(3, 2))) == 3
    assert terms_of(log) == [1, 1, 2]  # index 4 followed the conflict at 3: gone


def test_maybe_append_never_truncates_matching_entries() -> None:
    log = stable_log(1, 1, 1, 1)
    # A stale or duplicated append covering a prefix of what we have changes nothing.
    assert log.maybe_append(1, 1, 0, (entry(2, 1),)) == 2
    assert log.maybe_append(0, 0, 0, tuple(entries(1, 1))) == 2
    assert terms_of(log) == [1, 1, 1, 1]
    assert log.unstable_entries() == []


def test_maybe_append_refuses_to_change_a_committed_entry() -> None:
    log = stable_log(1, 1, 1)
    log.commit_to(3)
    with pytest.raises(RaftInvariantError):
        log.maybe_append(1, 1, 3, (entry(2, 2),))


# -- find_conflict / find_conflict_by_term ----------------------------------------------------


@pytest.mark.parametrize(
    ("new", "conflict"),
    [
        ([], 0),
        (entries(1, 2, 3), 0),  # all present
        (entries(2, 3, start=2), 0),
        (entries(2, 3, 4, 4, start=2), 4),  # new entries after the end
        (entries(3, 4, start=3), 4),  # index 4 missing
        (entries(1, 4, start=2), 2),  # term differs at 2
        (entries(4, 4, start=1), 1),
    ],
)
def test_find_conflict(new: list[Entry], conflict: int) -> None:
    log = stable_log(1, 2, 3)
    assert log.find_conflict(new) == conflict


@pytest.mark.parametrize(
    ("index", "term", "expected"),
    [
        # Log (index: term) 1:1 2:1 3:2 4:2 5:4 6:4.
        (6, 4, 6),  # our term at 6 is <= 4
        (6, 3, 4),  # skip the term-4 entries: the last entry of a term <= 3 is 4
        (6, 2, 4),
        (6, 1, 2),
        (4, 1, 2),
        (6, 0, 0),  # nothing of term <= 0 but the start of the log
        (0, 1, 0),
    ],
)
def test_find_conflict_by_term(index: int, term: int, expected: int) -> None:
    log = stable_log(1, 1, 2, 2, 4, 4)
    assert log.find_conflict_by_term(index, term) == expected


def test_find_conflict_by_term_stops_at_the_compacted_boundary() -> None:
    log = stable_log(1, 1, 2, 2, 4, 4)
    log.storage.compact(3)
    # Terms before index 3 are unknown: the search does not go past the snapshot.
    assert log.find_conflict_by_term(6, 1) == 2
    assert log.term(2) == 0


# -- reading: slice, term --------------------------------------------------------------------


def test_slice_spans_storage_and_unstable_entries() -> None:
    log = stable_log(1, 1, 1)
    log.append(entries(2, 2, start=4))
    assert [e.index for e in log.slice(2, 6)] == [2, 3, 4, 5]
    assert [e.index for e in log.slice(4, 6)] == [4, 5]
    assert [e.index for e in log.slice(1, 3)] == [1, 2]
    assert log.slice(3, 3) == []


def test_slice_respects_the_size_limit_but_returns_at_least_one_entry() -> None:
    log = stable_log(1, 1, 1)
    log.append([entry(4, 1, b"x" * 10), entry(5, 1, b"y" * 10)])
    one = entry(1, 1).size()
    assert [e.index for e in log.slice(1, 6, one * 2)] == [1, 2]
    assert [e.index for e in log.slice(3, 6, one + 1)] == [3]
    assert [e.index for e in log.slice(4, 6, 1)] == [4]


def test_slice_of_compacted_entries_raises_and_past_the_end_is_a_bug() -> None:
    log = stable_log(1, 1, 1, 1)
    log.storage.compact(2)
    with pytest.raises(Compacted):
        log.slice(2, 4)
    with pytest.raises(RaftInvariantError):
        log.slice(3, 6)


def test_term_is_zero_outside_the_log_and_known_at_the_snapshot_index() -> None:
    log = stable_log(1, 2, 3)
    log.storage.compact(2)
    assert log.term(1) == 0  # compacted
    assert log.term(2) == 2  # the dummy entry keeps the snapshot's term
    assert log.term(3) == 3
    assert log.term(4) == 0


@pytest.mark.parametrize(
    ("last_index", "last_term", "up_to_date"),
    [
        (3, 2, True),  # same last entry
        (4, 2, True),  # longer, same term
        (2, 2, False),  # shorter, same term
        (1, 3, True),  # higher last term wins whatever the length
        (9, 1, False),  # lower last term loses whatever the length
    ],
)
def test_is_up_to_date(last_index: int, last_term: int, up_to_date: bool) -> None:
    log = stable_log(1, 2, 2)
    assert log.is_up_to_date(last_index, last_term) is up_to_date


# -- commit and apply --------------------------------------------------------------------------


def test_maybe_commit_only_an_entry_of_the_given_term() -> None:
    log = stable_log(1, 1, 2)
    assert not log.maybe_commit(2, 2)  # figure 8: an older term's entry is not committed
    assert log.committed == 0
    assert log.maybe_commit(3, 2)
    assert log.committed == 3
    assert not log.maybe_commit(2, 1)  # never backwards


def test_commit_beyond_the_log_is_a_bug() -> None:
    log = stable_log(1)
    with pytest.raises(RaftInvariantError):
        log.commit_to(2)


def test_append_before_the_commit_index_is_a_bug() -> None:
    log = stable_log(1, 1)
    log.commit_to(2)
    with pytest.raises(RaftInvariantError):
        log.append([entry(2, 2)])


def test_next_committed_entries_are_only_durable_ones() -> None:
    log = stable_log(1, 1)
    log.append(entries(1, 1, start=3))  # 3 and 4 are not durable yet
    log.commit_to(4)
    assert [e.index for e in log.next_committed_entries()] == [1, 2]
    log.applied_to(2)
    assert log.next_committed_entries() == []
    assert not log.has_next_committed_entries()
    log.storage.append(log.unstable_entries())
    log.stable_to(4, 1)
    assert [e.index for e in log.next_committed_entries()] == [3, 4]
    assert log.has_next_committed_entries()


def test_applied_index_stays_within_applied_and_committed() -> None:
    log = stable_log(1, 1, 1)
    log.commit_to(2)
    log.applied_to(2)
    with pytest.raises(RaftInvariantError):
        log.applied_to(3)  # not committed
    with pytest.raises(RaftInvariantError):
        log.applied_to(1)  # backwards


# -- stability -----------------------------------------------------------------------------


def test_stable_to_ignores_entries_replaced_in_the_meantime() -> None:
    log = stable_log(1)
    log.append(entries(1, 1, start=2))
    handed_out = log.unstable_entries()
    log.append(entries(2, start=3))  # index 3 replaced before the driver persisted it
    log.stable_to(handed_out[-1].index, handed_out[-1].term)
    # The persisted batch ended with 3/1, which is no longer in the log: nothing is marked
    # durable, and the next Ready hands out 2/1 and 3/2 again.
    assert [(e.index, e.term) for e in log.unstable_entries()] == [(2, 1), (3, 2)]
    assert log.stable_last_index() == 1


# -- snapshots -----------------------------------------------------------------------------


def test_restore_replaces_the_log_with_the_snapshot() -> None:
    log = stable_log(1, 1, 1)
    snapshot = Snapshot(SnapshotMeta(10, 3, CONF), b"state")
    log.restore(snapshot)
    assert log.committed == 10
    assert (log.first_index(), log.last_index()) == (11, 10)
    assert log.term(10) == 3
    assert log.last_term() == 3
    assert log.snapshot() is snapshot


def test_a_pending_snapshot_holds_back_later_entries_until_it_is_durable() -> None:
    """Entries received after a snapshot (before the driver persisted the snapshot) are not
    durable: the old storage still holds the log the snapshot replaces. Regression: they were
    handed out for applying because the old storage's last index counted as durable."""
    log = stable_log(1, 1, 1, 1, 1, 1)  # old, uncommitted entries of term 1 up to index 6
    log.restore(Snapshot(SnapshotMeta(4, 2, CONF)))
    assert log.maybe_append(4, 2, 6, tuple(entries(2, 2, start=5))) == 6
    assert log.committed == 6
    assert log.stable_last_index() <= 4
    assert log.next_committed_entries() == []
    assert not log.has_next_committed_entries()
    # The driver persists the snapshot and the entries.
    log.storage.apply_snapshot(log.unstable.snapshot)  # type: ignore[arg-type]
    log.storage.append(log.unstable_entries())
    log.stable_snapshot_to(4)
    log.stable_to(6, 2)
    log.applied_to(4)
    assert [(e.index, e.term) for e in log.next_committed_entries()] == [(5, 2), (6, 2)]
