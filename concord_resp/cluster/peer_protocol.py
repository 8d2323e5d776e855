"""The peer protocol: every frame the members of a cluster send each other, typed.

The transport (`raft.driver.transport`) carries CBOR values between members after a handshake
that names the cluster, both nodes and `PROTOCOL_VERSION` and proves the cluster secret both
ways (`raft.driver.handshake`; a dialer of the first version, which names none, is refused).
On the wire a frame is a list whose first element names its kind:

    ["raft", message]                       a Raft message (`raft.driver.codec`), any type
                                            but InstallSnapshot, which comes as a stream:
    ["snap", transfer, seq, chunk, message] a chunk of a snapshot file, leader to follower;
                                            `message` (the InstallSnapshot) on the last one
    ["snap-ack", transfer, seq, error]      follower to leader: chunk written, or refused
    ["fwd", [[request, session], ...]]      a follower's writes for the leader to propose;
                                            request = [kind, db, body, watches] (+ user: a
                                            restricted one whose script runs), session =
                                            [id, seq, floor]: an entry without its time (a
                                            command, a transaction, a Configure, an
                                            Unblock, whose body is [reason, waiters], or
                                            a SetUsers, whose body is [mode, users])
    ["ask", number, request]                an operator request for the leader (RAFT.*)
    ["answer", number, error, value]        its answer
    ["removed", index, term]                leader to a removed member: the index and
                                            term of the entry that removed it (checked
                                            against its own log before it stops for good)

Only authenticated members' frames reach `decode` (the handshake proves the cluster secret),
and every frame fits the link's frame limit: a write too large to fit one is refused at
proposal (`forwarded_size_bound`, and `FRAME_OVERHEAD` is the room kept for the rest of a
frame). `decode` checks shapes and types: a peer's frame is untrusted input, and a malformed one
raises `ValueError` (the node drops it and logs why) rather than reaching the node's parts.
Kinds a node does not know are malformed too. This module does no I/O. (Frames are named
tuples: one or more is built for every message sent and received.)
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple, TypeAlias

import cbor2

from ..raft.core import Message
from ..raft.driver.codec import blob, decode_message, encode_message, natural, text
from ..state import (
    OP_COMMAND,
    OP_CONFIGURE,
    OP_MULTI,
    OP_SET_USERS,
    OP_UNBLOCK,
    Command,
    Configure,
    Session,
    SetUsers,
    Transaction,
    Unblock,
)
from ..state.entries import UNBLOCK_REASONS, checked_settings, checked_users, checked_waiters

PROTOCOL_VERSION: Final = 2  # 2: the handshake proves the cluster secret
FRAME_OVERHEAD: Final = 64 << 10  # a frame's room besides the one entry (or write) it carries
_ARGUMENT_OVERHEAD: Final = 9  # a CBOR byte string's header, at most
_WRITE_OVERHEAD: Final = 128  # a write's fields besides its arguments and session id


class RaftFrame(NamedTuple):
    message: Message


class SnapshotChunk(NamedTuple):
    transfer: str  # names one stream
    seq: int  # counts its chunks from 0
    chunk: bytes
    message: object  # the encoded InstallSnapshot message on the last chunk, else None


class SnapshotAck(NamedTuple):
    transfer: str
    seq: int
    error: str | None  # None: chunk `seq` is written (the last: the snapshot is installed)


ForwardedWrite: TypeAlias = Command | Transaction | Configure | Unblock | SetUsers


class Forward(NamedTuple):
    """A follower's writes, as the entries the leader will propose. Their `time_us` is not
    sent: it is 0 until the leader stamps them (its time, for the whole batch)."""

    writes: tuple[ForwardedWrite, ...]


class Ask(NamedTuple):
    number: int
    request: list[Any]


class Answer(NamedTuple):
    number: int
    error: str | None
    value: object


class Removed(NamedTuple):
    entry_index: int  # of the conf-change entry that removed the member told
    entry_term: int  # of that entry


Frame: TypeAlias = RaftFrame | SnapshotChunk | SnapshotAck | Forward | Ask | Answer | Removed


def encode(frame: Frame) -> list[Any]:
    """A frame as the CBOR-encodable list that goes on the wire."""
    if isinstance(frame, RaftFrame):
        return ["raft", encode_message(frame.message)]
    if isinstance(frame, SnapshotChunk):
        return ["snap", frame.transfer, frame.seq, frame.chunk, frame.message]
    if isinstance(frame, SnapshotAck):
        return ["snap-ack", frame.transfer, frame.seq, frame.error]
    if isinstance(frame, Forward):
        return ["fwd", [_forwarded_write(w) for w in frame.writes]]
    if isinstance(frame, Ask):
        return ["ask", frame.number, frame.request]
    if isinstance(frame, Answer):
        return ["answer", frame.number, frame.error, frame.value]
    return ["removed", frame.entry_index, frame.entry_term]


def _forwarded_write(write: ForwardedWrite) -> list[Any]:
    session = write.session
    assert session is not None, "only a write with a session is forwarded"
    wire_session = [session.id, session.seq, session.floor]
    if isinstance(write, Command):
        if write.user is not None:
            return [[OP_COMMAND, write.db, write.argv, [], write.user], wire_session]
        return [[OP_COMMAND, write.db, write.argv, []], wire_session]
    if isinstance(write, Configure):
        return [[OP_CONFIGURE, write.db, [list(p) for p in write.settings], []], wire_session]
    if isinstance(write, Unblock):
        body = [write.reason, [list(waiter) for waiter in write.waiters]]
        return [[OP_UNBLOCK, write.db, body, []], wire_session]
    if isinstance(write, SetUsers):
        body = [write.mode, [[name, rules] for name, rules in write.users]]
        return [[OP_SET_USERS, write.db, body, []], wire_session]
    watches = [list(watch) for watch in write.watches]
    if write.user is not None:
        return [[OP_MULTI, write.db, write.commands, watches, write.user], wire_session]
    return [[OP_MULTI, write.db, write.commands, watches], wire_session]


def forwarded_size_bound(write: ForwardedWrite) -> int:
    """At least the bytes `write` takes in a Forward frame, and in the entry the leader
    makes of it, without encoding its arguments (a follower does this for every write)."""
    session = write.session
    overhead = _WRITE_OVERHEAD + (len(session.id) if session is not None else 0)
    if type(write) is Command:  # (not isinstance: this runs for every forwarded write)
        argv = write.argv
        if write.user is not None:
            overhead += len(write.user)
        return overhead + sum(map(len, argv)) + _ARGUMENT_OVERHEAD * len(argv)
    if isinstance(write, Transaction):
        if write.user is not None:
            overhead += len(write.user)
        size = overhead + sum(len(key) + 32 for _, key, _, _ in write.watches)
        for argv in write.commands:
            size += sum(map(len, argv)) + _ARGUMENT_OVERHEAD * (len(argv) + 1)
        return size
    return overhead + len(cbor2.dumps(_forwarded_write(write)))  # small, and rare


def decode(value: object) -> Frame:
    """The frame a peer sent; ValueError if it is not one this version knows."""
    if type(value) is not list or not value or type(value[0]) is not str:
        raise ValueError("not a frame")
    decoder = _DECODERS.get(value[0])
    if decoder is None:
        raise ValueError(f"unknown frame kind {value[0][:40]!r}")
    try:
        return decoder(value)
    except (TypeError, IndexError, KeyError) as error:
        raise ValueError(f"malformed {value[0]!r} frame: {error}") from None


def _size(frame: list[Any], size: int) -> None:
    if len(frame) != size:
        raise ValueError(f"a {frame[0]!r} frame has {size} elements, not {len(frame)}")


def _optional_text(value: object) -> str | None:
    return None if value is None else text(value)


def _raft(frame: list[Any]) -> Frame:
    _size(frame, 2)
    return RaftFrame(decode_message(frame[1]))


def _snap(frame: list[Any]) -> Frame:
    _size(frame, 5)
    if type(frame[3]) is not bytes:
        raise ValueError("a snapshot chunk must be bytes")
    return SnapshotChunk(text(frame[1]), natural(frame[2]), frame[3], frame[4])


def _snap_ack(frame: list[Any]) -> Frame:
    _size(frame, 4)
    return SnapshotAck(text(frame[1]), natural(frame[2]), _optional_text(frame[3]))


def _forward(frame: list[Any]) -> Frame:
    # Every write sent to a follower comes through here on the leader: the checks are
    # written out. They are those `decode_op` makes on every replica, so that what a peer
    # sends cannot become an entry that stops the nodes applying it.
    _size(frame, 2)
    writes: list[ForwardedWrite] = []
    for request, session in frame[1]:
        if len(request) == 4:
            kind, db, body, watches = request
            user = None
        else:
            kind, db, body, watches, user = request
            if type(user) is not bytes or kind not in (OP_COMMAND, OP_MULTI):
                raise ValueError("a user must be bytes, of a command or a transaction")
        if type(session) is not list or len(session) != 3:
            raise ValueError("a forwarded write needs a session")
        session_id, seq, floor = session
        if type(session_id) is not str or type(seq) is not int or type(floor) is not int:
            raise ValueError("a forwarded write's session must be [text, integer, integer]")
        if type(db) is not int or db < 0 or type(body) is not list:
            raise ValueError("malformed forwarded write")
        owner = Session(session_id, seq, floor)
        if kind == OP_COMMAND and not watches:
            _check_argv(body)
            writes.append(Command(0, db, body, owner, user))
        elif kind == OP_MULTI:
            for argv in body:
                if type(argv) is not list:
                    raise ValueError("a transaction is a list of commands")
                _check_argv(argv)
            checked = [(natural(w[0]), blob(w[1]), natural(w[2]), w[3] is True) for w in watches]
            writes.append(Transaction(0, db, body, checked, owner, user))
        elif kind == OP_CONFIGURE and not watches:
            writes.append(Configure(0, db, checked_settings(body), owner))
        elif kind == OP_UNBLOCK and not watches:
            reason, waiters = body
            if reason not in UNBLOCK_REASONS:
                raise ValueError(f"unknown unblock reason {reason!r:.20}")
            writes.append(Unblock(0, db, reason, checked_waiters(waiters), owner))
        elif kind == OP_SET_USERS and not watches and len(body) == 2:
            mode, users = checked_users(body[0], body[1])
            writes.append(SetUsers(0, db, mode, users, owner))
        else:
            raise ValueError("a forwarded write must be a command or a transaction")
    return Forward(tuple(writes))


def _check_argv(argv: list[Any]) -> None:
    for item in argv:
        if type(item) is not bytes:
            raise ValueError("arguments must be bytes")


def _ask(frame: list[Any]) -> Frame:
    _size(frame, 3)
    if type(frame[2]) is not list:
        raise ValueError("an operator request must be a list")
    return Ask(natural(frame[1]), frame[2])


def _answer(frame: list[Any]) -> Frame:
    _size(frame, 4)
    return Answer(natural(frame[1]), _optional_text(frame[2]), frame[3])


def _removed(frame: list[Any]) -> Frame:
    _size(frame, 3)
    return Removed(natural(frame[1]), natural(frame[2]))


_DECODERS: Final = {
    "raft": _raft,
    "snap": _snap,
    "snap-ack": _snap_ack,
    "fwd": _forward,
    "ask": _ask,
    "answer": _answer,
    "removed": _removed,
}
