"""Raft messages as CBOR-encodable values for the peer link (and back).

A message is a flat list in a fixed field order; entries are `[index, term, kind, data]`
lists, as in the log. Decoding checks shapes and types: a peer's frame is untrusted input, and
a malformed one raises `ValueError` (the caller drops it) rather than reaching the core.
"""

from __future__ import annotations

from typing import Any

from ..core.types import (
    ConfState,
    Entry,
    Message,
    MessageType,
    Snapshot,
    SnapshotMeta,
)


def encode_message(msg: Message) -> list[Any]:
    snapshot = None
    if msg.snapshot is not None:
        meta = msg.snapshot.meta
        snapshot = [
            meta.index,
            meta.term,
            list(meta.conf_state.voters),
            list(meta.conf_state.learners),
            msg.snapshot.data,
        ]
    return [
        int(msg.type),
        msg.to,
        msg.sender,
        msg.term,
        msg.log_term,
        msg.index,
        [[e.index, e.term, e.kind, e.data] for e in msg.entries],
        msg.commit,
        msg.reject,
        msg.reject_hint,
        msg.context,
        snapshot,
    ]


# Checkers for values a peer sent (untrusted): the value itself, or ValueError.


def natural(value: object) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"expected a natural number, got {value!r:.40}")
    return value


def text(value: object) -> str:
    if type(value) is not str:
        raise ValueError(f"expected text, got {value!r:.40}")
    return value


def blob(value: object) -> bytes:
    if type(value) is not bytes:
        raise ValueError(f"expected bytes, got {value!r:.40}")
    return value


def decode_message(value: object) -> Message:
    if type(value) is not list or len(value) != 12:
        raise ValueError("not a Raft message")
    kind, to, sender, term, log_term, index, entries, commit, reject, hint, context, snap = value
    if type(entries) is not list or type(reject) is not bool:
        raise ValueError("malformed Raft message")
    decoded_entries = []
    for entry in entries:  # (every write, on every follower: the checks are written out)
        if type(entry) is not list or len(entry) != 4:
            raise ValueError("malformed log entry")
        at, of_term, entry_kind, data = entry  # (not the message's index, term, kind)
        if not (type(at) is int and type(of_term) is int and type(entry_kind) is int):
            raise ValueError(f"malformed log entry: {entry!r:.60}")
        if at < 0 or of_term < 0 or entry_kind < 0 or type(data) is not bytes:
            raise ValueError(f"malformed log entry: {entry!r:.60}")
        decoded_entries.append(Entry(at, of_term, entry_kind, data))
    snapshot = None
    if snap is not None:
        if type(snap) is not list or len(snap) != 5:
            raise ValueError("malformed snapshot")
        voters, learners = snap[2], snap[3]
        if type(voters) is not list or type(learners) is not list:
            raise ValueError("malformed snapshot configuration")
        snapshot = Snapshot(
            SnapshotMeta(
                natural(snap[0]),
                natural(snap[1]),
                ConfState(tuple(map(text, voters)), tuple(map(text, learners))),
            ),
            blob(snap[4]),
        )
    message_type = MessageType(natural(kind))
    if (message_type == MessageType.SNAP) != (snapshot is not None):
        raise ValueError("a snapshot message without a snapshot, or the other way round")
    return Message(
        message_type,
        to=text(to),
        sender=text(sender),
        term=natural(term),
        log_term=natural(log_term),
        index=natural(index),
        entries=tuple(decoded_entries),
        commit=natural(commit),
        reject=reject,
        reject_hint=natural(hint),
        context=blob(context),
        snapshot=snapshot,
    )
