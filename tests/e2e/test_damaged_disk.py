"""Damaged disks on real concord-server processes: no acknowledged write is lost silently.

Each test acknowledges writes, stops the node (kill -9 or SIGTERM), damages its data
directory the way a bad disk or a wrong command does (a truncated log tail, an emptied
segment, a deleted `wal/`, a deleted or replaced `meta` or promise file), and restarts it:
a single node refuses to start, naming what is missing and how many acknowledged entries
are gone, until `--accept-data-loss`; a cluster member refuses too, saying how to replace
it, and the replacement catches up. A torn tail that was never acknowledged (kill -9 in the
middle of writes) still starts, and an older data directory (no promise file) is an upgrade.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from concord_resp.raft.driver.promise_file import PromiseFile, identity
from tests.e2e.test_membership import raft, wait_voters
from tests.support.cluster import LocalCluster
from tests.support.processes import ConcordProcess
from tests.support.wal_files import record_offsets, segments
from tests.support.workload import Workload, connect

Factory = Callable[..., ConcordProcess]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fill(port: int, count: int, prefix: str = "key") -> dict[bytes, bytes]:
    """SET `count` keys, 100 to a pipeline (each acknowledged); returns what was written."""
    data = {f"{prefix}:{i}".encode(): f"value:{i}".encode() for i in range(count)}
    client = connect(port)
    items = list(data.items())
    for start in range(0, count, 100):
        with client.pipeline(transaction=False) as pipe:
            for key, value in items[start : start + 100]:
                pipe.set(key, value)
            assert all(pipe.execute())
    client.close()
    return data


def refused(factory: Factory, data_dir: Path, *args: str) -> str:
    """Start a server on `data_dir` that must refuse: returns its `cannot start` line."""
    server = factory(*args, data_dir=data_dir, wait=False)
    start = len(server.output())
    assert server.wait_exit(timeout=30) == 1
    output = server.output()[start:]
    return next(line for line in output.splitlines() if "cannot start" in line)


def cut_last_segment(data_dir: Path, keep_records: int) -> tuple[Path, int]:
    """Truncate the newest segment in the middle of its record number `keep_records`."""
    segment = segments(data_dir)[-1]
    offset = record_offsets(segment)[keep_records] + 5
    os.truncate(segment, offset)
    return segment, offset


def promised_index(data_dir: Path, name: str = "n1") -> int:
    import cbor2

    meta = cbor2.loads((data_dir / "meta").read_bytes())
    promise = PromiseFile.open(data_dir / "promise", identity(name, meta["cluster_id"]))
    try:
        return promise.promise.index
    finally:
        promise.close()


# -- a single node ------------------------------------------------------------------------------


def test_a_truncated_tail_of_acknowledged_writes_stops_start_up_until_the_loss_is_accepted(
    concord_factory: Factory,
) -> None:
    server = concord_factory()
    data = fill(server.port, 2000)
    info = connect(server.port).info("persistence")
    assert info["wal_promise_index"] == info["wal_last_index"]  # every batch promised
    assert info["wal_promise_writes"] > 0
    server.kill()
    last = promised_index(server.data_dir)
    assert last == info["wal_promise_index"]
    assert last >= 2001  # the no-op of its election, then 2000 SETs: all acknowledged
    segment, size = cut_last_segment(
        server.data_dir, len(record_offsets(segments(server.data_dir)[-1])) * 39 // 40
    )

    line = refused(concord_factory, server.data_dir)
    assert str(segment) in line
    assert str(server.data_dir / "promise") in line
    found = re.search(r"entries (\d+)\.\.(\d+) \((\d+) acknowledged entries\) are missing", line)
    assert found is not None, line
    first, through, lost = (int(group) for group in found.groups())
    assert (through, lost) == (last, last - first + 1)
    assert 1500 < first < last
    assert "--accept-data-loss" in line
    assert segment.stat().st_size == size  # nothing cut: the operator may want to look

    accepted = concord_factory("--accept-data-loss", data_dir=server.data_dir)
    output = accepted.output()
    assert "starting anyway (--accept-data-loss)" in output
    assert "never acknowledged" not in output
    client = connect(accepted.port)
    kept = client.mget(list(data))
    survivors = first - 2  # entry 1 is the election's no-op; key i is entry i + 2
    assert kept[:survivors] == list(data.values())[:survivors]
    assert kept[survivors:] == [None] * (len(data) - survivors)
    assert client.set(b"after", b"loss") is True
    client.close()
    assert accepted.stop() == 0

    # The promise came down to what was left: the next start is a clean one.
    again = concord_factory(data_dir=server.data_dir)
    assert "WARNING" not in again.output()[len(output) :]
    assert connect(again.port).get(b"after") == b"loss"


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("empty the last segment", "is empty, and the log ends at entry 0"),
        ("delete the last segment", "holds no log segment"),
        ("delete wal/", "holds no log segment (deleted or emptied)"),
    ],
)
def test_an_emptied_or_deleted_log_stops_start_up(
    concord_factory: Factory, damage: str, expected: str
) -> None:
    server = concord_factory()
    fill(server.port, 300)
    assert server.stop() == 0
    last = promised_index(server.data_dir)
    segment = segments(server.data_dir)[-1]
    if damage == "empty the last segment":
        segment.write_bytes(b"")
    elif damage == "delete the last segment":
        segment.unlink()
    else:
        shutil.rmtree(server.data_dir / "wal")
    line = refused(concord_factory, server.data_dir)
    assert expected in line
    assert f"entries 1..{last} ({last} acknowledged entries) are missing" in line


@pytest.mark.parametrize("what", ["meta", "promise"])
def test_a_deleted_meta_or_promise_file_stops_start_up(concord_factory: Factory, what: str) -> None:
    server = concord_factory()
    fill(server.port, 100)
    assert server.stop() == 0
    (server.data_dir / what).unlink()
    line = refused(concord_factory, server.data_dir)
    if what == "meta":
        assert f"{server.data_dir / 'meta'} is missing" in line
        assert "wal" in line
    else:
        assert f"{server.data_dir / 'promise'} is missing" in line
    assert "--accept-data-loss" in line
    accepted = concord_factory("--accept-data-loss", data_dir=server.data_dir)
    assert connect(accepted.port).dbsize() == 100  # the log itself was whole


@pytest.mark.parametrize("what", ["meta", "promise"])
def test_a_meta_or_promise_file_of_another_node_is_refused(
    concord_factory: Factory, tmp_path: Path, what: str
) -> None:
    server = concord_factory()
    fill(server.port, 100)
    assert server.stop() == 0
    other = concord_factory(data_dir=tmp_path / "other")  # the same name (n1), another node
    assert other.stop() == 0
    shutil.copy(other.data_dir / what, server.data_dir / what)
    line = refused(concord_factory, server.data_dir)
    assert "belongs to another node or cluster" in line


def test_kill_9_mid_write_never_reads_as_damage(concord_factory: Factory) -> None:
    """Torn tails of writes never acknowledged: start-up goes on, and says so truthfully."""
    server = concord_factory()
    for _ in range(3):
        workload = Workload(server.port, 20).start()
        workload.wait_for_acks(500)
        server.kill()
        workload.join()
        start = len(server.output())
        server = concord_factory(data_dir=server.data_dir)
        output = server.output()[start:]
        assert workload.problems(server.port) == []
        for line in output.splitlines():
            if "discarding" in line:
                assert "never acknowledged" in line
        connect(server.port).flushall()  # the next round's writers start from nothing


def test_a_data_directory_of_an_older_version_gets_a_promise_file(
    concord_factory: Factory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "old"
    shutil.copytree(FIXTURES / "datadir-v1", data_dir)
    assert not (data_dir / "promise").exists()
    server = concord_factory(data_dir=data_dir)
    assert "no promise file yet (an older data directory)" in server.output()
    assert promised_index(data_dir) >= 19  # what the old log held is covered from now on
    fill(server.port, 50, prefix="new")
    server.kill()
    cut_last_segment(data_dir, 5)
    assert "acknowledged entries) are missing" in refused(concord_factory, data_dir)


# -- a cluster member -----------------------------------------------------------------------------


# damage -> what the refusal says
CLUSTER_DAMAGE = {
    "truncate the log tail": "acknowledged entries) are missing",
    "empty the last segment": "is empty",
    "delete wal/": "holds no log segment",
    "delete meta": "meta is missing",
    "replace meta": "belongs to node",
    "delete promise": "promise is missing",
    "replace promise": "belongs to another node or cluster",
}


@pytest.mark.parametrize("damage", CLUSTER_DAMAGE)
def test_a_damaged_member_refuses_and_its_replacement_catches_up(
    tmp_path: Path, damage: str
) -> None:
    with LocalCluster(tmp_path, 3, proxied=False) as cluster:
        leader = cluster.leader()
        victim, other = (name for name in cluster.names if name != leader)
        data = fill(cluster.members[leader].port, 400)
        cluster.kill(victim)
        member = cluster.members[victim]
        data_dir = member.process.data_dir
        if damage == "truncate the log tail":
            cut_last_segment(data_dir, len(record_offsets(segments(data_dir)[-1])) // 4)
        elif damage == "empty the last segment":
            segments(data_dir)[-1].write_bytes(b"")
        elif damage == "delete wal/":
            shutil.rmtree(data_dir / "wal")
        elif damage.startswith("delete"):
            (data_dir / damage.split()[1]).unlink()
        else:  # another member's file in its place
            what = damage.split()[1]
            shutil.copy(cluster.members[other].process.data_dir / what, data_dir / what)
        start = len(member.process.output())
        member.process.start(wait=False)
        assert member.process.wait_exit(timeout=30) == 1
        output = member.process.output()[start:]
        line = next(line for line in output.splitlines() if "cannot start" in line)
        assert CLUSTER_DAMAGE[damage] in line
        if "are missing" in line:
            assert f"concord -p PORT remove {victim}" in line
            assert "a new --name and --join" in line
        # The cluster goes on without it; the operator replaces it as the error says.
        assert raft(cluster, leader, "RAFT.NODE", "REMOVE", victim) == b"OK"
        del cluster.members[victim]
        cluster.join("n4", through=leader)
        wait_voters(cluster, leader, set(cluster.names))
        client = cluster.client("n4")
        client.execute_command("READONLY")  # read its own copy, once it has caught up
        deadline = time.monotonic() + 30
        while client.mget(list(data)) != list(data.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.mget(list(data)) == list(data.values())
        client.close()


def test_a_members_meta_made_again_keeps_its_promise_file_and_its_check(tmp_path: Path) -> None:
    """A cluster member's meta names the same node when it is made again (--accept-data-loss
    after it was deleted), so its promise file is kept and the log is still checked: the loss
    it also had is reported, not swept under the new meta."""
    with LocalCluster(tmp_path, 3, proxied=False) as cluster:
        leader = cluster.leader()
        victim = next(name for name in cluster.names if name != leader)
        fill(cluster.members[leader].port, 300)
        cluster.kill(victim)
        process = cluster.members[victim].process
        data_dir = process.data_dir
        (data_dir / "meta").unlink()
        cut_last_segment(data_dir, len(record_offsets(segments(data_dir)[-1])) // 4)
        process.args = [*process.args, "--accept-data-loss"]
        start = len(process.output())
        # The leader still counts the lost entries as this node's: its first heartbeat stops
        # the node (README, "Damaged disks"), possibly before it is seen serving. What this
        # test checks is the start-up: the loss is reported under the new meta.
        process.start(wait=False)
        warning = "acknowledged entries) are missing; starting anyway (--accept-data-loss)"
        deadline = time.monotonic() + 20
        while warning not in process.output()[start:] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert warning in process.output()[start:]
