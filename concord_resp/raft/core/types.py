"""Values the Raft core, its storage and its driver share: entries, states, messages.

Everything here is plain immutable data so that the core stays a pure function of its inputs
and a simulator can copy, reorder, duplicate and drop messages freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Final, NewType, TypeVar, dataclass_transform

Term = NewType("Term", int)
Index = NewType("Index", int)
NodeId = NewType("NodeId", str)

NO_NODE = NodeId("")  # "no leader" / "voted for nobody"

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True)
def hot_record(cls: type[_T]) -> type[_T]:
    """A frozen dataclass to the type checker, a plain slotted one at run time: for the values
    every write makes on every node (its entry, a round's messages), as a frozen dataclass
    costs several times as much to create (each field is set through `object.__setattr__`).
    Hashable and compared by value all the same."""
    return dataclass(slots=True, unsafe_hash=True)(cls)


class EntryKind(IntEnum):
    NORMAL = 0  # data is a state-machine command (a `state.entries` payload); empty on a no-op
    NOOP = 1  # appended by a new leader (thesis 6.4: commit an entry of the new term)
    CONF_CHANGE = 2  # data is an encoded ConfChange


ENTRY_OVERHEAD: Final = 24  # an entry's size beyond its data, as sizes are counted


@hot_record
class Entry:
    index: int
    term: int
    kind: int
    data: bytes

    def size(self) -> int:
        return len(self.data) + ENTRY_OVERHEAD


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be durable before a node answers a vote or acknowledges an append."""

    term: int
    voted_for: str | None
    commit: int


class ConfChangeType(IntEnum):
    ADD_VOTER = 0  # add a voter, or promote a learner to voter
    ADD_LEARNER = 1  # add a learner (receives the log, does not vote)
    REMOVE = 2  # remove a voter or a learner


@dataclass(frozen=True, slots=True)
class ConfChange:
    """One single-server membership change (thesis 4.1)."""

    type: ConfChangeType
    node: str
    context: bytes = b""  # for the application: the new member's address, say


@dataclass(frozen=True, slots=True)
class ConfState:
    """The membership in effect: voters and learners (disjoint)."""

    voters: tuple[str, ...]
    learners: tuple[str, ...] = ()

    def members(self) -> tuple[str, ...]:
        return self.voters + self.learners


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    index: int
    term: int
    conf_state: ConfState


@dataclass(frozen=True, slots=True)
class Snapshot:
    meta: SnapshotMeta
    data: bytes = b""


class MessageType(IntEnum):
    # Local messages (never sent on the network).
    HUP = 0  # start an election
    BEAT = 1  # leader: send heartbeats
    CHECK_QUORUM = 2  # leader: step down if a quorum has not been heard from
    UNREACHABLE = 3  # the driver could not deliver to `sender`
    SNAP_STATUS = 4  # the driver reports the outcome of sending a snapshot (reject = failed)
    # Network messages.
    PROP = 10  # proposal (forwarded by a follower to the leader)
    APP = 11  # AppendEntries
    APP_RESP = 12
    VOTE = 13  # RequestVote
    VOTE_RESP = 14
    PRE_VOTE = 15
    PRE_VOTE_RESP = 16
    SNAP = 17  # InstallSnapshot
    HEARTBEAT = 18
    HEARTBEAT_RESP = 19
    TRANSFER_LEADER = 20
    TIMEOUT_NOW = 21
    READ_INDEX = 22
    READ_INDEX_RESP = 23


LOCAL_MESSAGES = frozenset(
    {
        MessageType.HUP,
        MessageType.BEAT,
        MessageType.CHECK_QUORUM,
        MessageType.UNREACHABLE,
        MessageType.SNAP_STATUS,
    }
)
RESPONSES = frozenset(
    {
        MessageType.APP_RESP,
        MessageType.VOTE_RESP,
        MessageType.PRE_VOTE_RESP,
        MessageType.HEARTBEAT_RESP,
        MessageType.READ_INDEX_RESP,
    }
)


@hot_record
class Message:
    type: MessageType
    to: str = ""
    sender: str = ""
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    context: bytes = b""
    snapshot: Snapshot | None = None

    def size(self) -> int:
        return 64 + sum(entry.size() for entry in self.entries) + len(self.context)

    def updated(self, **changes: object) -> Message:
        """This message with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class ReadState:
    """A ReadIndex result: once the node has applied `index`, the read with `context` may run."""

    index: int
    context: bytes


class Role(IntEnum):
    FOLLOWER = 0
    PRE_CANDIDATE = 1
    CANDIDATE = 2
    LEADER = 3


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state the application may want to know (who leads, what we are)."""

    leader: str
    role: Role


@dataclass(slots=True)
class Ready:
    """One batch of work for the driver, in this order:

    1. write `snapshot`, `entries` and `hard_state` to stable storage; `must_sync` says whether
       an fsync is needed (new entries, a new term or vote) before step 3;
    2. `messages` may be sent at once, in parallel with step 1: a leader's appends and
       heartbeats, a candidate's vote requests, forwarded requests, and the answers that promise
       nothing about this node's disk (heartbeat and read-index responses: they only say "I
       know no later term than yours", which stays true if the node then crashes). A leader
       counts its own copy of an entry, and a candidate its own vote, only once `advance` says
       they are durable;
    3. after step 1 is durable, send `messages_after_persist`: the append acknowledgements and
       the votes, each of which promises that an entry, or a term and a vote, is on disk;
    4. apply `committed_entries` (and `snapshot`) to the state machine, in order;
    5. hand `read_states` to the reads waiting for them;
    6. call `advance(ready)`.
    """

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    committed_entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    messages_after_persist: list[Message] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)
    must_sync: bool = False

    def contains_updates(self) -> bool:
        return bool(
            self.soft_state is not None
            or self.hard_state is not None
            or self.entries
            or self.snapshot is not None
            or self.committed_entries
            or self.messages
            or self.messages_after_persist
            or self.read_states
        )


def encode_conf_change(change: ConfChange) -> bytes:
    return b"%d\0%s\0%s" % (int(change.type), change.node.encode(), change.context)


def decode_conf_change(data: bytes) -> ConfChange:
    kind, node, context = data.split(b"\0", 2)
    return ConfChange(ConfChangeType(int(kind)), node.decode(), context)


def vote_response_type(kind: MessageType) -> MessageType:
    return MessageType.VOTE_RESP if kind == MessageType.VOTE else MessageType.PRE_VOTE_RESP
