"""Three `RaftNode`s in one trio run, joined by an in-memory peer link the test controls.

Each node has its own state machine and real write-ahead log; the link delivers frames (CBOR
round-tripped, as off the wire) to the other node's `deliver` at once, and can cut a node off or deliver forwarded writes twice. What
is shown here: writes forwarded by followers are applied once even when they arrive twice,
every node converges on the same data, a follower reads its own cluster's latest write, and a
node cut off from the others answers `CLUSTERDOWN` / `TIMEOUT` instead of serving.

Ticks are short (10 ms) so elections take tens of milliseconds; every wait is bounded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import cbor2
import pytest
import trio

from concord_resp.cluster import ClusterError, Member, Proposal, RaftNode
from concord_resp.commands import OP_COMMAND, OP_EXPIRE, OP_MULTI, StateMachine, build_table
from concord_resp.raft.driver.wal import WriteAheadLog

NAMES = ("n1", "n2", "n3")


class Link:
    """The in-memory peer link between the nodes of one test."""

    def __init__(self) -> None:
        self.nodes: dict[str, RaftNode] = {}
        self.cut: set[str] = set()  # nodes that can neither send nor receive
        self.duplicate_forwards = False
        self.forwards_seen = 0

    def transport(self, sender: str) -> _Transport:
        return _Transport(self, sender)

    def carry(self, sender: str, to: str, frame: object) -> bool:
        if sender in self.cut or to in self.cut or to not in self.nodes:
            return True  # sent into the void, as TCP to a dead peer would be at first
        target = self.nodes[to]
        frame = cbor2.loads(cbor2.dumps(frame))  # what the peer would decode off the wire
        target.deliver(sender, frame)
        if isinstance(frame, list) and frame and frame[0] == "fwd":
            self.forwards_seen += 1
            if self.duplicate_forwards:
                target.deliver(sender, frame)
        return True


class _Transport:
    def __init__(self, link: Link, sender: str) -> None:
        self.link = link
        self.sender = sender

    def send(self, to: str, frame: object) -> bool:
        return self.link.carry(self.sender, to, frame)


def make_node(directory: Path, name: str, **timing: float) -> RaftNode:
    members = {n: Member(n, "127.0.0.1", 0, 0) for n in NAMES}
    return RaftNode(
        StateMachine(build_table()),
        WriteAheadLog(directory / name, fsync=False),
        name=name,
        members=members,
        tick_seconds=0.01,
        election_ticks=10,
        write_timeout=timing.get("write_timeout", 5.0),
        read_timeout=timing.get("read_timeout", 5.0),
        resend_interval=timing.get("resend_interval", 1.0),
    )


@asynccontextmanager
async def cluster(directory: Path, **timing: float) -> AsyncIterator[Link]:
    link = Link()
    nodes = [make_node(directory, name, **timing) for name in NAMES]
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
    assert isinstance(proposal.reply, bytes)
    return proposal.reply


async def converged(link: Link, key: bytes) -> set[bytes | None]:
    """The values of `key` once every node has applied the same index."""
    with trio.fail_after(10):
        while len({n.machine.applied_index for n in link.nodes.values()}) != 1:
            await trio.sleep(0.005)
    values = (n.machine.keyspace.dbs[0].get(key, 0) for n in link.nodes.values())
    return {None if v is None else bytes(v) for v in values}


def follower(link: Link, lead: RaftNode) -> RaftNode:
    return next(n for n in link.nodes.values() if n is not lead)


async def test_followers_forward_writes_and_every_node_applies_them(tmp_path: Path) -> None:
    async with cluster(tmp_path) as link:
        await leader_of(link)
        for node in link.nodes.values():
            assert await write(node, b"APPEND", b"k", node.name.encode()) == b":%d\r\n" % (
                2 * int(node.name[1:])
            )
        assert await converged(link, b"k") == {b"n1n2n3"}
        assert link.forwards_seen >= 2  # the two followers' writes went through the leader


async def test_a_forwarded_write_delivered_twice_is_applied_once(tmp_path: Path) -> None:
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        link.duplicate_forwards = True
        other = follower(link, lead)
        assert await write(other, b"INCR", b"counter") == b":1\r\n"
        assert await write(other, b"INCR", b"counter") == b":2\r\n"
        assert await converged(link, b"counter") == {b"2"}
        transaction = Proposal(OP_MULTI, 0, [[b"INCR", b"counter"], [b"INCR", b"counter"]])
        other.submit(transaction)
        with trio.fail_after(10):
            await transaction.wait()
        assert transaction.reply == [b":3\r\n", b":4\r\n"]
        assert await converged(link, b"counter") == {b"4"}


async def test_a_resent_write_is_applied_once(tmp_path: Path) -> None:
    # A follower resends every unapplied write each resend interval; with an interval far
    # shorter than a round trip through the log, most writes are proposed several times.
    async with cluster(tmp_path, resend_interval=0.001) as link:
        lead = await leader_of(link)
        other = follower(link, lead)
        proposals = [Proposal(OP_COMMAND, 0, [b"INCR", b"c"]) for _ in range(50)]
        for proposal in proposals:
            other.submit(proposal)
        with trio.fail_after(10):
            for proposal in proposals:
                await proposal.wait()
        assert sorted(p.reply for p in proposals) == sorted(b":%d\r\n" % i for i in range(1, 51))
        assert await converged(link, b"c") == {b"50"}


async def test_a_follower_read_sees_the_latest_write_made_elsewhere(tmp_path: Path) -> None:
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        other = follower(link, lead)
        for i in range(20):
            await write(lead, b"SET", b"k", b"%d" % i)
            await other.read_barrier()  # ReadIndex through the leader, then wait to apply
            assert other.machine.keyspace.dbs[0].get(b"k", 0) == b"%d" % i


async def test_a_node_cut_off_answers_errors_and_the_majority_goes_on(tmp_path: Path) -> None:
    async with cluster(tmp_path, write_timeout=0.3, read_timeout=0.3) as link:
        lead = await leader_of(link)
        await write(lead, b"SET", b"k", b"before")
        lonely = follower(link, lead)
        link.cut.add(lonely.name)
        rest = tuple(n for n in NAMES if n != lonely.name)
        # While it still believes in the old leader it forwards: the outcome is unknown.
        reply = await write(lonely, b"SET", b"k", b"lonely")
        assert reply in (b"-TIMEOUT not committed yet\r\n", b"-CLUSTERDOWN No raft leader\r\n")
        with pytest.raises(ClusterError) as raised:
            await lonely.read_barrier()
        assert raised.value.message in (
            b"TIMEOUT no quorum for read",
            b"CLUSTERDOWN No raft leader",
        )
        # Once its election timeout passes it knows no leader: nothing is appended.
        with trio.fail_after(10):
            while lonely.leader:
                await trio.sleep(0.005)
        assert await write(lonely, b"SET", b"k", b"x") == b"-CLUSTERDOWN No raft leader\r\n"
        with pytest.raises(ClusterError) as raised:
            await lonely.read_barrier()
        assert raised.value.message == b"CLUSTERDOWN No raft leader"
        # The majority keeps serving, reads included.
        majority = await leader_of(link, rest)
        assert await write(majority, b"SET", b"k", b"after") == b"+OK\r\n"
        await link.nodes[rest[0]].read_barrier()
        # Healed: the lonely node catches up and never applied its own unknown-outcome write
        # after the majority's (it may have been applied before it, never after).
        link.cut.clear()
        await leader_of(link)
        assert await converged(link, b"k") == {b"after"}


async def test_the_leader_cut_off_times_out_writes_and_reads(tmp_path: Path) -> None:
    async with cluster(tmp_path, write_timeout=0.05, read_timeout=0.05) as link:
        lead = await leader_of(link)
        link.cut.add(lead.name)
        # Within its election timeout (100 ms) it still leads: the write is appended but
        # cannot commit, so its outcome is unknown; a read cannot confirm leadership.
        assert await write(lead, b"SET", b"k", b"v") == b"-TIMEOUT not committed yet\r\n"
        with pytest.raises(ClusterError) as raised:
            await lead.read_barrier()
        assert raised.value.message in (
            b"TIMEOUT no quorum for read",
            b"CLUSTERDOWN No raft leader",
        )
        rest = tuple(n for n in NAMES if n != lead.name)
        new = await leader_of(link, rest)
        assert new is not lead
        assert await write(new, b"SET", b"k", b"w") == b"+OK\r\n"
        link.cut.clear()
        await leader_of(link)
        assert await converged(link, b"k") == {b"w"}


async def test_only_the_leader_proposes_active_expiry(tmp_path: Path) -> None:
    async with cluster(tmp_path) as link:
        lead = await leader_of(link)
        for node in link.nodes.values():
            node.expire_interval = 0.01
        await write(follower(link, lead), b"SET", b"short", b"v", b"PX", b"30")
        with trio.fail_after(10):  # deleted by a log entry on every node, not just hidden
            while any(b"short" in n.machine.keyspace.dbs[0].data for n in link.nodes.values()):
                await trio.sleep(0.01)
        storage = lead.storage
        entries = storage.entries(storage.first_index(), storage.last_index() + 1, 1 << 30)
        expiries = [
            op for op in (cbor2.loads(e.data) for e in entries if e.data) if op[0] == OP_EXPIRE
        ]
        assert [op[3] for op in expiries] == [[b"short"]]  # one deletion, by one proposer
