"""Core bugs the simulator found, each pinned down by a direct test of the core."""

import random

from concord_resp.raft.core import (
    Config,
    ConfState,
    MemoryStorage,
    Message,
    MessageType,
    RawNode,
    Role,
)


def test_a_leader_that_stepped_down_does_not_broadcast_its_batched_proposals() -> None:
    # Found by `python -m concord_resp.sim --seed 100 --profile figure8`: a paused leader
    # woke up, accepted queued proposals, then stepped down on a higher term; ready() still
    # broadcast the batch, as appends of the new term: followers took it for that term's
    # leader and one committed past its log (RaftInvariantError).
    storage = MemoryStorage(ConfState(("a", "b", "c")))
    node = RawNode(Config("a"), storage, random.Random(1))
    node.raft.become_candidate()
    node.raft.become_leader()
    ready = node.ready()
    storage.append(ready.entries)
    assert ready.hard_state is not None
    storage.set_hard_state(ready.hard_state)
    node.advance(ready)

    node.propose(b"queued while paused")
    node.step(Message(MessageType.HEARTBEAT, to="a", sender="b", term=node.raft.term + 1))
    assert node.raft.role == Role.FOLLOWER
    ready = node.ready()
    appends = [m for m in ready.messages if m.type == MessageType.APP]
    assert appends == []
