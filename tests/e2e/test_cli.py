"""The two entry points as users run them: `concord-server` flags and the `concord` tool."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from subprocess import Popen

import pytest
import redis

from tests.support.processes import ConcordProcess, free_port

Factory = Callable[..., ConcordProcess]


def concord(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from concord_resp.cli import tool_main; tool_main()", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def server(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "concord_resp", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_concord_ping_and_info(concord_server: ConcordProcess) -> None:
    port = str(concord_server.port)
    ping = concord("-p", port, "ping")
    assert (ping.returncode, ping.stdout) == (0, "PONG\n")
    info = concord("-p", port, "info", "server")
    assert info.returncode == 0
    assert info.stdout.startswith("# Server\n")
    assert f"tcp_port:{port}\n" in info.stdout
    everything = concord("-h", "127.0.0.1", "-p", port, "info")
    assert "# Keyspace" in everything.stdout
    assert "# Persistence" in everything.stdout


def test_connection_options_go_before_or_after_the_subcommand(
    concord_server: ConcordProcess,
) -> None:
    port = str(concord_server.port)
    after = concord("status", "-p", port, "--json")
    assert '"healthy": true' in after.stdout, after.stderr
    assert concord("ping", "-h", "127.0.0.1", "-p", port).stdout == "PONG\n"
    # Given on both sides, the one after the subcommand wins (it is read last).
    assert concord("-p", str(free_port()), "ping", "-p", port).stdout == "PONG\n"
    help_text = concord("status", "--help").stdout
    assert "-p PORT" in help_text
    assert "--json" in help_text


def test_status_watch_repeats_until_ctrl_c(concord_server: ConcordProcess) -> None:
    watching = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from concord_resp.cli import tool_main; tool_main()",
            "status",
            "--watch",
            "0.1",
            "-p",
            str(concord_server.port),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert watching.stdout is not None
        verdicts = 0
        for _ in range(40):  # two rounds of a few lines each
            if watching.stdout.readline().startswith("OK: leader"):
                verdicts += 1
                if verdicts == 2:
                    break
        assert verdicts == 2
        watching.send_signal(signal.SIGINT)
        assert watching.wait(timeout=30) == 0
    finally:
        if watching.poll() is None:
            watching.kill()
            watching.wait(timeout=10)


def test_concord_reports_an_unreachable_server() -> None:
    result = concord("-p", str(free_port()), "ping")
    assert result.returncode == 1
    assert "cannot reach 127.0.0.1" in result.stderr


def test_invalid_flags_exit_with_status_2(tmp_path: Path) -> None:
    for args in (
        ["--port", "70000"],
        ["--fsync", "sometimes"],
        ["--proto-max-bulk-len", "lots"],
        ["--maxclients", "0"],
        ["--segment-size", "0"],
        ["--client-query-buffer-limit", "0"],
        ["--snapshot-entries", "-1"],
        ["--snapshot-catchup-entries", "-1"],
        ["--maxmemory", "lots"],
        ["--maxmemory-policy", "allkeys-lru"],
        ["--maxmemory-clients", "200%"],
        ["--client-output-buffer-limit", "normal 1 2"],
    ):
        result = server("--dir", str(tmp_path / "data"), *args)
        assert result.returncode == 2, (args, result.stderr)
        assert "error" in result.stderr


def test_a_data_directory_serves_one_server_at_a_time(concord_factory: Factory) -> None:
    first = concord_factory()
    second = server("--port", str(free_port()), "--dir", str(first.data_dir))
    assert second.returncode == 1
    assert "in use by another concord-server" in second.stderr


def test_a_busy_port_is_a_clear_error(concord_factory: Factory, tmp_path: Path) -> None:
    first = concord_factory()
    result = server("--port", str(first.port), "--dir", str(tmp_path / "other"))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{first.port}" in result.stderr


def _free_range(count: int, attempts: int = 50) -> int:
    """A first port such that it and the next count-1 ports are free right now."""
    for _ in range(attempts):
        first = free_port()
        if first + count > 65535:
            continue
        sockets = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port range")


def _local_cluster(directory: Path, base: int, cluster_base: int, *server_args: str) -> Popen[str]:
    """`concord local-cluster` with 3 nodes as a process; its stdin and stdout are pipes."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from concord_resp.cli import tool_main; tool_main()",
            "local-cluster",
            "--nodes",
            "3",
            "--base-port",
            str(base),
            "--cluster-base-port",
            str(cluster_base),
            "--dir",
            str(directory),
            *(["--", *server_args] if server_args else []),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_local_cluster_serves_on_every_node_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    base, cluster_base = _free_range(3), _free_range(3)
    tool = _local_cluster(tmp_path / "cluster", base, cluster_base, "--fsync", "always")
    try:
        assert tool.stdout is not None
        lines = []
        for _ in range(20):  # the banner is five lines
            line = tool.stdout.readline()
            lines.append(line)
            if not line or line.startswith("Any node serves"):
                break
        banner = "".join(lines)
        assert banner.startswith("Concord local cluster: 3 nodes, leader n"), banner
        pids = [int(p) for p in re.findall(r"\(pid (\d+),", banner)]
        assert len(pids) == 3, banner
        assert concord("-p", str(base + 1), "ping").stdout == "PONG\n"
        first = redis.Redis(port=base + 1, socket_timeout=10)
        third = redis.Redis(port=base + 2, socket_timeout=10)
        assert first.set("k", "v") is True
        assert third.get("k") == b"v"  # a linearizable read on another node sees the write
        first.close()
        third.close()
        tool.send_signal(signal.SIGINT)
        assert tool.wait(timeout=60) == 0
        rest = tool.stdout.read()
        assert "SIGINT: stopping 3 nodes" in rest
    finally:
        if tool.poll() is None:
            tool.kill()
            tool.wait(timeout=10)
    for pid in pids:  # the tool waited for its children: none is left
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    for name in ("n1", "n2", "n3"):
        log = (tmp_path / "cluster" / f"{name}.log").read_text()
        assert "log flushed and closed" in log
        # The leader, stopped last, does not try to hand leadership to a stopping node.
        assert "could not hand over leadership" not in log
        assert " WARNING " not in log, log


def test_local_cluster_restarts_a_node_that_died(tmp_path: Path) -> None:
    base, cluster_base = _free_range(3), _free_range(3)
    tool = _local_cluster(tmp_path / "cluster", base, cluster_base)
    assert tool.stdin is not None
    assert tool.stdout is not None

    def read_until(prefix: str) -> str:
        seen = []
        for _ in range(30):
            line = tool.stdout.readline() if tool.stdout else ""
            seen.append(line)
            if not line or line.startswith(prefix):
                return "".join(seen)
        return "".join(seen)

    try:
        banner = read_until("Any node serves")
        assert "Cluster status: " in banner
        pid = int(re.findall(r"n2 .*\(pid (\d+),", banner)[0])
        os.kill(pid, signal.SIGKILL)
        assert "type `restart n2`" in read_until("n2 (pid")
        tool.stdin.write("restart n2\n")
        tool.stdin.flush()
        restarted = read_until("n2 restarted")
        assert "n2 restarted (pid" in restarted, restarted
        client = redis.Redis(port=base + 1, socket_timeout=10)
        for _ in range(100):  # bounded: the restarted node replays its log, then serves
            try:
                if client.set("after", "restart"):
                    break
            except redis.exceptions.RedisError:
                pass
            time.sleep(0.1)
        assert client.get("after") == b"restart"
        client.close()
        tool.send_signal(signal.SIGINT)
        assert tool.wait(timeout=60) == 0
    finally:
        if tool.poll() is None:
            tool.kill()
            tool.wait(timeout=10)


def test_local_cluster_rejects_bad_port_ranges(tmp_path: Path) -> None:
    result = concord(
        "local-cluster",
        "--nodes",
        "3",
        "--base-port",
        "7000",
        "--cluster-base-port",
        "7001",
        "--dir",
        str(tmp_path),
    )
    assert (result.returncode, result.stderr) == (
        2,
        "concord: client and cluster port ranges overlap\n",
    )
