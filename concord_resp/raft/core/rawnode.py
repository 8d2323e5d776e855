"""The application's handle on the Raft core (etcd's RawNode): inputs in, `Ready` batches out.

Inputs: `tick()`, `step(msg)` (from peers), `propose(data)`, `propose_conf_change(change)`,
`read_index(context)`, `transfer_leadership(to)`, `compact(...)`, `report_*`. Output: `ready()`
returns one `Ready` (see its docstring for what to do with it, in order) and the driver calls
`advance(ready)` once it has done it. `ready()` may not be called again before `advance`.

Before calling `advance` the driver records in the `MemoryStorage` what it made durable
(`append(ready.entries)`, `set_hard_state`, `apply_snapshot`). `advance` then delivers the
messages this node addressed to itself in that batch: its own vote (a candidate) and its own
acknowledgement of new entries (a leader), which is how the core counts itself only once its
vote and entries are durable.

Proposals made between two `ready()` calls are sent to followers as one batch.
"""

from __future__ import annotations

from typing import NamedTuple

from .config import Config, ProposalDropped, Rng
from .raft import Raft
from .storage import MemoryStorage
from .types import (
    LOCAL_MESSAGES,
    NO_NODE,
    RESPONSES,
    ConfChange,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    Message,
    MessageType,
    Ready,
    Role,
    Snapshot,
    SoftState,
    encode_conf_change,
    hot_record,
)


@hot_record
class PeerStatus:
    match: int
    next: int
    state: str
    recent_active: bool
    is_learner: bool


class Status(NamedTuple):
    """What the application may read of the core between two `ready()` rounds. (A named
    tuple: the node reads it every round, and a frozen dataclass of this many fields costs
    several times as much to build.)"""

    id: str
    term: int
    vote: str | None
    lead: str
    role: Role
    commit: int
    commit_term: int  # the term of the entry at `commit` (0 if compacted away)
    applied: int
    first_index: int
    last_index: int
    voters: tuple[str, ...]
    learners: tuple[str, ...]
    lead_transferee: str
    pending_conf_index: int  # a membership change not yet applied, up to this index
    pending_snapshot: int  # index of a snapshot taken from the leader, not yet persisted (0)
    is_leader: bool

    @classmethod
    def before_start(cls, node_id: str) -> Status:
        """The status of a node whose log is not loaded yet: a follower that knows nothing."""
        return cls(
            node_id,
            0,
            None,
            NO_NODE,
            Role.FOLLOWER,
            0,
            0,
            0,
            1,
            0,
            (),
            (),
            NO_NODE,
            0,
            0,
            False,
        )

    @property
    def members(self) -> tuple[str, ...]:
        return (*self.voters, *self.learners)


class RawNode:
    def __init__(self, config: Config, storage: MemoryStorage, rng: Rng) -> None:
        self.raft = Raft(config, storage, rng)
        self.storage = storage
        self._prev_soft: SoftState = self.raft.soft_state()
        self._prev_hard: HardState = self.raft.hard_state()
        self._pending: Ready | None = None
        self._to_self: list[Message] = []
        self._batched_proposals = False

    # -- inputs ----------------------------------------------------------------------------

    def tick(self) -> None:
        self.raft.tick()

    def campaign(self) -> None:
        self.raft.step(Message(MessageType.HUP, sender=self.raft.id))

    def step(self, msg: Message) -> None:
        """A message from a peer. Local message types and responses from nodes that are not
        members are ignored."""
        if msg.type in LOCAL_MESSAGES:
            raise ValueError(f"{msg.type.name} is a local message")
        if msg.type in RESPONSES and msg.sender not in self.raft.progress:
            return
        self.raft.step(msg)

    def propose(self, data: bytes) -> int:
        """Append a command; returns its index. Raises ProposalDropped unless leader."""
        return self._propose(Entry(0, 0, EntryKind.NORMAL, data))

    def propose_conf_change(self, change: ConfChange) -> int:
        """Propose one membership change; returns its index. Raises ProposalDropped if a
        change is pending, the leader has not committed an entry of its term, or it is not
        the leader."""
        return self._propose(Entry(0, 0, EntryKind.CONF_CHANGE, encode_conf_change(change)))

    def propose_many(self, datas: list[bytes]) -> int:
        """Append several commands at once; returns the index of the first."""
        entries = [Entry(0, 0, EntryKind.NORMAL, data) for data in datas]
        return self._propose_entries(entries) - len(entries) + 1

    def _propose(self, entry: Entry) -> int:
        return self._propose_entries([entry])

    def _propose_entries(self, entries: list[Entry]) -> int:
        raft = self.raft
        if raft.role != Role.LEADER:
            raise ProposalDropped("not the leader")
        raft.propose_batched(entries)
        self._batched_proposals = True
        return raft.log.last_index()

    def read_index(self, context: bytes) -> None:
        """Ask for a linearizable read point; a `ReadState` with `context` comes back in a
        later Ready. Raises ProposalDropped if no leader is known."""
        raft = self.raft
        if raft.role != Role.LEADER and not raft.lead:
            raise ProposalDropped("no leader")
        raft.step(Message(MessageType.READ_INDEX, sender=raft.id, context=context))

    def transfer_leadership(self, to: str) -> None:
        raft = self.raft
        if raft.role != Role.LEADER and not raft.lead:
            raise ProposalDropped("no leader")
        raft.step(Message(MessageType.TRANSFER_LEADER, sender=to))

    def apply_conf_change(self, change: ConfChange) -> ConfState:
        """Make a committed change effective; call it while applying the entry."""
        return self.raft.apply_conf_change(change)

    def compact(self, index: int, data: bytes, conf_state: ConfState | None = None) -> Snapshot:
        """Snapshot the state machine at `index` (applied already) and drop the log up to it.

        `conf_state` is the membership as of `index` (the current one by default)."""
        raft = self.raft
        if index > raft.log.applied:
            raise ValueError(f"cannot snapshot at {index}: only {raft.log.applied} applied")
        snapshot = self.storage.create_snapshot(index, conf_state or raft.conf_state(), data)
        self.storage.compact(index)
        return snapshot

    def report_unreachable(self, node: str) -> None:
        self.raft.step(Message(MessageType.UNREACHABLE, sender=node))

    def report_snapshot(self, node: str, *, success: bool) -> None:
        self.raft.step(Message(MessageType.SNAP_STATUS, sender=node, reject=not success))

    # -- output ------------------------------------------------------------------------------

    def has_ready(self) -> bool:
        raft = self.raft
        return bool(
            self._batched_proposals
            or raft.soft_state() != self._prev_soft
            or raft.hard_state() != self._prev_hard
            or raft.log.unstable.entries
            or raft.log.unstable.snapshot is not None
            or raft.msgs
            or raft.msgs_after_persist
            or raft.read_states
            or raft.log.has_next_committed_entries()
        )

    def ready(self) -> Ready:
        if self._pending is not None:
            raise RuntimeError("ready() called again before advance()")
        raft = self.raft
        if self._batched_proposals:
            self._batched_proposals = False
            if raft.role == Role.LEADER:  # it may have stepped down since it accepted them
                raft.broadcast_append()
        ready = Ready()
        soft = raft.soft_state()
        if soft != self._prev_soft:
            ready.soft_state = soft
            self._prev_soft = soft
        hard = raft.hard_state()
        if hard != self._prev_hard:
            ready.hard_state = hard
            ready.must_sync = hard.term != self._prev_hard.term or (
                hard.voted_for != self._prev_hard.voted_for
            )
            self._prev_hard = hard
        ready.entries = raft.log.unstable_entries()
        ready.snapshot = raft.log.unstable.snapshot
        ready.must_sync = ready.must_sync or bool(ready.entries) or ready.snapshot is not None
        ready.committed_entries = raft.log.next_committed_entries()
        ready.messages, raft.msgs = raft.msgs, []
        after, raft.msgs_after_persist = raft.msgs_after_persist, []
        ready.messages_after_persist = [m for m in after if m.to != raft.id]
        self._to_self = [m for m in after if m.to == raft.id]
        ready.read_states, raft.read_states = raft.read_states, []
        self._pending = ready
        return ready

    def advance(self, ready: Ready) -> None:
        if ready is not self._pending:
            raise RuntimeError("advance() with a Ready that is not the pending one")
        self._pending = None
        raft = self.raft
        log = raft.log
        if ready.snapshot is not None:
            log.stable_snapshot_to(ready.snapshot.meta.index)
        if ready.entries:
            last = ready.entries[-1]
            log.stable_to(last.index, last.term)
        if ready.committed_entries:
            log.applied_to(ready.committed_entries[-1].index)
        elif ready.snapshot is not None:
            log.applied_to(ready.snapshot.meta.index)
        to_self, self._to_self = self._to_self, []
        for msg in to_self:
            raft.step(msg)  # our own vote / acknowledgement, now durable

    # -- introspection ---------------------------------------------------------------------------

    def last_index(self) -> int:
        """The index of the last entry in the log (stable or not)."""
        return self.raft.log.last_index()

    def progress(self) -> dict[str, PeerStatus]:
        """(Leader only, else empty) how far each member's log is replicated."""
        raft = self.raft
        if raft.role != Role.LEADER:
            return {}
        return {
            node: PeerStatus(p.match, p.next, p.state.name, p.recent_active, p.is_learner)
            for node, p in raft.progress.items()
        }

    def status(self) -> Status:
        raft = self.raft
        log = raft.log
        committed = log.committed
        snapshot = log.unstable.snapshot
        role = raft.role
        return Status(  # positional, in field order: the node reads this every round
            raft.id,
            raft.term,
            raft.vote or None,
            raft.lead,
            role,
            committed,
            log.term(committed),
            log.applied,
            log.first_index(),
            log.last_index(),
            raft.voters,
            raft.learners,
            raft.lead_transferee,
            raft.pending_conf_index,
            snapshot.meta.index if snapshot is not None else 0,
            role == Role.LEADER,
        )
