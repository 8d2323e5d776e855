"""Snapshots taken by the node itself: every `snapshot_entries` applied entries a forked child
writes one and the log segments the older kept snapshot covers are deleted; a restart
restores the newest readable snapshot and applies only the entries after it; a damaged
snapshot falls back to an older one, or to the whole log while it still starts at index 1,
with the same state in every case, and start-up stops when nothing covers the gap."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from concord_resp.cluster import Member, NodeConfig, Proposal, RaftNode
from concord_resp.commands import build_table
from concord_resp.raft.core import EntryKind, HardState
from concord_resp.raft.driver.snapshot_file import list_snapshots, write_snapshot
from concord_resp.raft.driver.wal import (
    WalCorruptError,
    WriteAheadLog,
    encode_entry,
    encode_hard_state,
    encode_snapshot_mark,
)
from concord_resp.state import OP_COMMAND, Command, StateMachine, encode_op
from concord_resp.state.snapshot import snapshot_records
from concord_resp.store.digest import dataset_digest
from tests.support.waiting import wait_until

TABLE = build_table()


def make_node(directory: Path, every: int = 100, size: int = 0, segment: int = 1 << 26) -> RaftNode:
    return RaftNode(
        StateMachine(TABLE),
        WriteAheadLog(directory / "wal", fsync=False, segment_bytes=segment),
        NodeConfig(
            "n1",
            snapshot_dir=directory / "snapshots",
            snapshot_entries=every,
            snapshot_bytes=size,
        ),
        {"n1": Member("n1", "127.0.0.1", 0, 0)},
    )


async def write_and_stop(directory: Path, count: int, **limits: int) -> bytes:
    """Write `count` keys in rounds of ten; returns the dataset digest at the end."""
    node = make_node(directory, **limits)
    await node.load()
    async with trio.open_nursery() as nursery:
        await nursery.start(node.run)
        with trio.fail_after(30):
            await wait_until(
                lambda: node.is_leader and node.machine.applied_index >= 1, interval=0.005
            )
            for first in range(0, count, 10):
                proposals = [
                    Proposal(OP_COMMAND, 0, [b"SET", b"k%d" % (i % 120), b"v%d" % i])
                    for i in range(first, first + 10)
                ]
                for proposal in proposals:
                    node.submit(proposal)
                for proposal in proposals:
                    await proposal.wait()
            await wait_until(lambda: not node.snapshots.taking, interval=0.005)
        nursery.cancel_scope.cancel()
    node.close()
    return dataset_digest(node.machine.keyspace)


def flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


async def reload(directory: Path) -> RaftNode:
    node = make_node(directory, every=0)
    await node.load()
    node.close()
    return node


async def test_snapshots_are_taken_and_a_restart_starts_from_the_newest(tmp_path: Path) -> None:
    digest = await write_and_stop(tmp_path, 450)
    snapshots = list_snapshots(tmp_path / "snapshots")
    assert len(snapshots) == 2  # the newest two are kept
    again = await reload(tmp_path)
    applied = again.machine.applied_index
    assert applied == 451  # the leader's no-op and 450 writes
    # Never more than `snapshot_entries` (100) applied entries behind the newest snapshot.
    assert applied - 100 < snapshots[0].index <= applied
    assert snapshots[1].index < snapshots[0].index
    assert again.snapshots.index == snapshots[0].index
    assert dataset_digest(again.machine.keyspace) == digest


async def test_a_damaged_snapshot_falls_back_to_the_older_one_then_to_the_log(
    tmp_path: Path,
) -> None:
    digest = await write_and_stop(tmp_path, 450)
    newest, older = list_snapshots(tmp_path / "snapshots")
    flip_middle_byte(newest.path)
    again = await reload(tmp_path)
    assert again.snapshots.index == older.index
    assert dataset_digest(again.machine.keyspace) == digest
    older.path.write_bytes(older.path.read_bytes()[:100])
    again = await reload(tmp_path)
    assert again.snapshots.index == 0  # the whole log, applied from the start
    assert dataset_digest(again.machine.keyspace) == digest


async def test_snapshots_are_also_taken_by_size(tmp_path: Path) -> None:
    digest = await write_and_stop(tmp_path, 450, every=0, size=4000)
    snapshots = list_snapshots(tmp_path / "snapshots")
    assert len(snapshots) == 2
    again = await reload(tmp_path)
    # Each SET entry is over 30 bytes: 4000 bytes come due well within 150 entries.
    assert again.machine.applied_index - 150 < snapshots[0].index
    assert dataset_digest(again.machine.keyspace) == digest


async def test_compaction_deletes_covered_segments_and_restarts_read_only_the_tail(
    tmp_path: Path,
) -> None:
    digest = await write_and_stop(tmp_path, 450, segment=2048)
    newest, older = list_snapshots(tmp_path / "snapshots")
    first = int(WriteAheadLog(tmp_path / "wal").segments()[0].stem)
    # Segments wholly before the older snapshot are gone; the log still reaches back to it.
    assert 1 < first <= older.index + 1
    again = await reload(tmp_path)
    assert again.snapshots.index == newest.index
    assert again.loaded_entries == 451 - newest.index  # only the tail after the snapshot
    assert again.storage.first_index() == newest.index + 1
    assert dataset_digest(again.machine.keyspace) == digest
    # A damaged newest snapshot: the older one and the log after it give the same state.
    flip_middle_byte(newest.path)
    again = await reload(tmp_path)
    assert again.snapshots.index == older.index
    assert dataset_digest(again.machine.keyspace) == digest
    # Both damaged: the compacted entries are nowhere else, so start-up refuses.
    older.path.write_bytes(older.path.read_bytes()[:100])
    with pytest.raises(WalCorruptError, match="no readable snapshot at or after index"):
        await reload(tmp_path)


def machine_at(index: int, value: bytes) -> StateMachine:
    """A state machine with `index` SETs applied (keys k0..k9)."""
    machine = StateMachine(TABLE)
    for i in range(1, index + 1):
        machine.apply(i, Command(10**15, 0, [b"SET", b"k%d" % (i % 10), value], None))
    return machine


def write_log(directory: Path, records: list[bytes]) -> None:
    wal = WriteAheadLog(directory / "wal")
    wal.open_for_append(1)
    for record in records:
        wal.write(record, 1)
    wal.close()


def set_entry(index: int, term: int, value: bytes) -> bytes:
    op = Command(10**15, 0, [b"SET", b"k%d" % (index % 10), value], None)
    return encode_entry(index, term, EntryKind.NORMAL, encode_op(op))


async def test_a_received_snapshot_newer_than_the_log_is_restored_alone(tmp_path: Path) -> None:
    """kill -9 after a snapshot from the leader was renamed into place but before the log got
    its mark: the log ends before the snapshot; the snapshot is committed state, the older
    entries are dropped, and the term is at least the snapshot's."""
    write_log(
        tmp_path,
        [encode_hard_state(HardState(1, "n2", 50))]
        + [set_entry(i, 1, b"old") for i in range(1, 51)],
    )
    leader = machine_at(120, b"new")
    write_snapshot(tmp_path / "snapshots", 120, 2, ["n1"], [], snapshot_records(leader))
    again = await reload(tmp_path)
    assert again.machine.applied_index == 120
    assert again.storage.first_index() == 121
    assert again.storage.hard_state.commit == 120
    assert again.refresh_status().term >= 2
    assert dataset_digest(again.machine.keyspace) == dataset_digest(leader.keyspace)


async def test_a_snapshot_mark_needs_its_snapshot(tmp_path: Path) -> None:
    leader = machine_at(120, b"new")
    write_log(
        tmp_path,
        [
            *(set_entry(i, 1, b"old") for i in range(1, 31)),
            encode_snapshot_mark(120, 2),
            *(set_entry(i, 2, b"after") for i in range(121, 126)),
            encode_hard_state(HardState(2, None, 125)),
        ],
    )
    with pytest.raises(WalCorruptError, match="no readable snapshot at or after index 120"):
        await reload(tmp_path)
    write_snapshot(tmp_path / "snapshots", 120, 2, ["n1"], [], snapshot_records(leader))
    again = await reload(tmp_path)
    assert again.machine.applied_index == 125
    assert again.storage.first_index() == 121
    for i in range(121, 126):
        leader.apply(i, Command(10**15, 0, [b"SET", b"k%d" % (i % 10), b"after"], None))
    assert dataset_digest(again.machine.keyspace) == dataset_digest(leader.keyspace)
