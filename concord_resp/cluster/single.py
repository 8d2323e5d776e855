"""A one-member cluster: a write is committed once it is durable on this node.

This is the embedded default (no cluster options) and the shape the Raft-backed node keeps:
connections `submit` proposals, a single committer task turns everything submitted since its
last round into one batch of log entries (one write, one fsync: group commit), and once the
batch is durable applies the entries in order and hands each waiting connection its reply,
encoded at once for that connection's protocol.

The fsync runs in a worker thread so the event loop keeps serving reads and accepting new
writes (which form the next batch) while the disk works. A failed write or fsync stops the
node: after a failed fsync the OS may have dropped data it had accepted, so going on could
lose acknowledged writes.

The leader (here: this node) stamps each batch with its time, never earlier than the previous
batch, and proposes deletions of expired keys (active expiry) through the log like any write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import trio

from ..commands import (
    OP_COMMAND,
    OP_EXPIRE,
    OP_MULTI,
    StateMachine,
    Watch,
    encode_command,
    encode_expire,
    encode_multi,
)
from ..raft.core import Entry, EntryKind, HardState
from ..raft.driver.wal import WriteAheadLog, encode_entry, encode_hard_state
from ..resp import NULL_ARRAY, encode_reply

log = logging.getLogger("concord.node")

TERM: Final = 1  # a one-member cluster never holds an election
EXPIRE_BATCH: Final = 200
REPLAY_CHUNK: Final = 2000


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
        self._event: trio.Event | None = None

    def encode(self, time_us: int) -> bytes:
        if self.kind == OP_COMMAND:
            return encode_command(time_us, self.db, self.body)  # type: ignore[arg-type]
        if self.kind == OP_MULTI:
            return encode_multi(time_us, self.db, self.body, self.watches)  # type: ignore[arg-type]
        return encode_expire(time_us, self.db, self.body)  # type: ignore[arg-type]

    def finish(self, reply: bytes | list[bytes], db_after: int) -> None:
        self.reply = reply
        self.db_after = db_after
        self.done = True
        if self._event is not None:
            self._event.set()

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
        self.commit_index = 0
        self.term = TERM
        self.name = "n1"
        self._queue: list[Proposal] = []
        self._wakeup = trio.Event()
        self._last_stamp = 0
        self._stopping = False
        self.batches = 0
        self.entries_written = 0

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
                    self.commit_index = max(self.commit_index, record.commit)
                    continue
                if record.index != self.last_index + 1:
                    raise RuntimeError(
                        f"log gap: entry {record.index} follows {self.last_index} in {self.wal.directory}"
                    )
                self.last_index = record.index
                if record.kind == EntryKind.NORMAL:
                    machine.apply(record.index, record.data)
                else:
                    machine.apply_noop(record.index)
                self.loaded_entries += 1
            await trio.lowlevel.checkpoint()
        self.commit_index = self.last_index
        self._last_stamp = machine.last_time_us
        self.wal.open_for_append(self.last_index + 1)
        if self.last_index == 0:
            # A fresh log records the (fixed) term of this one-member cluster first.
            await self._write(encode_hard_state(HardState(TERM, self.name, 0)))
        self.loading = False
        log.info(
            "loaded %d log entries (last index %d) in %.3f s",
            self.loaded_entries,
            self.last_index,
            time.monotonic() - started,
        )

    # -- proposals -----------------------------------------------------------------------

    def submit(self, proposal: Proposal) -> None:
        self._queue.append(proposal)
        self._wakeup.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._commit_loop)
            nursery.start_soon(self._expire_loop)
            task_status.started()

    def _stamp(self) -> int:
        now = self.clock_us()
        if now > self._last_stamp:
            self._last_stamp = now
        return self._last_stamp

    async def _commit_loop(self) -> None:
        machine = self.machine
        while True:
            if not self._queue:
                self._wakeup = trio.Event()
                await self._wakeup.wait()
            batch, self._queue = self._queue, []
            time_us = self._stamp()
            records: list[bytes] = []
            payloads: list[bytes] = []
            index = self.last_index
            for proposal in batch:
                index += 1
                proposal.index = index
                payload = proposal.encode(time_us)
                payloads.append(payload)
                records.append(encode_entry(index, TERM, EntryKind.NORMAL, payload))
            await self._write(b"".join(records))
            self.last_index = self.commit_index = index
            self.batches += 1
            self.entries_written += len(batch)
            for proposal, record_payload in zip(batch, payloads, strict=True):
                started = time.perf_counter_ns()
                reply, db_after = machine.apply(proposal.index, record_payload)
                proposal.apply_us = (time.perf_counter_ns() - started) // 1000
                if proposal.kind == OP_MULTI and reply is not NULL_ARRAY:
                    assert isinstance(reply, list)
                    encoded: bytes | list[bytes] = [encode_reply(r, proposal.proto) for r in reply]
                else:
                    encoded = encode_reply(reply, proposal.proto)
                proposal.finish(encoded, db_after)

    async def _write(self, records: bytes) -> None:
        if self.wal.fsync:
            await trio.to_thread.run_sync(self.wal.write, records, self.last_index + 1)
        else:
            self.wal.write(records, self.last_index + 1)

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

    def close(self) -> None:
        self.wal.close()


def _take(iterator: object, count: int) -> list[Entry | HardState]:
    out: list[Entry | HardState] = []
    for record in iterator:  # type: ignore[attr-defined]
        out.append(record)
        if len(out) >= count:
            break
    return out


def open_wal(data_dir: Path, *, fsync: bool) -> WriteAheadLog:
    return WriteAheadLog(data_dir / "wal", fsync=fsync)
