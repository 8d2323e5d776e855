"""Log compaction and InstallSnapshot with real concord-server processes and redis-py.

- A node stopped while the others write 200k keys through several snapshots and compactions
  comes back, catches up by a snapshot streamed from the leader, and ends with the leader's
  DEBUG DIGEST; killed (-9) again in the middle of receiving the next snapshot, it restarts,
  leaves the half-received file behind and catches up again.
- A server killed (-9) while its forked child writes a snapshot restarts with every
  acknowledged write.
- Under sustained overwrites the data directory stays under a stated bound while the log
  written grows far past it.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis

from tests.support.cluster import LocalCluster
from tests.support.processes import ConcordProcess
from tests.support.workload import connect

Factory = Callable[..., ConcordProcess]

COMPACTING = ("--snapshot-entries", "20000", "--segment-size", "1mb")


def write_keys(client: redis.Redis, first: int, count: int, batch: int = 2000) -> None:
    for start in range(first, first + count, batch):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(start + batch, first + count)):
            pipe.set(f"key:{i}", f"value:{i}")
        assert all(pipe.execute())


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def applied(cluster: LocalCluster, name: str) -> int:
    return int(cluster.raft_info(name)["raft_applied_index"])


def digests(cluster: LocalCluster) -> dict[str, bytes]:
    result = {}
    for name in cluster.names:
        client = cluster.client(name)
        result[name] = client.execute_command("DEBUG", "DIGEST")
        client.close()
    return result


def caught_up(cluster: LocalCluster, leader: str, lagging: str) -> None:
    target = applied(cluster, leader)
    wait_for(f"{lagging} to apply index {target}", lambda: applied(cluster, lagging) >= target)
    values = digests(cluster)
    assert len(set(values.values())) == 1, values


def test_a_node_stopped_through_compactions_catches_up_by_snapshot(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 3, proxied=False, extra_args=COMPACTING) as cluster:
        cluster.start_all()
        leader = cluster.leader()
        lagging = next(name for name in cluster.names if name != leader)
        cluster.kill(lagging)
        client = cluster.client(leader)
        write_keys(client, 0, 200_000)
        info = cluster.raft_info(leader)
        # Several snapshots, segments deleted, the log in memory far past the stopped node.
        assert int(info["raft_snapshot_index"]) >= 180_000, info
        assert int(info["raft_log_segments_deleted"]) >= 5, info
        assert int(info["raft_first_index"]) > 100_000, info
        cluster.start(lagging)
        caught_up(cluster, leader, lagging)
        assert cluster.raft_info(lagging)["raft_snapshots_received"] == "1"
        # The leader counts the stream once the last acknowledgement is back.
        wait_for(
            "the leader to count the stream",
            lambda: cluster.raft_info(leader)["raft_snapshots_sent"] != "0",
            timeout=10,
        )
        assert cluster.raft_info(leader)["raft_snapshots_sent"] == "1"
        lagging_client = cluster.client(lagging)
        assert lagging_client.dbsize() == 200_000
        assert lagging_client.get("key:199999") == b"value:199999"
        lagging_client.close()

        # Again, and kill -9 it while it receives (or checks, or installs) the snapshot.
        cluster.kill(lagging)
        write_keys(client, 200_000, 100_000)
        snapshots = cluster.members[lagging].process.data_dir / "snapshots"
        cluster.members[lagging].process.start(wait=False)
        wait_for(
            "the snapshot transfer to start",
            lambda: any(p.name.startswith(".received-") for p in snapshots.iterdir()),
            timeout=60,
        )
        cluster.kill(lagging)
        # The half-received file must be deleted at start-up. The restarted node may begin a
        # new transfer under the same name at once, so the check is on the old file itself:
        # an open descriptor keeps its inode from being reused, and shows when it is unlinked.
        # (If the transfer finished just before the kill, there is nothing left to delete.)
        leftovers = [p for p in snapshots.iterdir() if p.name.startswith(".received-")]
        opened = [open(path, "rb") for path in leftovers]  # noqa: SIM115
        try:
            cluster.start(lagging)
            assert [os.fstat(file.fileno()).st_nlink for file in opened] == [0] * len(opened)
        finally:
            for file in opened:
                file.close()
        caught_up(cluster, leader, lagging)
        lagging_client = cluster.client(lagging)
        assert lagging_client.dbsize() == 300_000
        lagging_client.close()
        client.close()


def keep_writing(port: int, first: int, stop: threading.Event, acknowledged: list[int]) -> None:
    """Write batches of 1000 new keys until `stop` or the server dies; records the first key
    of each batch acknowledged."""
    client = connect(port)
    try:
        while not stop.is_set():
            write_keys(client, first, 1000)
            acknowledged.append(first)
            first += 1000
    except (redis.ConnectionError, redis.TimeoutError):
        pass  # the server was killed: what was not acknowledged may be lost
    finally:
        client.close()


def writing_the_next_snapshot(client: redis.Redis, restored: int) -> bool:
    """A snapshot written since the restart (so the next restart has one to restore), and
    the child of the next one at work."""
    info = client.info("everything")
    return info["raft_snapshot_index"] > restored and info["rdb_bgsave_in_progress"] == 1


def test_kill_9_while_a_snapshot_is_written_loses_nothing(concord_factory: Factory) -> None:
    server = concord_factory(*COMPACTING)
    acknowledged: list[int] = []
    for round_number in range(3):
        stop = threading.Event()
        writer = threading.Thread(
            target=keep_writing, args=(server.port, round_number * 10**7, stop, acknowledged)
        )
        writer.start()
        try:
            control = connect(server.port)
            restored = int(control.info("raft")["raft_snapshot_index"])
            wait_for(
                "a snapshot child at work",
                lambda: writing_the_next_snapshot(control, restored),  # noqa: B023
                timeout=60,
            )
            server.kill()
            control.close()
        finally:
            stop.set()
            writer.join(timeout=30)
        server.start()
    client = connect(server.port)
    assert client.dbsize() >= 1000 * len(acknowledged)
    for first in acknowledged:
        pipe = client.pipeline(transaction=False)
        for i in range(first, first + 1000):
            pipe.get(f"key:{i}")
        assert pipe.execute() == [b"value:%d" % i for i in range(first, first + 1000)]
    client.close()
    restored_at = re.findall(r"restored snapshot at index (\d+)", server.output())
    assert len(restored_at) == 3, server.output()[-3000:]


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_disk_use_stays_bounded_under_sustained_writes(concord_factory: Factory) -> None:
    server = concord_factory("--snapshot-entries", "10000", "--segment-size", "256kb")
    client = connect(server.port)
    largest = 0
    for start in range(0, 300_000, 10_000):
        pipe = client.pipeline(transaction=False)
        for i in range(start, start + 10_000):
            pipe.set(f"key:{i % 5000}", f"{i:050d}")  # 5000 keys, overwritten 60 times
        pipe.execute()
        largest = max(largest, directory_bytes(server.data_dir))
    written = int(client.info("raft")["raft_last_index"])
    client.close()
    # The bound: two snapshots (5000 keys: 0.36 MB each), the log since the older one (up
    # to 2 x 10000 entries of ~130 bytes: 2.6 MB), the part before it of the segment it
    # starts in and the newest segment (each under 0.5 MB with 256 kB segments and batches
    # of up to 2000 entries): 4.5 MB. Measured: 3.5 MB at most, 38 MB of log written.
    assert largest < 4_500_000, largest
    assert written > 300_000
    server.stop()
    server.start()
    loaded = re.findall(r"loaded (\d+) log entries", server.output())
    assert int(loaded[-1]) <= 40_000  # the log kept, not the 300k entries written
