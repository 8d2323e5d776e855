"""The Raft log: durable entries (storage) plus those not yet durable (unstable), and the
commit and apply indexes (etcd's raftLog and unstable).

Invariants: `applied <= committed <= last_index()`; a committed entry is never changed or
truncated (an attempt raises: going on would lose committed data); only entries that are
durable locally are handed out for applying, so a node never applies what it could lose.
"""

from __future__ import annotations

from .storage import Compacted, MemoryStorage, Unavailable, limit_size
from .types import Entry, Snapshot

UNLIMITED = 2**62


class RaftInvariantError(AssertionError):
    """A Raft safety rule would be broken: the node must stop."""


class Unstable:
    """Entries (and possibly a snapshot) accepted but not yet written to stable storage."""

    __slots__ = ("entries", "offset", "snapshot")

    def __init__(self, offset: int) -> None:
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []
        self.offset = offset  # index of entries[0]

    def maybe_first_index(self) -> int | None:
        return self.snapshot.meta.index + 1 if self.snapshot is not None else None

    def maybe_last_index(self) -> int | None:
        if self.entries:
            return self.offset + len(self.entries) - 1
        if self.snapshot is not None:
            return self.snapshot.meta.index
        return None

    def maybe_term(self, index: int) -> int | None:
        if index < self.offset:
            snapshot = self.snapshot
            if snapshot is not None and snapshot.meta.index == index:
                return snapshot.meta.term
            return None
        last = self.maybe_last_index()
        if last is None or index > last:
            return None
        return self.entries[index - self.offset].term

    def stable_to(self, index: int, term: int) -> None:
        if self.maybe_term(index) == term and index >= self.offset:
            del self.entries[: index + 1 - self.offset]
            self.offset = index + 1

    def stable_snapshot_to(self, index: int) -> None:
        if self.snapshot is not None and self.snapshot.meta.index == index:
            self.snapshot = None

    def restore(self, snapshot: Snapshot) -> None:
        self.offset = snapshot.meta.index + 1
        self.entries = []
        self.snapshot = snapshot

    def truncate_and_append(self, entries: list[Entry]) -> None:
        after = entries[0].index
        if after == self.offset + len(self.entries):
            self.entries.extend(entries)
        elif after <= self.offset:
            # Replace everything unstable (a conflict at or before our first unstable entry).
            self.offset = after
            self.entries = list(entries)
        else:
            del self.entries[after - self.offset :]
            self.entries.extend(entries)

    def slice(self, low: int, high: int) -> list[Entry]:
        return self.entries[low - self.offset : high - self.offset]


class RaftLog:
    def __init__(self, storage: MemoryStorage) -> None:
        self.storage = storage
        first = storage.first_index()
        last = storage.last_index()
        self.unstable = Unstable(last + 1)
        self.committed = first - 1
        self.applied = first - 1

    # -- indexes and terms -----------------------------------------------------------

    def first_index(self) -> int:
        first = self.unstable.maybe_first_index()
        return first if first is not None else self.storage.first_index()

    def last_index(self) -> int:
        last = self.unstable.maybe_last_index()
        return last if last is not None else self.storage.last_index()

    def last_term(self) -> int:
        return self.term(self.last_index())

    def term(self, index: int) -> int:
        """The term of the entry at `index`; 0 if there is none (compacted or beyond the end)."""
        dummy = self.first_index() - 1
        if index < dummy or index > self.last_index():
            return 0
        term = self.unstable.maybe_term(index)
        if term is not None:
            return term
        try:
            return self.storage.term(index)
        except (Compacted, Unavailable):
            return 0

    def match_term(self, index: int, term: int) -> bool:
        return self.term(index) == term

    def is_up_to_date(self, last_index: int, term: int) -> bool:
        """Raft 5.4.1: a candidate's log is at least as up-to-date as ours."""
        last_term = self.last_term()
        return term > last_term or (term == last_term and last_index >= self.last_index())

    def stable_last_index(self) -> int:
        """The last index that is durable locally."""
        if self.unstable.snapshot is not None:
            # The storage still holds the log the snapshot replaces: nothing after the
            # snapshot is durable (and no entry is handed out for applying) until it is.
            return self.unstable.snapshot.meta.index
        return min(self.last_index(), self.unstable.offset - 1)

    # -- appending ---------------------------------------------------------------------

    def maybe_append(
        self, index: int, log_term: int, committed: int, entries: tuple[Entry, ...]
    ) -> int | None:
        """AppendEntries (Raft figure 2): if our entry at `index` has `log_term`, append the
        new entries, truncating only at a real conflict, and advance the commit index.
        Returns the index of the last new entry, or None if the log does not match."""
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(entries)
        conflict = self.find_conflict(entries)
        if conflict:
            if conflict <= self.committed:
                raise RaftInvariantError(
                    f"entry {conflict} conflicts with the committed log (committed {self.committed})"
                )
            self.append(list(entries[conflict - (index + 1) :]))
        self.commit_to(min(committed, last_new))
        return last_new

    def find_conflict(self, entries: tuple[Entry, ...] | list[Entry]) -> int:
        """The first entry whose index is missing or whose term differs; 0 if none.

        Entries we already hold with the same term are skipped, never truncated: a stale,
        duplicated or reordered append must not cut off entries that match (figure 2, 3).
        """
        for entry in entries:
            if not self.match_term(entry.index, entry.term):
                return entry.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> int:
        """Fast backtracking: the largest index <= `index` whose term is <= `term`."""
        while index > 0:
            our_term = self.term(index)
            if our_term == 0 and index < self.first_index() - 1:
                break
            if our_term <= term:
                break
            index -= 1
        return index

    def append(self, entries: list[Entry]) -> int:
        if not entries:
            return self.last_index()
        after = entries[0].index - 1
        if after < self.committed:
            raise RaftInvariantError(
                f"appending after {after} would overwrite committed entries (committed {self.committed})"
            )
        self.unstable.truncate_and_append(entries)
        return self.last_index()

    # -- commit and apply ------------------------------------------------------------

    def commit_to(self, index: int) -> None:
        if self.committed < index:
            if self.last_index() < index:
                raise RaftInvariantError(
                    f"commit index {index} is beyond the last entry {self.last_index()}"
                )
            self.committed = index

    def maybe_commit(self, index: int, term: int) -> bool:
        """Commit up to `index` only if that entry is of `term` (figure 8: never commit an
        entry of an earlier term by counting replicas)."""
        if index > self.committed and self.term(index) == term:
            self.commit_to(index)
            return True
        return False

    def applied_to(self, index: int) -> None:
        if index == 0:
            return
        if self.committed < index or index < self.applied:
            raise RaftInvariantError(
                f"applied index {index} out of range [{self.applied}, {self.committed}]"
            )
        self.applied = index

    def next_committed_entries(self, max_size: int = UNLIMITED) -> list[Entry]:
        """Committed entries not yet applied, and durable here."""
        low = max(self.applied + 1, self.first_index())
        high = min(self.committed, self.stable_last_index()) + 1
        if high <= low:
            return []
        return self.slice(low, high, max_size)

    def has_next_committed_entries(self) -> bool:
        low = max(self.applied + 1, self.first_index())
        return min(self.committed, self.stable_last_index()) + 1 > low

    # -- stability -----------------------------------------------------------------------

    def unstable_entries(self) -> list[Entry]:
        return list(self.unstable.entries)

    def stable_to(self, index: int, term: int) -> None:
        self.unstable.stable_to(index, term)

    def stable_snapshot_to(self, index: int) -> None:
        self.unstable.stable_snapshot_to(index)

    # -- reading -----------------------------------------------------------------------

    def entries_from(self, index: int, max_size: int = UNLIMITED) -> list[Entry]:
        if index > self.last_index():
            return []
        return self.slice(index, self.last_index() + 1, max_size)

    def slice(self, low: int, high: int, max_size: int = UNLIMITED) -> list[Entry]:
        """Entries [low, high). Raises Compacted if `low` is no longer in the log."""
        if low == high:
            return []
        first = self.first_index()
        if low < first:
            raise Compacted(low)
        if high > self.last_index() + 1:
            raise RaftInvariantError(f"slice [{low}, {high}) beyond last index {self.last_index()}")
        out: list[Entry] = []
        offset = self.unstable.offset
        if low < offset:
            out = self.storage.entries(low, min(high, offset), max_size)
            if len(out) < min(high, offset) - low:
                return out  # hit the size limit
        if high > offset:
            out = out + self.unstable.slice(max(low, offset), high)
        return limit_size(out, max_size)

    def snapshot(self) -> Snapshot:
        if self.unstable.snapshot is not None:
            return self.unstable.snapshot
        return self.storage.snapshot

    def restore(self, snapshot: Snapshot) -> None:
        self.committed = snapshot.meta.index
        self.unstable.restore(snapshot)
