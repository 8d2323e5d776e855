"""The session table (Raft thesis 6.3): a retried write is applied once.

A node proposing a client's write may propose it again (after a leader change, or a timeout),
so an entry whose (session, sequence number) was applied before is not applied again; its
first reply is returned. Replies are kept for sequence numbers at or above the session's
`floor` (the proposer's lowest unfinished one), and sessions silent for SESSION_IDLE_US of log
time are dropped, both decided by log time alone: every replica applies the same rules to the
same entries. A `Section` of the state machine; replies are stored as tagged trees.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from ..resp import NULL_ARRAY, Reply
from ..resp.replies import (
    BigNumber,
    ErrorReply,
    HumanDouble,
    Map,
    MapPairs,
    NestedMap,
    Pairs,
    Receivers,
    RespSet,
    SimpleString,
    Verbatim,
)
from .entries import Session

SESSION_IDLE_US: Final = 3600 * 1_000_000
SESSION_SWEEP_US: Final = 60 * 1_000_000
CHUNK: Final = 1024  # sessions per snapshot record


class SessionState:
    """One proposer's applied commands: replies by sequence number, at or above `floor`."""

    __slots__ = ("floor", "last_seen_us", "replies")

    def __init__(self) -> None:
        self.floor = 0
        self.last_seen_us = 0
        self.replies: dict[int, tuple[Reply, int]] = {}


class Sessions:
    kinds: tuple[str, ...] = ("sessions",)

    def __init__(self) -> None:
        self.table: dict[str, SessionState] = {}
        self.sweep_us = 0  # log time of the last sweep of idle sessions

    def first_reply(self, session: Session, time_us: int) -> tuple[Reply, int] | None:
        """(reply, db after) of a write applied before, or None if it is new. Notes the
        session as seen at `time_us` and forgets replies below its floor."""
        state = self.table.get(session.id)
        if state is None:
            state = self.table[session.id] = SessionState()
        state.last_seen_us = time_us
        floor = session.floor
        if floor > state.floor:
            state.floor = floor
            # Replies are recorded in about sequence order, so those below the new floor are
            # at the front: drop them up to the first that is not. One recorded out of order
            # (a blocked command's, answered later) may stay behind it until `sweep`.
            replies = state.replies
            while replies:
                oldest = next(iter(replies))
                if oldest >= floor:
                    break
                del replies[oldest]
        return state.replies.get(session.seq)

    def record(self, session: Session, reply: Reply, db_after: int) -> None:
        self.table[session.id].replies[session.seq] = (reply, db_after)

    def record_completion(self, session_id: str, seq: int, reply: Reply, db_after: int) -> None:
        """The reply a blocked command got later (served, timed out): a retry of it is
        answered with it. Its session may have been swept meanwhile (long blocked)."""
        state = self.table.get(session_id)
        if state is None:
            state = self.table[session_id] = SessionState()
        if seq >= state.floor:
            state.replies[seq] = (reply, db_after)

    def sweep(self, time_us: int) -> None:
        """Drop sessions idle for SESSION_IDLE_US, and replies below a floor that
        `first_reply` left behind (the machine calls this once every SESSION_SWEEP_US of log
        time)."""
        self.sweep_us = time_us
        idle = [sid for sid, s in self.table.items() if time_us - s.last_seen_us > SESSION_IDLE_US]
        for session_id in idle:
            del self.table[session_id]
        for state in self.table.values():  # replies recorded out of order, below the floor
            stale = [seq for seq in state.replies if seq < state.floor]
            for seq in stale:
                del state.replies[seq]

    # -- the Section interface --------------------------------------------------------------

    def reset(self) -> None:
        self.table = {}
        self.sweep_us = 0

    def adopt(self, other: Sessions) -> None:
        self.table, self.sweep_us = other.table, other.sweep_us

    def snapshot_records(self) -> Iterator[list[Any]]:
        """["sessions", [[id, floor, last_seen_us, [[seq, reply, db_after], ...]], ...]],
        CHUNK sessions a record, in the table's order."""
        rows: list[Any] = []
        for session_id, state in self.table.items():
            replies = [
                [seq, encode_reply_tree(reply), db_after]
                for seq, (reply, db_after) in state.replies.items()
            ]
            rows.append([session_id, state.floor, state.last_seen_us, replies])
            if len(rows) == CHUNK:
                yield ["sessions", rows]
                rows = []
        if rows:
            yield ["sessions", rows]

    def restore(self, record: list[Any]) -> None:
        for session_id, floor, last_seen, replies in record[1]:
            state = self.table[session_id] = SessionState()
            state.floor, state.last_seen_us = floor, last_seen
            for seq, reply, db_after in replies:
                state.replies[seq] = (decode_reply_tree(reply), db_after)


# -- replies as tagged trees --------------------------------------------------------------

# Tags for the reply tree; plain bytes, int and None stand for themselves.
_SIMPLE, _ERROR, _ARRAY, _MAP, _SET, _DOUBLE, _BOOL, _VERBATIM, _BIG = range(9)
_NULL_ARRAY, _PAIRS, _HUMAN, _MAP_PAIRS, _NESTED_MAP = range(9, 14)


class ReplyTreeError(ValueError):
    """A reply that cannot be stored, or a stored one that cannot be read."""


def encode_reply_tree(reply: Reply) -> Any:
    if reply is None or type(reply) is int:
        return reply
    if type(reply) is Receivers:
        # PUBLISH's count is this node's own (its subscribers): stored as 0, the same on
        # every replica (a retry answered from a restored snapshot says 0).
        return 0
    if isinstance(reply, SimpleString):
        return [_SIMPLE, bytes(reply)]
    if isinstance(reply, ErrorReply):
        return [_ERROR, bytes(reply)]
    if isinstance(reply, HumanDouble):
        return [_HUMAN, bytes(reply)]
    if isinstance(reply, (bytes, bytearray)):
        return bytes(reply)
    if isinstance(reply, bool):
        return [_BOOL, reply]
    if isinstance(reply, float):
        return [_DOUBLE, reply]
    if isinstance(reply, Map):
        return [_MAP, [[encode_reply_tree(k), encode_reply_tree(v)] for k, v in reply.items()]]
    if isinstance(reply, RespSet):
        return [_SET, [encode_reply_tree(item) for item in reply]]
    if isinstance(reply, MapPairs):
        return [_MAP_PAIRS, [[encode_reply_tree(k), encode_reply_tree(v)] for k, v in reply]]
    if isinstance(reply, NestedMap):
        return [_NESTED_MAP, [[encode_reply_tree(k), encode_reply_tree(v)] for k, v in reply]]
    if isinstance(reply, Pairs):
        return [_PAIRS, [[encode_reply_tree(a), encode_reply_tree(b)] for a, b in reply]]
    if isinstance(reply, (list, tuple)):
        return [_ARRAY, [encode_reply_tree(item) for item in reply]]
    if isinstance(reply, Verbatim):
        return [_VERBATIM, reply.text, reply.format]
    if isinstance(reply, BigNumber):
        return [_BIG, reply.value]
    if reply is NULL_ARRAY:
        return [_NULL_ARRAY]
    raise ReplyTreeError(f"cannot store a reply of type {type(reply).__name__}")


def decode_reply_tree(tree: Any) -> Reply:
    if tree is None or type(tree) in (int, bytes):
        return tree
    if type(tree) is not list or not tree:
        raise ReplyTreeError(f"malformed stored reply {tree!r:.60}")
    tag = tree[0]
    if tag == _SIMPLE:
        return SimpleString(tree[1])
    if tag == _ERROR:
        return ErrorReply(tree[1])
    if tag == _HUMAN:
        return HumanDouble(tree[1])
    if tag == _ARRAY:
        return [decode_reply_tree(item) for item in tree[1]]
    if tag == _MAP:
        return Map((decode_reply_tree(k), decode_reply_tree(v)) for k, v in tree[1])
    if tag == _MAP_PAIRS:
        return MapPairs((decode_reply_tree(k), decode_reply_tree(v)) for k, v in tree[1])
    if tag == _NESTED_MAP:
        return NestedMap((decode_reply_tree(k), decode_reply_tree(v)) for k, v in tree[1])
    if tag == _PAIRS:
        return Pairs((decode_reply_tree(a), decode_reply_tree(b)) for a, b in tree[1])
    if tag == _SET:
        return RespSet(decode_reply_tree(item) for item in tree[1])
    if tag in (_DOUBLE, _BOOL):
        return tree[1]
    if tag == _VERBATIM:
        return Verbatim(tree[1], tree[2])
    if tag == _BIG:
        return BigNumber(tree[1])
    if tag == _NULL_ARRAY:
        return NULL_ARRAY
    raise ReplyTreeError(f"unknown stored reply tag {tag!r}")
