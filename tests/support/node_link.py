"""Three `RaftNode`s in one trio run, joined by an in-memory peer link the test controls.

Each node has its own state machine and real write-ahead log; the link delivers frames (CBOR
round-tripped, as off the wire) to the other node's `deliver` at once, and can cut a node off,
deliver forwarded writes twice, or pass every frame through a filter first. Ticks are short
(10 ms) so elections take tens of milliseconds; every wait is bounded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import cbor2
import trio

from concord_resp.cluster import Member, NodeConfig, Proposal, RaftNode
from concord_resp.commands import build_table
from concord_resp.raft.driver.transport import FrameTooLarge, PeerLink
from concord_resp.raft.driver.wal import WriteAheadLog
from concord_resp.resp import encode_reply
from concord_resp.state import OP_COMMAND, StateMachine
from tests.support.waiting import wait_until

NAMES = ("n1", "n2", "n3")


class Link:
    """The in-memory peer link between the nodes of one test."""

    def __init__(self) -> None:
        self.nodes: dict[str, RaftNode] = {}
        self.cut: set[str] = set()  # nodes that can neither send nor receive
        self.duplicate_forwards = False
        self.forwards_seen = 0
        # (sender, to, frame) -> the frame to deliver, or None to lose it
        self.filter: Callable[[str, str, Any], Any] | None = None
        self.max_frame = 1 << 30  # a larger frame is refused by `send`, as PeerTransport does

    def transport(self, sender: str) -> _Transport:
        return _Transport(self, sender)

    def carry(self, sender: str, to: str, frame: object) -> bool:
        if sender in self.cut or to in self.cut or to not in self.nodes:
            return True  # sent into the void, as TCP to a dead peer would be at first
        target = self.nodes[to]
        wire = cbor2.dumps(frame)
        if len(wire) > self.max_frame:
            raise FrameTooLarge(f"frame of {len(wire)} bytes exceeds max_frame {self.max_frame}")
        frame = cbor2.loads(wire)  # what the peer would decode off the wire
        if self.filter is not None:
            frame = self.filter(sender, to, frame)
            if frame is None:
                return True
        target.deliver(sender, frame)
        if isinstance(frame, list) and frame and frame[0] == "fwd":
            self.forwards_seen += 1
            if self.duplicate_forwards:
                target.deliver(sender, frame)
        return True


class _Transport:
    """The `Transport` a node sees: every other node of the link is a peer, connected unless
    one of the two is cut off."""

    def __init__(self, link: Link, sender: str) -> None:
        self.link = link
        self.sender = sender
        self.peers: dict[str, tuple[str, int]] = {}

    def send(self, to: str, frame: object) -> bool:
        return self.link.carry(self.sender, to, frame)

    def set_peers(self, peers: dict[str, tuple[str, int]]) -> None:
        self.peers = dict(peers)

    def status(self) -> dict[str, PeerLink]:
        cut = self.link.cut
        return {
            name: PeerLink(
                address=("127.0.0.1", 0),
                connected=self.sender not in cut and name not in cut,
                last_received=None,
                frames_sent=0,
                frames_dropped=0,
                reconnects=0,
            )
            for name in self.link.nodes
            if name != self.sender
        }


def make_node(directory: Path, name: str, **options: Any) -> RaftNode:
    """A node of the three, its log in `directory/name`. `segment_bytes` sizes its log
    segments, `snapshots=True` gives it a snapshot directory; other options go to RaftNode."""
    members = {n: Member(n, "127.0.0.1", 0, 0) for n in NAMES}
    wal = WriteAheadLog(
        directory / name, fsync=False, segment_bytes=options.pop("segment_bytes", 1 << 26)
    )
    if options.pop("snapshots", False):
        options["snapshot_dir"] = directory / f"{name}.snapshots"
    config = NodeConfig(name, **{"tick_seconds": 0.01, "election_ticks": 10, **options})
    return RaftNode(StateMachine(build_table()), wal, config, members)


@asynccontextmanager
async def cluster(directory: Path, **options: Any) -> AsyncIterator[Link]:
    link = Link()
    nodes = [make_node(directory, name, **options) for name in NAMES]
    for node in nodes:
        await node.load()
        link.nodes[node.name] = node
    try:
        async with trio.open_nursery() as nursery:
            for node in nodes:
                await nursery.start(node.run, link.transport(node.name))
            yield link
            nursery.cancel_scope.cancel()
    finally:
        for node in nodes:
            node.close()


async def leader_of(link: Link, among: tuple[str, ...] = NAMES) -> RaftNode:
    """The node among `among` that all of them agree leads, once its first entry is applied
    everywhere."""
    with trio.fail_after(10):
        while True:
            leaders = {link.nodes[n].leader for n in among}
            if len(leaders) == 1 and leaders <= set(among):
                lead = link.nodes[leaders.pop()]
                if all(link.nodes[n].machine.applied_index >= 1 for n in among):
                    return lead
            await trio.sleep(0.005)


async def write(node: RaftNode, *argv: bytes) -> bytes:
    proposal = Proposal(OP_COMMAND, 0, list(argv))
    node.submit(proposal)
    with trio.fail_after(10):
        await proposal.wait()
    return encode_reply(proposal.reply)


async def converged(link: Link, key: bytes) -> set[bytes | None]:
    """The values of `key` once every node has applied the same index."""
    with trio.fail_after(10):
        await wait_until(
            lambda: len({n.machine.applied_index for n in link.nodes.values()}) == 1, interval=0.005
        )
    values = (n.machine.keyspace.dbs[0].get(key, 0) for n in link.nodes.values())
    return {None if v is None else bytes(v) for v in values}


def follower(link: Link, lead: RaftNode) -> RaftNode:
    return next(n for n in link.nodes.values() if n is not lead)
