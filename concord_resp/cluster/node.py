"""A Concord node: the facade the server talks to, over the parts that do the work.

    proposals   this node's writes: proposed (leader) or forwarded, resent, completed
    reads       linearizable read points (ReadIndex, one round per batch)
    membership  the member directory, learner promotion, adding and removing members
    admin       operator requests (RAFT.*), answered by the leader
    snapshots   taking, restoring, compacting behind, sending and receiving snapshots
    expiry      active expiry (the leader proposes deletions)
    blocking    blocked clients' timeouts, and the waiters of nodes that are gone

The Raft core is driven by the runner (`raft.driver.runner`), for which this class is the
`Application`: each round it steps the frames that arrived (`peer_protocol`, one dispatch
table), ticks, proposes and asks for read points; the runner persists, sends and hands back
committed entries, which are applied here to the state machine and complete the proposals
they answer. Everything reads the core's state through `RawNode.status()`, refreshed once per
round (`status`). Only the leader proposes the deletion of expired keys.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import trio

from ..metrics.cluster import ClusterMetrics
from ..raft.core import (
    NO_NODE,
    Config,
    ConfState,
    Entry,
    MemoryStorage,
    Message,
    MessageType,
    PeerStatus,
    ProposalDropped,
    RawNode,
    ReadState,
    Snapshot,
    Status,
)
from ..raft.driver.promise_file import PromiseFile
from ..raft.driver.recovery import recover
from ..raft.driver.runner import ReadyRunner
from ..raft.driver.transport import FrameTooLarge, Transport
from ..raft.driver.wal import WriteAheadLog
from ..state import Applied, StateMachine
from ..store.events import Message as Published
from . import peer_protocol
from .admin import Admin
from .applier import Applier
from .apply import apply_backlog, apply_entries
from .blocking import BlockedWaits
from .expiry import ActiveExpiry
from .membership import Member, Membership
from .node_config import NodeConfig, wall_clock_us
from .peer_protocol import Frame
from .proposals import Proposal, Proposals
from .reads import Reads
from .snapshots import Snapshots
from .telemetry import event

log = logging.getLogger("concord.node")


class RaftNode:
    """The node of a Concord cluster (a one-member cluster when run alone)."""

    def __init__(
        self,
        machine: StateMachine,
        wal: WriteAheadLog,
        config: NodeConfig,
        members: dict[str, Member],
        *,
        clock_us: Callable[[], int] = wall_clock_us,
    ) -> None:
        self.machine = machine
        self.wal = wal
        self.config = config
        self.name = config.name
        self.clock_us = clock_us  # stamps writes (the leader's time)
        self.cluster_id = ""  # set by the server (INFO raft; what a joining node adopts)
        self.initial_cluster = ""  # --initial-cluster (or the one a joined node adopted)
        self.promise: PromiseFile | None = None  # set by the server: kept by the log writer
        self.accept_data_loss = False  # start even if the log broke the promise
        self.storage = MemoryStorage(ConfState(tuple(sorted(members))))
        self.rn: RawNode | None = None
        self.runner: ReadyRunner | None = None
        self.status = Status.before_start(config.name)
        self.transport: Transport | None = None
        self.nursery: trio.Nursery | None = None
        self.loading = True
        self.loaded_entries = 0
        self.after_apply: Callable[[], None] | None = None  # replies ready: the server sends
        # Messages an applied entry published (PUBLISH, keyspace notifications): the server
        # delivers them to this node's subscribers, before the entry's replies are made.
        self.deliver_messages: Callable[[list[Published]], None] | None = None
        # Keys an applied entry touched, for the server's client-side caching (CLIENT
        # TRACKING): None while no client of this node tracks, so writes pay nothing.
        self.invalidate_keys: Callable[[Applied], None] | None = None
        # The commands an entry's script ran (`Scripting.calls`), for the server's MONITOR
        # clients: None while this node has none.
        self.script_calls: Callable[[Applied, list[tuple[int, list[bytes]]]], None] | None = None
        self.last_contact: dict[str, float] = {}
        # The node's counters (INFO raft and /metrics read them); the log's fsyncs count too.
        self.metrics = ClusterMetrics()
        wal.fsync_seconds = self.metrics.wal_fsync
        self.links: dict[str, bool] = {}  # peer -> its outbound link is up
        self._heartbeats: dict[str, float] = {}  # peer -> when an unanswered heartbeat left
        self.proposals = Proposals(self)
        self.reads = Reads(self)
        self.applier = Applier(self, apply_backlog)
        self.membership = Membership(self, members)
        self.admin = Admin(self)
        self.snapshots = Snapshots(self)
        self.expiry = ActiveExpiry(self, config.expire_interval)
        self.blocked_waits = BlockedWaits(self)
        self._inbox: deque[tuple[str, object]] = deque()
        self._actions: deque[Callable[[RawNode], None]] = deque()  # run in the loop
        self._unreachable: deque[str] = deque()  # peers whose link went down
        self._ticks_due = 0
        self._known_leader: str = NO_NODE
        self._previous_leader: str = NO_NODE  # the last leader known (telemetry)
        self._leader_changed = trio.Event()  # set (and replaced) when the leader changes
        self._applied: trio.Event | None = None  # set after a Ready, if someone waits
        self._too_large_logged: dict[str, float] = {}  # peer -> when we last said so
        self._frames: dict[type, Callable[[RawNode, str, Any], None]] = {
            peer_protocol.RaftFrame: self._raft_frame,
            peer_protocol.Forward: self.proposals.forwarded,
            peer_protocol.SnapshotChunk: self._snapshot_chunk,
            peer_protocol.SnapshotAck: self._snapshot_ack,
            peer_protocol.Ask: self.admin.asked,
            peer_protocol.Answer: self.admin.answered,
            peer_protocol.Removed: lambda rn, sender, frame: self.membership.told_removed(
                sender, frame
            ),
        }

    # -- what the server reads --------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self.status.is_leader

    @property
    def leader(self) -> str:
        return self.status.lead

    @property
    def removed(self) -> bool:
        return self.membership.removed

    @property
    def members(self) -> dict[str, Member]:
        return self.membership.members

    def refresh_status(self) -> Status:
        """The core's state now (`status` is as of the end of the last round)."""
        if self.rn is not None:
            self.status = self.rn.status()
        return self.status

    def progress(self) -> dict[str, PeerStatus]:
        """(On the leader, else empty.) How far each member's log is replicated."""
        return self.rn.progress() if self.rn is not None else {}

    def election_timeout(self) -> float:
        return self.config.tick_seconds * self.config.election_ticks

    async def leader_changed(self) -> None:
        """Wait until the leader changes."""
        await self._leader_changed.wait()

    async def wait_applied(self, index: int) -> None:
        """Wait until this node has applied the entry at `index`."""
        while self.machine.applied_index < index:
            if self._applied is None:
                self._applied = trio.Event()
            await self._applied.wait()

    # -- requests ---------------------------------------------------------------------------

    def submit(self, proposal: Proposal) -> None:
        """A write to replicate; completed (reply or error) once applied or given up."""
        self.proposals.submit(proposal)

    def defer_read(
        self, run: Callable[[], None], fail: Callable[[bytes], None], after: Proposal, local: bool
    ) -> None:
        """Run a read pipelined behind this client's write `after` when its turn comes,
        without holding up the pipeline (see `reads`)."""
        self.reads.defer(run, fail, after, local)

    async def read_barrier(self) -> None:
        """Return once this node has applied everything committed at the time of the call
        (linearizable reads). Raises ClusterError with the reply to send otherwise."""
        await self.reads.barrier()

    async def leader_request(self, request: list[Any]) -> Any:
        """Run an operator request on the leader (here, or over the peer link)."""
        return await self.admin.leader_request(request)

    async def transfer_leadership(self, target: str | None = None) -> str:
        return await self.admin.transfer_leadership(target)

    def start_snapshot(self) -> bool:
        return self.snapshots.start()

    async def snapshot_now(self) -> bool:
        return await self.snapshots.now()

    def run_in_loop(self, action: Callable[[RawNode], None]) -> None:
        """Run `action` on the core in the runner's next round."""
        self._actions.append(action)
        self.kick()

    def kick(self) -> None:
        if self.runner is not None:
            self.runner.kick()

    def replies_ready(self) -> None:
        if self.after_apply is not None:
            self.after_apply()

    # -- the peer link ------------------------------------------------------------------------

    def send_frame(self, to: str, frame: Frame) -> bool:
        """Queue a frame for a peer; False if it was dropped (no link, queue full, or too
        large for the link: writes are refused before they get that large, but the log may
        hold an entry from before --cluster-max-frame was lowered; a follower that needs it
        is caught up by a snapshot once the log behind it is compacted)."""
        if self.transport is None:
            return False
        try:
            return self.transport.send(to, peer_protocol.encode(frame))
        except FrameTooLarge as error:
            now = trio.current_time()
            if now - self._too_large_logged.get(to, -60.0) >= 60.0:  # (Raft retries it)
                self._too_large_logged[to] = now
                log.error("cannot send a frame to %s: %s", to, error)
            return False

    def deliver(self, sender: str, frame: object) -> None:
        """A frame from a peer (called by the transport, in the event loop)."""
        self._inbox.append((sender, frame))
        self.last_contact[sender] = trio.current_time()
        self.kick()

    def link_changed(self, peer: str, up: bool) -> None:
        """The link to `peer` came up or went down (called by the transport). A leader stops
        streaming to a peer whose link is down: what it sent there is lost, and a peer that
        comes back far behind is caught up by snapshot."""
        self.links[peer] = up
        if not up:
            self._heartbeats.pop(peer, None)
            self._unreachable.append(peer)
            self.snapshots.link_down(peer)
            self.kick()

    def _raft_frame(self, rn: RawNode, sender: str, frame: peer_protocol.RaftFrame) -> None:
        msg = frame.message
        if msg.sender == sender and msg.type != MessageType.SNAP:
            if msg.type == MessageType.HEARTBEAT_RESP:
                self._heartbeat_answered(sender)
            rn.step(msg)  # a snapshot comes only as a checked stream (SnapshotChunk)

    def _heartbeat_answered(self, peer: str) -> None:
        sent = self._heartbeats.pop(peer, None)
        if sent is not None:
            self.metrics.rtt(peer).observe(trio.current_time() - sent)

    def _snapshot_chunk(self, rn: RawNode, sender: str, frame: peer_protocol.SnapshotChunk) -> None:
        if self.snapshots.receiver is not None:
            self.snapshots.receiver.offer(sender, frame)

    def _snapshot_ack(self, rn: RawNode, sender: str, frame: peer_protocol.SnapshotAck) -> None:
        if self.snapshots.sender is not None:
            self.snapshots.sender.acknowledged(sender, frame)

    def _step_inbox(self, rn: RawNode) -> None:
        inbox = self._inbox
        while inbox:
            sender, raw = inbox.popleft()
            try:
                frame = peer_protocol.decode(raw)
                self._frames[type(frame)](rn, sender, frame)
            except ValueError as error:
                log.warning("dropping a malformed frame from %s: %s", sender, error)
            except ProposalDropped as error:  # a peer's proposal we cannot take
                log.debug("dropping a message from %s: %s", sender, error)

    # -- start-up -------------------------------------------------------------------------

    async def load(self) -> None:
        """Restore the newest snapshot the log joins, rebuild the log after it, then apply
        what was committed before serving."""
        started = time.monotonic()
        storage = self.storage
        await recover(
            self.wal,
            storage,
            self.snapshots.restore,
            self.promise,
            accept_data_loss=self.accept_data_loss,
        )
        config = self.config
        raft_config = Config(
            self.name, election_tick=config.election_ticks, heartbeat_tick=config.heartbeat_ticks
        )
        seed = secrets.randbits(32) if config.rng_seed is None else config.rng_seed
        rn = self.rn = RawNode(raft_config, storage, random.Random(seed))
        self.runner = ReadyRunner(rn, self.wal, self, self.promise)
        self.runner.start()
        self.proposals.started(self.machine.last_time_us)
        # Apply everything known committed before answering clients (LOADING until then).
        boot_commit = storage.hard_state.commit
        while self.machine.applied_index < boot_commit and rn.has_ready():
            ready = rn.ready()
            await self.apply(ready.committed_entries)
            rn.advance(ready)
            await trio.lowlevel.checkpoint()
        self.loaded_entries = self.machine.applied_index - storage.snapshot.meta.index
        self.membership.changed()
        if self.refresh_status().voters == (self.name,):
            rn.campaign()  # alone: no one to wait for
        self.refresh_status()
        self.loading = False
        log.info(
            "loaded %d log entries (first %d, last %d, committed %d) in %.3f s",
            storage.last_index() - storage.first_index() + 1,
            storage.first_index(),
            storage.last_index(),
            boot_commit,
            time.monotonic() - started,
        )

    # -- running ----------------------------------------------------------------------------

    async def run(
        self,
        transport: Transport | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        runner = self.runner
        assert runner is not None, "load() first"
        self.transport = transport
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            self.membership.changed()  # the peer link dials the members the log added
            self.snapshots.start_transfers(nursery)
            nursery.start_soon(self._ticker)
            nursery.start_soon(self.expiry.run)
            nursery.start_soon(self.blocked_waits.run)
            nursery.start_soon(self.proposals.run_timeouts)
            task_status.started()
            self.kick()  # a fresh single-member node has an election to finish
            await runner.run()

    async def _ticker(self) -> None:
        next_tick = trio.current_time()
        while True:
            next_tick += self.config.tick_seconds
            await trio.sleep_until(next_tick)
            self._ticks_due += 1
            self.kick()

    # -- the runner's Application -----------------------------------------------------------

    def step_inputs(self, rn: RawNode) -> None:
        self._step_inbox(rn)
        while self._unreachable:
            rn.report_unreachable(self._unreachable.popleft())
        self.snapshots.step(rn)
        while self._actions:
            self._actions.popleft()(rn)
        if self._ticks_due:
            self.membership.promote_learners(rn, self.refresh_status())
        if self.removed:
            self._ticks_due = 0  # no more elections or heartbeats from us
        while self._ticks_due:
            self._ticks_due -= 1
            rn.tick()
        status = self.refresh_status()
        self._notice_leader(status)
        self.proposals.propose_waiting(rn, status)
        self.reads.request(rn)

    def send(self, msg: Message) -> None:
        if msg.type == MessageType.SNAP:
            self.snapshots.send(msg)
            return
        if msg.type == MessageType.HEARTBEAT:
            # A heartbeat's round trip (one per peer in flight: a lost one is replaced).
            heartbeats, now = self._heartbeats, trio.current_time()
            if now - heartbeats.get(msg.to, -1e9) > self.election_timeout():
                heartbeats[msg.to] = now
        self.send_frame(msg.to, peer_protocol.RaftFrame(msg))

    async def install(self, snapshot: Snapshot) -> None:
        await self.applier.drained()  # (what it would apply is in the snapshot, but its
        self.snapshots.install(snapshot)  # clients are owed their replies)

    def read_states(self, states: list[ReadState]) -> None:
        self.reads.confirmed(states)

    def after_ready(self, rn: RawNode) -> None:
        self._notice_leader(self.refresh_status())
        self.proposals.note_applied(self.machine.applied_index)
        if self._applied is not None:
            self._applied.set()
            self._applied = None
        self.reads.release()
        self.replies_ready()
        if not self.applier.busy:
            self.snapshots.maybe_take()

    def after_round(self) -> None:
        self.snapshots.compact()

    async def apply(self, entries: list[Entry]) -> None:
        await apply_entries(self, entries)

    def _notice_leader(self, status: Status) -> None:
        leader = status.lead
        if leader != self._known_leader:
            if leader:
                self.metrics.leader_changes += 1
                event(
                    log,
                    "leader_changed",
                    f"leader is now {leader} (term {status.term})",
                    leader=leader,
                    term=status.term,
                    previous=self._previous_leader or "none",
                )
                self._previous_leader = leader
            self._known_leader = leader
            changed, self._leader_changed = self._leader_changed, trio.Event()
            changed.set()
            # What was sent to the old leader may be lost with it: send it again.
            self.proposals.leader_changed()
            self.reads.leader_changed()

    # -- the log ----------------------------------------------------------------------------

    def append_records(self, records: bytes) -> int:
        assert self.runner is not None
        return self.runner.append(records)

    async def until_durable(self, ticket: int) -> None:
        assert self.runner is not None
        await self.runner.until_durable(ticket)

    def close(self) -> None:
        """Write out what is queued and the latest commit index, then close the log."""
        if self.runner is not None:
            self.runner.close()
        else:
            self.wal.close()
            if self.promise is not None:
                self.promise.close()
