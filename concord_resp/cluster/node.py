"""A Concord node: the Raft core driven over the write-ahead log and the peer link.

This is the runner DESIGN.md section 2 describes. One task owns the `RawNode`; everything
else (connections proposing writes or asking for read points, the peer link delivering
messages, the ticker) hands it work and wakes it. Each round the runner steps what arrived,
ticks, proposes, then works through the `Ready` batches in the order their contract sets:

1. messages that may leave at once go to the peer link (a leader's appends: it replicates
   while its own fsync runs);
2. entries and hard state go to the log writer thread; the round waits for the fsync;
3. the answers that promise durability (append acknowledgements, votes) are sent;
4. committed entries are applied to the state machine, in order; each local proposal that
   was waiting for its entry is completed with its reply (encoded for its connection);
5. read states release the reads waiting for them; `advance`.

Writes. Every client write carries this node's session id and a sequence number, so it may be
proposed more than once and is applied once (Raft thesis 6.3; see `commands.machine`). The
leader proposes it; a follower forwards it to the leader over the peer link and, like every
node, applies the entry itself, which is where its client's reply comes from. A write that is
not applied yet is sent again when the leader changes and every `resend` interval. It fails
with `-CLUSTERDOWN No raft leader` if no leader took it within the write timeout (it was never
appended), or `-TIMEOUT not committed yet` if it may have been appended (outcome unknown).

Reads. `read_barrier()` returns once this node has applied everything committed when it was
called (ReadIndex, thesis 6.4): the waiting reads of a round share one read-index request, so
one heartbeat round serves them all. A single-voter cluster needs no round.

Only the leader proposes the deletion of expired keys (active expiry).
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import cbor2
import trio

from ..commands import OP_COMMAND, OP_EXPIRE, OP_MULTI, StateMachine, Watch
from ..commands.machine import Op, command_op, encode_op, expire_op, multi_op
from ..commands.snapshot import SnapshotError, restore_records, snapshot_records
from ..raft.core import (
    NO_NODE,
    ConfChange,
    ConfChangeType,
    Config,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    MemoryStorage,
    Message,
    MessageType,
    ProposalDropped,
    RawNode,
    Ready,
    Role,
    Snapshot,
    SnapshotMeta,
    decode_conf_change,
)
from ..raft.driver.codec import decode_message, encode_message
from ..raft.driver.log_writer import LogWriter
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
from ..raft.driver.wal import (
    SnapshotMark,
    WalCorruptError,
    WriteAheadLog,
    encode_entry,
    encode_hard_state,
    encode_snapshot_mark,
)
from ..resp import NULL_ARRAY, encode_error, encode_reply
from .snapshot_transfer import CHUNK_BYTES, SnapshotReceiver, SnapshotSender

log = logging.getLogger("concord.node")

EXPIRE_BATCH: Final = 200
APPLY_CHUNK: Final = 512
PROMOTE_LAG: Final = 64  # a learner this close to the commit index has caught up
FAREWELLS: Final = 6  # "you were removed" notices, half an election timeout apart
CLUSTERDOWN: Final = encode_error("CLUSTERDOWN No raft leader")
WRITE_TIMEOUT: Final = encode_error("TIMEOUT not committed yet")


class ClusterError(Exception):
    """A read could not get a read point: the error reply to send (Redis wording)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message.encode()


class Proposal:
    """A write waiting to be applied; `reply` holds the encoded answer once `done`."""

    __slots__ = (
        "_event",
        "appended",
        "apply_us",
        "body",
        "db",
        "db_after",
        "deadline",
        "done",
        "index",
        "kind",
        "on_done",
        "proto",
        "reply",
        "seq",
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
        self.seq = 0
        self.appended = False  # may be in some log: a failure is "outcome unknown"
        self.deadline = 0.0
        self.reply: bytes | list[bytes] = b""
        self.db_after = db
        self.apply_us = 0  # time spent applying it (INFO commandstats)
        self.done = False
        self.on_done: Callable[[], None] | None = None  # called once applied (delivers replies)
        self._event: trio.Event | None = None

    def op(self, time_us: int, session: list[Any] | None) -> Op:
        """The entry payload, stamped with the leader's time."""
        if self.kind == OP_COMMAND:
            return command_op(time_us, self.db, self.body, session)  # type: ignore[arg-type]
        if self.kind == OP_MULTI:
            return multi_op(time_us, self.db, self.body, self.watches, session)  # type: ignore[arg-type]
        return expire_op(time_us, self.db, self.body)  # type: ignore[arg-type]

    def request(self) -> list[Any]:
        """What a follower sends the leader (the leader stamps the time)."""
        return [self.kind, self.db, self.body, [list(w) for w in self.watches]]

    def finish(self, reply: bytes | list[bytes], db_after: int) -> None:
        if self.done:
            return
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


@dataclass(frozen=True, slots=True)
class Member:
    """A member as given by `--initial-cluster`: `name=host:port@cluster-port`."""

    name: str
    host: str
    port: int
    cluster_port: int

    def spec(self) -> str:
        return f"{self.name}={self.host}:{self.port}@{self.cluster_port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}@{self.cluster_port}"

    @classmethod
    def parse(cls, name: str, address: str) -> Member:
        """`host:port@cluster-port` (ValueError if it is not one)."""
        host_port, at, cluster = address.rpartition("@")
        host, colon, port = host_port.rpartition(":")
        if not (name and at and colon and host and port.isdigit() and cluster.isdigit()):
            raise ValueError(f"{address!r} is not host:port@cluster-port")
        if not (0 < int(port) < 65536 and 0 < int(cluster) < 65536):
            raise ValueError(f"{address!r} has a port out of range")
        return cls(name, host.strip("[]"), int(port), int(cluster))


def wall_clock_us() -> int:
    return time.time_ns() // 1000


class Transport(Protocol):
    """What the node needs from the peer link (raft.driver.transport.PeerTransport)."""

    def send(self, to: str, frame: object) -> bool: ...


class _ReadBatch:
    __slots__ = ("context", "done", "error", "index", "sent")

    def __init__(self, context: bytes) -> None:
        self.context = context
        self.index = -1  # the read point, once known
        self.sent = False
        self.done = trio.Event()
        self.error: bytes | None = None


def _rebuild_log(
    records: list[Entry | HardState | SnapshotMark], directory: Path
) -> tuple[HardState | None, int, list[Entry]]:
    """The last hard state, the newest snapshot mark (0: none) and the entries after it, as
    the records in file order leave them: an entry at an index already held replaces that
    suffix (a Raft conflict), a snapshot mark replaces everything before it."""
    hard_state: HardState | None = None
    mark = 0
    entries: list[Entry] = []
    for record in records:
        if isinstance(record, HardState):
            hard_state = record
        elif isinstance(record, SnapshotMark):
            mark, entries = record.index, []
        elif entries and entries[0].index <= record.index <= entries[-1].index:
            del entries[record.index - entries[0].index :]  # a conflict: replace the suffix
            entries.append(record)
        else:
            expected = entries[-1].index + 1 if entries else mark + 1
            if record.index != expected and (entries or mark):
                raise WalCorruptError(
                    f"{directory}: entry {record.index} follows entry {expected - 1}"
                    " (a segment is missing or out of order)"
                )
            entries.append(record)
    return hard_state, mark, entries


class _Question:
    """An operator request sent to the leader, waiting for its answer."""

    __slots__ = ("answered", "error", "value")

    def __init__(self) -> None:
        self.answered = trio.Event()
        self.error: str | None = None
        self.value: object = None


class RaftNode:
    """The node of a Concord cluster (a one-member cluster when run alone)."""

    def __init__(
        self,
        machine: StateMachine,
        wal: WriteAheadLog,
        *,
        name: str,
        members: dict[str, Member],
        clock_us: Callable[[], int] = wall_clock_us,
        expire_interval: float = 0.1,
        tick_seconds: float = 0.1,
        election_ticks: int = 10,
        heartbeat_ticks: int = 1,
        write_timeout: float = 5.0,
        read_timeout: float = 5.0,
        resend_interval: float = 1.0,
        rng_seed: int | None = None,
        snapshot_dir: Path | None = None,
        snapshot_entries: int = 0,
        snapshot_bytes: int = 0,
        catch_up_entries: int = 1000,
        snapshot_timeout: float = 30.0,
        snapshot_chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.machine = machine
        self.wal = wal
        self.name = name
        self.initial_members = dict(members)  # from --initial-cluster: the bootstrap
        self.members = dict(members)  # known addresses: those plus changes in the log
        self.removed = False  # this node was removed from the cluster
        self.on_removed: Callable[[], None] | None = None  # the server records it
        self._farewells: dict[str, Member] = {}  # removed members still being told so
        self.cluster_id = ""  # set by the server (INFO raft; what a joining node adopts)
        self.initial_cluster = ""  # --initial-cluster (or the one a joined node adopted)
        self.clock_us = clock_us
        self.expire_interval = expire_interval
        self.tick_seconds = tick_seconds
        self.write_timeout = write_timeout
        self.read_timeout = read_timeout
        self.resend_interval = resend_interval
        self.raft_config = Config(
            name, election_tick=election_ticks, heartbeat_tick=heartbeat_ticks
        )
        self._rng_seed = secrets.randbits(32) if rng_seed is None else rng_seed
        self.session = f"{name}:{secrets.token_hex(8)}"  # this process's proposals
        self.storage = MemoryStorage(ConfState(tuple(sorted(members))))
        self.rn: RawNode | None = None
        self.transport: Transport | None = None
        self.writer = LogWriter(wal, self._notify_durable)
        self.loading = True
        self.loaded_entries = 0
        self.after_apply: Callable[[], None] | None = None  # runs after each run of applies
        self._token: trio.lowlevel.TrioToken | None = None
        self._wake = trio.Event()
        self._durable = trio.Event()
        self._inbox: deque[tuple[str, object]] = deque()
        self._waiting: deque[Proposal] = deque()  # to propose or forward this round
        self._pending: dict[int, Proposal] = {}  # seq -> submitted, not applied yet
        self._ops: dict[int, tuple[int, Op]] = {}  # index -> (term, op) we proposed
        self._sessionless: dict[int, Proposal] = {}  # index -> an expiry we proposed
        self._next_seq = 1
        self._reads: list[_ReadBatch] = []
        self._next_read = 0
        self._ticks_due = 0
        self._last_stamp = 0
        self._known_leader: str = NO_NODE
        self._leader_changed = trio.Event()  # set (and replaced) when the leader changes
        self._actions: deque[Callable[[RawNode], None]] = deque()  # run in the loop
        self._questions: dict[int, _Question] = {}  # operator requests sent to the leader
        self._next_question = 0
        self.last_contact: dict[str, float] = {}
        # Snapshots: taken by a forked child once `snapshot_entries` entries or
        # `snapshot_bytes` bytes of commands were applied since the last one (0: no such
        # limit). Then the log in memory is cut to `catch_up_entries` before the snapshot (a
        # follower further behind is sent the snapshot), and on disk to the older of the two
        # snapshots kept (so a damaged newest one can be replaced by the older one and the
        # log). At start-up the newest readable one is restored and the log after it applied.
        self.snapshot_dir = snapshot_dir
        self.catch_up_entries = catch_up_entries
        self.snapshot_timeout = snapshot_timeout
        self.snapshot_chunk_bytes = snapshot_chunk_bytes
        self._newest_snapshot: SnapshotInfo | None = None
        self._compact_due = False
        self._sender: SnapshotSender | None = None
        self._receiver: SnapshotReceiver | None = None
        self._unreachable: deque[str] = deque()  # peers whose link went down
        self._snapshot_reports: deque[tuple[str, bool]] = deque()  # (follower, sent whole)
        self._received: deque[Message] = deque()  # InstallSnapshot messages, file checked
        self._prepared: dict[int, tuple[SnapshotInfo, StateMachine]] = {}  # by index
        self.segments_deleted = 0
        self.snapshot_entries = snapshot_entries
        self.snapshot_bytes = snapshot_bytes
        self.bytes_since_snapshot = 0  # command bytes applied since the last snapshot began
        self.snapshot_index = 0  # of the newest snapshot on disk (0: none)
        self.snapshot_time = 0.0  # wall-clock seconds it was written (LASTSAVE)
        self.snapshotting = False
        self.snapshot_failed = False  # the last attempt failed (INFO, SAVE)
        self._snapshot_done = trio.Event()
        self._nursery: trio.Nursery | None = None

    # -- properties the server reads ---------------------------------------------------------

    @property
    def last_index(self) -> int:
        return self.rn.raft.log.last_index() if self.rn is not None else 0

    @property
    def batches(self) -> int:
        return self.writer.batches

    @property
    def entries_written(self) -> int:
        return self.writer.entries

    @property
    def snapshots_sent(self) -> int:
        return self._sender.sent if self._sender is not None else 0

    @property
    def snapshots_received(self) -> int:
        return self._receiver.received if self._receiver is not None else 0

    @property
    def is_leader(self) -> bool:
        return self.rn is not None and self.rn.raft.role == Role.LEADER

    @property
    def leader(self) -> str:
        return self.rn.raft.lead if self.rn is not None else NO_NODE

    # -- start-up ------------------------------------------------------------------------

    async def load(self) -> None:
        """Restore the newest snapshot the log joins, rebuild the log after it, then apply
        what was committed before serving."""
        started = time.monotonic()
        storage = self.storage
        directory = self.wal.directory
        records = await trio.to_thread.run_sync(lambda: list(self.wal.replay()))
        hard_state, mark, entries = _rebuild_log(records, directory)
        # The snapshot must reach the log: up to the entry before its first, and at least to
        # an installed snapshot's mark (a fresh log from index 1 needs none).
        need = max(mark, entries[0].index - 1 if entries else 0)
        info = await self._restore_snapshot(need)
        if info is not None:
            conf = ConfState(info.voters, info.learners) if info.voters else None
            storage.apply_snapshot(
                Snapshot(
                    SnapshotMeta(info.index, info.term, conf or storage.snapshot.meta.conf_state)
                )
            )
        storage.append(entries)
        if info is not None and (hard_state is None or hard_state.term < info.term):
            # A snapshot installed just before a crash may be newer than the last hard state
            # written: the term is at least the snapshot's (no vote cast in it yet).
            hard_state = HardState(info.term, None, info.index)
        if hard_state is not None:
            # The snapshot is committed, whatever the last hard state written said.
            commit = max(hard_state.commit, storage.snapshot.meta.index)
            if commit > storage.last_index():
                raise WalCorruptError(
                    f"{directory}: commit index {commit} is past the last entry"
                    f" {storage.last_index()}"
                )
            storage.set_hard_state(HardState(hard_state.term, hard_state.voted_for, commit))
        self.wal.open_for_append(storage.last_index() + 1)
        self.rn = RawNode(self.raft_config, storage, random.Random(self._rng_seed))
        self._token = trio.lowlevel.current_trio_token()
        self.writer.start()
        self._last_stamp = self.machine.last_time_us
        # Apply everything known committed before answering clients (LOADING until then).
        boot_commit = storage.hard_state.commit
        rn = self.rn
        while self.machine.applied_index < boot_commit and rn.has_ready():
            ready = rn.ready()
            await self._apply(ready.committed_entries)
            rn.advance(ready)
            await trio.lowlevel.checkpoint()
        self.loaded_entries = self.machine.applied_index - storage.snapshot.meta.index
        self._members_changed()
        if rn.raft.voters == (self.name,):
            rn.campaign()  # alone: no one to wait for
        self.loading = False
        log.info(
            "loaded %d log entries (first %d, last %d, committed %d) in %.3f s",
            storage.last_index() - storage.first_index() + 1,
            storage.first_index(),
            storage.last_index(),
            boot_commit,
            time.monotonic() - started,
        )

    # -- inputs ------------------------------------------------------------------------------

    def submit(self, proposal: Proposal) -> None:
        """A write to replicate; completed (reply or error) once applied or given up."""
        proposal.deadline = trio.current_time() + self.write_timeout
        if proposal.kind != OP_EXPIRE:
            proposal.seq = self._next_seq
            self._next_seq += 1
            self._pending[proposal.seq] = proposal
        self._waiting.append(proposal)
        self._kick()

    def deliver(self, sender: str, frame: object) -> None:
        """A frame from a peer (called by the transport, in the event loop)."""
        self._inbox.append((sender, frame))
        self.last_contact[sender] = trio.current_time()
        self._kick()

    def link_changed(self, peer: str, up: bool) -> None:
        """The peer link to `peer` came up or went down (called by the transport). A leader
        stops streaming appends to a peer whose link is down: what it sent there is lost,
        and a peer that comes back far behind is caught up by snapshot."""
        if not up:
            self._unreachable.append(peer)
            if self._sender is not None:
                self._sender.abort(peer, "the link went down")
            self._kick()

    async def read_barrier(self) -> None:
        """Return once this node has applied everything committed at the time of the call
        (linearizable reads). Raises ClusterError with the reply to send otherwise."""
        rn = self.rn
        assert rn is not None
        raft = rn.raft
        if (
            raft.role == Role.LEADER
            and raft.voters == (self.name,)
            and raft.log.term(raft.log.committed) == raft.term
            and self.machine.applied_index >= raft.log.committed
        ):
            # Alone: everything committed is durable here and applied in order, and a
            # write is answered only after it is applied. Not before the leader committed
            # an entry of its own term, though: until then, entries of earlier terms in its
            # log (written before a restart) may be committed without being known to be.
            return
        batch = self._reads[-1] if self._reads and not self._reads[-1].sent else None
        if batch is None:
            self._next_read += 1
            batch = _ReadBatch(b"%s:%d" % (self.session.encode(), self._next_read))
            self._reads.append(batch)
            self._kick()
        with trio.move_on_after(self.read_timeout):
            await batch.done.wait()
        if not batch.done.is_set():
            if batch in self._reads:
                self._reads.remove(batch)
            raise ClusterError(
                "TIMEOUT no quorum for read" if self.leader else "CLUSTERDOWN No raft leader"
            )
        if batch.error is not None:
            raise ClusterError(batch.error.decode())

    def _kick(self) -> None:
        self._wake.set()

    # -- the runner ------------------------------------------------------------------------

    async def run(
        self,
        transport: Transport | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self.transport = transport
        self._members_changed()  # the peer link dials the members the log added
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            if transport is not None and self.snapshot_dir is not None:
                directory = self.snapshot_dir
                self._sender = SnapshotSender(
                    transport,
                    nursery,
                    self._snapshot_sent,
                    timeout=self.snapshot_timeout,
                    chunk_bytes=self.snapshot_chunk_bytes,
                )
                self._receiver = SnapshotReceiver(
                    transport, lambda sender: receive_path(directory, sender), self._received_file
                )
                nursery.start_soon(self._receiver.run)
            nursery.start_soon(self._ticker)
            nursery.start_soon(self._expire_loop)
            nursery.start_soon(self._timeouts)
            task_status.started()
            self._kick()  # a fresh single-member node has an election to finish
            await self._loop()

    async def _ticker(self) -> None:
        next_tick = trio.current_time()
        while True:
            next_tick += self.tick_seconds
            await trio.sleep_until(next_tick)
            self._ticks_due += 1
            self._kick()

    async def _loop(self) -> None:
        rn = self.rn
        assert rn is not None
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            if self.writer.error is not None:
                raise RuntimeError(f"writing the log failed: {self.writer.error}")
            self._step_inbox(rn)
            self._step_snapshots(rn)
            while self._actions:
                self._actions.popleft()(rn)
            if self._ticks_due:
                self._promote_learners(rn)
            if self.removed:
                self._ticks_due = 0  # no more elections or heartbeats from us
            while self._ticks_due:
                self._ticks_due -= 1
                rn.tick()
            self._notice_leader(rn)
            self._propose_waiting(rn)
            self._request_reads(rn)
            while rn.has_ready():
                await self._handle_ready(rn, rn.ready())
                self._notice_leader(rn)
            if self._compact_due:
                self._compact()

    def _step_inbox(self, rn: RawNode) -> None:
        inbox = self._inbox
        while inbox:
            sender, frame = inbox.popleft()
            if type(frame) is not list or not frame:
                continue
            kind = frame[0]
            try:
                if kind == "raft":
                    msg = decode_message(frame[1])
                    if msg.sender != sender or msg.type == MessageType.SNAP:
                        continue  # a snapshot comes only as a checked stream ("snap")
                    rn.step(msg)
                elif kind == "fwd":
                    self._forwarded(rn, frame[1])
                elif kind == "snap" and self._receiver is not None:
                    self._receiver.offer(sender, frame)
                elif kind == "snap-ack" and self._sender is not None:
                    self._sender.acknowledged(sender, frame)
                elif kind == "ask" and self._nursery is not None:
                    self._nursery.start_soon(self._answer, sender, frame[1], frame[2])
                elif kind == "answer":
                    self._answered(frame)
                elif kind == "removed" and sender in self.members:
                    self.set_removed()
            except (ValueError, TypeError, IndexError) as error:
                log.warning("dropping a malformed frame from %s: %s", sender, error)
            except ProposalDropped as error:  # a peer's proposal we cannot take
                log.debug("dropping a message from %s: %s", sender, error)

    def _notice_leader(self, rn: RawNode) -> None:
        leader = rn.raft.lead
        if leader != self._known_leader:
            if leader:
                log.info("leader is now %s (term %d)", leader, rn.raft.term)
            self._known_leader = leader
            changed, self._leader_changed = self._leader_changed, trio.Event()
            changed.set()
            # Writes not applied yet may have been lost with the old leader: send them again
            # (the session table applies each once), and read requests too.
            for proposal in self._pending.values():
                if not proposal.done and proposal not in self._waiting:
                    self._waiting.append(proposal)
            for batch in self._reads:
                if batch.index < 0:
                    batch.sent = False

    def _stamp(self) -> int:
        now = max(self.clock_us(), self.machine.last_time_us, self._last_stamp)
        self._last_stamp = now
        return now

    def _session(self, proposal: Proposal) -> list[Any]:
        # Sequence numbers are handed out in increasing order and `_pending` keeps insertion
        # order, so its first key is the lowest unfinished one.
        floor = next(iter(self._pending)) if self._pending else self._next_seq
        return [self.session, proposal.seq, floor]

    def _propose_waiting(self, rn: RawNode) -> None:
        waiting = self._waiting
        if not waiting:
            return
        raft = rn.raft
        leader = raft.lead
        keep: deque[Proposal] = deque()
        batch: list[tuple[Proposal, Op]] = []  # proposed together: one append, one broadcast
        forwards: list[Proposal] = []  # sent to the leader together: one frame
        stamp = self._stamp() if raft.role == Role.LEADER else 0  # one time for the batch
        while waiting:
            proposal = waiting.popleft()
            if proposal.done:
                continue
            if raft.role == Role.LEADER:
                session = self._session(proposal) if proposal.seq else None
                batch.append((proposal, proposal.op(stamp, session)))
            elif leader and proposal.seq and self.transport is not None:
                forwards.append(proposal)
            elif proposal.seq:
                keep.append(proposal)  # no leader yet: wait (until the write timeout)
            else:
                proposal.finish(CLUSTERDOWN, proposal.db)  # an expiry, and we are not leading
        if batch:
            try:
                first = rn.propose_many([encode_op(op) for _, op in batch])
            except ProposalDropped:
                keep.extend(proposal for proposal, _ in batch)  # transferring: try later
            else:
                term = raft.term
                for offset, (proposal, op) in enumerate(batch):
                    index = first + offset
                    self._ops[index] = (term, op)
                    proposal.index = index
                    proposal.appended = True
                    if not proposal.seq:
                        self._sessionless[index] = proposal
        if forwards:
            assert self.transport is not None
            frame = ["fwd", [[p.request(), self._session(p)] for p in forwards]]
            if self.transport.send(leader, frame):
                for proposal in forwards:
                    proposal.appended = True  # the leader may append it
        self._waiting = keep

    def _forwarded(self, rn: RawNode, writes: list[Any]) -> None:
        """A follower's writes: propose them if we lead (it retries otherwise)."""
        if rn.raft.role != Role.LEADER:
            return
        ops: list[Op] = []
        time_us = self._stamp()
        for request, session in writes:
            kind, db, body, watches = request
            if kind not in (OP_COMMAND, OP_MULTI) or type(session) is not list or len(session) != 3:
                raise ValueError("malformed forwarded write")
            if kind == OP_COMMAND:
                ops.append(command_op(time_us, db, body, session))
            else:
                ops.append(multi_op(time_us, db, body, [tuple(w) for w in watches], session))
        try:
            first = rn.propose_many([encode_op(op) for op in ops])
        except ProposalDropped:
            return
        term = rn.raft.term
        for offset, op in enumerate(ops):
            self._ops[first + offset] = (term, op)

    def _request_reads(self, rn: RawNode) -> None:
        for batch in self._reads:
            if batch.sent:
                continue
            try:
                rn.read_index(batch.context)
            except ProposalDropped:
                continue  # no leader: sent again when one is known
            batch.sent = True

    async def _handle_ready(self, rn: RawNode, ready: Ready) -> None:
        transport = self.transport
        if transport is not None:
            for msg in ready.messages:
                if msg.type == MessageType.SNAP:
                    self._send_snapshot(msg)
                else:
                    transport.send(msg.to, ["raft", encode_message(msg)])
        records: list[bytes] = [
            encode_entry(e.index, e.term, e.kind, e.data) for e in ready.entries
        ]
        snapshot = ready.snapshot  # from the leader, its file received and checked already
        prepared = None
        if snapshot is not None:
            prepared = self._prepared.pop(snapshot.meta.index, None)
            if prepared is None:
                raise RuntimeError(f"no received snapshot at index {snapshot.meta.index}")
            # Replaces the log before it when the log is read back (see wal.py).
            records.insert(0, encode_snapshot_mark(snapshot.meta.index, snapshot.meta.term))
        # A new term or vote must be durable before anything that depends on it is sent. A
        # new commit index alone need not be (Raft relearns it from the leader), so it rides
        # along with the next entries instead of costing an fsync of its own.
        persist_hard_state = ready.hard_state is not None and (ready.must_sync or records)
        if persist_hard_state:
            hard = ready.hard_state
            assert hard is not None
            records.append(encode_hard_state(HardState(hard.term, hard.voted_for, hard.commit)))
        if records:
            ticket = self.writer.append(
                b"".join(records), rn.raft.log.last_index() + 1, len(ready.entries)
            )
            await self._until_durable(ticket)
            if snapshot is not None and prepared is not None:
                self.storage.apply_snapshot(snapshot)
                self._installed(*prepared)
            self.storage.append(ready.entries)
            if persist_hard_state and ready.hard_state is not None:
                self.storage.set_hard_state(ready.hard_state)
        if transport is not None:
            for msg in ready.messages_after_persist:
                transport.send(msg.to, ["raft", encode_message(msg)])
        await self._apply(ready.committed_entries)
        for state in ready.read_states:
            self._read_point(state.index, state.context)
        rn.advance(ready)
        self._release_reads()
        if self.after_apply is not None:
            self.after_apply()
        self._maybe_snapshot()

    async def _until_durable(self, ticket: int) -> None:
        while self.writer.durable_ticket < ticket:
            if self.writer.error is not None:
                raise RuntimeError(f"writing the log failed: {self.writer.error}")
            # Set by the `_on_durable` the writer schedules after it moves `durable_ticket`.
            await self._durable.wait()

    async def _apply(self, entries: list[Entry]) -> None:
        machine = self.machine
        rn = self.rn
        assert rn is not None
        for count, entry in enumerate(entries, start=1):
            if count % APPLY_CHUNK == 0:
                if self.after_apply is not None:
                    self.after_apply()
                await trio.lowlevel.checkpoint()  # a long run must not starve clients
            if entry.index <= machine.applied_index:
                # In the snapshot restored at start-up; only membership lives in the core.
                if entry.kind == EntryKind.CONF_CHANGE:
                    rn.apply_conf_change(decode_conf_change(entry.data))
                continue
            if entry.kind == EntryKind.NORMAL and entry.data:
                self.bytes_since_snapshot += len(entry.data)
                proposed = self._ops.pop(entry.index, None)
                if proposed is not None and proposed[0] == entry.term:
                    op = proposed[1]  # what we encoded: decoding it gives it back
                else:
                    op = cbor2.loads(entry.data)
                started = time.perf_counter_ns()
                reply, db_after = machine.apply_op(entry.index, op)
                elapsed = (time.perf_counter_ns() - started) // 1000
                if op[0] == OP_EXPIRE:
                    expiry = self._sessionless.pop(entry.index, None)
                    if expiry is not None:
                        expiry.finish(encode_reply(reply, 2), db_after)
                else:
                    self._complete(op, reply, db_after, elapsed)
            elif entry.kind == EntryKind.CONF_CHANGE:
                change = decode_conf_change(entry.data)
                address = None if change.type == ConfChangeType.REMOVE else change.context
                machine.apply_member_change(
                    entry.index, change.node, address.decode() if address is not None else None
                )
                rn.apply_conf_change(change)
                self._members_changed()
            else:
                machine.apply_noop(entry.index)
        # Ops proposed at indexes now behind the log's end were overwritten.
        for index in [i for i in self._ops if i <= machine.applied_index]:
            del self._ops[index]

    def _complete(self, op: Op, reply: object, db_after: int, elapsed: int) -> None:
        session = op[-1]
        if session is None or session[0] != self.session:
            return
        proposal = self._pending.pop(session[1], None)
        if proposal is None or proposal.done:
            return
        proposal.apply_us = elapsed
        if proposal.kind == OP_MULTI and reply is not NULL_ARRAY and isinstance(reply, list):
            encoded: bytes | list[bytes] = [encode_reply(r, proposal.proto) for r in reply]
        else:
            encoded = encode_reply(reply, proposal.proto)
        proposal.finish(encoded, db_after)

    def _read_point(self, index: int, context: bytes) -> None:
        for batch in self._reads:
            if batch.context == context and batch.index < 0:
                batch.index = index

    def _release_reads(self) -> None:
        applied = self.machine.applied_index
        if not self._reads:
            return
        keep: list[_ReadBatch] = []
        for batch in self._reads:
            if 0 <= batch.index <= applied:
                batch.done.set()
            else:
                keep.append(batch)
        self._reads = keep

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

    # -- timers ------------------------------------------------------------------------------

    async def _timeouts(self) -> None:
        """Fail writes nobody applied within the write timeout; resend the others."""
        while True:
            await trio.sleep(min(self.resend_interval, self.write_timeout / 4))
            now = trio.current_time()
            expired = False
            for seq, proposal in list(self._pending.items()):
                if proposal.done:
                    del self._pending[seq]
                elif now >= proposal.deadline:
                    del self._pending[seq]
                    proposal.finish(
                        WRITE_TIMEOUT if proposal.appended else CLUSTERDOWN, proposal.db
                    )
                    expired = True
                elif proposal not in self._waiting:
                    self._waiting.append(proposal)  # resend: it may have been lost
            for index, proposal in list(self._sessionless.items()):
                if now >= proposal.deadline:
                    del self._sessionless[index]
                    proposal.finish(WRITE_TIMEOUT, proposal.db)
            if expired and self.after_apply is not None:
                self.after_apply()
            self._kick()

    async def _expire_loop(self) -> None:
        """Active expiry: the leader proposes deletion of keys whose time has passed."""
        while True:
            await trio.sleep(self.expire_interval)
            if self.loading or not self.is_leader:
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

    # -- membership ------------------------------------------------------------------------

    def _members_changed(self) -> None:
        """The member directory follows the log: the initial members, plus those added,
        minus those removed; the peer link dials whoever is in the configuration."""
        machine = self.machine
        before = self.members
        members = {n: m for n, m in self.initial_members.items() if n not in machine.removed}
        for name, address in machine.members.items():
            try:
                members[name] = Member.parse(name, address)
            except ValueError:
                log.error("member %s has an unusable address %r", name, address)
        self.members = members
        if self.name in machine.removed:
            self.set_removed()
        # A member just removed may never see the entry that removed it (we stop sending it
        # entries at once): tell it for a while, so that it stops serving and campaigning.
        nursery = self._nursery
        for name in before.keys() - members.keys():
            if nursery is not None and name in machine.removed and name not in self._farewells:
                self._farewells[name] = before[name]
                nursery.start_soon(self._farewell, name)
        set_peers = getattr(self.transport, "set_peers", None)
        rn = self.rn
        if set_peers is not None and rn is not None:
            configured = set(rn.raft.voters) | set(rn.raft.learners)
            peers = {n: m for n, m in members.items() if n in configured and n != self.name}
            set_peers(
                {
                    name: (member.host, member.cluster_port)
                    for name, member in {**peers, **self._farewells}.items()
                }
            )

    async def _farewell(self, name: str) -> None:
        try:
            for _ in range(FAREWELLS):
                if self.transport is not None:
                    self.transport.send(name, ["removed"])
                await trio.sleep(self._election_timeout() / 2)
        finally:
            del self._farewells[name]
        self._members_changed()

    def set_removed(self) -> None:
        """This node is no longer a member: it stops serving and campaigning."""
        if self.removed:
            return
        self.removed = True
        log.warning("this node was removed from the cluster; it no longer serves")
        if self.on_removed is not None:
            self.on_removed()

    def _promote_learners(self, rn: RawNode) -> None:
        """(Leader.) A learner that has caught up, and that we can reach, becomes a voter.
        One change at a time: the core refuses a second while one is pending."""
        raft = rn.raft
        if raft.role != Role.LEADER or not raft.learners:
            return
        if raft.pending_conf_index > raft.log.applied:
            return
        status = getattr(self.transport, "status", None)
        links = status() if status is not None else {}
        for name in raft.learners:
            progress = raft.progress.get(name)
            member = self.members.get(name)
            link = links.get(name)
            if (
                progress is None
                or member is None
                or not progress.recent_active
                or progress.match + PROMOTE_LAG < raft.log.committed
                or (link is not None and not link.connected)
            ):
                continue
            try:
                rn.propose_conf_change(
                    ConfChange(ConfChangeType.ADD_VOTER, name, member.address.encode())
                )
            except ProposalDropped:
                return
            log.info("promoting %s to voter: it has caught up", name)
            return

    async def _change_membership(self, change: ConfChange) -> int:
        """(Leader.) Propose one membership change and wait until it is applied here. The
        core refuses while another change is pending or before a new leader has committed
        an entry of its term: that is retried until the write timeout."""
        proposed: list[int] = []
        refused: list[str] = []

        def propose(rn: RawNode) -> None:
            try:
                proposed.append(rn.propose_conf_change(change))
            except ProposalDropped as error:
                refused.append(str(error))

        with trio.move_on_after(self.write_timeout):
            while not proposed:
                refused.clear()
                self._actions.append(propose)
                self._kick()
                while not (proposed or refused):
                    await trio.sleep(self.tick_seconds / 4)
                if refused and not self.is_leader:
                    break
                if refused:
                    await trio.sleep(self.tick_seconds)
            while proposed and self.machine.applied_index < proposed[0]:
                await trio.sleep(self.tick_seconds / 4)
        if refused and not proposed:
            raise ClusterError(f"ERR cannot change the membership now ({refused[0]}); try again")
        if not proposed or self.machine.applied_index < proposed[0]:
            raise ClusterError("TIMEOUT the membership change was not committed in time")
        if not self._in_effect(change):
            # Our entry was replaced by a new leader's before it committed.
            raise ClusterError("TIMEOUT leadership changed before the change committed; try again")
        return proposed[0]

    def _in_effect(self, change: ConfChange) -> bool:
        rn = self.rn
        assert rn is not None
        voters, learners = rn.raft.voters, rn.raft.learners
        if change.type == ConfChangeType.REMOVE:
            return change.node not in voters and change.node not in learners
        if change.type == ConfChangeType.ADD_LEARNER:
            return change.node in learners or change.node in voters  # promoted already
        return change.node in voters

    async def add_member(self, name: str, address: str) -> str:
        """(Leader.) Add `name` at `address` as a learner; it is promoted to voter once it
        has caught up. Adding a member again at the same address changes nothing."""
        rn = self.rn
        assert rn is not None
        raft = rn.raft
        try:
            member = Member.parse(name, address)
        except ValueError as error:
            raise ClusterError(f"ERR {error}") from None
        if name in self.machine.removed:
            raise ClusterError(
                f"ERR a node named '{name}' was removed from this cluster; join under a new name"
            )
        if name in raft.voters or name in raft.learners:
            known = self.members.get(name)
            if known is not None and known.address == member.address:
                return "voter" if name in raft.voters else "learner"
            raise ClusterError(
                f"ERR a member named '{name}' already exists at"
                f" {known.address if known else 'an unknown address'}"
            )
        await self._change_membership(
            ConfChange(ConfChangeType.ADD_LEARNER, name, member.address.encode())
        )
        return "learner"

    async def remove_member(self, name: str, force: bool) -> str:
        """(Leader.) Remove `name`. Refused if the voters left that we can reach would be
        fewer than their quorum, unless `force`. The leader hands over leadership first and
        lets the new leader remove it."""
        rn = self.rn
        assert rn is not None
        raft = rn.raft
        if name not in raft.voters and name not in raft.learners:
            raise ClusterError(f"ERR no member named '{name}'")
        voters_after = [voter for voter in raft.voters if voter != name]
        if not voters_after:
            raise ClusterError("ERR cannot remove the last voter")
        rows = {row["name"]: row for row in self.nodes_table()}
        reachable = [voter for voter in voters_after if rows[voter]["reachable"] == 1]
        quorum = len(voters_after) // 2 + 1
        if len(reachable) < quorum and not force:
            raise ClusterError(
                f"ERR removing '{name}' would leave {len(reachable)} reachable voters of"
                f" {len(voters_after)}, fewer than a quorum ({quorum}); add FORCE to remove it"
                " anyway"
            )
        if name == self.name:
            await self.transfer_leadership()
            # Checked above with this leader's fresh view; the new one has just been elected
            # and may not have heard from every follower yet.
            result = await self.leader_request(["remove", name, True])
            return str(result)
        await self._change_membership(ConfChange(ConfChangeType.REMOVE, name))
        return "removed"

    # -- operator requests (RAFT.* commands) ------------------------------------------------

    async def leader_request(self, request: list[Any]) -> Any:
        """Run an operator request (`["transfer", name or None]`, `["nodes"]`) on the
        leader: here if this node leads, else over the peer link. Raises ClusterError."""
        if not self.leader:  # just started, or an election is running: give it a moment
            with trio.move_on_after(2 * self._election_timeout()):
                while not self.leader:
                    await self._leader_changed.wait()
        if self.is_leader:
            return await self._serve(request)
        leader = self.leader
        if not leader or self.transport is None:
            raise ClusterError("CLUSTERDOWN No raft leader")
        self._next_question += 1
        number = self._next_question
        question = self._questions[number] = _Question()
        try:
            if not self.transport.send(leader, ["ask", number, request]):
                raise ClusterError(f"CLUSTERDOWN cannot reach the leader {leader}")
            with trio.move_on_after(self.write_timeout + self._election_timeout() * 2):
                await question.answered.wait()
        finally:
            del self._questions[number]
        if not question.answered.is_set():
            raise ClusterError(f"TIMEOUT the leader {leader} did not answer")
        if question.error is not None:
            raise ClusterError(question.error)
        return question.value

    async def _answer(self, sender: str, number: object, request: object) -> None:
        if self.transport is None or type(request) is not list:
            return
        try:
            value, error = await self._serve(request), None
        except ClusterError as failure:
            value, error = None, failure.message.decode()
        self.transport.send(sender, ["answer", number, error, value])

    def _answered(self, frame: list[Any]) -> None:
        if len(frame) != 4:
            return
        question = self._questions.get(frame[1])
        if question is not None and not question.answered.is_set():
            question.error = frame[2] if isinstance(frame[2], str) else None
            question.value = frame[3]
            question.answered.set()

    async def _serve(self, request: list[Any]) -> Any:
        if not self.is_leader:
            raise ClusterError("CLUSTERDOWN this node is no longer the leader, try again")
        kind = request[0] if request else None
        if kind == "transfer" and len(request) == 2:
            return await self.transfer_leadership(request[1])
        if kind == "nodes":
            return self.nodes_table()
        if kind == "add" and len(request) == 3:
            return await self.add_member(str(request[1]), str(request[2]))
        if kind == "remove" and len(request) == 3:
            return await self.remove_member(str(request[1]), bool(request[2]))
        raise ClusterError(f"ERR unknown request {kind!r}")

    def _election_timeout(self) -> float:
        return self.tick_seconds * self.raft_config.election_tick

    async def transfer_leadership(self, target: str | None = None) -> str:
        """(On the leader.) Hand leadership to `target`, by default the voter whose log is
        the most up to date, and return once it leads. Raises ClusterError if there is no
        such voter or the transfer did not finish within two election timeouts."""
        rn = self.rn
        assert rn is not None
        raft = rn.raft
        if raft.role != Role.LEADER:
            raise ClusterError("CLUSTERDOWN this node is not the leader")
        others = [name for name in raft.voters if name != self.name]
        if target is None:
            if not others:
                raise ClusterError("ERR there is no other voter to hand leadership to")
            progress = raft.progress
            target = max(others, key=lambda n: (progress[n].recent_active, progress[n].match))
        elif target == self.name:
            return target
        elif target not in others:
            raise ClusterError(f"ERR no voter named '{target}'")
        chosen = target

        def start(rn: RawNode) -> None:
            try:
                rn.transfer_leadership(chosen)
            except ProposalDropped:
                pass  # no longer leading: the wait below fails or sees the new leader

        self._actions.append(start)
        self._kick()
        log.info("handing leadership to %s", chosen)
        with trio.move_on_after(2 * self._election_timeout()):
            while self.leader != chosen:
                await self._leader_changed.wait()
        if self.leader != chosen:
            raise ClusterError(
                f"TIMEOUT leadership did not move to '{chosen}' (the leader is now"
                f" '{self.leader or 'none'}')"
            )
        return chosen

    def nodes_table(self) -> list[dict[str, object]]:
        """(On the leader.) One row per member: what RAFT.NODES and `concord status` show."""
        rn = self.rn
        assert rn is not None
        raft = rn.raft
        now = trio.current_time()
        status = getattr(self.transport, "status", None)
        links = status() if status is not None else {}
        last = raft.log.last_index()
        rows: list[dict[str, object]] = []
        for name in sorted((*raft.voters, *raft.learners)):
            member = self.members.get(name)
            progress = raft.progress.get(name) if raft.role == Role.LEADER else None
            if name == self.name:
                match, contact, reachable = last, 0, True
            else:
                match = progress.match if progress is not None else -1
                heard = self.last_contact.get(name)
                contact = int((now - heard) * 1000) if heard is not None else -1
                link = links.get(name)
                # Our link to it is up (if the transport says) and we heard from it lately.
                connected = link.connected if link is not None else status is None
                reachable = connected and 0 <= contact <= 1000 * self._election_timeout()
            learner = name in raft.learners
            rows.append(
                {
                    "name": name,
                    "address": member.address if member else "?",
                    "role": "leader"
                    if name == raft.lead
                    else ("learner" if learner else "follower"),
                    "voter": 0 if learner else 1,
                    "match": match,
                    "lag": last - match if match >= 0 else -1,
                    "last_contact_ms": contact,
                    "reachable": int(reachable),
                }
            )
        return rows

    # -- snapshots ---------------------------------------------------------------------------

    async def _restore_snapshot(self, need: int) -> SnapshotInfo | None:
        """Restore the newest snapshot at or after index `need` that reads back whole. A
        damaged one is skipped with a warning for an older one the log still joins; if none
        is left and the log does not start at index 1, start-up stops (the entries only the
        snapshots held would be lost)."""
        directory = self.snapshot_dir
        if directory is not None:
            remove_received(directory)
        skipped: list[str] = []
        for info in list_snapshots(directory) if directory is not None else []:
            if info.index < need:
                skipped.append(f"{info.path.name} is older than that")
                break

            def restore(path: Path = info.path) -> SnapshotInfo:
                found, records = read_snapshot(path)
                restore_records(self.machine, records)
                return found

            try:
                found = await trio.to_thread.run_sync(restore)
            except (SnapshotFileError, SnapshotError, OSError) as error:
                log.warning("skipping snapshot %s: %s", info.path.name, error)
                skipped.append(f"{info.path.name} is damaged ({error})")
                self.machine.reset()
                continue
            self.snapshot_index = found.index
            self.snapshot_time = info.path.stat().st_mtime
            self._newest_snapshot = found
            log.info("restored snapshot at index %d (term %d)", found.index, found.term)
            return found
        if need == 0:
            return None  # the log holds everything from index 1
        raise WalCorruptError(
            f"{self.wal.directory}: the log starts after index {need} (the entries before it"
            f" were compacted into snapshots), and no readable snapshot at or after index"
            f" {need} is in {directory}: {'; '.join(skipped) or 'there is none'}"
        )

    def _maybe_snapshot(self) -> None:
        if self.snapshotting:
            return
        entries, size = self.snapshot_entries, self.snapshot_bytes
        if (entries and self.machine.applied_index - self.snapshot_index >= entries) or (
            size and self.bytes_since_snapshot >= size
        ):
            self.start_snapshot()

    def start_snapshot(self) -> bool:
        """Start writing a snapshot of the applied state (False if one is being written)."""
        if self.snapshotting or self.snapshot_dir is None or self._nursery is None:
            return False
        self.snapshotting = True
        self._snapshot_done = trio.Event()
        self._nursery.start_soon(self._take_snapshot)
        return True

    async def snapshot_now(self) -> bool:
        """Write a snapshot and wait for it (SAVE): False if it failed or one was already
        being written (the caller reports which)."""
        if not self.start_snapshot():
            return False
        done = self._snapshot_done
        await done.wait()
        return not self.snapshot_failed

    async def _take_snapshot(self) -> None:
        rn = self.rn
        assert rn is not None and self.snapshot_dir is not None
        machine, directory = self.machine, self.snapshot_dir
        index = machine.applied_index
        self.bytes_since_snapshot = 0
        term = self.storage.term(index) if index else 0
        voters, learners = rn.raft.voters, rn.raft.learners
        started = time.monotonic()

        def write() -> None:  # runs in the forked child
            write_snapshot(directory, index, term, voters, learners, snapshot_records(machine))

        try:
            await run_in_child(write)
        except (SnapshotChildError, OSError) as error:
            log.error("snapshot at index %d failed: %s", index, error)
            self.snapshot_index = index  # try again after another `snapshot_entries`
            self.snapshot_failed = True
        else:
            self.snapshot_index = index
            self.snapshot_time = time.time()
            self.snapshot_failed = False
            path = directory / file_name(index, term)
            self._newest_snapshot = SnapshotInfo(path, index, term, voters, learners)
            self._compact_due = True
            self._kick()
            log.info("snapshot at index %d written in %.2f s", index, time.monotonic() - started)
        finally:
            self.snapshotting = False
            self._snapshot_done.set()
        self._maybe_snapshot()  # the next one may have come due while this one was written

    def _compact(self) -> None:
        """Cut the log behind the newest snapshot: in memory to `catch_up_entries` before
        it, on disk (whole segments) to the older snapshot kept. Runs in the loop between
        rounds, when everything queued is durable."""
        self._compact_due = False
        newest, storage, nursery = self._newest_snapshot, self.storage, self._nursery
        if newest is None or nursery is None or newest.index > storage.last_index():
            return
        if newest.index > storage.snapshot.meta.index:
            conf = ConfState(newest.voters, newest.learners)
            storage.create_snapshot(newest.index, conf, b"")
        cut = newest.index - self.catch_up_entries
        if cut >= storage.first_index():
            storage.compact(cut)
        kept = list_snapshots(self.snapshot_dir) if self.snapshot_dir is not None else []
        if len(kept) >= 2:
            # The newest hard state must outlive the segments deleted: write it again.
            ticket = self.writer.append(
                encode_hard_state(storage.hard_state), storage.last_index() + 1
            )
            nursery.start_soon(self._delete_segments, ticket, kept[-1].index)

    async def _delete_segments(self, ticket: int, through: int) -> None:
        await self._until_durable(ticket)
        deleted = await trio.to_thread.run_sync(self.wal.delete_through, through)
        if deleted:
            self.segments_deleted += len(deleted)
            log.info("deleted %d log segments up to index %d", len(deleted), through)

    # -- InstallSnapshot ---------------------------------------------------------------------

    def _send_snapshot(self, msg: Message) -> None:
        """Raft wants `msg.to` to catch up by snapshot: stream its file (a leader)."""
        assert msg.snapshot is not None
        meta = msg.snapshot.meta
        sender, directory = self._sender, self.snapshot_dir
        if sender is None or directory is None:
            self._snapshot_sent(msg.to, False)
            return
        if msg.to not in meta.conf_state.members():
            # Taken before `msg.to` joined, so it would refuse it: take one now (its joining
            # is applied here), which Raft sends when it tries again.
            log.info("taking a snapshot that includes %s, which has just joined", msg.to)
            self.start_snapshot()
            self._snapshot_sent(msg.to, False)
            return
        path = directory / file_name(meta.index, meta.term)
        if not path.exists():
            log.warning("cannot send snapshot %s to %s: it is gone", path.name, msg.to)
            self._snapshot_sent(msg.to, False)
            return
        sender.start(msg.to, path, encode_message(msg))

    def _snapshot_sent(self, to: str, success: bool) -> None:
        self._snapshot_reports.append((to, success))
        self._kick()

    async def _received_file(self, sender: str, path: Path, message: object) -> None:
        """A snapshot streamed whole (synced, not checked yet): check it by restoring it
        beside the live state machine (off the event loop), publish it as the newest
        snapshot file, and hand Raft the InstallSnapshot message. Raises to refuse it."""
        msg = decode_message(message)
        if msg.type != MessageType.SNAP or msg.sender != sender or msg.snapshot is None:
            raise ValueError("the last chunk does not carry an InstallSnapshot message")
        meta = msg.snapshot.meta
        directory = self.snapshot_dir
        assert directory is not None
        if meta.index > self.machine.applied_index:
            table = self.machine.table

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
            log.info("received snapshot at index %d from %s", info.index, sender)
        else:
            path.unlink()  # nothing new for us: Raft answers with what we have
        self._received.append(msg)
        self._kick()

    def _step_snapshots(self, rn: RawNode) -> None:
        """Report broken links and finished streams to Raft (a leader); step received
        snapshots (a follower)."""
        while self._unreachable:
            rn.report_unreachable(self._unreachable.popleft())
        while self._snapshot_reports:
            to, success = self._snapshot_reports.popleft()
            rn.report_snapshot(to, success=success)
        if not self._received:
            return
        while self._received:
            rn.step(self._received.popleft())
        # Raft takes at most the newest: what it did not take is not needed.
        taken = rn.raft.log.unstable.snapshot
        for index in list(self._prepared):
            if taken is None or taken.meta.index != index:
                del self._prepared[index]

    def _installed(self, info: SnapshotInfo, machine: StateMachine) -> None:
        """A snapshot from the leader is durable: it becomes the state machine."""
        self.machine.adopt(machine)
        self._members_changed()
        self.snapshot_index = info.index
        self.snapshot_time = time.time()
        self.bytes_since_snapshot = 0
        self._newest_snapshot = info
        self._compact_due = True
        log.info("installed snapshot at index %d (term %d)", info.index, info.term)

    def close(self) -> None:
        """Write out what is queued and the latest commit index, then close the log (a
        clean restart then applies everything committed before it serves)."""
        self.writer.stop()
        rn = self.rn
        if rn is not None and self.writer.error is None:
            durable_last = self.storage.last_index()
            hard = rn.raft.hard_state()
            commit = min(hard.commit, durable_last)
            if commit > self.storage.hard_state.commit:
                record = encode_hard_state(HardState(hard.term, hard.voted_for, commit))
                self.wal.write(record, durable_last + 1)
        self.wal.close()
