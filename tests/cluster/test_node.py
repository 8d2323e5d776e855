"""The node's write path over the real log: group commit, durability before replies, restart.

A one-member cluster (the embedded default) runs the same Raft runner as a cluster: it
elects itself, appends a no-op, and then commits each batch of proposals with one write and
one fsync, made in the log writer's thread.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cbor2
import pytest
import trio
import trio.lowlevel

from concord_resp.cluster import Member, NodeConfig, Proposal, RaftNode
from concord_resp.commands import build_table
from concord_resp.raft.core import EntryKind, HardState
from concord_resp.raft.driver.wal import (
    HEADER,
    MAGIC,
    WriteAheadLog,
    encode_entry,
    encode_hard_state,
)
from concord_resp.state import OP_COMMAND, Command, StateMachine, encode_op
from tests.support.waiting import wait_until
from tests.support.wal_files import last_index_in, record_offsets


def make_node(directory: Path, *, fsync: bool = True, segment_bytes: int = 1 << 26) -> RaftNode:
    wal = WriteAheadLog(directory, fsync=fsync, segment_bytes=segment_bytes)
    return RaftNode(
        StateMachine(build_table()), wal, NodeConfig("n1"), {"n1": Member("n1", "127.0.0.1", 0, 0)}
    )


def set_proposal(key: bytes, value: bytes) -> Proposal:
    return Proposal(OP_COMMAND, 0, [b"SET", key, value])


class GatedWrites:
    """Replaces a log's `write`: each call waits until the test lets it through, and the
    test can see which thread wrote and which entries each write made durable."""

    def __init__(self, wal: WriteAheadLog) -> None:
        self.real_write = wal.write
        self.entered = threading.Semaphore(0)
        self.allowed = threading.Semaphore(0)
        self.durable: list[int] = []  # the last entry index of each finished write
        self.on_loop_thread: list[bool] = []
        wal.write = self.write  # type: ignore[method-assign]

    def write(self, records: bytes, next_index: int) -> None:
        self.on_loop_thread.append(threading.current_thread() is threading.main_thread())
        self.entered.release()
        assert self.allowed.acquire(timeout=10), "the test never let the write through"
        self.real_write(records, next_index)
        self.durable.append(last_index_in(records))

    async def wait_entered(self) -> None:
        # The event loop goes on running while a write is stuck in another thread.
        with trio.fail_after(10):
            await wait_until(lambda: self.entered.acquire(blocking=False), interval=0.001)


async def run_proposals(node: RaftNode, proposals: list[Proposal]) -> None:
    for proposal in proposals:
        node.submit(proposal)
    with trio.fail_after(10):
        for proposal in proposals:
            await proposal.wait()


async def wait_leader(node: RaftNode) -> None:
    """Until the node leads and its no-op is applied (a write then goes straight in)."""
    with trio.fail_after(10):
        await wait_until(lambda: node.is_leader and node.machine.applied_index >= 1, interval=0.005)


async def test_writes_that_queue_during_a_write_share_the_next_fsync(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    await node.load()
    first = set_proposal(b"first", b"1")
    together = [set_proposal(b"k%d" % i, b"v%d" % i) for i in range(100)]
    async with trio.open_nursery() as nursery:
        await nursery.start(node.run)
        await wait_leader(node)
        gate = GatedWrites(node.wal)
        node.submit(first)
        await gate.wait_entered()
        for proposal in together:  # they arrive while the disk is busy with `first`
            node.submit(proposal)
        await trio.sleep(0.05)
        assert not first.done  # not durable yet, so not answered
        gate.allowed.release(1000)
        with trio.fail_after(10):
            for proposal in [first, *together]:
                await proposal.wait()
        nursery.cancel_scope.cancel()
    serving = list(gate.on_loop_thread)
    node.close()  # (a clean close writes the last commit index from this thread)
    assert gate.durable[:2] == [2, 102]  # `first` (after the no-op), then all 100 together
    assert serving
    assert not any(serving)
    assert first.reply == b"OK"
    assert [p.reply for p in together] == [b"OK"] * 100
    assert [p.index for p in together] == list(range(3, 103))

    reloaded = make_node(tmp_path)
    await reloaded.load()
    assert reloaded.status.last_index >= 102
    assert reloaded.machine.keyspace.dbs[0].get(b"k42", 0) == b"v42"
    reloaded.close()


@pytest.mark.parametrize("fsync", [True, False])
async def test_a_reply_is_never_given_before_its_write_is_durable(
    tmp_path: Path, fsync: bool
) -> None:
    node = make_node(tmp_path, fsync=fsync, segment_bytes=500)  # rolling segments too
    await node.load()
    gate = GatedWrites(node.wal)
    gate.allowed.release(10_000)  # writes go through at once; only their order is watched
    proposals = [set_proposal(b"k%d" % i, b"x" * 20) for i in range(60)]
    async with trio.open_nursery() as nursery:
        await nursery.start(node.run)
        await wait_leader(node)
        for number, proposal in enumerate(proposals):
            node.submit(proposal)
            if number % 7 == 0:
                await trio.lowlevel.checkpoint()
        with trio.fail_after(10):
            for proposal in proposals:
                await proposal.wait()
                assert gate.durable
                assert gate.durable[-1] >= proposal.index
        nursery.cancel_scope.cancel()
    serving = list(gate.on_loop_thread)
    node.close()
    # With fsync on or off, the disk is never touched from the event loop's thread.
    assert serving
    assert not any(serving)
    assert len(WriteAheadLog(tmp_path).segments()) > 1


async def test_node_names_new_segments_by_their_first_entry(tmp_path: Path) -> None:
    node = make_node(tmp_path, fsync=False, segment_bytes=300)
    await node.load()
    async with trio.open_nursery() as nursery:
        await nursery.start(node.run)
        await wait_leader(node)
        for round_number in range(6):
            await run_proposals(
                node, [set_proposal(b"k%d" % i, b"x" * 40) for i in range(round_number + 1)]
            )
        nursery.cancel_scope.cancel()
    node.close()
    segments = WriteAheadLog(tmp_path).segments()
    assert len(segments) >= 3
    for path in segments:
        offsets = record_offsets(path)
        if offsets:
            first = cbor2.loads(path.read_bytes()[offsets[0] + HEADER.size :])
            if len(first) == 4:
                assert first[0] >= int(path.stem)
    assert path.read_bytes().startswith(MAGIC)


async def test_a_restarted_node_keeps_its_term_and_everything_committed(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    await node.load()
    async with trio.open_nursery() as nursery:
        await nursery.start(node.run)
        await wait_leader(node)
        await run_proposals(node, [set_proposal(b"a", b"1"), set_proposal(b"b", b"2")])
        term = node.refresh_status().term
        nursery.cancel_scope.cancel()
    node.close()
    again = make_node(tmp_path)
    await again.load()
    assert again.machine.keyspace.dbs[0].get(b"b", 0) == b"2"
    assert again.refresh_status().term >= term
    async with trio.open_nursery() as nursery:
        await nursery.start(again.run)
        await wait_leader(again)
        assert again.refresh_status().term > term  # a new election, in a later term
        await run_proposals(again, [set_proposal(b"c", b"3")])
        nursery.cancel_scope.cancel()
    again.close()


async def test_a_read_after_a_crash_waits_for_the_entries_the_log_did_not_mark_committed(
    tmp_path: Path,
) -> None:
    """kill -9 leaves entries whose commit index was never written (it rides along with the
    next write). After a restart the node leads at once, but a read must wait until it has
    committed an entry of its own term, which commits (and applies) those entries too."""
    wal = WriteAheadLog(tmp_path)
    wal.open_for_append(1)
    wal.write(encode_hard_state(HardState(1, "n1", 0)), 1)
    for index in range(1, 6):
        op = Command(10**15, 0, [b"SET", b"k", b"%d" % index], None)
        wal.write(encode_entry(index, 1, EntryKind.NORMAL, encode_op(op)), index + 1)
    wal.close()  # no clean-close commit index either: committed 0 on disk
    node = make_node(tmp_path)
    await node.load()
    assert node.machine.applied_index == 0  # nothing is known to be committed yet
    gate = GatedWrites(node.wal)
    async with trio.open_nursery() as nursery:
        await nursery.start(node.run)
        await gate.wait_entered()  # its vote
        gate.allowed.release()
        await gate.wait_entered()  # the new leader's no-op, held back
        assert node.is_leader
        assert node.machine.applied_index == 0
        returned = trio.Event()

        async def read() -> None:
            await node.read_barrier()
            returned.set()

        nursery.start_soon(read)
        for _ in range(50):
            await trio.lowlevel.checkpoint()
        assert not returned.is_set()  # it would read the state before entries 1-5
        gate.allowed.release()
        with trio.fail_after(10):
            await returned.wait()
        assert node.machine.applied_index >= 5
        assert node.machine.keyspace.dbs[0].get(b"k", 0) == b"5"
        gate.allowed.release(100)  # whatever else it writes, and the close
        nursery.cancel_scope.cancel()
    node.close()
