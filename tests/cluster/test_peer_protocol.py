"""The peer protocol's frames: each kind round-trips through the wire form, and anything a
peer could send that is not a frame of this version is refused with ValueError (the node
drops it) rather than reaching the node's parts."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest

from concord_resp.cluster import peer_protocol as pp
from concord_resp.raft.core import Message, MessageType
from concord_resp.state import (
    OP_COMMAND,
    OP_CONFIGURE,
    OP_MULTI,
    OP_SET_USERS,
    USERS_LOAD,
    Command,
    Configure,
    Session,
    SetUsers,
    Transaction,
    encode_op,
)

FRAMES: list[pp.Frame] = [
    pp.RaftFrame(Message(MessageType.HEARTBEAT, to="n2", sender="n1", term=3, commit=7)),
    pp.SnapshotChunk("t1", 0, b"chunk", None),
    pp.SnapshotChunk("t1", 4, b"", ["encoded", "message"]),
    pp.SnapshotAck("t1", 3, None),
    pp.SnapshotAck("t1", 3, "disk full"),
    pp.Forward(
        (
            Command(0, 0, [b"SET", b"k", b"v"], Session("n2:ab", 5, 4)),
            Transaction(0, 3, [[b"INCR", b"c"]], [(3, b"c", 12, True)], Session("n2:ab", 6, 4)),
            Configure(0, 0, [("zset_max_listpack_entries", 3)], Session("n2:ab", 7, 4)),
            Configure(0, 0, [("requirepass", b"pw")], Session("n2:ab", 8, 4)),
            Command(0, 0, [b"EVAL", b"return 1", b"0"], Session("n2:ab", 9, 4), b"alice"),
            Transaction(0, 0, [[b"EVAL", b"x", b"0"]], [], Session("n2:ab", 10, 4), b"bob"),
            SetUsers(0, 0, USERS_LOAD, [(b"u", [b"on"])], Session("n2:ab", 11, 4)),
        )
    ),
    pp.Ask(7, ["transfer", None]),
    pp.Answer(7, None, [{"name": "n1"}]),
    pp.Answer(8, "ERR no voter named 'x'", None),
    pp.Removed(7, 2),
]


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: type(f).__name__)
def test_frames_round_trip_through_the_wire(frame: pp.Frame) -> None:
    wire = cbor2.loads(cbor2.dumps(pp.encode(frame)))  # what the peer decodes off the wire
    assert pp.decode(wire) == frame


@pytest.mark.parametrize(
    "wire",
    [
        None,
        [],
        "raft",
        [1, 2],
        ["nosuch"],
        ["raft"],
        ["raft", [1, 2, 3]],
        ["snap", "t", 0, "not bytes", None],
        ["snap-ack", "t", "0", None],
        ["fwd", [[[9, 0, [], []], ["s", 1, 1]]]],  # not a command or a transaction
        ["fwd", [[[OP_COMMAND, 0, [b"GET"], []], None]]],  # no session
        ["fwd", [[[OP_MULTI, 0, [], [[0, "not bytes", 1, True]]], ["s", 1, 1]]]],
        # What every replica would refuse to apply (and stop on) is refused here:
        ["fwd", [[[OP_COMMAND, 0, [b"SET", b"k", 7], []], ["s", 1, 1]]]],
        ["fwd", [[[OP_COMMAND, 0, b"SET", []], ["s", 1, 1]]]],
        ["fwd", [[[OP_MULTI, 0, [[b"INCR", None]], []], ["s", 1, 1]]]],
        ["fwd", [[[OP_MULTI, 0, [b"INCR"], []], ["s", 1, 1]]]],
        ["fwd", [[[OP_COMMAND, -1, [b"PING"], []], ["s", 1, 1]]]],
        ["fwd", [[[OP_COMMAND, 0, [b"PING"], []], ["s", "1", 1]]]],
        ["fwd", [[[OP_CONFIGURE, 0, [["maxclients", 1]], []], ["s", 1, 1]]]],
        ["fwd", [[[OP_COMMAND, 0, [b"PING"], [], "not bytes"], ["s", 1, 1]]]],
        ["fwd", [[[OP_CONFIGURE, 0, [], [], b"user"], ["s", 1, 1]]]],
        ["fwd", [[[OP_SET_USERS, 0, [7, []], []], ["s", 1, 1]]]],
        ["ask", 1, "not a list"],
        ["answer", 1, 2, None],
        ["removed", "extra"],
        ["removed"],  # the first version's: it named no entry
        ["removed", -1, 2],
        ["removed", 5, "2"],
    ],
)
def test_what_is_not_a_frame_is_refused(wire: Any) -> None:
    with pytest.raises(
        ValueError,
        match=r"frame|expected|must|malformed|elements|needs|message|a list|not a replicated",
    ):
        pp.decode(wire)


def test_the_size_bound_of_a_forwarded_write_covers_its_frame_and_its_entry() -> None:
    writes = [
        Command(0, 0, [b"SET", b"k" * 300, b"v" * 70_000], Session("n2:" + "a" * 16, 1, 1)),
        Command(0, 0, [b"x"] * 1000, Session("n2:ab", 2**40, 2**40)),
        Transaction(
            0,
            15,
            [[b"SET", b"k", b"v" * 30]] * 50,
            [(15, b"w" * 100, 2**50, True)] * 20,
            Session("n2:ab", 3, 1),
        ),
        Configure(0, 0, [("zset_max_listpack_entries", 2**60)], Session("n2:ab", 7, 4)),
        Command(0, 0, [b"EVALSHA", b"f" * 40, b"0"], Session("n2:ab", 8, 4), b"u" * 300),
        Transaction(0, 0, [[b"EVAL", b"return 1", b"0"]], [], Session("n2:ab", 9, 4), b"u" * 9),
    ]
    for write in writes:
        bound = pp.forwarded_size_bound(write)
        alone = len(cbor2.dumps(pp.encode(pp.Forward((write,)))))
        write.time_us = 2**62  # as the leader stamps it
        assert alone <= bound
        assert len(encode_op(write)) <= bound
