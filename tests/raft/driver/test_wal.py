"""The write-ahead log on disk: format, replay, segment rolling, torn tails, corruption.

The node's group commit over it (proposals that arrive together share one write and one
fsync, which runs off the event loop) is tested in tests/cluster/test_node.py.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import cbor2
import pytest
from crc32c import crc32c
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from concord_resp.raft.core import Entry, HardState
from concord_resp.raft.driver import wal as wal_module
from concord_resp.raft.driver.wal import (
    HEADER,
    MAGIC,
    SnapshotMark,
    WalCorruptError,
    WriteAheadLog,
    encode_entry,
    encode_hard_state,
    encode_snapshot_mark,
    segment_name,
)
from tests.support.wal_files import append_bytes, flip_byte, record_offsets

Record = Entry | HardState | SnapshotMark


def entry(index: int, data: bytes = b"") -> Entry:
    return Entry(index, 1, 0, data or b"value-%d" % index)


def encode(record: Record) -> bytes:
    if isinstance(record, HardState):
        return encode_hard_state(record)
    if isinstance(record, SnapshotMark):
        return encode_snapshot_mark(record.index, record.term)
    return encode_entry(record.index, record.term, record.kind, record.data)


def open_log(directory: Path, **options: object) -> tuple[WriteAheadLog, list[Record]]:
    """Open a log as the node does: replay everything, then open for appending."""
    wal = WriteAheadLog(directory, **options)  # type: ignore[arg-type]
    records = list(wal.replay())
    last = max((r.index for r in records if isinstance(r, Entry)), default=0)
    wal.open_for_append(last + 1)
    return wal, records


def write_entries(wal: WriteAheadLog, first: int, count: int, size: int = 0) -> list[Entry]:
    """Append entries first..first+count-1, one write each."""
    written = []
    for index in range(first, first + count):
        record = entry(index, b"v" * size if size else b"")
        wal.write(encode(record), index + 1)
        written.append(record)
    return written


def make_log(directory: Path, count: int, **options: object) -> list[Record]:
    wal, _ = open_log(directory, **options)
    hard = HardState(1, "n1", 0)
    wal.write(encode(hard), 1)
    records: list[Record] = [hard, *write_entries(wal, 1, count)]
    wal.close()
    return records


def replay(directory: Path) -> list[Record]:
    return list(WriteAheadLog(directory).replay())


def raw_record(payload: bytes) -> bytes:
    return HEADER.pack(len(payload), crc32c(payload)) + payload


# -- round trip and replay ----------------------------------------------------------------


def test_entries_and_hard_states_round_trip(tmp_path: Path) -> None:
    records: list[Record] = [
        HardState(1, "n1", 0),
        Entry(1, 1, 0, b"set k v"),
        Entry(2, 1, 1, b""),
        HardState(2, None, 2),
        Entry(3, 2, 2, bytes(range(256))),
        HardState(2, "n2", 3),
        SnapshotMark(70, 2),
        Entry(71, 2, 0, b"after an installed snapshot"),
    ]
    wal, replayed = open_log(tmp_path)
    assert replayed == []
    for record in records:
        next_index = record.index + 1 if not isinstance(record, HardState) else 1
        wal.write(encode(record), next_index)
    wal.close()
    assert replay(tmp_path) == records


def test_replay_after_reopen_then_appends_continue(tmp_path: Path) -> None:
    first = make_log(tmp_path, 10)
    wal, replayed = open_log(tmp_path)
    assert replayed == first
    more = write_entries(wal, 11, 5)
    wal.close()
    assert replay(tmp_path) == first + more
    assert [p.name for p in WriteAheadLog(tmp_path).segments()] == [segment_name(1)]


def test_replay_of_an_empty_directory_yields_nothing(tmp_path: Path) -> None:
    assert replay(tmp_path / "wal") == []
    assert (tmp_path / "wal").is_dir()


def test_segments_roll_at_the_size_limit_and_are_named_by_first_index(tmp_path: Path) -> None:
    records = make_log(tmp_path, 40, segment_bytes=200)
    segments = WriteAheadLog(tmp_path).segments()
    assert len(segments) >= 4
    assert replay(tmp_path) == records
    for path in segments:
        assert path.read_bytes().startswith(MAGIC)
        assert len(path.name) == len("00000000000000000001.wal")
        # A segment holds entries from the index in its name on.
        offsets = record_offsets(path)
        if offsets:
            first = cbor2.loads(path.read_bytes()[offsets[0] + HEADER.size :])
            assert first[0] == int(path.stem)
    # Every segment but the last filled up to the limit before rolling.
    for path in segments[:-1]:
        assert path.stat().st_size >= 200


def test_reopened_log_keeps_rolling_with_correct_names(tmp_path: Path) -> None:
    records = make_log(tmp_path, 12, segment_bytes=150)
    wal, replayed = open_log(tmp_path, segment_bytes=150)
    assert replayed == records
    records += write_entries(wal, 13, 12)
    wal.close()
    assert replay(tmp_path) == records
    names = [int(p.stem) for p in WriteAheadLog(tmp_path).segments()]
    assert names == sorted(set(names))
    assert names[0] == 1


def test_a_tiny_segment_limit_does_not_roll_before_the_first_entry(tmp_path: Path) -> None:
    # The hard state alone exceeds the limit; a new segment would have the same name.
    records = make_log(tmp_path, 3, segment_bytes=1)
    assert replay(tmp_path) == records
    assert [int(p.stem) for p in WriteAheadLog(tmp_path).segments()] == [1, 2, 3, 4]


def test_delete_through_removes_only_segments_wholly_covered(tmp_path: Path) -> None:
    records = make_log(tmp_path, 40, segment_bytes=200)
    wal = WriteAheadLog(tmp_path)
    firsts = [int(p.stem) for p in wal.segments()]
    cover = firsts[2] - 1  # the last entry of the second segment
    deleted = wal.delete_through(cover)
    assert [int(p.stem) for p in deleted] == firsts[:2]
    assert [int(p.stem) for p in wal.segments()] == firsts[2:]
    entries = [r for r in records if isinstance(r, Entry)]
    assert replay(tmp_path) == [e for e in entries if e.index >= firsts[2]]
    # One entry short of covering the next segment deletes nothing more.
    assert wal.delete_through(firsts[3] - 2) == []
    # Covering everything still keeps the newest segment (the one appended to).
    wal.delete_through(10**6)
    assert [int(p.stem) for p in wal.segments()] == firsts[-1:]


def test_a_large_record_round_trips(tmp_path: Path) -> None:
    wal, _ = open_log(tmp_path)
    big = entry(1, os.urandom(3 * 1024 * 1024))
    wal.write(encode(big), 2)
    wal.close()
    assert replay(tmp_path) == [big]


# -- torn tails: cut with a warning ------------------------------------------------------


def last_segment(directory: Path) -> Path:
    return WriteAheadLog(directory).segments()[-1]


def _partial_header(path: Path) -> None:
    append_bytes(path, encode(entry(99))[:5])


def _partial_payload(path: Path) -> None:
    append_bytes(path, encode(entry(99, b"x" * 100))[:60])


def _bad_crc_on_last(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.truncate(size - 1)  # drop the last byte, then write a different one
        file.seek(0, os.SEEK_END)
        file.write(b"?")


def _zero_filled(path: Path) -> None:
    append_bytes(path, b"\0" * 4096)


def _partial_record_then_zeros(path: Path) -> None:
    append_bytes(path, encode(entry(99, b"y" * 200))[:50] + b"\0" * 500)


def _huge_length(path: Path) -> None:
    append_bytes(path, HEADER.pack(0xFFFFFFF0, 0) + b"abc")


TORN_TAILS: dict[str, Callable[[Path], None]] = {
    "partial header": _partial_header,
    "partial payload": _partial_payload,
    "bad crc on the last record": _bad_crc_on_last,
    "zero-filled tail": _zero_filled,
    "partial record then zeros": _partial_record_then_zeros,
    "length past the end": _huge_length,
}


@pytest.mark.parametrize("damage", TORN_TAILS.values(), ids=TORN_TAILS.keys())
def test_torn_tail_is_cut_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Callable[[Path], None]
) -> None:
    records = make_log(tmp_path, 8)
    path = last_segment(tmp_path)
    intact = path.stat().st_size
    damage(path)
    if damage is _bad_crc_on_last:
        # The last record is the empty batch a clean close adds: only it goes.
        intact = record_offsets(path, markers=True)[-1]
    with caplog.at_level(logging.WARNING, logger="concord.wal"):
        wal, replayed = open_log(tmp_path)
    assert replayed == records
    assert path.stat().st_size == intact
    warning = next(r for r in caplog.records if r.levelno == logging.WARNING)
    assert str(path) in warning.getMessage()
    assert f"byte offset {intact}" in warning.getMessage()
    # Appends go on after the cut and survive the next replay, with no warning then.
    last = max(r.index for r in records if isinstance(r, Entry))
    records += write_entries(wal, last + 1, 3)
    wal.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="concord.wal"):
        assert replay(tmp_path) == records
    assert not caplog.records


@pytest.mark.parametrize("content", [b"", MAGIC[:3], b"\0" * 8, b"\0" * 20])
def test_incomplete_magic_of_a_new_last_segment_is_cut(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    records = make_log(tmp_path, 5)
    path = tmp_path / segment_name(6)
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="concord.wal"):
        wal, replayed = open_log(tmp_path)
    assert replayed == records
    assert "incomplete segment header" in caplog.text
    assert path.read_bytes() == MAGIC
    records += write_entries(wal, 6, 2)
    wal.close()
    assert replay(tmp_path) == records


# -- corruption elsewhere: start-up must stop ---------------------------------------------


def assert_corrupt(directory: Path, path: Path, offset: int) -> None:
    with pytest.raises(WalCorruptError) as caught:
        list(WriteAheadLog(directory).replay())
    message = str(caught.value)
    assert str(path) in message
    assert f"byte offset {offset}:" in message


def test_flipped_payload_byte_in_the_middle_of_the_last_segment(tmp_path: Path) -> None:
    make_log(tmp_path, 10)
    path = last_segment(tmp_path)
    target = record_offsets(path)[4]
    flip_byte(path, target + HEADER.size + 3)
    size = path.stat().st_size
    assert_corrupt(tmp_path, path, target)
    assert path.stat().st_size == size  # nothing was cut


@pytest.mark.parametrize("byte", [0, 1, 2, 3], ids=lambda b: f"length byte {b}")
def test_damaged_length_field_in_the_middle_is_not_taken_for_a_torn_tail(
    tmp_path: Path, byte: int
) -> None:
    # A length that now points past the end of the file looks like a torn write; the intact
    # records after it show it is not.
    make_log(tmp_path, 10)
    path = last_segment(tmp_path)
    target = record_offsets(path)[3]
    flip_byte(path, target + byte)
    assert_corrupt(tmp_path, path, target)


@pytest.mark.parametrize("voted_for", ["n1", None])
def test_a_hard_state_after_the_damage_also_shows_it_is_not_a_torn_tail(
    tmp_path: Path, voted_for: str | None
) -> None:
    wal, _ = open_log(tmp_path)
    write_entries(wal, 1, 3)
    wal.write(encode(HardState(7, voted_for, 3)), 4)
    wal.close()
    path = last_segment(tmp_path)
    target = record_offsets(path)[-2]  # the last entry; only the hard state follows
    flip_byte(path, target + 2)
    assert_corrupt(tmp_path, path, target)


def test_a_large_torn_tail_of_random_bytes_is_cut_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Telling a torn tail from damage in the middle means looking for intact records after
    # the damage; that must not cost a checksum over the rest of the file at every offset.
    records = make_log(tmp_path, 3)
    path = last_segment(tmp_path)
    torn = encode(entry(4, os.urandom(8 * 1024 * 1024)))
    append_bytes(path, torn[: len(torn) - 1000])
    checksummed: list[int] = []

    def counting_crc32c(data: bytes | memoryview) -> int:
        checksummed.append(len(data))
        return int(crc32c(data))

    monkeypatch.setattr(wal_module, "crc32c", counting_crc32c)
    assert replay(tmp_path) == records
    assert sum(checksummed) < 2 * 1024 * 1024


def test_damaged_checksum_field_in_the_middle(tmp_path: Path) -> None:
    make_log(tmp_path, 10)
    path = last_segment(tmp_path)
    target = record_offsets(path)[2]
    flip_byte(path, target + 5)
    assert_corrupt(tmp_path, path, target)


def test_zeroed_record_in_the_middle(tmp_path: Path) -> None:
    make_log(tmp_path, 10)
    path = last_segment(tmp_path)
    start, end = record_offsets(path)[5:7]
    data = bytearray(path.read_bytes())
    data[start:end] = bytes(end - start)
    path.write_bytes(bytes(data))
    assert_corrupt(tmp_path, path, start)


def test_any_damage_in_an_earlier_segment_stops_replay(tmp_path: Path) -> None:
    make_log(tmp_path, 30, segment_bytes=250)
    first = WriteAheadLog(tmp_path).segments()[0]
    target = record_offsets(first)[-1]  # even its last record: only the last segment may be torn
    flip_byte(first, target + HEADER.size + 2)
    assert_corrupt(tmp_path, first, target)


def test_a_torn_tail_in_an_earlier_segment_stops_replay(tmp_path: Path) -> None:
    make_log(tmp_path, 30, segment_bytes=250)
    first = WriteAheadLog(tmp_path).segments()[0]
    size = first.stat().st_size
    with open(first, "r+b") as file:
        file.truncate(size - 3)
    assert_corrupt(tmp_path, first, record_offsets(first)[-1])


def test_bad_magic_stops_replay(tmp_path: Path) -> None:
    make_log(tmp_path, 3)
    path = last_segment(tmp_path)
    flip_byte(path, 2)
    assert_corrupt(tmp_path, path, 0)


@pytest.mark.parametrize(
    "value",
    [["not", "a", "record", "!", "!"], [1, 1, 0, "text, not bytes"], {"index": 1}, [-1, 1, 0]],
    ids=["five items", "str data", "map", "negative term"],
)
def test_valid_checksum_but_not_a_log_record_stops_replay(tmp_path: Path, value: object) -> None:
    # Even as the very last record: its checksum matches, so it is what was written.
    make_log(tmp_path, 4)
    path = last_segment(tmp_path)
    offset = path.stat().st_size
    append_bytes(path, raw_record(cbor2.dumps(value)))
    assert_corrupt(tmp_path, path, offset)


def test_a_stray_file_in_the_log_directory_is_refused(tmp_path: Path) -> None:
    make_log(tmp_path, 2)
    (tmp_path / "notes.wal").write_bytes(MAGIC)
    with pytest.raises(WalCorruptError, match=r"notes\.wal"):
        list(WriteAheadLog(tmp_path).replay())


# -- fsync --------------------------------------------------------------------------------


@pytest.mark.parametrize("fsync", [True, False])
def test_write_syncs_once_per_call_when_fsync_is_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync: bool
) -> None:
    synced: list[int] = []
    real = os.fdatasync

    def counting_fdatasync(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counting_fdatasync)
    wal, _ = open_log(tmp_path, fsync=fsync)
    batch = b"".join(encode(entry(i)) for i in range(1, 51))
    wal.write(batch, 51)  # one group commit of 50 entries
    write_entries(wal, 51, 4)
    expected = 5 if fsync else 0
    assert wal.fsyncs == expected
    assert len(synced) == expected
    wal.close()
    assert len(replay(tmp_path)) == 54


# -- properties: whatever the batches, a reopened log replays them; a torn last write loses
#    only a suffix of that write ------------------------------------------------------------

batches_strategy = st.lists(
    st.lists(st.binary(max_size=300), min_size=1, max_size=8), min_size=1, max_size=12
)


def write_batches(wal: WriteAheadLog, batches: list[list[bytes]], seed: int) -> list[Record]:
    """One write per batch: its entries, then a hard state committing them."""
    written: list[Record] = []
    index = 0
    for number, batch in enumerate(batches):
        records: list[Record] = []
        for data in batch:
            index += 1
            records.append(Entry(index, 1 + number // 3, seed % 3, data))
        records.append(HardState(1 + number // 3, "n1" if seed % 2 else None, index))
        wal.write(b"".join(encode(r) for r in records), index + 1)
        written += records
    return written


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=batches_strategy,
    segment_bytes=st.integers(min_value=64, max_value=4096),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_random_batches_survive_reopen(
    tmp_path_factory: pytest.TempPathFactory,
    batches: list[list[bytes]],
    segment_bytes: int,
    seed: int,
) -> None:
    directory = tmp_path_factory.mktemp("wal")
    wal, _ = open_log(directory, segment_bytes=segment_bytes, fsync=False)
    written = write_batches(wal, batches, seed)
    wal.close()
    assert replay(directory) == written
    # And the reopened log takes more batches after them.
    wal, replayed = open_log(directory, segment_bytes=segment_bytes, fsync=False)
    assert replayed == written
    last = max(r.index for r in written if isinstance(r, Entry))
    written += write_entries(wal, last + 1, 3)
    wal.close()
    assert replay(directory) == written


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=batches_strategy,
    cut=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_a_torn_last_write_loses_only_part_of_that_write(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[bytes]], cut: float, seed: int
) -> None:
    directory = tmp_path_factory.mktemp("wal")
    wal, _ = open_log(directory, fsync=False)
    written = write_batches(wal, batches, seed)
    wal.close()
    last_batch = len(batches[-1]) + 1
    last_write = sum(len(encode(r)) for r in written[-last_batch:])
    path = last_segment(directory)
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.truncate(size - last_write + int(cut * last_write))
    survived = replay(directory)
    assert survived == written[: len(survived)]
    assert len(survived) >= len(written) - last_batch


def test_a_new_log_directory_is_made_durable_in_its_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    monkeypatch.setattr(wal_module, "sync_directory", synced.append)
    WriteAheadLog(tmp_path / "wal")
    assert synced == [tmp_path]
    WriteAheadLog(tmp_path / "wal")  # already there: nothing to sync
    assert synced == [tmp_path]


# -- batches: an OS crash may leave holes anywhere in the last, unsynced batch --------------


def test_a_hole_inside_the_last_batch_drops_that_batch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = make_log(tmp_path, 4)
    wal, _ = open_log(tmp_path)
    batch = [entry(index, b"x" * 100) for index in range(5, 10)]
    wal.write(b"".join(encode(record) for record in batch), 10)
    crash(wal)  # no clean close: the last batch may be incomplete on disk
    path = last_segment(tmp_path)
    marker = record_offsets(path, markers=True)[-6]
    # The page holding entry 6 never reached the disk; entries 7..9 after it did.
    flip_byte(path, record_offsets(path)[-4] + 12)
    with caplog.at_level(logging.WARNING, logger="concord.wal"):
        assert replay(tmp_path) == records  # the whole unsynced batch is gone, nothing else
    assert path.stat().st_size == marker
    # The log alone cannot tell a crash from a truncation: recovery, which has the node's
    # promise, says which (tests/raft/driver/test_recovery.py).
    assert "whether it was acknowledged is not known" in caplog.text
    assert "never acknowledged" not in caplog.text


def test_replay_without_cut_leaves_the_torn_tail_for_the_caller(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = make_log(tmp_path, 4)
    path = last_segment(tmp_path)
    intact = path.stat().st_size
    _partial_payload(path)
    damaged = path.read_bytes()
    wal = WriteAheadLog(tmp_path)
    with caplog.at_level(logging.WARNING, logger="concord.wal"):
        assert list(wal.replay(cut=False)) == records
    assert not caplog.records
    assert path.read_bytes() == damaged  # nothing cut yet
    torn = wal.torn_tail
    assert torn is not None
    assert (torn.path, torn.offset, torn.size) == (path, intact, len(damaged))
    with caplog.at_level(logging.WARNING, logger="concord.wal"):
        wal.cut_torn_tail("what the caller knows")
    assert path.stat().st_size == intact
    assert "(what the caller knows)" in caplog.text
    assert wal.torn_tail is None


def crash(wal: WriteAheadLog) -> None:
    """Stop using a log the way a crash does: no clean-close batch."""
    assert wal._fd is not None
    os.close(wal._fd)
    wal._fd = None


def test_a_cleanly_closed_log_has_no_unfinished_batch(tmp_path: Path) -> None:
    # A clean close adds an empty batch, so damage in the last real batch is corruption.
    make_log(tmp_path, 3)
    path = last_segment(tmp_path)
    flip_byte(path, record_offsets(path)[-1] + 12)
    with pytest.raises(WalCorruptError, match=r"checksum mismatch \(a later batch starts"):
        replay(tmp_path)


def test_damage_before_a_later_batch_was_acknowledged_data(tmp_path: Path) -> None:
    make_log(tmp_path, 6)
    path = last_segment(tmp_path)
    offsets = record_offsets(path)
    flip_byte(path, offsets[-3] + 12)  # entry 4: entries 5 and 6 were written after its fsync
    with pytest.raises(WalCorruptError, match=r"byte offset \d+: checksum mismatch \(a later"):
        replay(tmp_path)


def test_a_record_outside_its_batch_is_corruption(tmp_path: Path) -> None:
    make_log(tmp_path, 2)
    path = last_segment(tmp_path)
    data = path.read_bytes()
    # An extra, valid record appended without a marker of its own.
    path.write_bytes(data + encode(entry(3)))
    with pytest.raises(WalCorruptError, match="a record outside any batch"):
        replay(tmp_path)
