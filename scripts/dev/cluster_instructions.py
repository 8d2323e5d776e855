"""Instructions per SET on every member of a 3-node cluster, for one or more checkouts: the
cluster's counterpart of `ab_instructions.py`, which machine noise does not move.

Each member runs under `valgrind --tool=callgrind` (all its threads counted). Once the
cluster is warm, `callgrind_control -d` dumps (and zeroes) every member's counters; the
client then sends WRITES SETs of fresh keys through the leader or a follower, and once every
member has applied them a second dump holds just their cost. Printed per member: its role
(the leader; the follower the client talks to; the other follower), instructions per SET,
and SETs per log batch (`INFO persistence`'s wal_batches: a checkout that makes smaller
batches pays per-batch costs more often, so compare it too). System calls and the time the
kernel spends in them are not counted: `/proc/PID/task/*/stat` shows those.

    git worktree add /tmp/base <commit>
    PYTHONPATH=. .venv/bin/python scripts/dev/cluster_instructions.py /tmp/base . \\
        [--target follower] [--load pipeline] [--writes 3200] [--repeats 2]

`--load clients` (the default): 50 connections with one SET in flight each, as
`redis-benchmark -c 50 -P 1`; `--load pipeline`: one connection sending pipelines of 16. Checkouts
run in turn, alternating, `--repeats` times each. Needs valgrind; takes about a minute a run.
"""

from __future__ import annotations

import argparse
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts" / "dev"))

import ab_instructions  # noqa: E402
import redis  # noqa: E402

import tests.support.processes as processes  # noqa: E402
from tests.support.cluster import LocalCluster  # noqa: E402

# Long timeouts: everything runs 20-50 times slower under valgrind.
ARGS = [
    *("--loglevel", "warning", "--heartbeat-ms", "1000", "--election-ms", "15000"),
    *("--write-timeout-ms", "600000", "--read-timeout-ms", "600000"),
    *("--snapshot-entries", "100000", "--segment-size", "64mb"),
]
CLIENTS = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkouts", nargs="+", type=Path)
    parser.add_argument("--target", choices=("leader", "follower"), default="leader")
    parser.add_argument("--load", choices=("clients", "pipeline"), default="clients")
    parser.add_argument("--writes", type=int, default=3200)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    processes.STARTUP_TIMEOUT = 600
    for repeat in range(args.repeats):
        order = args.checkouts if repeat % 2 == 0 else args.checkouts[::-1]
        for checkout in order:
            figures = measure(checkout.resolve(), args.target, args.load, args.writes)
            print(f"{checkout}: {figures}", flush=True)


def measure(checkout: Path, target: str, load: str, writes: int) -> str:
    work = Path(tempfile.mkdtemp(prefix="cluster-instr-"))
    os.chdir(checkout)  # `python -m concord_resp` runs this checkout's code
    command = processes.ConcordProcess.command

    def under_callgrind(self: processes.ConcordProcess) -> list[str]:
        return [
            *("valgrind", "--tool=callgrind", f"--callgrind-out-file={self.data_dir}.cg"),
            *(f"--log-file={self.data_dir}.vg", "--dump-instr=no"),
            *command(self),
        ]

    processes.ConcordProcess.command = under_callgrind  # type: ignore[method-assign]
    cluster = LocalCluster(work, 3, proxied=False, extra_args=ARGS)
    try:
        cluster.start_all()
        leader = cluster.leader(timeout=600)
        client = next(n for n in cluster.names if n != leader) if target == "follower" else leader
        ab_instructions.drive(cluster.ports[leader], "set", 20)  # warm up
        _applied_everywhere(cluster, leader)
        batches = {n: _wal_batches(cluster.ports[n]) for n in cluster.names}
        for name in cluster.names:
            _dump(cluster, work, name)
        if load == "clients":
            _drive_clients(cluster.ports[client], writes)
        else:
            ab_instructions.drive(cluster.ports[client], "set", writes // ab_instructions.DEPTH)
        _applied_everywhere(cluster, leader)
        parts = []
        for name in [leader, *(n for n in cluster.names if n != leader)]:
            cost = _dump(cluster, work, name)
            made = max(1, _wal_batches(cluster.ports[name]) - batches[name])
            role = "leader" if name == leader else "client's" if name == client else "follower"
            parts.append(f"{role} {cost // writes:,} ({writes / made:.1f} SET/batch)")
        return ", ".join(parts)
    finally:
        processes.ConcordProcess.command = command  # type: ignore[method-assign]
        for member in cluster.members.values():
            running = member.process.process
            if running is not None and running.poll() is None:
                os.kill(running.pid, signal.SIGTERM)
        for member in cluster.members.values():
            if member.process.process is not None:
                member.process.process.wait(timeout=600)
        os.chdir(ROOT)
        shutil.rmtree(work, ignore_errors=True)


def _dump(cluster: LocalCluster, work: Path, name: str) -> int:
    """Dump (and zero) a member's counters; the instructions since the last dump."""
    running = cluster.members[name].process.process
    assert running is not None
    subprocess.run(
        ["callgrind_control", "-d", str(running.pid)], check=True, capture_output=True, timeout=300
    )
    newest = max(work.glob(f"{name}.cg.*"), key=lambda path: path.stat().st_mtime)
    found = re.search(r"^(?:totals|summary): (\d+)", newest.read_text(), re.M)
    assert found is not None, f"no totals in {newest}"
    return int(found.group(1))


def _wal_batches(port: int) -> int:
    return int(redis.Redis(port=port, socket_timeout=300).info("persistence")["wal_batches"])


def _applied_everywhere(cluster: LocalCluster, leader: str) -> None:
    want = int(cluster.raft_info(leader, timeout=120)["raft_applied_index"])
    deadline = time.monotonic() + 600
    for name in cluster.names:
        while int(cluster.raft_info(name, timeout=120).get("raft_applied_index", 0)) < want:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not apply entry {want}")
            time.sleep(1)


def _drive_clients(port: int, writes: int) -> None:
    """CLIENTS connections, each with one SET of a fresh key in flight, `writes` in all."""
    selector = selectors.DefaultSelector()
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=120) for _ in range(CLIENTS)]
    sent = done = 0

    def send(sock: socket.socket) -> None:
        nonlocal sent
        sock.sendall(ab_instructions.request("set", 1_000_000 + sent))
        sent += 1

    try:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
            if sent < writes:
                send(sock)
        deadline = time.monotonic() + 900
        while done < writes:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{done} of {writes} SETs answered")
            for key, _ in selector.select(timeout=60):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                data = ready.recv(65536)
                if not data:
                    raise ConnectionError("the server closed a connection")
                answered = data.count(b"\r\n")
                done += answered
                for _ in range(answered):
                    if sent < writes:
                        send(ready)
    finally:
        for sock in sockets:
            sock.close()


if __name__ == "__main__":
    main()
