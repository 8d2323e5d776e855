"""A one-member cluster: a write is committed once it is durable on this node.

This is the embedded default (no cluster options) and the shape the Raft-backed node keeps:
`submit` gives a proposal its index and timestamp, encodes it and queues it for the log
writer thread (`raft.driver.log_writer`), which writes and fsyncs everything queued in one go
(group commit) and immediately starts on what arrived meanwhile. When the writer reports
entries durable, the apply task applies them in order and completes each proposal with its
reply, encoded at once for its connection's protocol (`Proposal.on_done` then sends it).

The event loop never waits for the disk. A failed write or fsync stops the node: after a
failed fsync the OS may have dropped data it had accepted, so going on could lose
acknowledged writes.

The leader (here: this node) stamps each entry with its time, never earlier than the previous
one, and proposes deletions of expired keys (active expiry) through the log like any write.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Final

import trio

from ..commands import OP_COMMAND, OP_EXPIRE, OP_MULTI, StateMachine, Watch
from ..commands.machine import Op, command_op, encode_op, expire_op, multi_op
from ..raft.core import Entry, EntryKind, HardState
from ..raft.driver.log_writer import LogWriter
from ..raft.driver.wal import WalCorruptError, WriteAheadLog, encode_entry, encode_hard_state
from ..resp import NULL_ARRAY, encode_reply

log = logging.getLogger("concord.node")

TERM: Final = 1  # a one-member cluster never holds an election
EXPIRE_BATCH: Final = 200
REPLAY_CHUNK: Final = 2000
APPLY_CHUNK: Final = 256


class Proposal:
    """A write waiting to be made durable and applied; `reply` holds the encoded answer."""

    __slots__ = (
        "_event",
        "apply_us",
        "body",
        "db",
        "db_after",
        "done",
        "index",
        "kind",
        "on_done",
        "proto",
        "reply",
        "watches",
    )

    def __init__(
        self,
        kind: int,
        db: int,
        body: list[bytes] | list[list[bytes]],
        proto: int = 2,
        watches: list[Watch] | None = None,
    ) -> None:
        self.kind = kind
        self.db = db
        self.body = body
        self.proto = proto
        self.watches = watches or []
        self.index = 0
        self.reply: bytes | list[bytes] = b""
        self.db_after = db
        self.apply_us = 0  # time spent applying it (INFO commandstats)
        self.done = False
        self.on_done: Callable[[], None] | None = None  # called once applied (delivers replies)
        self._event: trio.Event | None = None

    def op(self, time_us: int) -> Op:
        """The entry payload, stamped with the leader's time."""
        if self.kind == OP_COMMAND:
            return command_op(time_us, self.db, self.body)  # type: ignore[arg-type]
        if self.kind == OP_MULTI:
            return multi_op(time_us, self.db, self.body, self.watches)  # type: ignore[arg-type]
        return expire_op(time_us, self.db, self.body)  # type: ignore[arg-type]

    def finish(self, reply: bytes | list[bytes], db_after: int) -> None:
        self.reply = reply
        self.db_after = db_after
        self.done = True
        if self._event is not None:
            self._event.set()
        if self.on_done is not None:
            self.on_done()

    async def wait(self) -> None:
        if not self.done:
            if self._event is None:
                self._event = trio.Event()
            await self._event.wait()


def wall_clock_us() -> int:
    return time.time_ns() // 1000


class SingleNode:
    """The node of a one-member cluster: log, committer, state machine, active expiry."""

    def __init__(
        self,
        machine: StateMachine,
        wal: WriteAheadLog,
        *,
        clock_us: Callable[[], int] = wall_clock_us,
        expire_interval: float = 0.1,
    ) -> None:
        self.machine = machine
        self.wal = wal
        self.clock_us = clock_us
        self.expire_interval = expire_interval
        self.loading = True
        self.loaded_entries = 0
        self.last_index = 0
        self.name = "n1"
        self._token: trio.lowlevel.TrioToken | None = None
        self._inflight: deque[tuple[Proposal, Op]] = deque()  # appended, not yet applied
        self.after_apply: Callable[[], None] | None = None  # runs after each run of applies
        self._durable = trio.Event()
        self._last_stamp = 0
        self.writer = LogWriter(wal, self._notify_durable)

    # -- start-up ------------------------------------------------------------------------

    async def load(self) -> None:
        """Replay the log into the state machine, yielding to the event loop as it goes."""
        machine = self.machine
        started = time.monotonic()
        pending: list[Entry | HardState] = []
        replay = self.wal.replay()
        while True:
            pending = await trio.to_thread.run_sync(_take, replay, REPLAY_CHUNK)
            if not pending:
                break
            for record in pending:
                if isinstance(record, HardState):
                    continue  # a one-member cluster's commit index is its last durable entry
                if record.index != self.last_index + 1:
                    raise WalCorruptError(
                        f"{self.wal.directory}: entry {record.index} follows entry"
                        f" {self.last_index} (a segment is missing or out of order)"
                    )
                self.last_index = record.index
                if record.kind == EntryKind.NORMAL:
                    machine.apply(record.index, record.data)
                else:
                    machine.apply_noop(record.index)
                self.loaded_entries += 1
            await trio.lowlevel.checkpoint()
        self._last_stamp = machine.last_time_us
        self.wal.open_for_append(self.last_index + 1)
        if self.last_index == 0:
            # A fresh log records the (fixed) term of this one-member cluster first.
            hard_state = encode_hard_state(HardState(TERM, self.name, 0))
            await trio.to_thread.run_sync(self.wal.write, hard_state, 1)
        self._token = trio.lowlevel.current_trio_token()
        self.writer.start(self.last_index)
        self.loading = False
        log.info(
            "loaded %d log entries (last index %d) in %.3f s",
            self.loaded_entries,
            self.last_index,
            time.monotonic() - started,
        )

    # -- proposals -----------------------------------------------------------------------

    def submit(self, proposal: Proposal) -> None:
        """Append a proposal to the log; it is applied and answered once durable."""
        index = self.last_index + 1
        self.last_index = index
        proposal.index = index
        op = proposal.op(self._stamp())
        self._inflight.append((proposal, op))
        self.writer.append(encode_entry(index, TERM, EntryKind.NORMAL, encode_op(op)), index)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._apply_loop)
            nursery.start_soon(self._expire_loop)
            task_status.started()

    def _stamp(self) -> int:
        now = self.clock_us()
        if now > self._last_stamp:
            self._last_stamp = now
        return self._last_stamp

    def _on_durable(self) -> None:
        # Called in the event loop (via run_sync_soon) after the writer made a batch durable.
        self._durable.set()

    async def _apply_loop(self) -> None:
        """Apply entries, in order, as the log writer reports them durable."""
        machine = self.machine
        inflight = self._inflight
        writer = self.writer
        while True:
            await self._durable.wait()
            self._durable = trio.Event()
            if writer.error is not None:
                raise RuntimeError(f"writing the log failed: {writer.error}") from writer.error
            durable = writer.durable_index
            applied = 0
            while inflight and inflight[0][0].index <= durable:
                applied += 1
                if applied % APPLY_CHUNK == 0:
                    self._after_apply()
                    await trio.lowlevel.checkpoint()  # a long batch must not starve clients
                proposal, op = inflight.popleft()
                started = time.perf_counter_ns()
                reply, db_after = machine.apply_op(proposal.index, op)
                proposal.apply_us = (time.perf_counter_ns() - started) // 1000
                if proposal.kind == OP_MULTI and reply is not NULL_ARRAY:
                    assert isinstance(reply, list)
                    encoded: bytes | list[bytes] = [encode_reply(r, proposal.proto) for r in reply]
                else:
                    encoded = encode_reply(reply, proposal.proto)
                proposal.finish(encoded, db_after)
            self._after_apply()

    def _after_apply(self) -> None:
        if self.after_apply is not None:
            self.after_apply()

    @property
    def batches(self) -> int:
        return self.writer.batches

    @property
    def entries_written(self) -> int:
        return self.writer.entries

    async def _expire_loop(self) -> None:
        """Active expiry: propose deletion of keys whose time has passed (leader only)."""
        while True:
            await trio.sleep(self.expire_interval)
            if self.loading:
                continue
            now_ms = max(self.clock_us(), self.machine.last_time_us) // 1000
            waiting: list[Proposal] = []
            for number, db in enumerate(self.machine.keyspace.dbs):
                if not db.expires:
                    continue
                keys = db.expired_keys(now_ms, EXPIRE_BATCH)
                if keys:
                    proposal = Proposal(OP_EXPIRE, number, keys)
                    self.submit(proposal)
                    waiting.append(proposal)
            for proposal in waiting:
                await proposal.wait()

    def _notify_durable(self) -> None:
        # Runs in the writer thread: hand the news to the event loop.
        token = self._token
        if token is not None:
            try:
                token.run_sync_soon(self._on_durable, idempotent=True)
            except trio.RunFinishedError:
                pass

    def close(self) -> None:
        """Write out what is queued, then close the log."""
        self.writer.stop()
        self.wal.close()


def _take(iterator: object, count: int) -> list[Entry | HardState]:
    out: list[Entry | HardState] = []
    for record in iterator:  # type: ignore[attr-defined]
        out.append(record)
        if len(out) >= count:
            break
    return out
