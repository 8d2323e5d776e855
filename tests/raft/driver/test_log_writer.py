"""The log writer thread: group commit without the event loop in the loop."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from concord_resp.raft.core import Entry
from concord_resp.raft.driver.log_writer import LogWriter
from concord_resp.raft.driver.wal import WriteAheadLog, encode_entry


def _open(tmp_path: Path, **options: object) -> WriteAheadLog:
    wal = WriteAheadLog(tmp_path / "wal", **options)  # type: ignore[arg-type]
    list(wal.replay())
    wal.open_for_append(1)
    return wal


def test_every_appended_entry_becomes_durable_in_order(tmp_path: Path) -> None:
    wal = _open(tmp_path)
    notified = threading.Event()
    writer = LogWriter(wal, notified.set)
    writer.start()
    for index in range(1, 501):
        ticket = writer.append(encode_entry(index, 1, 0, b"x%d" % index), index + 1, 1)
    writer.stop()
    wal.close()
    assert writer.durable_ticket == ticket == 500
    assert writer.entries == 500
    assert 1 <= writer.batches <= 500  # several entries share an fsync when they queue up
    assert notified.is_set()
    reopened = WriteAheadLog(tmp_path / "wal")
    entries = [r for r in reopened.replay() if isinstance(r, Entry)]
    assert [e.index for e in entries] == list(range(1, 501))
    assert entries[41].data == b"x42"


def test_stop_writes_out_what_is_queued(tmp_path: Path) -> None:
    wal = _open(tmp_path)
    writer = LogWriter(wal, lambda: None)
    writer.start()
    writer.append(encode_entry(1, 1, 0, b"a"), 2, 1)
    writer.append(encode_entry(2, 1, 0, b"b"), 3, 1)
    writer.stop()
    assert writer.durable_ticket == 2
    wal.close()
    assert len([r for r in WriteAheadLog(tmp_path / "wal").replay() if isinstance(r, Entry)]) == 2


def test_a_failed_write_is_reported_and_ends_the_thread(tmp_path: Path) -> None:
    wal = _open(tmp_path)
    failed = threading.Event()

    def broken_write(records: bytes, next_index: int) -> None:
        raise OSError(5, "Input/output error")

    wal.write = broken_write  # type: ignore[method-assign]
    writer = LogWriter(wal, failed.set)
    writer.start()
    writer.append(encode_entry(1, 1, 0, b"a"), 2, 1)
    assert failed.wait(timeout=10)
    assert isinstance(writer.error, OSError)
    assert writer.durable_ticket == 0  # nothing was acknowledged as durable
    writer.stop()


@pytest.mark.parametrize("fsync", [True, False])
def test_fsync_setting_is_honoured(tmp_path: Path, fsync: bool) -> None:
    wal = _open(tmp_path, fsync=fsync)
    writer = LogWriter(wal, lambda: None)
    writer.start()
    writer.append(encode_entry(1, 1, 0, b"a"), 2, 1)
    writer.stop()
    assert (wal.fsyncs > 0) is fsync
