"""Real server processes for tests: concord-server and the Debian redis-server.

Every process listens on 127.0.0.1 on a free port, is started by the test that owns it and is
stopped by PID (never by name). Start-up waits are bounded in time.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ping(port: int, timeout: float = 1.0, tls: ssl.SSLContext | None = None) -> bytes | None:
    """Send PING (over TLS if `tls`); return the raw first reply, or None if nothing answered."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            sock = raw if tls is None else tls.wrap_socket(raw)
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(256)
    except OSError:
        return None


def wait_until_serving(
    port: int,
    process: subprocess.Popen[bytes],
    log: Path | None,
    tls: ssl.SSLContext | None = None,
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log.read_text() if log and log.exists() else ""
            raise RuntimeError(f"server exited with {process.returncode} at start-up:\n{text}")
        reply = ping(port, tls=tls)
        if reply == b"+PONG\r\n" or (reply or b"").startswith(b"-NOAUTH"):
            return  # (a server that wants a password serves too)
        time.sleep(0.02)
    raise TimeoutError(f"server on port {port} did not answer PING within {STARTUP_TIMEOUT}s")


class ConcordProcess:
    """A concord-server process with its own data directory."""

    def __init__(self, data_dir: Path, *args: str, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.args = list(args)
        self.log = data_dir.parent / f"{data_dir.name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.tls: ssl.SSLContext | None = None  # `port` is a TLS port: PING over TLS

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "concord_resp",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--loglevel",
            "verbose",
            *self.args,
        ]

    def start(self, *, wait: bool = True) -> ConcordProcess:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        if wait:
            wait_until_serving(self.port, self.process, self.log, self.tls)
        return self

    def kill(self) -> None:
        """kill -9: no flush, no goodbye."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait for the graceful exit; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        return self.process.returncode

    def wait_exit(self, timeout: float = 20.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


class RedisProcess:
    """A real redis-server (Debian package) with persistence off."""

    def __init__(self, work_dir: Path, *args: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (scripts/test installs it)")
        self.binary = binary
        self.port = free_port()
        self.work_dir = work_dir
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.work_dir),
                *self.args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        wait_until_serving(self.port, self.process, None)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
