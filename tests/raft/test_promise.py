"""The promise's rules (raft/core/promise.py): when it comes down, when it goes up, and which
recovered logs break it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from concord_resp.raft.core import NOTHING_PROMISED, Promise, check_promise


def test_a_write_that_shortens_the_log_lowers_the_promise_first() -> None:
    promise = Promise(3, 100)
    assert promise.before_write(90) == Promise(3, 90)  # a conflict, or a snapshot installed
    assert promise.before_write(100) is None
    assert promise.before_write(120) is None
    assert promise.before_write(None) is None  # a hard state or commit index alone


def test_after_a_write_the_promise_reaches_the_new_end_and_the_newest_term() -> None:
    promise = Promise(3, 100)
    assert promise.after_write(0, 120) == Promise(3, 120)
    assert promise.after_write(4, None) == Promise(4, 100)  # a vote in a new term
    assert promise.after_write(4, 101) == Promise(4, 101)
    assert promise.after_write(2, 90) == Promise(3, 90)  # a term never goes back
    # Nothing new promised: no write at all (a commit index alone, the same term again).
    assert promise.after_write(0, None) is None
    assert promise.after_write(3, 100) is None


def test_a_log_that_reaches_the_promise_keeps_it() -> None:
    assert check_promise(Promise(3, 100), 3, 100) is None
    assert check_promise(Promise(3, 100), 5, 140) is None
    assert check_promise(NOTHING_PROMISED, 0, 0) is None


def test_a_shorter_log_breaks_the_promise_and_says_how_many_entries_are_gone() -> None:
    broken = check_promise(Promise(3, 2001), 3, 1905)
    assert broken is not None
    assert broken.lost_entries == 96
    assert not broken.lost_vote
    assert broken.describe() == "entries 1906..2001 (96 acknowledged entries) are missing"
    one = check_promise(Promise(3, 10), 3, 9)
    assert one is not None
    assert one.describe() == "entry 10 (1 acknowledged entry) is missing"


def test_a_lost_term_breaks_the_promise_even_with_the_whole_log() -> None:
    broken = check_promise(Promise(7, 50), 6, 50)
    assert broken is not None
    assert broken.lost_term
    assert broken.lost_entries == 0
    assert "term is back at 6 from 7" in broken.describe()
    wiped = check_promise(Promise(7, 50), 0, 0)  # a deleted wal/
    assert wiped is not None
    assert wiped.lost_entries == 50
    assert wiped.lost_term


def test_a_vote_is_promised_for_its_term_and_its_loss_breaks_the_promise() -> None:
    promise = Promise(4, 10)
    voted = promise.after_write(4, None, voted=True)
    assert voted == Promise(4, 10, voted=True)
    assert voted.after_write(4, None, voted=False) is None  # a vote stays for the term
    assert voted.after_write(5, None, voted=False) == Promise(5, 10)  # a new term: none yet
    assert voted.before_write(8) == Promise(4, 8, voted=True)
    assert check_promise(voted, 4, 10, voted=True) is None
    assert check_promise(voted, 5, 10, voted=False) is None  # a later term replaces it
    lost = check_promise(voted, 4, 10, voted=False)  # same term, the vote's record gone
    assert lost is not None
    assert lost.lost_vote
    assert not lost.lost_term
    assert lost.describe() == "the vote this node cast in term 4 is lost"


writes = st.lists(
    st.tuples(st.integers(0, 5), st.one_of(st.none(), st.integers(0, 40))), max_size=30
)


@given(writes=writes, crash_at=st.integers(0, 60))
def test_a_crash_at_any_point_never_finds_the_log_behind_the_promise(
    writes: list[tuple[int, int | None]], crash_at: int
) -> None:
    """The driver's protocol (lower, write, sync, raise), crashed between any two steps:
    the durable log is never behind the durable promise (no false alarm), and once a write
    is done the promise covers it (nothing acknowledged goes unprotected)."""
    promise, log_end, term, steps = NOTHING_PROMISED, 0, 0, 0
    for write_term, end in writes:
        lower = promise.before_write(end)
        if lower is not None:
            promise = lower
        steps += 1
        if steps > crash_at:
            break
        log_end = log_end if end is None else end  # the write is durable
        term = max(term, write_term)
        assert check_promise(promise, term, log_end) is None
        raised = promise.after_write(write_term, end)
        if raised is not None:
            promise = raised
        steps += 1
        if steps > crash_at:
            break
        assert (promise.index, promise.term) == (log_end, term)  # covers what is acknowledged
    assert check_promise(promise, term, log_end) is None
