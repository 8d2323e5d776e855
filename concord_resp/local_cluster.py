"""`concord local-cluster`: N concord-server processes on this machine, in the foreground.

For trying a cluster out (and for `./scripts/run`): node i (n1..nN) serves clients on
`base_port + i - 1` and its peers on `cluster_base_port + i - 1`, keeps its data in `DIR/ni` and
writes its log to `DIR/ni.log`. The tool waits until every node answers and a leader is
elected, prints how to connect, then watches: a node that exits is reported (the others keep
running, so a node can be killed by hand to watch a failover). Ctrl-C or SIGTERM stops every
node it started, by PID, with SIGTERM (the graceful shutdown) and waits for them.

Each node runs in its own process group, so Ctrl-C reaches only this tool, which then stops
the nodes one signal each (a second signal would make a node exit without its clean close).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from .operator import ToolError, call

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
POLL_INTERVAL = 0.1


class LocalClusterError(Exception):
    pass


@dataclass
class LocalNode:
    name: str
    port: int
    cluster_port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    reported_exit: bool = False


def plan(
    count: int, base_port: int, cluster_base_port: int, directory: Path
) -> tuple[list[LocalNode], str]:
    """The nodes to start and the --initial-cluster string they share."""
    if not 1 <= count <= 9:
        raise LocalClusterError("--nodes must be between 1 and 9")
    top = max(base_port, cluster_base_port) + count - 1
    if min(base_port, cluster_base_port) < 1 or top > 65535:
        raise LocalClusterError("ports must stay between 1 and 65535")
    if abs(base_port - cluster_base_port) < count:
        raise LocalClusterError("client and cluster port ranges overlap")
    nodes = [
        LocalNode(
            name=f"n{i + 1}",
            port=base_port + i,
            cluster_port=cluster_base_port + i,
            data_dir=directory / f"n{i + 1}",
            log_path=directory / f"n{i + 1}.log",
        )
        for i in range(count)
    ]
    members = ",".join(f"{n.name}=127.0.0.1:{n.port}@{n.cluster_port}" for n in nodes)
    return nodes, members


def node_command(node: LocalNode, members: str, extra: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "concord_resp",
        "--name",
        node.name,
        "--bind",
        "127.0.0.1",
        "--port",
        str(node.port),
        "--cluster-port",
        str(node.cluster_port),
        "--dir",
        str(node.data_dir),
        "--initial-cluster",
        members,
        *extra,
    ]


class _Stop(Exception):
    """Raised from the signal handler: the user asked the cluster to stop."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def run_local_cluster(
    count: int,
    base_port: int,
    cluster_base_port: int,
    directory: Path,
    extra: list[str],
) -> int:
    """Start, report, watch and stop; returns the exit status for the tool."""
    nodes, members = plan(count, base_port, cluster_base_port, directory)
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for node in nodes:
            node.data_dir.mkdir(parents=True, exist_ok=True)
            with open(node.log_path, "ab") as log_file:
                node.process = subprocess.Popen(
                    node_command(node, members, extra),
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    process_group=0,
                )
        leader = _wait_ready(nodes)
        _print_ready(nodes, leader)
        _watch(nodes)
        return 0
    except _Stop as stop:
        print(f"\n{stop}: stopping {len(nodes)} nodes...", file=sys.stderr)
        return 0
    except LocalClusterError as error:
        print(f"concord: {error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop_all(nodes)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_ready(nodes: list[LocalNode]) -> str:
    """Poll until every node answers PING and they agree on a leader; returns its name."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        for node in nodes:
            assert node.process is not None
            if node.process.poll() is not None:
                tail = node.log_path.read_text(errors="replace")[-2000:]
                raise LocalClusterError(
                    f"{node.name} exited with {node.process.returncode} at start-up "
                    f"(log {node.log_path}):\n{tail}"
                )
        leaders = set()
        for node in nodes:
            try:
                info = call("127.0.0.1", node.port, "INFO", "raft", timeout=1.0)
            except ToolError:
                break
            fields = dict(line.split(":", 1) for line in str(info).splitlines() if ":" in line)
            leaders.add(fields.get("raft_leader", "none"))
        else:
            if len(leaders) == 1 and "none" not in leaders:
                return leaders.pop()
        time.sleep(POLL_INTERVAL)
    raise LocalClusterError(f"no leader elected within {STARTUP_TIMEOUT:.0f}s")


def _print_ready(nodes: list[LocalNode], leader: str) -> None:
    print(f"Concord local cluster: {len(nodes)} nodes, leader {leader}")
    for node in nodes:
        assert node.process is not None
        print(
            f"  {node.name}  redis-cli -p {node.port}   (pid {node.process.pid},"
            f" peers on {node.cluster_port}, data {node.data_dir}, log {node.log_path})"
        )
    print("Any node serves any command. Ctrl-C stops every node.", flush=True)


def _watch(nodes: list[LocalNode]) -> None:
    """Report nodes that exit; return when none is left running."""
    while True:
        running = 0
        for node in nodes:
            assert node.process is not None
            code = node.process.poll()
            if code is None:
                running += 1
            elif not node.reported_exit:
                node.reported_exit = True
                print(f"{node.name} (pid {node.process.pid}) exited with {code}", flush=True)
        if running == 0:
            return
        time.sleep(POLL_INTERVAL)


def _stop_all(nodes: list[LocalNode]) -> None:
    """SIGTERM every node still running, wait for each; SIGKILL one that will not stop."""
    alive = [n.process for n in nodes if n.process is not None and n.process.poll() is None]
    for process in alive:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for process in alive:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
