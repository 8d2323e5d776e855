"""Stable log storage as the core sees it: what is durable, in memory (etcd's MemoryStorage).

The driver writes entries, hard state and snapshots to disk and then records them here, so
this object always describes exactly what would survive a crash. The log starts with a dummy
entry at the snapshot's index that carries the snapshot's term; entries before it have been
compacted away. Pure: no I/O.
"""

from __future__ import annotations

from .types import ENTRY_OVERHEAD, ConfState, Entry, EntryKind, HardState, Snapshot, SnapshotMeta


class StorageError(Exception):
    pass


class Compacted(StorageError):
    """The requested index is at or before the snapshot: only the snapshot has it."""


class Unavailable(StorageError):
    """The requested index is after the last entry."""


class SnapshotOutOfDate(StorageError):
    """A snapshot older than the current one was offered."""


def limit_size(entries: list[Entry], max_size: int) -> list[Entry]:
    """The longest prefix within `max_size` bytes, but always at least one entry."""
    total = 0
    for count, entry in enumerate(entries):
        total += len(entry.data) + ENTRY_OVERHEAD  # (`Entry.size`, written out: per entry)
        if total > max_size and count:
            return entries[:count]
    return entries


class MemoryStorage:
    def __init__(self, conf_state: ConfState | None = None) -> None:
        self.hard_state = HardState(0, None, 0)
        self.snapshot = Snapshot(SnapshotMeta(0, 0, conf_state or ConfState(())))
        self._entries: list[Entry] = [Entry(0, 0, EntryKind.NORMAL, b"")]

    def initial_state(self) -> tuple[HardState, ConfState]:
        return self.hard_state, self.snapshot.meta.conf_state

    def first_index(self) -> int:
        return self._entries[0].index + 1

    def last_index(self) -> int:
        return self._entries[0].index + len(self._entries) - 1

    def term(self, index: int) -> int:
        offset = self._entries[0].index
        if index < offset:
            raise Compacted(index)
        if index - offset >= len(self._entries):
            raise Unavailable(index)
        return self._entries[index - offset].term

    def entries(self, low: int, high: int, max_size: int) -> list[Entry]:
        """Entries [low, high), at most `max_size` bytes (but at least one)."""
        offset = self._entries[0].index
        if low <= offset:
            raise Compacted(low)
        if high > self.last_index() + 1:
            raise Unavailable(high)
        return limit_size(self._entries[low - offset : high - offset], max_size)

    # -- updates by the driver, after the data is durable -----------------------------

    def set_hard_state(self, state: HardState) -> None:
        self.hard_state = state

    def append(self, entries: list[Entry]) -> None:
        """Record durable entries; an entry at an index we hold replaces it and what follows."""
        if not entries:
            return
        first = self.first_index()
        last = entries[-1].index
        if last < first:
            return  # all already compacted
        if first > entries[0].index:
            entries = entries[first - entries[0].index :]
        offset = entries[0].index - self._entries[0].index
        if offset > len(self._entries):
            raise AssertionError(
                f"missing log entry: last index {self.last_index()}, appending at {entries[0].index}"
            )
        del self._entries[offset:]
        self._entries.extend(entries)

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the whole log with a snapshot received from the leader."""
        if snapshot.meta.index <= self.snapshot.meta.index:
            raise SnapshotOutOfDate(snapshot.meta.index)
        self.snapshot = snapshot
        self._entries = [Entry(snapshot.meta.index, snapshot.meta.term, EntryKind.NORMAL, b"")]

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        """Record a snapshot of the state machine at `index` (taken by this node)."""
        if index <= self.snapshot.meta.index:
            raise SnapshotOutOfDate(index)
        if index > self.last_index():
            raise Unavailable(index)
        self.snapshot = Snapshot(SnapshotMeta(index, self.term(index), conf_state), data)
        return self.snapshot

    def compact(self, index: int) -> None:
        """Drop the entries before `index` (which must be covered by a snapshot)."""
        offset = self._entries[0].index
        if index <= offset:
            raise Compacted(index)
        if index > self.last_index():
            raise Unavailable(index)
        keep = index - offset
        self._entries = [
            Entry(index, self._entries[keep].term, EntryKind.NORMAL, b""),
            *self._entries[keep + 1 :],
        ]
