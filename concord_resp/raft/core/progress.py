"""What a leader knows about each follower (etcd's tracker): match/next indexes, the
replication state (probe, replicate, snapshot), the window of appends in flight, and the
quorum arithmetic over the current configuration.

Flow control: in `PROBE` at most one append is outstanding until the follower answers (used
after a rejection or a restart, to find where the logs match); in `REPLICATE` appends are
pipelined, at most `max_inflight` unacknowledged; in `SNAPSHOT` nothing is sent until the
snapshot is installed (or reported failed).
"""

from __future__ import annotations

from collections import deque
from enum import IntEnum


class ProgressState(IntEnum):
    PROBE = 0
    REPLICATE = 1
    SNAPSHOT = 2


class Inflights:
    """Last indexes of appends sent and not yet acknowledged, oldest first."""

    __slots__ = ("_items", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[int] = deque()

    def add(self, index: int) -> None:
        if self.full():
            raise AssertionError("cannot add to a full inflights window")
        self._items.append(index)

    def free_le(self, index: int) -> None:
        items = self._items
        while items and items[0] <= index:
            items.popleft()

    def free_first_one(self) -> None:
        """Free the oldest slot (a heartbeat answered: let replication make progress)."""
        if self._items:
            self._items.popleft()

    def full(self) -> bool:
        return len(self._items) >= self.capacity

    def count(self) -> int:
        return len(self._items)

    def reset(self) -> None:
        self._items.clear()


class Progress:
    __slots__ = (
        "inflights",
        "is_learner",
        "match",
        "next",
        "paused",
        "pending_snapshot",
        "recent_active",
        "state",
    )

    def __init__(self, next_index: int, max_inflight: int, *, is_learner: bool = False) -> None:
        self.match = 0
        self.next = next_index
        self.state = ProgressState.PROBE
        self.paused = False  # PROBE: an append is outstanding
        self.pending_snapshot = 0
        self.recent_active = False  # heard from within the last election timeout (CheckQuorum)
        self.inflights = Inflights(max_inflight)
        self.is_learner = is_learner

    def _reset_state(self, state: ProgressState) -> None:
        self.paused = False
        self.pending_snapshot = 0
        self.state = state
        self.inflights.reset()

    def become_probe(self) -> None:
        if self.state == ProgressState.SNAPSHOT:
            pending = self.pending_snapshot
            self._reset_state(ProgressState.PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(ProgressState.PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        self._reset_state(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def sent_entries(self, last_index: int | None) -> None:
        """Record an append just sent (with entries up to `last_index`, if any)."""
        if self.state == ProgressState.REPLICATE:
            if last_index is not None:
                self.next = last_index + 1
                self.inflights.add(last_index)
        elif self.state == ProgressState.PROBE:
            self.paused = True

    def maybe_update(self, index: int) -> bool:
        """An acknowledgement up to `index`. True if it moved `match` forward."""
        updated = False
        if self.match < index:
            self.match = index
            updated = True
            self.paused = False
        self.next = max(self.next, index + 1)
        return updated

    def maybe_decrease_to(self, rejected: int, match_hint: int) -> bool:
        """A rejection of the append at `rejected`. False if it is stale."""
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), 1)
        self.paused = False
        return True

    def is_paused(self) -> bool:
        if self.state == ProgressState.PROBE:
            return self.paused
        if self.state == ProgressState.REPLICATE:
            return self.inflights.full()
        return True

    def __repr__(self) -> str:
        return (
            f"Progress({self.state.name} match={self.match} next={self.next}"
            f"{' learner' if self.is_learner else ''}"
            f"{' paused' if self.paused else ''}"
            f"{f' pending_snapshot={self.pending_snapshot}' if self.pending_snapshot else ''})"
        )


class VoteResult(IntEnum):
    PENDING = 0
    LOST = 1
    WON = 2


def quorum(voters: int) -> int:
    return voters // 2 + 1


def committed_index(voters: tuple[str, ...], match: dict[str, int]) -> int:
    """The largest index a majority of voters have (Raft 5.3/5.4)."""
    if not voters:
        return 0
    acked = sorted(match.get(voter, 0) for voter in voters)
    return acked[len(acked) - quorum(len(acked))]


def vote_result(voters: tuple[str, ...], votes: dict[str, bool]) -> VoteResult:
    granted = sum(1 for voter in voters if votes.get(voter) is True)
    missing = sum(1 for voter in voters if voter not in votes)
    needed = quorum(len(voters))
    if granted >= needed:
        return VoteResult.WON
    if granted + missing >= needed:
        return VoteResult.PENDING
    return VoteResult.LOST
