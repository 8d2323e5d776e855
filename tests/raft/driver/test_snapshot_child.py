"""Snapshots written by a forked child: the file holds the state at the fork, whatever the
parent does meanwhile, and a child that fails is reported, never taken for a snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from concord_resp.commands import StateMachine, build_table
from concord_resp.commands.machine import command_op
from concord_resp.commands.snapshot import restore_records, snapshot_records
from concord_resp.raft.driver.snapshot_child import SnapshotChildError, run_in_child
from concord_resp.raft.driver.snapshot_file import list_snapshots, read_snapshot, write_snapshot
from concord_resp.store.digest import dataset_digest

TABLE = build_table()


def apply_sets(m: StateMachine, first: int, count: int, value: bytes) -> None:
    for index in range(first, first + count):
        m.apply_op(index, command_op(10**9, 0, [b"SET", b"key:%d" % (index % 500), value]))


async def test_the_child_writes_the_state_at_the_fork(tmp_path: Path) -> None:
    m = StateMachine(TABLE)
    apply_sets(m, 1, 2000, b"before")
    at_fork = dataset_digest(m.keyspace)

    def write() -> None:
        write_snapshot(tmp_path, m.applied_index, 1, ["n1"], [], snapshot_records(m))

    async with trio.open_nursery() as nursery:
        await nursery.start(run_in_child, write)  # the child exists: now change everything
        apply_sets(m, 2001, 2000, b"after")
    assert dataset_digest(m.keyspace) != at_fork
    [info] = list_snapshots(tmp_path)
    assert info.index == 2000
    restored = StateMachine(TABLE)
    _, records = read_snapshot(info.path)
    restore_records(restored, records)
    assert dataset_digest(restored.keyspace) == at_fork


async def test_a_failing_child_is_reported(tmp_path: Path) -> None:
    def write() -> None:
        raise OSError("disk full")

    with pytest.raises(SnapshotChildError, match="exited with status 1"):
        await run_in_child(write)
