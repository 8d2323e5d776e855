"""The pure Raft core (etcd-io/raft's shape): no I/O, no clock, no randomness of its own.

`RawNode` is the application's handle: tick/step/propose/read_index/transfer_leadership/
compact in, `Ready` batches out, `advance` when a batch is done. Time is `tick()`; the
election timeout's jitter comes from an injected, seeded RNG.
"""

from .config import Bug, Config, ProposalDropped
from .log import RaftInvariantError, RaftLog
from .promise import NOTHING_PROMISED, BrokenPromise, Promise, check_promise
from .raft import Raft
from .rawnode import PeerStatus, RawNode, Status
from .storage import Compacted, MemoryStorage, StorageError, Unavailable
from .types import (
    NO_NODE,
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    Index,
    Message,
    MessageType,
    NodeId,
    ReadState,
    Ready,
    Role,
    Snapshot,
    SnapshotMeta,
    SoftState,
    Term,
    decode_conf_change,
    encode_conf_change,
)

__all__ = [
    "NOTHING_PROMISED",
    "NO_NODE",
    "BrokenPromise",
    "Bug",
    "Compacted",
    "ConfChange",
    "ConfChangeType",
    "ConfState",
    "Config",
    "Entry",
    "EntryKind",
    "HardState",
    "Index",
    "MemoryStorage",
    "Message",
    "MessageType",
    "NodeId",
    "PeerStatus",
    "Promise",
    "ProposalDropped",
    "Raft",
    "RaftInvariantError",
    "RaftLog",
    "RawNode",
    "ReadState",
    "Ready",
    "Role",
    "Snapshot",
    "SnapshotMeta",
    "SoftState",
    "Status",
    "StorageError",
    "Term",
    "Unavailable",
    "check_promise",
    "decode_conf_change",
    "encode_conf_change",
]
