"""Snapshots of the applied state: taken, restored, compacted behind, sent and received.

A forked child writes one (`raft.driver.snapshot_child`) once `snapshot_entries` entries or
`snapshot_bytes` bytes of commands were applied since the last (0: no such limit), or on
SAVE/BGSAVE. Then the log in memory is cut to `catch_up_entries` before the snapshot (a
follower further behind is sent the snapshot), and on disk to the older of the two snapshots
kept, so a damaged newest one can be replaced by the older one and the log. At start-up the
newest readable one is restored and the log after it applied (`restore`, called by recovery).

InstallSnapshot: a leader streams the file of the snapshot Raft wants sent
(`snapshot_transfer`); a follower checks a received file by restoring it beside the live
state machine, off the event loop, publishes it, and only then steps Raft's message; once the
core has made it durable (`install`) it becomes the state machine.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from ..raft.core import ConfState, Message, MessageType, RawNode, Snapshot
from ..raft.driver.codec import decode_message, encode_message
from ..raft.driver.snapshot_child import SnapshotChildError, run_in_child
from ..raft.driver.snapshot_file import (
    SnapshotFileError,
    SnapshotInfo,
    file_name,
    list_snapshots,
    publish_received,
    read_snapshot,
    receive_path,
    remove_received,
    write_snapshot,
)
from ..raft.driver.wal import WalCorruptError, encode_hard_state
from ..state import StateMachine
from ..state.snapshot import SnapshotError, restore_records, snapshot_records
from .snapshot_transfer import SnapshotReceiver, SnapshotSender
from .telemetry import event

if TYPE_CHECKING:
    from .node import RaftNode

log = logging.getLogger("concord.node")


class Snapshots:
    def __init__(self, node: RaftNode) -> None:
        self.node = node
        config = node.config
        self.directory = config.snapshot_dir
        self.index = 0  # of the newest snapshot on disk (0: none)
        self.time = 0.0  # wall-clock seconds it was written (LASTSAVE)
        self.taking = False
        self.failed = False  # the last attempt failed (INFO, SAVE)
        self.bytes_since = 0  # command bytes applied since the last snapshot began
        self.segments_deleted = 0
        self.sender: SnapshotSender | None = None
        self.receiver: SnapshotReceiver | None = None
        self._newest: SnapshotInfo | None = None
        self._compact_due = False
        self._done = trio.Event()
        self._reports: deque[tuple[str, bool]] = deque()  # (follower, sent whole)
        self._received: deque[Message] = deque()  # InstallSnapshot messages, file checked
        self._prepared: dict[int, tuple[SnapshotInfo, StateMachine]] = {}  # by index

    @property
    def sent(self) -> int:
        """Snapshot streams sent whole to followers."""
        return self.sender.sent if self.sender is not None else 0

    @property
    def received(self) -> int:
        """Snapshot streams received whole from the leader."""
        return self.receiver.received if self.receiver is not None else 0

    def start_transfers(self, nursery: trio.Nursery) -> None:
        """Stream snapshots to followers and receive them (a node with peers)."""
        node, directory = self.node, self.directory
        if node.transport is None or directory is None:
            return
        config = node.config
        self.sender = SnapshotSender(
            node.transport,
            nursery,
            self._sent,
            timeout=config.snapshot_timeout,
            chunk_bytes=config.snapshot_chunk_bytes,
            durations=node.metrics.snapshot_send,
        )
        self.receiver = SnapshotReceiver(
            node.transport,
            lambda sender: receive_path(directory, sender),
            self._received_file,
            durations=node.metrics.snapshot_receive,
        )
        nursery.start_soon(self.receiver.run)

    # -- start-up ------------------------------------------------------------------------

    async def restore(self, need: int) -> SnapshotInfo | None:
        """Restore the newest snapshot at or after index `need` that reads back whole. A
        damaged one is skipped with a warning for an older one the log still joins; if none
        is left and the log does not start at index 1, start-up stops (the entries only the
        snapshots held would be lost)."""
        directory, machine = self.directory, self.node.machine
        if directory is not None:
            remove_received(directory)
        skipped: list[str] = []
        for info in list_snapshots(directory) if directory is not None else []:
            if info.index < need:
                skipped.append(f"{info.path.name} is older than that")
                break

            def restore(path: Path = info.path) -> SnapshotInfo:
                found, records = read_snapshot(path)
                restore_records(machine, records)
                return found

            try:
                found = await trio.to_thread.run_sync(restore)
            except (SnapshotFileError, SnapshotError, OSError) as error:
                log.warning("skipping snapshot %s: %s", info.path.name, error)
                skipped.append(f"{info.path.name} is damaged ({error})")
                machine.reset()
                continue
            self.index = found.index
            self.time = info.path.stat().st_mtime
            self._newest = found
            log.info("restored snapshot at index %d (term %d)", found.index, found.term)
            return found
        if need == 0:
            return None  # the log holds everything from index 1
        raise WalCorruptError(
            f"{self.node.wal.directory}: the log starts after index {need} (the entries before"
            f" it were compacted into snapshots), and no readable snapshot at or after index"
            f" {need} is in {directory}: {'; '.join(skipped) or 'there is none'}"
        )

    # -- taking one ------------------------------------------------------------------------

    def maybe_take(self) -> None:
        if self.taking:
            return
        config = self.node.config
        entries, size = config.snapshot_entries, config.snapshot_bytes
        if (entries and self.node.machine.applied_index - self.index >= entries) or (
            size and self.bytes_since >= size
        ):
            self.start()

    def start(self) -> bool:
        """Start writing a snapshot of the applied state (False if one is being written)."""
        nursery = self.node.nursery
        if self.taking or self.directory is None or nursery is None:
            return False
        self.taking = True
        self._done = trio.Event()
        nursery.start_soon(self._take)
        return True

    async def now(self) -> bool:
        """Write a snapshot and wait for it (SAVE): False if it failed or one was already
        being written (the caller reports which)."""
        if not self.start():
            return False
        done = self._done
        await done.wait()
        return not self.failed

    async def _take(self) -> None:
        node = self.node
        await node.applier.idle()  # (the fork below must see the state between two entries)
        machine, directory = node.machine, self.directory
        assert directory is not None
        index = machine.applied_index
        self.bytes_since = 0
        term = node.storage.term(index) if index else 0
        status = node.status
        voters, learners = status.voters, status.learners
        started = time.monotonic()

        def write() -> None:  # runs in the forked child
            write_snapshot(directory, index, term, voters, learners, snapshot_records(machine))

        try:
            await run_in_child(write)
        except (SnapshotChildError, OSError) as error:
            log.error("snapshot at index %d failed: %s", index, error)
            node.metrics.snapshots_failed += 1
            self.index = index  # try again after another `snapshot_entries`
            self.failed = True
        else:
            self.index = index
            self.time = time.time()
            self.failed = False
            path = directory / file_name(index, term)
            self._newest = SnapshotInfo(path, index, term, voters, learners)
            self._compact_due = True
            node.kick()
            seconds = time.monotonic() - started
            node.metrics.snapshots_taken += 1
            node.metrics.snapshot_take.observe(seconds)
            event(
                log,
                "snapshot_taken",
                f"snapshot at index {index} written in {seconds:.2f} s",
                index=index,
                term=term,
                seconds=round(seconds, 3),
            )
        finally:
            self.taking = False
            self._done.set()
        self.maybe_take()  # the next one may have come due while this one was written

    def compact(self) -> None:
        """Cut the log behind the newest snapshot: in memory to `catch_up_entries` before
        it, on disk (whole segments) to the older snapshot kept. Runs in the loop between
        rounds, when everything queued is durable."""
        if not self._compact_due:
            return
        self._compact_due = False
        node = self.node
        newest, storage, nursery = self._newest, node.storage, node.nursery
        if newest is None or nursery is None or newest.index > storage.last_index():
            return
        if newest.index > storage.snapshot.meta.index:
            conf = ConfState(newest.voters, newest.learners)
            storage.create_snapshot(newest.index, conf, b"")
        cut = newest.index - node.config.catch_up_entries
        if cut >= storage.first_index():
            storage.compact(cut)
        kept = list_snapshots(self.directory) if self.directory is not None else []
        if len(kept) >= 2:
            # The newest hard state must outlive the segments deleted: write it again.
            ticket = node.append_records(encode_hard_state(storage.hard_state))
            nursery.start_soon(self._delete_segments, ticket, kept[-1].index)

    async def _delete_segments(self, ticket: int, through: int) -> None:
        node = self.node
        await node.until_durable(ticket)
        deleted = await trio.to_thread.run_sync(node.wal.delete_through, through)
        if deleted:
            self.segments_deleted += len(deleted)
            log.info("deleted %d log segments up to index %d", len(deleted), through)

    # -- InstallSnapshot, the leader's side ---------------------------------------------------

    def send(self, msg: Message) -> None:
        """Raft wants `msg.to` to catch up by snapshot: stream its file."""
        assert msg.snapshot is not None
        meta = msg.snapshot.meta
        sender, directory = self.sender, self.directory
        if sender is None or directory is None:
            self._sent(msg.to, False)
            return
        if msg.to not in meta.conf_state.members():
            # Taken before `msg.to` joined, so it would refuse it: take one now (its joining
            # is applied here), which Raft sends when it tries again.
            log.info("taking a snapshot that includes %s, which has just joined", msg.to)
            self.start()
            self._sent(msg.to, False)
            return
        path = directory / file_name(meta.index, meta.term)
        if not path.exists():
            log.warning("cannot send snapshot %s to %s: it is gone", path.name, msg.to)
            self._sent(msg.to, False)
            return
        sender.start(msg.to, path, encode_message(msg))

    def _sent(self, to: str, success: bool) -> None:
        self._reports.append((to, success))
        self.node.kick()

    def link_down(self, peer: str) -> None:
        if self.sender is not None:
            self.sender.abort(peer, "the link went down")

    # -- InstallSnapshot, the follower's side -------------------------------------------------

    async def _received_file(self, sender: str, path: Path, message: object) -> None:
        """A snapshot streamed whole (synced, not checked yet): check it by restoring it
        beside the live state machine (off the event loop), publish it as the newest
        snapshot file, and hand Raft the InstallSnapshot message. Raises to refuse it."""
        msg = decode_message(message)
        if msg.type != MessageType.SNAP or msg.sender != sender or msg.snapshot is None:
            raise ValueError("the last chunk does not carry an InstallSnapshot message")
        meta = msg.snapshot.meta
        directory = self.directory
        assert directory is not None
        live = self.node.machine
        if meta.index > live.applied_index:
            table = live.table

            def check() -> tuple[SnapshotInfo, StateMachine]:
                info, records = read_snapshot(path)
                if (info.index, info.term) != (meta.index, meta.term):
                    raise SnapshotFileError(
                        f"{path}: holds index {info.index} term {info.term}, the message"
                        f" says index {meta.index} term {meta.term}"
                    )
                machine = StateMachine(table)
                restore_records(machine, records)
                if machine.applied_index != info.index:
                    raise SnapshotError(f"{path}: its state is at index {machine.applied_index}")
                return publish_received(directory, path, info), machine

            info, machine = await trio.to_thread.run_sync(check)
            self._prepared[info.index] = (info, machine)
            event(
                log,
                "snapshot_received",
                f"received snapshot at index {info.index} from {sender}",
                index=info.index,
                term=info.term,
                peer=sender,
            )
        else:
            await trio.to_thread.run_sync(path.unlink)  # nothing new: Raft answers with ours
        self._received.append(msg)
        self.node.kick()

    def step(self, rn: RawNode) -> None:
        """Report finished streams to Raft (a leader); step received snapshots (a
        follower)."""
        while self._reports:
            to, success = self._reports.popleft()
            rn.report_snapshot(to, success=success)
        if not self._received:
            return
        while self._received:
            rn.step(self._received.popleft())
        # Raft takes at most the newest: what it did not take is not needed.
        taken = rn.status().pending_snapshot
        for index in list(self._prepared):
            if index != taken:
                del self._prepared[index]

    def install(self, snapshot: Snapshot) -> None:
        """A snapshot from the leader is durable: it becomes the state machine."""
        prepared = self._prepared.pop(snapshot.meta.index, None)
        if prepared is None:
            raise RuntimeError(f"no received snapshot at index {snapshot.meta.index}")
        info, machine = prepared
        node = self.node
        node.machine.adopt(machine)
        node.membership.changed()
        self.index = info.index
        self.time = time.time()
        self.bytes_since = 0
        self._newest = info
        self._compact_due = True
        node.metrics.snapshots_installed += 1
        event(
            log,
            "snapshot_installed",
            f"installed snapshot at index {info.index} (term {info.term})",
            index=info.index,
            term=info.term,
        )
