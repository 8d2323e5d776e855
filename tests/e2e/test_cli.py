"""The two entry points as users run them: `concord-server` flags and the `concord` tool."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

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
    assert "# Keyspace" in everything.stdout and "# Persistence" in everything.stdout


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
