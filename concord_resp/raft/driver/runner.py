"""The Ready runner: one task drives the Raft core and does the I/O each `Ready` asks for.

Everything else hands the runner work and wakes it (`kick`). Each round the application
steps what arrived, ticks and proposes (`Application.step_inputs`), then the runner works
through the `Ready` batches in the order their contract sets:

1. messages that may leave at once go out (a leader's appends: it replicates while its own
   fsync runs);
2. entries, a received snapshot's mark and the hard state go to the log writer thread; the
   round waits for the fsync (a new commit index alone rides with the next entries);
3. a snapshot from the leader, now durable, is installed; the answers that promise
   durability (append acknowledgements, votes) are sent;
4. committed entries are applied, in order (`Application.apply`);
5. read states go to the application; `advance`; `Application.after_ready`.

Term and vote are durable before any message that depends on them is sent (thesis 3.8), and
so is the promise that covers them (the log writer keeps it: log_writer.py).
A failed log write stops the node: going on could acknowledge what is not on disk.
"""

from __future__ import annotations

from typing import Protocol

import trio

from ..core import Entry, HardState, Message, RawNode, ReadState, Ready, Snapshot
from .log_writer import LogWriter
from .promise_file import PromiseFile
from .wal import WriteAheadLog, encode_entry, encode_hard_state, encode_snapshot_mark


class Application(Protocol):
    """What the runner asks of the node it drives."""

    def step_inputs(self, rn: RawNode) -> None:
        """Step messages, tick, propose and ask for reads: this round's inputs."""

    def send(self, msg: Message) -> None:
        """A message for a peer (an InstallSnapshot message means: stream the snapshot)."""

    async def install(self, snapshot: Snapshot) -> None:
        """A snapshot from the leader is durable: it becomes the state."""

    async def apply(self, entries: list[Entry]) -> None:
        """Apply committed entries, in order."""

    def read_states(self, states: list[ReadState]) -> None:
        """Read points the core confirmed."""

    def after_ready(self, rn: RawNode) -> None:
        """One Ready is done (replies may be flushed, snapshots taken, ...)."""

    def after_round(self) -> None:
        """Every Ready of the round is done."""


class ReadyRunner:
    def __init__(
        self,
        rn: RawNode,
        wal: WriteAheadLog,
        app: Application,
        promise: PromiseFile | None = None,
    ) -> None:
        self.rn = rn
        self.storage = rn.storage
        self.wal = wal
        self.app = app
        self.writer = LogWriter(wal, self._notify_durable, promise)
        self._token: trio.lowlevel.TrioToken | None = None
        self._wake = trio.Event()
        self._durable = trio.Event()

    def start(self) -> None:
        """Start the log writer thread (in the event loop that will run the runner)."""
        self._token = trio.lowlevel.current_trio_token()
        self.writer.start()

    def kick(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        rn, app = self.rn, self.app
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            self.check_writer()
            app.step_inputs(rn)
            while rn.has_ready():
                await self.handle_ready(rn.ready())
            app.after_round()

    def check_writer(self) -> None:
        if self.writer.error is not None:
            raise RuntimeError(f"writing the log failed: {self.writer.error}")

    async def handle_ready(self, ready: Ready) -> None:
        rn, app, storage = self.rn, self.app, self.storage
        for msg in ready.messages:
            app.send(msg)
        records: list[bytes] = [
            encode_entry(e.index, e.term, e.kind, e.data) for e in ready.entries
        ]
        snapshot = ready.snapshot  # from the leader, its file received and checked already
        if snapshot is not None:
            # Replaces the log before it when the log is read back (see wal.py).
            records.insert(0, encode_snapshot_mark(snapshot.meta.index, snapshot.meta.term))
        # A new term or vote must be durable before anything that depends on it is sent. A
        # new commit index alone need not be (Raft relearns it from the leader), so it rides
        # along with the next entries instead of costing an fsync of its own.
        hard = ready.hard_state
        persist_hard_state = hard is not None and (ready.must_sync or bool(records))
        if hard is not None and persist_hard_state:
            records.append(encode_hard_state(HardState(hard.term, hard.voted_for, hard.commit)))
        if records:
            last = rn.last_index()
            ticket = self.writer.append(
                b"".join(records),
                last + 1,
                len(ready.entries),
                end=last if ready.entries or snapshot is not None else None,
                term=hard.term if hard is not None and persist_hard_state else 0,
                voted=hard is not None and hard.voted_for is not None,
            )
            await self.until_durable(ticket)
            if snapshot is not None:
                storage.apply_snapshot(snapshot)
                await app.install(snapshot)
            storage.append(ready.entries)
            if hard is not None and persist_hard_state:
                storage.set_hard_state(hard)
        for msg in ready.messages_after_persist:
            app.send(msg)
        await app.apply(ready.committed_entries)
        if ready.read_states:
            app.read_states(ready.read_states)
        rn.advance(ready)
        app.after_ready(rn)

    def append(self, records: bytes) -> int:
        """Queue records (no entries) for the log; returns the ticket to wait for."""
        return self.writer.append(records, self.storage.last_index() + 1)

    async def until_durable(self, ticket: int) -> None:
        while self.writer.durable_ticket < ticket:
            self.check_writer()
            # Set by the `_on_durable` the writer schedules after it moves `durable_ticket`.
            await self._durable.wait()

    def _notify_durable(self) -> None:
        # Runs in the writer thread: hand the news to the event loop.
        token = self._token
        if token is not None:
            try:
                token.run_sync_soon(self._on_durable, idempotent=True)
            except trio.RunFinishedError:
                pass

    def _on_durable(self) -> None:
        event, self._durable = self._durable, trio.Event()
        event.set()  # wakes every task waiting for a ticket

    def close(self) -> None:
        """Write out what is queued and the latest commit index, then close the log (a
        clean restart then applies everything committed before it serves)."""
        self.writer.stop()
        if self.writer.error is None:
            durable_last = self.storage.last_index()
            status = self.rn.status()
            commit = min(status.commit, durable_last)
            if commit > self.storage.hard_state.commit:
                record = encode_hard_state(HardState(status.term, status.vote, commit))
                self.wal.write(record, durable_last + 1)
        self.wal.close()
        if self.writer.promise is not None:
            self.writer.promise.close()
