"""The log writer: a dedicated thread that appends and fsyncs whatever has been queued.

Group commit without a round trip through the event loop: the loop queues encoded records
(`append`) and goes on serving; the thread takes everything queued, writes it with one write
and one fsync, publishes `durable_ticket`, and immediately starts on whatever arrived in the
meantime. The disk is never idle waiting for the event loop to notice that an fsync finished,
which is what bounds throughput when a worker is handed one batch at a time.

With a promise file (promise_file.py) the thread also keeps the node's promise
(raft/core/promise.py): right after a batch's fsync, before its ticket is published, it
raises the promise to the log's new end and term, so no acknowledgement or vote the batch
allows leaves before the promise covers it; a batch that shortens the log (a Raft conflict,
an installed snapshot) lowers the promise before it is written. A batch that changes neither
the log's end nor the term (a commit index alone) costs no promise write. The promise write
is one small O_DSYNC `pwrite`, in this thread: handing it to another thread to overlap it
with the next batch's fsync was measured no faster, since each hand-over waits for the GIL.

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
        self._queued_hard = (0, False)  # the newest queued hard state: term (0: none), voted
        self._ticket = 0  # the newest ticket handed out by `append`
        self._next_index = 1  # the index after the newest queued entry (names a new segment)
        self._stopping = False
        self.durable_ticket = 0  # every append up to this ticket is on disk (and promised)
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
        voted: bool = False,
    ) -> int:
        """Queue encoded records (from the event loop, in log order). `next_index` is the
        index the entry after them will have; `entries` how many entries they hold; `end`
        the log's last index once they are written, if they add or replace entries; `term`
        and `voted` the hard state among them (term 0: none; voted: it holds a vote). Returns a ticket: the records are
        durable, and the promise covers them, once `durable_ticket` reaches it."""
        with self._cond:
            self._queued.append(records)
            self._queued_entries += entries
            if end is not None:
                self._queued_end = end
            if term:
                self._queued_hard = (term, voted)
            self._next_index = next_index
            self._ticket += 1
            self._cond.notify()
            return self._ticket

    def _run(self) -> None:
        cond = self._cond
        promise = self.promise
        while True:
            with cond:
                while not self._queued and not self._stopping:
                    cond.wait()
                if not self._queued:
                    return
                records, self._queued = self._queued, []
                entries, self._queued_entries = self._queued_entries, 0
                end, self._queued_end = self._queued_end, None
                (term, voted), self._queued_hard = self._queued_hard, (0, False)
                ticket, next_index = self._ticket, self._next_index
            try:
                # A batch is all or nothing on replay, so only where it leaves the log counts.
                if promise is not None and (lower := promise.promise.before_write(end)):
                    promise.record(lower)
                self.wal.write(records[0] if len(records) == 1 else b"".join(records), next_index)
                if promise is not None and (
                    raised := promise.promise.after_write(term, end, voted)
                ):
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
