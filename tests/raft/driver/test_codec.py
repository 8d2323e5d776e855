"""Raft messages on the peer link: every field survives the wire; malformed frames are refused.

A peer's frame is untrusted input: anything the codec lets through reaches the Raft core, so
shapes, types and the message/snapshot pairing are checked here with `ValueError`.
"""

from __future__ import annotations

from typing import Any

import cbor2
import pytest

from concord_resp.raft.core import ConfState, Entry, EntryKind, Message, MessageType
from concord_resp.raft.core.types import Snapshot, SnapshotMeta
from concord_resp.raft.driver.codec import decode_message, encode_message


def over_the_wire(msg: Message) -> Message:
    return decode_message(cbor2.loads(cbor2.dumps(encode_message(msg))))


def test_an_append_round_trips() -> None:
    msg = Message(
        MessageType.APP,
        to="n2",
        sender="n1",
        term=7,
        log_term=6,
        index=41,
        entries=(Entry(42, 7, EntryKind.NORMAL, b"x"), Entry(43, 7, EntryKind.NOOP, b"")),
        commit=40,
        reject=False,
        reject_hint=3,
        context=b"ctx",
    )
    assert over_the_wire(msg) == msg


def test_a_snapshot_round_trips() -> None:
    snapshot = Snapshot(SnapshotMeta(100, 5, ConfState(("n1", "n2"), ("n3",))), b"state")
    msg = Message(MessageType.SNAP, to="n3", sender="n1", term=5, snapshot=snapshot)
    assert over_the_wire(msg) == msg


def encoded(**changes: Any) -> list[Any]:
    fields = encode_message(Message(MessageType.HEARTBEAT, to="n2", sender="n1", term=1))
    names = ["type", "to", "sender", "term", "log_term", "index", "entries", "commit"]
    names += ["reject", "reject_hint", "context", "snapshot"]
    for name, value in changes.items():
        fields[names.index(name)] = value
    return fields


@pytest.mark.parametrize(
    "frame",
    [
        "not a list",
        [1, 2, 3],
        encoded(type=99),  # no such message type
        encoded(term=-1),
        encoded(term="1"),
        encoded(to=b"n2"),
        encoded(entries=[[1, 1, 0]]),  # an entry needs four fields
        encoded(entries=[[1, 1, 0, "text"]]),
        encoded(reject=1),
        encoded(context="text"),
        encoded(type=int(MessageType.SNAP)),  # a snapshot message needs a snapshot
        encoded(snapshot=[1, 1, ["n1"], [], b""]),  # and only a snapshot message has one
        encoded(type=int(MessageType.SNAP), snapshot=[1, 1, "n1", [], b""]),
    ],
)
def test_a_malformed_frame_is_refused(frame: object) -> None:
    with pytest.raises(
        ValueError, match=r"expected|malformed|not a Raft message|snapshot|is not a valid"
    ):
        decode_message(frame)
