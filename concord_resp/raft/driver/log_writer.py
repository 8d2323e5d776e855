"""The log writer: a dedicated thread that appends and fsyncs whatever has been queued.

Group commit without a round trip through the event loop: the loop queues encoded records
(`append`) and goes on serving; the thread takes everything queued, writes it with one write
and one fsync, publishes `durable_index`, and immediately starts on whatever arrived in the
meantime. The disk is never idle waiting for the event loop to notice that an fsync finished,
which is what bounds throughput when a worker is handed one batch at a time.

`notify` is called from the writer thread after each durable batch and must be thread-safe
(the node passes trio's `run_sync_soon`). A failed write or fsync is recorded in `error`,
notified, and ends the thread: after a failed fsync the kernel may have dropped the data, so
the node must stop rather than acknowledge anything more.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .promise_file import PromiseFile
from .wal import WriteAheadLog


class LogWriter:
    def __init__(
        self,
        wal: WriteAheadLog,
        notify: Callable[[], None],
        promise: PromiseFile | None = None,
    ) -> None:
        self.wal = wal
        self.promise = promise
        self._notify = notify
        self._cond = threading.Condition()
        self._queued: list[bytes] = []
        self._queued_entries = 0
        self._queued_end: int | None = None  # where the queued records leave the log's end
        self._queued_term = 0  # the newest term in the queued hard states (0: none)
        self._ticket = 0  # the newest ticket handed out by `append`
        self._next_index = 1  # the index after the newest queued entry (names a new segment)
        self._stopping = False
        self.durable_ticket = 0  # every append up to this ticket is on disk
        self.error: BaseException | None = None
        self.batches = 0
        self.entries = 0
        self._thread = threading.Thread(target=self._run, name="concord-log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def append(
        self,
        records: bytes,
        next_index: int,
        entries: int = 0,
        *,
        end: int | None = None,
        term: int = 0,
    ) -> int:
        """Queue encoded records (from the event loop, in log order). `next_index` is the
        index the entry after them will have; `entries` how many entries they hold; `end`
        the log's last index once they are written, if they add or replace entries; `term`
        the term of the hard state among them (0: none). Returns a ticket: the records are
        durable, and the promise covers them, once `durable_ticket` reaches it."""
        with self._cond:
            self._queued.append(records)
            self._queued_entries += entries
            if end is not None:
                self._queued_end = end
            self._queued_term = max(self._queued_term, term)
            self._next_index = next_index
            self._ticket += 1
            self._cond.notify()
            return self._ticket

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._queued and not self._stopping:
                    cond.wait()
                if not self._queued:
                    return
                records, self._queued = self._queued, []
                entries, self._queued_entries = self._queued_entries, 0
                end, self._queued_end = self._queued_end, None
                term, self._queued_term = self._queued_term, 0
                ticket, next_index = self._ticket, self._next_index
            try:
                promise = self.promise
                # A batch is all or nothing on replay, so only where it leaves the log counts.
                if promise is not None and (lower := promise.promise.before_write(end)):
                    promise.record(lower)
                self.wal.write(records[0] if len(records) == 1 else b"".join(records), next_index)
                if promise is not None and (raised := promise.promise.after_write(term, end)):
                    promise.record(raised)
            except BaseException as error:
                self.error = error
                self._notify()
                return
            self.batches += 1
            self.entries += entries
            self.durable_ticket = ticket
            self._notify()

    def stop(self) -> None:
        """Write out everything queued, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join()
