"""One simulated server: a RawNode, its disk, its key-value state machine, its clients' calls.

The driver follows the Ready contract to the letter, with the fsync taking simulated time:
- start a batch (`ready()`): write its snapshot, entries and hard state to the disk (not yet
  durable) and send `messages` at once;
- when the fsync completes (0 or more steps later; the node keeps stepping messages and
  ticking meanwhile, as etcd's node does): record the batch in the MemoryStorage, send
  `messages_after_persist`, apply the snapshot and `committed_entries`, hand out
  `read_states`, `advance`.
A crash in between loses the unsynced writes and the unsent responses. A restart rebuilds
everything from the disk's durable records. The node keeps its promise as the driver does
(raft/core/promise.py): lowered before a batch that shortens the log, raised after the
batch's fsync and before its responses leave. A restart whose log breaks the promise (a
damaged disk, `Disk.lose_tail`) refuses to start, as `concord-server` does: the node stays
down (REFUSED) until the operator replaces it (the nemesis). `SimBug.IGNORE_BROKEN_PROMISE`
starts it anyway, the negative control; `PROMISE_BEFORE_FSYNC` raises the promise too early,
which a crash then shows as a false alarm (the invariant: only a damaged disk breaks it). Between batches the node compacts (snapshot of
the state machine at its applied index, disk rewritten) every `compact_every` applied
entries, or at once when a peer added after its last snapshot needs one. Every input is followed by `_observe`, which
feeds the invariant checker (leaders, commits); the batch feeds it the appended entries, the
applied digests and the durable term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from concord_resp.checker import Value
from concord_resp.raft.core import (
    BrokenPromise,
    ConfChange,
    Config,
    ConfState,
    Entry,
    EntryKind,
    Message,
    Promise,
    ProposalDropped,
    RawNode,
    Ready,
    Role,
    Snapshot,
    check_promise,
    decode_conf_change,
)

from .config import SimBug, SimConfig, substream
from .disk import Disk, EntriesRecord, HardStateRecord, SnapshotRecord
from .frontend import Frontend
from .invariants import Invariants, SafetyViolation, check_monotonic
from .kv import Command, KeyValue, Reply
from .trace import Trace
from .workload import Request, Response

UP, DOWN, PAUSED, REMOVED = "up", "down", "paused", "removed"
REFUSED = "refused"  # its log broke its promise: it will not start (see the module doc)


@dataclass(frozen=True, slots=True)
class Report:
    """What the transport tells a sender: a snapshot's fate, or an unreachable peer."""

    peer: str
    snapshot: bool  # a snapshot report (else: the peer was unreachable)
    success: bool = False


class Host(Protocol):
    """What a node needs from the cluster around it."""

    now: int

    def send_peer(self, node: SimNode, msg: Message) -> None: ...

    def respond(self, response: Response) -> None: ...

    def conf_applied(self, node: SimNode, index: int, change: ConfChange) -> None: ...

    def refused(self, node: SimNode, broken: BrokenPromise) -> None: ...


class SimNode:
    def __init__(
        self,
        node_id: str,
        config: SimConfig,
        initial: ConfState,
        host: Host,
        invariants: Invariants,
        trace: Trace,
    ) -> None:
        self.id = node_id
        self.config = config
        self.initial = initial
        self.host = host
        self.invariants = invariants
        self.trace = trace
        self.rng = substream(config.seed, f"node/{node_id}")
        profile = config.profile
        self.base_period = self.rng.randint(*profile.tick_period)
        self.tick_period = self.base_period
        self.next_tick = self.rng.randint(1, self.base_period)
        self.compact_every = self.rng.randint(*profile.compact_every)
        self.disk = Disk()
        self.status = DOWN
        self.incarnation = 0
        self.rn: RawNode | None = None
        self.kv = KeyValue()
        self.inflight: Ready | None = None
        self.inflight_end: int | None = None  # where the batch in flight leaves the log's end
        self.fsync_at = 0
        self.crash_after_fsync = False
        self.compact_soon = False
        self.inbox: list[Message | Request | Report] = []
        self.frontend = Frontend(self._respond)
        self.commit_seen = 0
        self.lead_term = 0
        self.seen: tuple[int, Role, str] = (0, Role.FOLLOWER, "")
        self.stats = {"crashes": 0, "snapshots_in": 0, "compactions": 0, "elections_won": 0}

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Boot (or restart) from the durable records on the disk, unless they broke the
        node's promise."""
        storage, torn = self.disk.recover(self.initial)
        hard = storage.hard_state
        voted = hard.voted_for is not None
        broken = check_promise(self.disk.promise, hard.term, storage.last_index(), voted)
        damaged, self.disk.damaged = self.disk.damaged, False
        if broken is not None and not damaged:
            # A crash (lost unsynced writes, a torn record) is never damage: a false alarm.
            raise SafetyViolation(
                f"{self.id}'s log breaks its promise after a mere crash: {broken.describe()}"
            )
        if broken is not None:
            if SimBug.IGNORE_BROKEN_PROMISE not in self.config.bugs:
                self.status = REFUSED
                if self.trace.enabled:
                    self.trace.emit(f"{self.id} refuses to start: {broken.describe()}")
                self.host.refused(self, broken)
                return
            # Started anyway: what the disk holds is all it promises from now on.
            self.disk.record_promise(Promise(hard.term, storage.last_index(), voted))
            self.invariants.disk_damaged(self.id)
        self.incarnation += 1
        raft_config = Config(
            self.id,
            election_tick=self.config.election_tick,
            heartbeat_tick=self.config.heartbeat_tick,
            max_size_per_msg=self.config.profile.max_size_per_msg,
            max_inflight_msgs=self.config.profile.max_inflight_msgs,
            bugs=self.config.core_bugs(),
        )
        rng = substream(self.config.seed, f"raft/{self.id}/{self.incarnation}")
        self.rn = rn = RawNode(raft_config, storage, rng)
        self.kv = KeyValue(ignore_sessions=SimBug.APPLY_RETRY_TWICE in self.config.bugs)
        self.status = UP
        self.tick_period = self.base_period
        self.next_tick = self.host.now + self.rng.randint(1, self.base_period)
        snapshot = storage.snapshot
        invariants = self.invariants
        invariants.durable_term(self.id, storage.hard_state.term)
        if snapshot.meta.index > 0:
            self.kv.restore(snapshot.meta.index, snapshot.data)
            invariants.committed_at(self.id, snapshot.meta.index, snapshot.meta.term)
            invariants.applied(self.id, snapshot.meta.index, self.kv.digest())
        # What the disk says is committed must be what the cluster committed.
        log = rn.raft.log
        self.commit_seen = log.committed
        if log.committed >= log.first_index():
            invariants.committed_entries(
                self.id, rn.raft.term, log.slice(log.first_index(), log.committed + 1)
            )
        self.lead_term = 0
        self.seen = (rn.raft.term, rn.raft.role, rn.raft.lead)
        if self.trace.enabled:
            hard = storage.hard_state
            self.trace.emit(
                f"{self.id} starts (incarnation {self.incarnation}): term {hard.term} "
                f"vote {hard.voted_for or '-'} commit {hard.commit} snapshot "
                f"{snapshot.meta.index} last {storage.last_index()}"
                + (" (torn tail truncated)" if torn else "")
            )

    def crash(self, why: str = "") -> None:
        loss = self.disk.crash(self.rng, self.config.profile.p_keep_unsynced)
        self.invariants.durable_term(self.id, self.disk.durable_hard_state.term)
        self._stop(DOWN)
        self.stats["crashes"] += 1
        if self.trace.enabled:
            self.trace.emit(
                f"crash {self.id}{why}: lost {loss.lost} unsynced records, kept {loss.kept}"
                + (", tore one" if loss.torn else "")
            )

    def remove(self) -> None:
        """Decommission after a committed removal: stop for good."""
        self.disk.fsync()
        self._stop(REMOVED)
        if self.trace.enabled:
            self.trace.emit(f"{self.id} is shut down (removed from the cluster)")

    def _stop(self, status: str) -> None:
        self.status = status
        self.rn = None
        self.inflight = None
        self.crash_after_fsync = False
        self.inbox = []
        self.frontend.clear()

    def pause(self) -> None:
        self.status = PAUSED

    def resume(self) -> None:
        self.status = UP
        inbox, self.inbox = self.inbox, []
        for item in inbox:
            if self.status != UP:
                return
            if isinstance(item, Request):
                self.handle_request(item)
            elif isinstance(item, Report):
                self.report(item)
            else:
                self.receive(item)

    # -- inputs ---------------------------------------------------------------------------

    def _raw(self) -> RawNode:
        rn = self.rn
        assert rn is not None
        return rn

    def receive(self, msg: Message) -> None:
        if self.status == PAUSED:
            self.inbox.append(msg)
            return
        try:
            self._raw().step(msg)
        except ProposalDropped:
            pass
        self._observe()

    def report(self, report: Report) -> None:
        if self.status == PAUSED:
            self.inbox.append(report)
            return
        rn = self._raw()
        if report.snapshot:
            rn.report_snapshot(report.peer, success=report.success)
        else:
            rn.report_unreachable(report.peer)
        self._observe()

    def tick(self, now: int) -> None:
        if now >= self.next_tick:
            self.next_tick = now + self.tick_period
            self._raw().tick()
            self._observe()

    def handle_request(self, request: Request) -> None:
        if self.status == PAUSED:
            self.inbox.append(request)
            return
        rn = self._raw()
        raft = rn.raft
        if request.kind == "get":
            context = b"%s/%d/%d/%d" % (
                self.id.encode(),
                request.client,
                request.op,
                request.attempt,
            )
            try:
                rn.read_index(context)
            except ProposalDropped:
                self._respond(request, "not_leader")
                return
            self.frontend.read_requested(context, request)
            self._observe()
            return
        if raft.role != Role.LEADER:
            self._respond(request, "not_leader")
            return
        command = Command(request.client, request.seq, request.kind, request.key, request.value)
        try:
            index = rn.propose(command.encode())
        except ProposalDropped:
            self._respond(request, "not_leader")
            return
        self.frontend.proposed(index, request)
        if self.trace.enabled:
            self.trace.emit(f"{self.id} proposes {request.describe()} at {index}")

    def _respond(self, request: Request, outcome: str, output: Value = None) -> None:
        leader = self.rn.raft.lead if self.rn is not None else ""
        self.host.respond(
            Response(request.client, request.op, request.attempt, outcome, output, leader)
        )

    # -- observation ---------------------------------------------------------------------

    def _observe(self) -> None:
        """After every input: feed leadership and commit changes to the invariants."""
        raft = self._raw().raft
        if raft.role == Role.LEADER and raft.term != self.lead_term:
            self.lead_term = raft.term
            self.stats["elections_won"] += 1
            self.invariants.leader(self.id, raft.term)
            self.invariants.leader_complete(
                self.id, raft.term, raft.log.term, raft.log.first_index()
            )
        if self.trace.enabled:
            seen = (raft.term, raft.role, raft.lead)
            if seen != self.seen:
                self.seen = seen
                self.trace.emit(
                    f"{self.id} is {raft.role.name} in term {raft.term}"
                    + (f" (leader {raft.lead})" if raft.lead and raft.role != Role.LEADER else "")
                )
        committed = raft.log.committed
        if committed != self.commit_seen:
            check_monotonic(self.id, "commit index", self.commit_seen, committed)
            log = raft.log
            first = log.first_index()
            if self.commit_seen + 1 < first:
                self.invariants.committed_at(self.id, first - 1, log.term(first - 1))
            low = max(self.commit_seen + 1, first)
            if committed >= low:
                self.invariants.committed_entries(self.id, raft.term, log.slice(low, committed + 1))
            self.commit_seen = committed

    # -- the Ready cycle -------------------------------------------------------------------

    def process(self, now: int) -> None:
        """Finish a batch whose fsync is done, start the next one; compact when due."""
        for _ in range(4):
            if self.status != UP:
                return
            if self.inflight is not None:
                if now < self.fsync_at:
                    return
                self._finish_ready()
                continue
            self._maybe_compact()
            rn = self._raw()
            if not rn.has_ready():
                return
            self._start_ready(now, rn)

    def _start_ready(self, now: int, rn: RawNode) -> None:
        ready = rn.ready()
        disk = self.disk
        end = rn.last_index() if ready.entries or ready.snapshot is not None else None
        lower = disk.promise.before_write(end)
        if lower is not None:
            disk.record_promise(lower)  # before a write that shortens the log
        self.inflight_end = end
        if SimBug.PROMISE_BEFORE_FSYNC in self.config.bugs:
            hard = ready.hard_state
            early = disk.promise.after_write(
                hard.term if hard else 0, end, hard is not None and hard.voted_for is not None
            )
            if early is not None:
                disk.record_promise(early)
        if ready.snapshot is not None:
            meta = ready.snapshot.meta
            self.invariants.committed_at(self.id, meta.index, meta.term)
            disk.write(SnapshotRecord(ready.snapshot))
        if ready.entries:
            prev_term = rn.raft.log.term(ready.entries[0].index - 1)
            self.invariants.appended(self.id, prev_term, ready.entries)
            disk.write(EntriesRecord(tuple(ready.entries)))
        if ready.hard_state is not None:
            disk.write(HardStateRecord(ready.hard_state))
        for msg in ready.messages:
            snapshot = msg.snapshot
            if snapshot is not None and msg.to not in snapshot.meta.conf_state.members():
                # A node added after our snapshot refuses it: take a fresh one (the node is
                # in our configuration, so in a snapshot at our applied index).
                self.compact_soon = True
            self.host.send_peer(self, msg)
        self.inflight = ready
        self.fsync_at = now + (
            self.rng.randint(*self.config.profile.fsync_steps) if ready.must_sync else 0
        )

    def _finish_ready(self) -> None:
        ready = self.inflight
        assert ready is not None
        rn = self._raw()
        if ready.must_sync:
            self.disk.fsync()
            self.invariants.durable_term(self.id, self.disk.durable_hard_state.term)
            if self.crash_after_fsync:
                self.crash(" after its fsync, before its promise and sending")
                return
        hard = ready.hard_state
        raised = self.disk.promise.after_write(
            hard.term if hard else 0,
            self.inflight_end,
            hard is not None and hard.voted_for is not None,
        )
        if raised is not None:
            self.disk.record_promise(raised)
        storage = rn.storage
        if ready.snapshot is not None:
            storage.apply_snapshot(ready.snapshot)
        if ready.entries:
            storage.append(ready.entries)
        if ready.hard_state is not None:
            storage.set_hard_state(ready.hard_state)
        for msg in ready.messages_after_persist:
            self.host.send_peer(self, msg)
        if ready.snapshot is not None:
            self._apply_snapshot(ready.snapshot)
        for entry in ready.committed_entries:
            self._apply(entry)
            if self.status != UP:
                return
        for state in ready.read_states:
            self.frontend.read_state(state.index, state.context)
        self.inflight = None
        rn.advance(ready)
        self._observe()
        self.frontend.serve_reads(self.kv.applied, self.kv.get)

    def _apply_snapshot(self, snapshot: Snapshot) -> None:
        index = snapshot.meta.index
        self.kv.restore(index, snapshot.data)
        self.invariants.applied(self.id, index, self.kv.digest())
        self.stats["snapshots_in"] += 1
        if self.trace.enabled:
            self.trace.emit(f"{self.id} installs snapshot {index}/t{snapshot.meta.term}")
        self.frontend.snapshot_installed(index, self.kv.session_reply)

    def _apply(self, entry: Entry) -> None:
        kv = self.kv
        if entry.index != kv.applied + 1:
            raise SafetyViolation(
                f"{self.id} applies entry {entry.index} after {kv.applied}: a gap or a repeat"
            )
        key: tuple[int, int] | None = None
        reply: Reply | None = None
        if entry.kind == EntryKind.CONF_CHANGE:
            change = decode_conf_change(entry.data)
            conf = self._raw().apply_conf_change(change)
            kv.skip(entry.index)
            if self.trace.enabled:
                self.trace.emit(
                    f"{self.id} applies {change.type.name} {change.node} at {entry.index}: "
                    f"voters {','.join(conf.voters)} learners {','.join(conf.learners) or '-'}"
                )
            self.host.conf_applied(self, entry.index, change)
        elif entry.kind == EntryKind.NORMAL and entry.data:
            command = Command.decode(entry.data)
            reply = kv.apply(entry.index, command)
            key = (command.client, command.seq)
        else:
            kv.skip(entry.index)
        self.invariants.applied(self.id, entry.index, kv.digest())
        self.frontend.applied(entry.index, key, reply)

    def _maybe_compact(self) -> None:
        rn = self._raw()
        storage = rn.storage
        applied = self.kv.applied
        since = applied - storage.snapshot.meta.index
        if since <= 0 or (since < self.compact_every and not self.compact_soon):
            return
        self.compact_soon = False
        rn.compact(applied, self.kv.encode())
        self.disk.rewrite(storage)
        self.stats["compactions"] += 1
        if self.trace.enabled:
            self.trace.emit(f"{self.id} compacts its log up to {applied}")

    # -- introspection ---------------------------------------------------------------------

    def fsync_pending(self) -> bool:
        return self.inflight is not None and self.inflight.must_sync

    def term_fsync_pending(self) -> bool:
        """An fsync in flight would make a new term or vote durable."""
        ready = self.inflight
        if ready is None or ready.hard_state is None or not ready.must_sync:
            return False
        durable = self.disk.durable_hard_state
        hard = ready.hard_state
        return (hard.term, hard.voted_for) != (durable.term, durable.voted_for)

    def is_leader(self) -> bool:
        return self.status == UP and self.rn is not None and self.rn.raft.role == Role.LEADER
