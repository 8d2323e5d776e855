"""`concord local-cluster`: N concord-server processes on this machine, in the foreground.

For trying a cluster out (and for `./scripts/run`): node i (n1..nN) serves clients on
`base_port + i - 1` and its peers on `cluster_base_port + i - 1`, keeps its data in `DIR/ni` and
writes its log to `DIR/ni.log`. The tool waits until every node answers and a leader is
elected, prints how to connect, then watches: a node that exits is reported (the others keep
running, so a node can be killed by hand to watch a failover), and a `restart [NAME...]` line
typed at the tool starts it again. Ctrl-C or SIGTERM stops every node it started, by PID, with
SIGTERM (the graceful shutdown), the followers before the leader, and waits for them.

Each node runs in its own process group, so Ctrl-C reaches only this tool, which then stops
the nodes one signal each (a second signal would make a node exit without its clean close).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from .operator import ToolError, call, parse_info

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
            _start(node, members, extra)
        leader = _wait_ready(nodes)
        _print_ready(nodes, leader)
        _watch(nodes, lambda node: _start(node, members, extra))
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


def _start(node: LocalNode, members: str, extra: list[str]) -> None:
    node.data_dir.mkdir(parents=True, exist_ok=True)
    with open(node.log_path, "ab") as log_file:
        node.process = subprocess.Popen(
            node_command(node, members, extra),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            process_group=0,
        )
    node.reported_exit = False


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
            leaders.add(parse_info(info).get("raft_leader", "none"))
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
    print(f"Cluster status: {_tool_path()} status -p {nodes[0].port}")
    print("Any node serves any command. Ctrl-C stops every node.", flush=True)


def _tool_path() -> str:
    """How to type `concord` here: its bare name if the PATH finds this installation's, else
    its path (./scripts/run installs it in .venv/bin, which is not on the user's PATH)."""
    beside = Path(sys.executable).parent / "concord"
    # scripts/run puts .venv/bin on its own PATH only: it passes the user's along.
    found = shutil.which("concord", path=os.environ.get("_CONCORD_USER_PATH"))
    if found is not None and Path(found).resolve() == beside.resolve():
        return "concord"
    if not beside.exists():
        return "concord"
    with contextlib.suppress(ValueError):
        return str(beside.relative_to(Path.cwd()))
    return str(beside)


def _watch(nodes: list[LocalNode], restart: Callable[[LocalNode], None]) -> None:
    """Report nodes that exit, restart the ones asked for (a `restart [NAME...]` line on
    stdin); return when none is left running."""
    commands = _input_fd()
    pending = b""
    while True:
        running = 0
        for node in nodes:
            assert node.process is not None
            code = node.process.poll()
            if code is None:
                running += 1
            elif not node.reported_exit:
                node.reported_exit = True
                print(
                    f"{node.name} (pid {node.process.pid}) exited with {code};"
                    f" type `restart {node.name}` to start it again",
                    flush=True,
                )
        if running == 0:
            return
        if commands is None:
            time.sleep(POLL_INTERVAL)
            continue
        ready, _, _ = select.select([commands], [], [], POLL_INTERVAL)
        if ready:
            # The bytes themselves, not a buffered readline: two lines typed at once are
            # both obeyed now, not the second one at the next key press.
            data = os.read(commands, 4096)
            if not data:  # end of input: keep watching without it
                commands = None
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                _obey(line.decode(errors="replace"), nodes, restart)


def _input_fd() -> int | None:
    try:
        return sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # no stdin, or not a real file
        return None


def _obey(line: str, nodes: list[LocalNode], restart: Callable[[LocalNode], None]) -> None:
    """One line typed at the tool: `restart [NAME...]` starts the named nodes that are not
    running (all of them if none is named)."""
    words = line.split()
    if not words:
        return
    if words[0] != "restart":
        print("commands: restart [NAME...]  (start nodes that exited again)", flush=True)
        return
    known = {node.name: node for node in nodes}
    unknown = [name for name in words[1:] if name not in known]
    if unknown:
        print(f"no node named {', '.join(unknown)}", flush=True)
        return
    chosen = [known[name] for name in words[1:]] or nodes
    for node in chosen:
        assert node.process is not None
        if node.process.poll() is None:
            if words[1:]:
                print(f"{node.name} is running (pid {node.process.pid})", flush=True)
            continue
        restart(node)
        print(f"{node.name} restarted (pid {node.process.pid}, log {node.log_path})", flush=True)


def _stop_all(nodes: list[LocalNode]) -> None:
    """Stop every node still running: the followers first, then the leader. A leader that
    stops hands leadership to a connected voter; stopped last, it has none left and exits at
    once, instead of handing over to a node that is stopping too (which fails after two
    election timeouts)."""
    alive = [n for n in nodes if n.process is not None and n.process.poll() is None]
    leader = _current_leader(alive)
    followers = [n for n in alive if n.name != leader]
    _stop(followers)
    _stop([n for n in alive if n.name == leader])


def _current_leader(nodes: list[LocalNode]) -> str | None:
    for node in nodes:
        try:
            info = call("127.0.0.1", node.port, "INFO", "raft", timeout=0.5)
        except ToolError:
            continue
        leader = parse_info(info).get("raft_leader")
        if leader and leader != "none":
            return leader
    return None


def _stop(nodes: list[LocalNode]) -> None:
    """SIGTERM each, wait for each; SIGKILL one that will not stop."""
    processes = [n.process for n in nodes if n.process is not None]
    for process in processes:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
