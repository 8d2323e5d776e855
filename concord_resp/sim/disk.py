"""A simulated disk: what a node wrote, what an fsync made durable, what a crash leaves.

A node appends records (a snapshot, a run of entries, a hard state) in the order of its
Ready; `fsync` makes everything written so far durable. `crash` keeps only the durable
records, except that the page cache may already have written back a prefix of the rest,
and the record being written at that moment may be torn: `recover` then finds a torn tail
(a real WAL's CRC check) and truncates it. `recover` rebuilds the `MemoryStorage` a
restarted node starts from, replaying records in order with Raft's overwrite-on-conflict.
Pure: no files, only lists.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from concord_resp.raft.core import ConfState, Entry, HardState, MemoryStorage, Snapshot


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
