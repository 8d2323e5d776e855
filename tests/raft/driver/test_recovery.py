"""Rebuilding the log from the WAL's records (`rebuild_log`), and recovery from segments on disk."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from concord_resp.raft.core import Entry, EntryKind, HardState, MemoryStorage, Promise
from concord_resp.raft.driver.promise_file import PromiseFile, identity
from concord_resp.raft.driver.recovery import BrokenPromiseError, rebuild_log, recover
from concord_resp.raft.driver.snapshot_file import SnapshotInfo
from concord_resp.raft.driver.wal import (
    SnapshotMark,
    WalCorruptError,
    WriteAheadLog,
    encode_entry,
    encode_hard_state,
)
from tests.support.wal_files import append_bytes, record_offsets


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


# -- the promise: a log that ends before it stops start-up -----------------------------------


async def no_snapshot(need: int) -> SnapshotInfo | None:
    return None


def write_log(directory: Path, last: int, *, term: int = 1, segment_bytes: int = 1 << 20) -> None:
    """Entries 1..last of `term`, one per batch (each acknowledged after its own fsync), with
    the hard state first; no clean close (the node was killed)."""
    wal = WriteAheadLog(directory, fsync=False, segment_bytes=segment_bytes)
    wal.open_for_append(1)
    wal.write(encode_hard_state(HardState(term, "n1", 0)), 1)
    for index in range(1, last + 1):
        wal.write(encode_entry(index, term, EntryKind.NORMAL, b"v%d" % index), index + 1)
    assert wal._fd is not None
    os.close(wal._fd)


def promised(directory: Path, promise: Promise) -> PromiseFile:
    path = directory / "promise"
    PromiseFile.create(path, OWNER, promise).close()
    return PromiseFile.open(path, OWNER)


OWNER = identity("n1", "c1")


async def recover_with(
    directory: Path, promise: PromiseFile, *, accept: bool = False
) -> MemoryStorage:
    storage = MemoryStorage()
    wal = WriteAheadLog(directory / "wal", fsync=False)
    await recover(wal, storage, no_snapshot, promise, accept_data_loss=accept)
    wal.close()
    return storage


async def test_a_torn_tail_past_the_promise_is_cut_as_never_acknowledged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_log(tmp_path / "wal", 50)
    segment = WriteAheadLog(tmp_path / "wal").segments()[-1]
    intact = segment.stat().st_size
    torn = encode_entry(51, 1, EntryKind.NORMAL, b"x" * 300)
    append_bytes(segment, torn[:100])  # killed mid-write: 51 was never acknowledged
    promise = promised(tmp_path, Promise(1, 50))
    with caplog.at_level(logging.WARNING, logger="concord.wal"):
        storage = await recover_with(tmp_path, promise)
    assert storage.last_index() == 50
    assert segment.stat().st_size == intact
    assert "never acknowledged" in caplog.text
    assert promise.promise == Promise(1, 50)  # a clean start changes nothing


@pytest.mark.parametrize("lost", [1, 7, 30])
async def test_a_truncated_tail_under_the_promise_stops_start_up_and_cuts_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, lost: int
) -> None:
    write_log(tmp_path / "wal", 50)
    segment = WriteAheadLog(tmp_path / "wal").segments()[-1]
    offsets = record_offsets(segment)
    # Cut in the middle of the record of entry 51 - lost (records: hard state, entries).
    cut = offsets[51 - lost] + 10
    os.truncate(segment, cut)
    promise = promised(tmp_path, Promise(1, 50))
    with (
        caplog.at_level(logging.WARNING, logger="concord.wal"),
        pytest.raises(BrokenPromiseError) as caught,
    ):
        await recover_with(tmp_path, promise)
    message = str(caught.value)
    kept = 50 - lost
    assert f"the log ends at entry {kept}" in message
    assert str(segment) in message
    assert str(tmp_path / "promise") in message
    assert f"({lost} acknowledged entr" in message
    assert caught.value.broken.lost_entries == lost
    assert segment.stat().st_size == cut  # nothing cut, for the operator to look at
    assert "never acknowledged" not in caplog.text


async def test_an_emptied_last_segment_is_named(tmp_path: Path) -> None:
    write_log(tmp_path / "wal", 40, segment_bytes=300)  # several segments
    segments = WriteAheadLog(tmp_path / "wal").segments()
    assert len(segments) > 2
    segments[-1].write_bytes(b"")
    first_missing = int(segments[-1].name[:20])
    promise = promised(tmp_path, Promise(1, 40))
    with pytest.raises(BrokenPromiseError) as caught:
        await recover_with(tmp_path, promise)
    assert f"the last log segment {segments[-1]} is empty" in str(caught.value)
    assert f"entries {first_missing}..40" in str(caught.value)


@pytest.mark.parametrize("damage", ["delete wal/", "delete the last segment"])
async def test_a_deleted_log_or_segment_stops_start_up(tmp_path: Path, damage: str) -> None:
    write_log(tmp_path / "wal", 40, segment_bytes=300)
    segments = WriteAheadLog(tmp_path / "wal").segments()
    if damage == "delete wal/":
        for path in segments:
            path.unlink()
        (tmp_path / "wal").rmdir()
    else:
        segments[-1].unlink()
    promise = promised(tmp_path, Promise(1, 40))
    with pytest.raises(BrokenPromiseError) as caught:
        await recover_with(tmp_path, promise)
    message = str(caught.value)
    if damage == "delete wal/":
        assert f"{tmp_path / 'wal'} holds no log segment" in message
        assert "entries 1..40 (40 acknowledged entries) are missing" in message
    else:
        assert f"last segment {segments[-2]}" in message


async def test_a_lost_term_stops_start_up(tmp_path: Path) -> None:
    write_log(tmp_path / "wal", 10, term=2)
    promise = promised(tmp_path, Promise(3, 10))  # it voted in term 3: that record is gone
    with pytest.raises(BrokenPromiseError, match="term is back at 2 from 3"):
        await recover_with(tmp_path, promise)


async def test_a_lost_vote_in_the_same_term_stops_start_up(tmp_path: Path) -> None:
    write_log(tmp_path / "wal", 10, term=3)  # its hard state: term 3, vote "n1"
    wal = WriteAheadLog(tmp_path / "wal", fsync=False)
    list(wal.replay())
    wal.open_for_append(11)
    wal.write(encode_hard_state(HardState(3, None, 10)), 11)  # as if the vote's record were gone
    wal.close()
    promise = promised(tmp_path, Promise(3, 10, voted=True))
    with pytest.raises(BrokenPromiseError, match="the vote this node cast in term 3 is lost"):
        await recover_with(tmp_path, promise)


async def test_accepting_the_loss_starts_and_lowers_the_promise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_log(tmp_path / "wal", 50)
    segment = WriteAheadLog(tmp_path / "wal").segments()[-1]
    os.truncate(segment, record_offsets(segment)[45] + 3)
    promise = promised(tmp_path, Promise(1, 50))
    with caplog.at_level(logging.WARNING, logger="concord.wal"):
        storage = await recover_with(tmp_path, promise, accept=True)
    assert storage.last_index() == 44
    assert "entries 45..50 (6 acknowledged entries) are missing" in caplog.text
    assert "--accept-data-loss" in caplog.text
    assert "never acknowledged" not in caplog.text
    assert promise.promise == Promise(1, 44, voted=True)
    assert PromiseFile.open(tmp_path / "promise", OWNER).promise == Promise(1, 44, voted=True)
    # The next start is a clean one.
    assert (
        await recover_with(tmp_path, PromiseFile.open(tmp_path / "promise", OWNER))
    ).last_index() == 44


async def test_a_promise_made_at_this_start_checks_nothing_and_covers_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An older data directory (no promise file yet): whatever the log holds is taken, and
    a torn tail's warning cannot claim it was never acknowledged."""
    write_log(tmp_path / "wal", 30)
    append_bytes(WriteAheadLog(tmp_path / "wal").segments()[-1], b"\x01\x02")
    promise = PromiseFile.create(tmp_path / "promise", OWNER)
    with caplog.at_level(logging.WARNING, logger="concord.wal"):
        storage = await recover_with(tmp_path, promise)
    assert storage.last_index() == 30
    assert "whether it was acknowledged is not known" in caplog.text
    assert PromiseFile.open(tmp_path / "promise", OWNER).promise == Promise(1, 30, voted=True)
