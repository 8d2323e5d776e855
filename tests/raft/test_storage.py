"""MemoryStorage: what is durable. Appends replace a conflicting tail, compaction keeps a
dummy entry carrying the snapshot's term, snapshots replace the log."""

from __future__ import annotations

import pytest

from concord_resp.raft.core import (
    Compacted,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    MemoryStorage,
    Message,
    MessageType,
    Snapshot,
    SnapshotMeta,
    Unavailable,
)
from concord_resp.raft.core.storage import SnapshotOutOfDate, limit_size

CONF = ConfState(("1", "2", "3"))


def entry(index: int, term: int, data: bytes = b"") -> Entry:
    return Entry(index, term, EntryKind.NORMAL, data)


def storage_with(*terms: int) -> MemoryStorage:
    storage = MemoryStorage(CONF)
    storage.append([entry(i, term) for i, term in enumerate(terms, start=1)])
    return storage


def contents(storage: MemoryStorage) -> list[tuple[int, int]]:
    first, last = storage.first_index(), storage.last_index()
    if last < first:
        return []
    return [(e.index, e.term) for e in storage.entries(first, last + 1, 2**62)]


def test_a_new_storage_is_empty_with_the_initial_configuration() -> None:
    storage = MemoryStorage(CONF)
    assert storage.initial_state() == (HardState(0, None, 0), CONF)
    assert (storage.first_index(), storage.last_index()) == (1, 0)
    assert storage.term(0) == 0


def test_term_and_entries_bounds() -> None:
    storage = storage_with(1, 2, 3)
    storage.compact(2)
    with pytest.raises(Compacted):
        storage.term(1)
    assert storage.term(2) == 2
    with pytest.raises(Unavailable):
        storage.term(4)
    with pytest.raises(Compacted):
        storage.entries(2, 4, 100)
    with pytest.raises(Unavailable):
        storage.entries(3, 5, 100)
    assert [e.index for e in storage.entries(3, 4, 100)] == [3]


def test_append_extends_the_log() -> None:
    storage = storage_with(1, 1)
    storage.append([entry(3, 2), entry(4, 2)])
    assert contents(storage) == [(1, 1), (2, 1), (3, 2), (4, 2)]


def test_append_replaces_the_tail_from_the_first_new_index() -> None:
    storage = storage_with(1, 1, 1, 1)
    storage.append([entry(3, 2)])
    assert contents(storage) == [(1, 1), (2, 1), (3, 2)]


def test_append_skips_entries_that_are_already_compacted() -> None:
    storage = storage_with(1, 1, 1, 1)
    storage.compact(3)
    storage.append([entry(2, 1), entry(3, 1), entry(4, 1), entry(5, 2)])
    assert contents(storage) == [(4, 1), (5, 2)]
    storage.append([entry(1, 1), entry(2, 1)])  # entirely compacted: nothing to do
    assert contents(storage) == [(4, 1), (5, 2)]


def test_append_with_a_gap_is_a_bug() -> None:
    storage = storage_with(1)
    with pytest.raises(AssertionError):
        storage.append([entry(3, 1)])


def test_compact_keeps_the_term_of_the_compaction_index() -> None:
    storage = storage_with(1, 2, 3, 4)
    storage.compact(3)
    assert (storage.first_index(), storage.last_index()) == (4, 4)
    assert storage.term(3) == 3
    with pytest.raises(Compacted):
        storage.compact(3)
    with pytest.raises(Unavailable):
        storage.compact(5)


def test_create_snapshot_records_the_term_and_configuration() -> None:
    storage = storage_with(1, 2, 2)
    snapshot = storage.create_snapshot(2, CONF, b"data")
    assert snapshot.meta == SnapshotMeta(2, 2, CONF)
    assert storage.snapshot == snapshot
    with pytest.raises(SnapshotOutOfDate):
        storage.create_snapshot(2, CONF, b"again")
    with pytest.raises(Unavailable):
        storage.create_snapshot(4, CONF, b"future")


def test_apply_snapshot_replaces_the_whole_log() -> None:
    storage = storage_with(1, 1, 1, 1, 1)
    snapshot = Snapshot(SnapshotMeta(3, 2, ConfState(("1", "2"))), b"state")
    storage.apply_snapshot(snapshot)
    assert (storage.first_index(), storage.last_index()) == (4, 3)
    assert storage.term(3) == 2
    assert storage.initial_state()[1] == ConfState(("1", "2"))
    with pytest.raises(SnapshotOutOfDate):
        storage.apply_snapshot(snapshot)
    storage.append([entry(4, 2)])
    assert contents(storage) == [(4, 2)]


def test_set_hard_state() -> None:
    storage = MemoryStorage(CONF)
    storage.set_hard_state(HardState(3, "2", 0))
    assert storage.initial_state()[0] == HardState(3, "2", 0)


def test_limit_size_returns_a_prefix_of_at_least_one_entry() -> None:
    items = [entry(i, 1, b"x" * 6) for i in range(1, 5)]  # 30 bytes each
    assert limit_size(items, 0) == items[:1]
    assert limit_size(items, 59) == items[:1]
    assert limit_size(items, 60) == items[:2]
    assert limit_size(items, 1000) == items
    assert limit_size([], 10) == []


def test_entries_and_messages_are_values_compared_and_hashed_by_their_fields() -> None:
    # (Plain slotted classes at run time, frozen to the type checker: `types.hot_record`.)
    entry = Entry(3, 2, EntryKind.NORMAL, b"x")
    assert entry == Entry(3, 2, EntryKind.NORMAL, b"x") != Entry(3, 2, EntryKind.NORMAL, b"y")
    assert len({entry, Entry(3, 2, EntryKind.NORMAL, b"x")}) == 1
    message = Message(MessageType.APP, to="n2", sender="n1", term=2, entries=(entry,))
    moved = message.updated(to="n3")
    assert (moved.to, message.to) == ("n3", "n2")  # a changed copy; the original stays
    assert moved == Message(MessageType.APP, to="n3", sender="n1", term=2, entries=(entry,))
    assert hash(moved) == hash(message.updated(to="n3"))
