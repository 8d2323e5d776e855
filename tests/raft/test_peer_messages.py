"""No well-formed message a peer may send makes `step` raise, whatever the receiver's state.

Stale, early or misdirected messages are normal in Raft: they are dropped or answered (etcd
does the same). An exception would end the node's runner, so such a message would take a
node down. (Messages that break Raft's invariants, such as a commit index past what the
leader sent, are another matter: they mean a corrupt peer or log, and do raise.) Regression: a
follower that knew no leader raised on a peer's ReadIndex request, and a node restarted after
kill -9 got exactly such requests queued while it was down.
"""

from __future__ import annotations

import random

import pytest

from concord_resp.raft.core import (
    Config,
    ConfState,
    MemoryStorage,
    Message,
    MessageType,
    RawNode,
    Role,
)
from concord_resp.raft.core.types import LOCAL_MESSAGES

# The codec refuses SNAP without a snapshot (tests/raft/driver/test_codec.py).
NETWORK_MESSAGES = [k for k in MessageType if k not in LOCAL_MESSAGES and k != MessageType.SNAP]
STATES = ["follower without leader", "follower", "pre-candidate", "candidate", "leader"]


def node_in(state: str) -> RawNode:
    rn = RawNode(
        Config("n1", pre_vote=state == "pre-candidate"),
        MemoryStorage(ConfState(("n1", "n2", "n3"))),
        random.Random(1),
    )
    if state == "follower":
        rn.step(Message(MessageType.HEARTBEAT, to="n1", sender="n2", term=1))
    elif state in ("pre-candidate", "candidate"):
        rn.campaign()
    elif state == "leader":
        rn.campaign()
        rn.advance(rn.ready())  # our own vote is durable
        rn.step(Message(MessageType.VOTE_RESP, to="n1", sender="n2", term=1))
        assert rn.raft.role == Role.LEADER
    return rn


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("kind", NETWORK_MESSAGES, ids=lambda k: k.name)
def test_a_peer_message_never_raises(state: str, kind: MessageType) -> None:
    rn = node_in(state)
    term = rn.raft.term
    for message in (
        Message(kind, to="n1", sender="n3", term=term, context=b"c"),
        Message(kind, to="n1", sender="n3", term=term + 1, context=b"c"),  # from a newer term
        Message(kind, to="n1", sender="n3", term=0, context=b"c"),  # a peer's local request
    ):
        if kind == MessageType.PROP and state != "leader":
            continue  # a proposal the receiver cannot take is refused to its proposer
        rn.step(message)
        if rn.has_ready():
            rn.advance(rn.ready())


def test_a_follower_without_leader_drops_a_peer_read_request() -> None:
    rn = node_in("follower without leader")
    rn.step(Message(MessageType.READ_INDEX, to="n1", sender="n3", context=b"ctx"))
    assert not rn.has_ready() or not rn.ready().messages
