"""The log writer thread: group commit without the event loop in the loop."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from concord_resp.raft.core import Entry, Promise
from concord_resp.raft.driver.log_writer import LogWriter
from concord_resp.raft.driver.promise_file import PromiseFile, identity
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


# -- the promise: kept by the writer thread around each batch ---------------------------------


class Recorded:
    """A promise file and a log that note, in one list, the order things became durable."""

    def __init__(self, tmp_path: Path) -> None:
        self.events: list[tuple[str, object]] = []
        self.wal = _open(tmp_path)
        self.promise = PromiseFile.create(tmp_path / "promise", identity("n1", "c"))
        write, record = self.wal.write, self.promise.record

        def logged_write(records: bytes, next_index: int) -> None:
            write(records, next_index)
            self.events.append(("log", next_index - 1))

        def logged_record(promise: Promise) -> None:
            record(promise)
            self.events.append(("promise", promise))

        self.wal.write = logged_write  # type: ignore[method-assign]
        self.promise.record = logged_record  # type: ignore[method-assign]

    def run(self, *appends: tuple[int, int, int | None, int]) -> None:
        """(first entry, count, end, term) per append, each written on its own."""
        notified = threading.Event()
        writer = LogWriter(self.wal, notified.set, self.promise)
        writer.start()
        for first, count, end, term in appends:
            records = b"".join(
                encode_entry(i, max(term, 1), 0, b"x") for i in range(first, first + count)
            )
            ticket = writer.append(records, first + count, count, end=end, term=term)
            for _ in range(100):  # one batch at a time
                if writer.durable_ticket >= ticket:
                    break
                notified.wait(timeout=0.1)
                notified.clear()
            assert writer.durable_ticket == ticket
        writer.stop()


def test_the_promise_follows_each_batch_after_its_fsync(tmp_path: Path) -> None:
    recorded = Recorded(tmp_path)
    recorded.run((1, 3, 3, 1), (4, 2, 5, 0), (6, 0, None, 0), (6, 0, None, 2))
    assert recorded.events == [
        ("log", 3),
        ("promise", Promise(1, 3)),
        ("log", 5),
        ("promise", Promise(1, 5)),
        ("log", 5),  # a commit index alone: no promise write
        ("log", 5),
        ("promise", Promise(2, 5)),  # a new term (a vote): promised before it is sent
    ]


def test_a_batch_that_shortens_the_log_lowers_the_promise_before_it_is_written(
    tmp_path: Path,
) -> None:
    recorded = Recorded(tmp_path)
    recorded.run((1, 10, 10, 1), (6, 2, 7, 2))  # a new leader's entries 6..7 replace 6..10
    assert recorded.events == [
        ("log", 10),
        ("promise", Promise(1, 10)),
        ("promise", Promise(1, 7)),  # first: a crash during the write must not look like loss
        ("log", 7),
        ("promise", Promise(2, 7)),
    ]


def test_a_batch_is_published_only_once_its_promise_is_durable(tmp_path: Path) -> None:
    wal = _open(tmp_path)
    promise = PromiseFile.create(tmp_path / "promise", identity("n1", "c"))
    record = promise.record
    release = threading.Event()
    recording = threading.Event()

    def slow_record(value: Promise) -> None:
        recording.set()
        assert release.wait(timeout=10)
        record(value)

    promise.record = slow_record  # type: ignore[method-assign]
    writer = LogWriter(wal, lambda: None, promise)
    writer.start()
    ticket = writer.append(encode_entry(1, 1, 0, b"a"), 2, 1, end=1, term=1)
    assert recording.wait(timeout=10)  # batch 1 is on disk; its promise is being written
    assert writer.durable_ticket == 0  # nothing acknowledged before its promise
    release.set()
    writer.stop()
    assert writer.durable_ticket == ticket
    assert promise.promise == Promise(1, 1)
    wal.close()


def test_a_failed_promise_write_is_reported_like_a_failed_log_write(tmp_path: Path) -> None:
    wal = _open(tmp_path)
    promise = PromiseFile.create(tmp_path / "promise", identity("n1", "c"))

    def broken_record(value: Promise) -> None:
        raise OSError(5, "Input/output error")

    promise.record = broken_record  # type: ignore[method-assign]
    failed = threading.Event()
    writer = LogWriter(wal, failed.set, promise)
    writer.start()
    writer.append(encode_entry(1, 1, 0, b"a"), 2, 1, end=1)
    assert failed.wait(timeout=10)
    assert isinstance(writer.error, OSError)
    assert writer.durable_ticket == 0
    writer.stop()
    wal.close()
