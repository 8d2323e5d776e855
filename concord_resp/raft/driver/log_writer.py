"""The log writer: a dedicated thread that appends and fsyncs whatever has been queued.

Group commit without a round trip through the event loop: the loop queues encoded records
(`append`) and goes on serving; the thread takes everything queued, writes it with one write
and one fsync, publishes `durable_ticket`, and immediately starts on whatever arrived in the
meantime. The disk is never idle waiting for the event loop to notice that an fsync finished,
which is what bounds throughput when a worker is handed one batch at a time.

With a promise file (promise_file.py) a second thread keeps the node's promise
(raft/core/promise.py): once a batch's fsync has returned, the log thread hands it the
promise that covers the batch and goes on to the next batch; the promise thread writes and
syncs it, and only then publishes the batch's ticket, so no acknowledgement or vote the batch
allows leaves before the promise covers it. The two syncs overlap instead of adding up
(measured: the promise's sync costs a batch's acknowledgement its latency, not the log its
throughput). Promises handed over while one is being written are merged: the newest covers
the older ones. A batch that changes neither the log's end nor the term (a commit index
alone) needs no promise and is published at once, unless one is still being written. A batch
that shortens the log (a Raft conflict, an installed snapshot) first waits for the promise
thread, then lowers the promise itself before writing: the log must never end before it.

`notify` is called from either thread after a ticket is published and must be thread-safe
(the node passes trio's `run_sync_soon`). A failed write or fsync is recorded in `error`,
notified, and ends the threads: after a failed fsync the kernel may have dropped the data, so
the node must stop rather than acknowledge anything more.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..core import Promise
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
        self.durable_ticket = 0  # every append up to this ticket is on disk (and promised)
        self.error: BaseException | None = None
        self.batches = 0
        self.entries = 0
        self._thread = threading.Thread(target=self._run, name="concord-log-writer", daemon=True)
        # The promise thread's hand-over, under `_promise_cond`: the newest promise to write
        # (None: none), the ticket to publish once it is durable, whether one is being
        # written. `_expected` is the promise once everything handed over is written.
        self._promise_cond = threading.Condition()
        self._promise_next: Promise | None = None
        self._promise_ticket = 0
        self._promise_busy = False
        self._promise_stopping = False
        self._expected = promise.promise if promise is not None else None
        self._promise_thread = threading.Thread(
            target=self._run_promise, name="concord-promise-writer", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        if self.promise is not None:
            self._promise_thread.start()

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
                if not self._queued or self.error is not None:
                    return
                records, self._queued = self._queued, []
                entries, self._queued_entries = self._queued_entries, 0
                end, self._queued_end = self._queued_end, None
                term, self._queued_term = self._queued_term, 0
                ticket, next_index = self._ticket, self._next_index
            try:
                # A batch is all or nothing on replay, so only where it leaves the log counts.
                self._lower_promise(end)
                self.wal.write(records[0] if len(records) == 1 else b"".join(records), next_index)
            except BaseException as error:
                self._fail(error)
                return
            self.batches += 1
            self.entries += entries
            if not self._hand_over(ticket, term, end):
                self._publish(ticket)

    def _lower_promise(self, end: int | None) -> None:
        """Before a write that shortens the log: the promise comes down first (rare)."""
        expected = self._expected
        lower = expected.before_write(end) if expected is not None else None
        if lower is None or self.promise is None:
            return
        with self._promise_cond:
            while self._promise_next is not None or self._promise_busy:
                if self.error is not None:
                    raise RuntimeError("the promise thread failed")
                self._promise_cond.wait()
        self.promise.record(lower)  # the promise thread is idle: one writer at a time
        self._expected = lower

    def _hand_over(self, ticket: int, term: int, end: int | None) -> bool:
        """Give the promise thread what this batch needs; False: nothing, publish it now."""
        expected = self._expected
        if expected is None:
            return False
        raised = expected.after_write(term, end)
        with self._promise_cond:
            if raised is None and self._promise_next is None and not self._promise_busy:
                return False
            if raised is not None:
                self._expected = self._promise_next = raised
            self._promise_ticket = ticket
            self._promise_cond.notify_all()
            return True

    def _run_promise(self) -> None:
        promise_file = self.promise
        assert promise_file is not None
        cond = self._promise_cond
        while True:
            with cond:
                while (
                    self._promise_next is None
                    and self._promise_ticket <= self.durable_ticket
                    and not self._promise_stopping
                ):
                    cond.wait()
                if self._promise_next is None and self._promise_ticket <= self.durable_ticket:
                    return  # stopping, and nothing left
                promise, self._promise_next = self._promise_next, None
                ticket = self._promise_ticket
                self._promise_busy = True
            try:
                if promise is not None:
                    promise_file.record(promise)
            except BaseException as error:
                self._fail(error)
                return
            with cond:
                # Published before it is idle: the log thread publishes later tickets itself
                # only when the promise thread is idle, so tickets never go back.
                self._publish(ticket)
                self._promise_busy = False
                cond.notify_all()

    def _publish(self, ticket: int) -> None:
        if ticket > self.durable_ticket:
            self.durable_ticket = ticket
        self._notify()

    def _fail(self, error: BaseException) -> None:
        if self.error is None:  # the first failure is the one to report
            self.error = error
        with self._promise_cond:
            self._promise_cond.notify_all()
        self._notify()

    def stop(self) -> None:
        """Write out everything queued (and its promise), then end the threads."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join()
        with self._promise_cond:
            self._promise_stopping = True
            self._promise_cond.notify_all()
        if self._promise_thread.is_alive():
            self._promise_thread.join()
