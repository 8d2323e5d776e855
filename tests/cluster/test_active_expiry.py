"""Active expiry: the node proposes deletions of expired keys through the log.

The node's own expire loop runs on trio's mock clock (pytest-trio's `autojump_clock`: no
real sleeping), with its wall clock (`clock_us`, which stamps entries) driven by the same mock
time. The log writer thread is real, so mock time may run ahead while an fsync is in flight;
the assertions only depend on the order of events, not on exact instants.
"""

from __future__ import annotations

from pathlib import Path

import cbor2
import trio
import trio.testing

from concord_resp.cluster import Member, NodeConfig, Proposal, RaftNode
from concord_resp.commands import build_table
from concord_resp.raft.core import Entry, EntryKind
from concord_resp.raft.driver import WriteAheadLog
from concord_resp.state import OP_COMMAND, OP_EXPIRE, Command, Expiry, StateMachine, decode_op

START_US = 1_700_000_000_000_000


def open_node(directory: Path, clock: trio.testing.MockClock) -> RaftNode:
    wal = WriteAheadLog(directory, fsync=False)
    return RaftNode(
        StateMachine(build_table()),
        wal,
        # Mock time runs ahead while the log writer thread works: no write may time out.
        NodeConfig("n1", expire_interval=0.1, write_timeout=1e9),
        {"n1": Member("n1", "127.0.0.1", 0, 0)},
        clock_us=lambda: START_US + int(clock.current_time() * 1_000_000),
    )


async def write(node: RaftNode, *argv: bytes) -> None:
    proposal = Proposal(OP_COMMAND, 0, list(argv))
    node.submit(proposal)
    await proposal.wait()
    assert proposal.reply == b"OK"


def logged_entries(directory: Path) -> list[Entry]:
    return [record for record in WriteAheadLog(directory).replay() if isinstance(record, Entry)]


def logged_ops(directory: Path) -> list[list[object]]:
    return [
        cbor2.loads(entry.data)
        for entry in logged_entries(directory)
        if entry.kind == EntryKind.NORMAL and entry.data
    ]


async def test_expired_keys_are_deleted_through_the_log(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    clock = autojump_clock
    node = open_node(tmp_path / "wal", clock)
    await node.load()
    async with trio.open_nursery() as nursery:
        await nursery.start(node.run)
        await write(node, b"SET", b"short", b"v", b"PX", b"150")
        await write(node, b"SET", b"long", b"v", b"EX", b"1000000")
        await write(node, b"SET", b"forever", b"v")
        db = node.machine.keyspace.dbs[0]
        await trio.sleep(1)  # mock time: several expire cycles
        assert b"short" not in db.data  # gone from memory, not just invisible
        assert set(db.data) == {b"long", b"forever"}
        assert node.machine.keyspace.expired_deletions() == 1
        nursery.cancel_scope.cancel()
    node.close()
    ops = logged_ops(tmp_path / "wal")
    expiries = [op for op in ops if op[0] == OP_EXPIRE]
    assert len(expiries) == 1
    assert expiries[0][3] == [b"short"]


async def test_a_replica_replaying_the_log_ends_in_the_same_state(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    clock = autojump_clock
    node = open_node(tmp_path / "wal", clock)
    await node.load()
    async with trio.open_nursery() as nursery:
        await nursery.start(node.run)
        for number in range(20):
            ttl = b"%d" % (50 + 20 * number) if number % 2 else b"1000000000"
            await write(node, b"SET", b"k%d" % number, b"v", b"PX", ttl)
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    node.close()
    live = set(node.machine.keyspace.dbs[0].data)
    assert 0 < len(live) < 20
    # A replica applying the same log up to the same index has the same keys (an expiry
    # entry still in flight when the node stopped is in the log but was not applied here).
    replica = StateMachine(build_table())
    applied = node.machine.applied_index
    for entry in logged_entries(tmp_path / "wal")[:applied]:
        if entry.kind == EntryKind.NORMAL and entry.data:
            replica.apply(entry.index, decode_op(entry.data))
        else:
            replica.apply_noop(entry.index)
    assert set(replica.keyspace.dbs[0].data) == live


def test_an_expiry_entry_does_not_delete_a_key_written_again_since() -> None:
    # The leader saw `k` expired and proposed its deletion; before that entry was applied a
    # client set `k` again without a TTL. The deletion must not take the new value.
    machine = StateMachine(build_table())
    machine.apply(1, Command(1_000_000, 0, [b"SET", b"k", b"old", b"PX", b"10"]))
    machine.apply(2, Command(1_020_000, 0, [b"SET", b"k", b"new"]))
    deleted = machine.apply(3, Expiry(1_030_000, 0, [b"k"])).reply
    assert deleted == 0
    assert machine.keyspace.dbs[0].data[b"k"] == b"new"
    # And a key that is still expired is deleted, keeping its version (WATCH sees no change).
    machine.apply(4, Command(1_040_000, 0, [b"SET", b"j", b"v", b"PX", b"10"]))
    version = machine.keyspace.dbs[0].watch_state(b"j", 1_060)[0]
    deleted = machine.apply(5, Expiry(1_060_000, 0, [b"j"])).reply
    assert deleted == 1
    assert machine.keyspace.dbs[0].watch_state(b"j", 1_060) == (version, False)
