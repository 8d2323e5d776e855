"""The simulated disk: fsync makes writes durable, a crash loses the rest (maybe tearing one),
and recovery rebuilds the storage a restarted node sees."""

import random

from concord_resp.raft.core import ConfState, Entry, EntryKind, HardState, Snapshot, SnapshotMeta
from concord_resp.sim.disk import (
    Disk,
    EntriesRecord,
    HardStateRecord,
    SnapshotRecord,
    TornRecord,
)

CONF = ConfState(("a", "b", "c"))


def entries(first: int, last: int, term: int) -> tuple[Entry, ...]:
    return tuple(Entry(i, term, EntryKind.NORMAL, b"%d" % i) for i in range(first, last + 1))


def test_only_fsynced_records_survive_a_crash() -> None:
    disk = Disk()
    disk.write(EntriesRecord(entries(1, 3, 1)))
    disk.write(HardStateRecord(HardState(1, "a", 2)))
    assert disk.fsync() == 2
    disk.write(EntriesRecord(entries(4, 5, 1)))
    disk.write(HardStateRecord(HardState(2, "b", 4)))
    loss = disk.crash(random.Random(1), p_keep=0.0)
    assert (loss.lost, loss.kept) == (2, 0)
    storage, _ = disk.recover(CONF)
    assert storage.last_index() == 3
    assert storage.hard_state == HardState(1, "a", 2)
    assert disk.durable_hard_state == HardState(1, "a", 2)


def test_a_torn_tail_is_truncated_on_recovery() -> None:
    disk = Disk()
    disk.write(EntriesRecord(entries(1, 2, 1)))
    disk.fsync()
    disk.durable.append(TornRecord(EntriesRecord(entries(3, 4, 1))))
    storage, torn = disk.recover(CONF)
    assert torn
    assert storage.last_index() == 2
    assert not any(isinstance(record, TornRecord) for record in disk.durable)


def test_a_crash_may_keep_a_prefix_of_unsynced_writes() -> None:
    outcomes = set()
    for seed in range(40):
        disk = Disk()
        for first in (1, 3, 5):
            disk.write(EntriesRecord(entries(first, first + 1, 1)))
        loss = disk.crash(random.Random(seed), p_keep=1.0)
        storage, torn = disk.recover(CONF)
        assert loss.lost + loss.kept == 3
        assert storage.last_index() == 2 * loss.kept  # always a prefix, never a hole
        assert torn == loss.torn
        outcomes.add((loss.kept, loss.torn))
    assert len(outcomes) > 3


def test_recovery_replays_overwrites_and_snapshots_like_raft() -> None:
    disk = Disk()
    disk.write(EntriesRecord(entries(1, 5, 1)))
    disk.write(EntriesRecord(entries(4, 4, 2)))  # a conflict at 4 cuts 4..5 off
    snapshot = Snapshot(SnapshotMeta(10, 3, CONF), b"state")
    disk.write(SnapshotRecord(snapshot))  # received from a leader: replaces the log
    disk.write(EntriesRecord(entries(11, 12, 3)))
    disk.write(HardStateRecord(HardState(3, "c", 6)))  # commit below the snapshot
    disk.fsync()
    storage, _ = disk.recover(CONF)
    assert storage.snapshot == snapshot
    assert (storage.first_index(), storage.last_index()) == (11, 12)
    assert storage.hard_state == HardState(3, "c", 10)  # a durable snapshot is committed

    disk = Disk()
    disk.write(EntriesRecord(entries(1, 5, 1)))
    disk.write(EntriesRecord(entries(4, 4, 2)))
    disk.fsync()
    storage, _ = disk.recover(CONF)
    assert [storage.term(i) for i in range(1, 5)] == [1, 1, 1, 2]
    assert storage.last_index() == 4


def test_rewrite_after_compaction_keeps_the_log_after_the_snapshot() -> None:
    disk = Disk()
    disk.write(EntriesRecord(entries(1, 8, 1)))
    disk.write(HardStateRecord(HardState(1, "a", 8)))
    disk.fsync()
    storage, _ = disk.recover(CONF)
    storage.create_snapshot(5, CONF, b"five")
    storage.compact(5)
    disk.rewrite(storage)
    again, _ = disk.recover(CONF)
    assert again.snapshot.meta.index == 5
    assert again.snapshot.data == b"five"
    assert (again.first_index(), again.last_index()) == (6, 8)
    assert again.hard_state == HardState(1, "a", 8)
