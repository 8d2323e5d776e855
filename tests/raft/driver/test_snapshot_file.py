"""Snapshot files on disk: written atomically, read back checked, older ones pruned; damage is
reported with the file and byte offset, never read as data."""

from __future__ import annotations

from pathlib import Path

import pytest

from concord_resp.commands import build_table
from concord_resp.raft.driver.snapshot_file import (
    SnapshotFileError,
    list_snapshots,
    read_snapshot,
    write_snapshot,
)
from concord_resp.state import Command, StateMachine
from concord_resp.state.snapshot import SnapshotError, restore_records, snapshot_records
from concord_resp.store.digest import dataset_digest

TABLE = build_table()


def machine_with(keys: int) -> StateMachine:
    m = StateMachine(TABLE)
    for index in range(1, keys + 1):
        m.apply(index, Command(10**9, index % 3, [b"SET", b"key:%d" % index, b"v" * 50]))
    return m


def write(directory: Path, m: StateMachine, term: int = 2) -> Path:
    info = write_snapshot(
        directory, m.applied_index, term, ["n1", "n2"], ["n3"], snapshot_records(m)
    )
    return info.path


def test_a_snapshot_file_round_trips(tmp_path: Path) -> None:
    original = machine_with(5000)
    path = write(tmp_path, original)
    assert path.name == f"snapshot-{5000:020d}-{2:020d}.snap"
    info, records = read_snapshot(path)
    assert (info.index, info.term, info.voters, info.learners) == (5000, 2, ("n1", "n2"), ("n3",))
    restored = StateMachine(TABLE)
    restore_records(restored, records)
    assert dataset_digest(restored.keyspace) == dataset_digest(original.keyspace)
    assert restored.applied_index == 5000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_the_newest_two_are_kept(tmp_path: Path) -> None:
    for keys in (10, 20, 30, 40):
        write(tmp_path, machine_with(keys))
    assert [info.index for info in list_snapshots(tmp_path)] == [40, 30]


def test_an_unfinished_write_is_ignored_and_cleaned_up(tmp_path: Path) -> None:
    write(tmp_path, machine_with(10))
    stale = tmp_path / ".tmp-snapshot-00000000000000000099-00000000000000000002.snap"
    stale.write_bytes(b"half a snapshot")
    assert [info.index for info in list_snapshots(tmp_path)] == [10]
    write(tmp_path, machine_with(20))
    assert not stale.exists()


def restore_from(path: Path) -> None:
    _, records = read_snapshot(path)
    restore_records(StateMachine(TABLE), records)


@pytest.mark.parametrize("where", [0.3, 0.6, 0.95])
def test_a_flipped_byte_is_reported_with_its_offset(tmp_path: Path, where: float) -> None:
    path = write(tmp_path, machine_with(3000))
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotFileError, match=rf"{path.name}: .* at byte \d+"):
        restore_from(path)


def test_a_file_cut_short_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, machine_with(3000))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SnapshotFileError, match="cut short"):
        restore_from(path)


def test_a_file_cut_at_a_record_boundary_is_refused(tmp_path: Path) -> None:
    # Every CRC matches, but the state machine's end record is missing.
    path = write(tmp_path, machine_with(3000))
    _, records = read_snapshot(path)
    kept = list(records)[:-1]
    shorter = write_snapshot(tmp_path / "other", 3000, 2, ["n1"], [], kept).path
    with pytest.raises(SnapshotError, match="cut short"):
        restore_from(shorter)


def test_another_file_is_not_taken_for_a_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "snapshot-00000000000000000001-00000000000000000001.snap"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(SnapshotFileError):
        read_snapshot(path)
