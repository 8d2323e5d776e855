"""Rebuilding the log from the WAL's records (`rebuild_log`), and recovery from segments on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from concord_resp.raft.core import Entry, EntryKind, HardState, MemoryStorage
from concord_resp.raft.driver.recovery import rebuild_log, recover
from concord_resp.raft.driver.snapshot_file import SnapshotInfo
from concord_resp.raft.driver.wal import (
    SnapshotMark,
    WalCorruptError,
    WriteAheadLog,
    encode_entry,
    encode_hard_state,
)


def entry(index: int, term: int) -> Entry:
    return Entry(index, term, EntryKind.NORMAL, b"e%d.%d" % (index, term))


def test_a_conflict_replaces_the_suffix(tmp_path: Path) -> None:
    records: list[Entry | HardState | SnapshotMark] = [
        *(entry(i, 1) for i in range(1, 6)),
        entry(4, 2),
        entry(5, 2),
    ]
    _, mark, entries = rebuild_log(records, tmp_path)
    assert mark == 0
    assert [(e.index, e.term) for e in entries] == [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2)]


def test_a_conflict_reaching_before_the_first_entry_replayed_replaces_them_all(
    tmp_path: Path,
) -> None:
    """Found by scripts/faults: the log segment holding entries up to 1066 was deleted (a
    snapshot covered it), and the next one starts with 1067 of term 4 followed by the new
    leader's 1066 of term 5, which overwrote it. Start-up refused it as a missing segment."""
    records: list[Entry | HardState | SnapshotMark] = [
        entry(1067, 4),
        entry(1066, 5),
        HardState(5, None, 1065),
        entry(1067, 5),
        entry(1068, 5),
    ]
    hard, mark, entries = rebuild_log(records, tmp_path)
    assert (mark, hard) == (0, HardState(5, None, 1065))
    assert [(e.index, e.term) for e in entries] == [(1066, 5), (1067, 5), (1068, 5)]


def test_a_gap_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(WalCorruptError, match="entry 4 follows entry 2"):
        rebuild_log([entry(1, 1), entry(2, 1), entry(4, 1)], tmp_path)


def test_an_entry_before_a_snapshot_mark_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(WalCorruptError, match="entry 9 follows entry 11"):
        rebuild_log([SnapshotMark(10, 2), entry(11, 2), entry(9, 2)], tmp_path)


async def test_recovery_after_the_overwritten_segment_was_deleted(tmp_path: Path) -> None:
    """The same shape on disk: two segments, the first deleted, a snapshot covering both."""
    wal = WriteAheadLog(
        tmp_path / "wal", fsync=False, segment_bytes=1
    )  # a new segment after each batch (named by the next index)
    wal.open_for_append(1)
    wal.write(b"".join(encode_entry(i, 1, EntryKind.NORMAL, b"x") for i in range(1, 5)), 5)
    wal.write(encode_entry(5, 1, EntryKind.NORMAL, b"x"), 6)
    overwrite = [
        encode_entry(4, 2, EntryKind.NORMAL, b"y"),
        encode_entry(5, 2, EntryKind.NORMAL, b"y"),
    ]
    wal.write(b"".join(overwrite) + encode_hard_state(HardState(2, None, 3)), 6)
    wal.write(encode_entry(6, 2, EntryKind.NORMAL, b"y"), 7)
    wal.close()
    segments = sorted((tmp_path / "wal").iterdir())
    assert len(segments) >= 3, segments
    segments[0].unlink()  # entries 1-4 of term 1: covered by the snapshot at 4
    asked: list[int] = []

    async def restore(need: int) -> SnapshotInfo | None:
        asked.append(need)
        return SnapshotInfo(tmp_path / "snapshot", 4, 2, ("n1",), ())

    storage = MemoryStorage()
    reopened = WriteAheadLog(tmp_path / "wal", fsync=False)
    await recover(reopened, storage, restore)
    reopened.close()
    assert asked == [3]
    assert (storage.first_index(), storage.last_index()) == (5, 6)
    assert [(e.index, e.term) for e in storage.entries(5, 7, 1 << 30)] == [(5, 2), (6, 2)]
