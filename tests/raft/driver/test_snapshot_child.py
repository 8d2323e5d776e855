"""Snapshots written by a forked child: the file holds the state at the fork, whatever the
parent does meanwhile, and a child that fails is reported, never taken for a snapshot."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from concord_resp.commands import build_table
from concord_resp.raft.driver.snapshot_child import SnapshotChildError, run_in_child
from concord_resp.raft.driver.snapshot_file import list_snapshots, read_snapshot, write_snapshot
from concord_resp.state import Command, StateMachine
from concord_resp.state.snapshot import restore_records, snapshot_records
from concord_resp.store.digest import dataset_digest

TABLE = build_table()


def apply_sets(m: StateMachine, first: int, count: int, value: bytes) -> None:
    for index in range(first, first + count):
        m.apply(index, Command(10**9, 0, [b"SET", b"key:%d" % (index % 500), value]))


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


def test_the_child_dies_with_the_server(tmp_path: Path) -> None:
    """kill -9 of the server takes its snapshot child with it (no orphan writing on)."""
    pid_file = tmp_path / "child.pid"
    script = (
        "import os, time, trio\n"
        "from concord_resp.raft.driver.snapshot_child import run_in_child\n"
        "def write():\n"
        f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(60)\n"
        "trio.run(run_in_child, write)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.01)
        child = int(pid_file.read_text())
    finally:
        server.kill()
        server.wait()
    deadline = time.monotonic() + 10
    while alive(child):
        assert time.monotonic() < deadline, f"snapshot child {child} outlived its server"
        time.sleep(0.01)


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"
