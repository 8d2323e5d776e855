"""A simulated disk: what a node wrote, what an fsync made durable, what a crash leaves.

A node appends records (a snapshot, a run of entries, a hard state) in the order of its
Ready; `fsync` makes everything written so far durable. `crash` keeps only the durable
records, except that the page cache may already have written back a prefix of the rest,
and the record being written at that moment may be torn: `recover` then finds a torn tail
(a real WAL's CRC check) and truncates it. `recover` rebuilds the `MemoryStorage` a
restarted node starts from, replaying records in order with Raft's overwrite-on-conflict.

`promise` is the node's promise file (raft/core/promise.py), a record apart from the log:
`record_promise` makes it durable at once (the driver syncs it before going on). `lose_tail`
is a damaged disk, not a crash: durable records at the end of the log are gone (a truncated
file, an emptied segment), entries the node had acknowledged among them, while the promise
survives. Pure: no files, only lists.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from concord_resp.raft.core import (
    NOTHING_PROMISED,
    ConfState,
    Entry,
    HardState,
    MemoryStorage,
    Promise,
    Snapshot,
)


@dataclass(frozen=True, slots=True)
class EntriesRecord:
    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class HardStateRecord:
    hard_state: HardState


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class TornRecord:
    """A record cut short by a crash: a recovering WAL sees a bad checksum at the tail."""

    of: EntriesRecord | HardStateRecord | SnapshotRecord


Record = EntriesRecord | HardStateRecord | SnapshotRecord


@dataclass(frozen=True, slots=True)
class CrashLoss:
    lost: int  # unsynced records gone
    kept: int  # unsynced records the page cache had written back
    torn: bool  # a record was half written


class Disk:
    def __init__(self) -> None:
        self.durable: list[Record | TornRecord] = []
        self.unsynced: list[Record] = []
        self.durable_hard_state = HardState(0, None, 0)
        self.promise = NOTHING_PROMISED
        self.damaged = False  # `lose_tail`/`lose_after` took entries since the last recovery

    def record_promise(self, promise: Promise) -> None:
        self.promise = promise

    def lose_tail(self, rng: random.Random) -> tuple[int, int] | None:
        """Damage: the durable log loses its end from somewhere inside its entries (never
        the snapshot it starts with). Returns the first and last entry index lost (None:
        no entry to lose)."""
        start = self._after_snapshot()
        indexes = sorted(
            {
                e.index
                for r in self.durable[start:]
                if isinstance(r, EntriesRecord)
                for e in r.entries
            }
        )
        if not indexes:
            return None
        keep = rng.choice(indexes) - 1
        return self.lose_after(keep)

    def lose_after(self, index: int) -> tuple[int, int] | None:
        """Damage: the durable log is cut just before the first record holding an entry past
        `index` (that record keeps its entries up to `index`). Returns the first and last
        entry index lost, or None if nothing was past it."""
        durable = self.durable
        start = self._after_snapshot()
        for position in range(start, len(durable)):
            record = durable[position]
            if isinstance(record, EntriesRecord) and record.entries[-1].index > index:
                break
        else:
            return None
        assert isinstance(record, EntriesRecord)
        lost = [
            e.index for r in durable[position:] if isinstance(r, EntriesRecord) for e in r.entries
        ]
        kept = tuple(e for e in record.entries if e.index <= index)
        self.damaged = True
        del durable[position:]
        if kept:
            durable.append(EntriesRecord(kept))
        hard_states = [r.hard_state for r in durable if isinstance(r, HardStateRecord)]
        self.durable_hard_state = hard_states[-1] if hard_states else HardState(0, None, 0)
        return min(i for i in lost if i > index), max(lost)

    def _after_snapshot(self) -> int:
        """The position after the newest snapshot record (damage never reaches before it)."""
        return max(
            (i + 1 for i, r in enumerate(self.durable) if isinstance(r, SnapshotRecord)),
            default=0,
        )

    def write(self, record: Record) -> None:
        self.unsynced.append(record)

    def fsync(self) -> int:
        """Make every written record durable; returns how many there were."""
        count = len(self.unsynced)
        for record in self.unsynced:
            if isinstance(record, HardStateRecord):
                self.durable_hard_state = record.hard_state
        self.durable.extend(self.unsynced)
        self.unsynced = []
        return count

    def crash(self, rng: random.Random, p_keep: float) -> CrashLoss:
        """Lose what was not fsynced (maybe minus a prefix the page cache wrote back)."""
        pending = self.unsynced
        self.unsynced = []
        if not pending:
            return CrashLoss(0, 0, torn=False)
        kept = rng.randint(0, len(pending)) if rng.random() < p_keep else 0
        for record in pending[:kept]:
            if isinstance(record, HardStateRecord):
                self.durable_hard_state = record.hard_state
        self.durable.extend(pending[:kept])
        torn = kept < len(pending) and rng.random() < 0.5
        if torn:
            self.durable.append(TornRecord(pending[kept]))
        return CrashLoss(len(pending) - kept, kept, torn)

    def rewrite(self, storage: MemoryStorage) -> None:
        """Compaction: the durable log becomes exactly `storage` (snapshot, hard state, and
        the entries after the snapshot), as a WAL rewritten after a snapshot and fsynced."""
        self.fsync()
        records: list[Record | TornRecord] = [SnapshotRecord(storage.snapshot)]
        records.append(HardStateRecord(storage.hard_state))
        first, last = storage.first_index(), storage.last_index()
        if last >= first:
            records.append(EntriesRecord(tuple(storage.entries(first, last + 1, 2**62))))
        self.durable = records
        self.durable_hard_state = storage.hard_state

    def recover(self, initial: ConfState) -> tuple[MemoryStorage, bool]:
        """The storage a restarting node sees, and whether a torn tail was truncated."""
        torn = bool(self.durable) and isinstance(self.durable[-1], TornRecord)
        if torn:
            del self.durable[-1]
        storage = MemoryStorage(initial)
        for record in self.durable:
            if isinstance(record, TornRecord):
                raise AssertionError("a torn record in the middle of the log")
            if isinstance(record, SnapshotRecord):
                if record.snapshot.meta.index > storage.snapshot.meta.index:
                    storage.apply_snapshot(record.snapshot)
            elif isinstance(record, EntriesRecord):
                storage.append(list(record.entries))
            else:
                storage.set_hard_state(record.hard_state)
        # A durable snapshot is committed: the hard state written after it may be lost.
        hard = storage.hard_state
        if hard.commit < storage.snapshot.meta.index:
            storage.set_hard_state(replace(hard, commit=storage.snapshot.meta.index))
        return storage, torn
