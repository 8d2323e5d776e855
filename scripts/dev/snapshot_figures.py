"""Snapshot figures for 1 million keys (issue 5): write and load times, file size, and the
longest event-loop stall while a forked child writes the snapshot.

    .venv/bin/python scripts/dev/snapshot_figures.py [--keys 1000000]

The stall is the longest gap seen by a trio task that sleeps 1 ms at a time while the parent
forks the child and waits for it.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import trio

from concord_resp.commands import build_table
from concord_resp.raft.driver.snapshot_child import run_in_child
from concord_resp.raft.driver.snapshot_file import read_snapshot, write_snapshot
from concord_resp.state import StateMachine
from concord_resp.state.snapshot import restore_records, snapshot_records
from concord_resp.store.digest import dataset_digest


async def forked(machine: StateMachine, directory: Path) -> tuple[float, float]:
    gaps: list[float] = []
    done = trio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await trio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    def write() -> None:
        write_snapshot(directory, machine.applied_index, 1, ["n1"], [], snapshot_records(machine))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        await trio.sleep(0.2)
        started = time.perf_counter()
        await run_in_child(write)
        elapsed = time.perf_counter() - started
        await trio.sleep(0.1)
        done.set()
    return elapsed, max(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000)
    args = parser.parse_args()
    machine = StateMachine(build_table())
    db = machine.keyspace.dbs[0]
    for i in range(1, args.keys + 1):
        db.set(b"key:%d" % i, b"value:%d" % i, i)
    machine.applied_index = args.keys
    work = Path(tempfile.mkdtemp(prefix="concord-snap-"))
    try:
        started = time.perf_counter()
        info = write_snapshot(work / "a", args.keys, 1, ["n1"], [], snapshot_records(machine))
        print(
            f"write in-process: {time.perf_counter() - started:.2f} s,"
            f" {info.path.stat().st_size / 1e6:.0f} MB"
        )
        started = time.perf_counter()
        restored = StateMachine(build_table())
        _, records = read_snapshot(info.path)
        restore_records(restored, records)
        print(f"load: {time.perf_counter() - started:.2f} s")
        assert dataset_digest(restored.keyspace) == dataset_digest(machine.keyspace)
        elapsed, stall = trio.run(forked, machine, work / "b")
        print(f"forked child: {elapsed:.2f} s; longest event-loop stall {stall * 1000:.1f} ms")
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
