"""TLS on the client port of a real concord-server: redis-py with `ssl=True` and `redis-cli
--tls` work unchanged; client certificates are required by default (tls-auth-clients);
large replies and pipelines cross TLS intact; a failed handshake closes only that
connection; the `concord` tool speaks TLS."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.support.processes import ConcordProcess, free_port
from tests.support.tls import TlsFiles, make_tls_files


def tls_client(port: int, files: TlsFiles, *, with_cert: bool = True) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        ssl=True,
        ssl_ca_certs=str(files.ca),
        ssl_certfile=str(files.cert) if with_cert else None,
        ssl_keyfile=str(files.key) if with_cert else None,
        ssl_check_hostname=False,
        socket_timeout=10,
    )


@pytest.fixture
def tls_server(tmp_path: Path) -> tuple[ConcordProcess, TlsFiles, int]:
    files = make_tls_files(tmp_path / "certs")
    tls_port = free_port()
    server = ConcordProcess(tmp_path / "data", "--tls-port", str(tls_port), *files.server_args())
    server.start()
    try:
        yield server, files, tls_port
    finally:
        server.stop()


def test_redis_py_over_tls(tls_server: tuple[ConcordProcess, TlsFiles, int]) -> None:
    server, files, tls_port = tls_server
    client = tls_client(tls_port, files)
    assert client.ping()
    big = b"x" * (3 * 1024 * 1024)  # many TLS records, more than a socket buffer
    assert client.set("big", big)
    assert client.get("big") == big
    pipe = client.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"k{i}", i)
        pipe.get(f"k{i}")
    replies = pipe.execute()
    assert replies[1::2] == [str(i).encode() for i in range(2000)]
    assert client.config_get("tls-port") == {"tls-port": str(tls_port)}
    # The plain port still serves.
    plain = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=10)
    assert plain.get("k7") == b"7"
    client.close()
    plain.close()


def test_client_certificates_are_required_by_default(
    tls_server: tuple[ConcordProcess, TlsFiles, int],
) -> None:
    _, files, tls_port = tls_server
    anonymous = tls_client(tls_port, files, with_cert=False)
    with pytest.raises(redis.ConnectionError):
        anonymous.ping()
    # A client that is not TLS at all gets nowhere either, and the server goes on.
    with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        sock.settimeout(10)
        try:
            assert b"PONG" not in sock.recv(100)
        except ConnectionResetError:
            pass
    assert tls_client(tls_port, files).ping()


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is installed by CI")
def test_redis_cli_over_tls(tls_server: tuple[ConcordProcess, TlsFiles, int]) -> None:
    _, files, tls_port = tls_server
    common = ["redis-cli", "-p", str(tls_port), "--tls", "--cacert", str(files.ca)]
    cert = ["--cert", str(files.cert), "--key", str(files.key)]
    done = subprocess.run(
        [*common, *cert, "SET", "cli", "works"], capture_output=True, text=True, timeout=30
    )
    assert done.stdout.strip() == "OK", done.stderr
    done = subprocess.run(
        [*common, *cert, "GET", "cli"], capture_output=True, text=True, timeout=30
    )
    assert done.stdout.strip() == "works"


def wait_serving_tls(port: int, files: TlsFiles, server: ConcordProcess) -> redis.Redis:
    client = tls_client(port, files, with_cert=False)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.ping()
            return client
        except redis.ConnectionError:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)


def test_tls_only_and_the_tool(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path / "certs")
    tls_port = free_port()
    server = ConcordProcess(
        tmp_path / "data", "--tls-port", str(tls_port), *files.server_args(auth_clients="no")
    )
    server.args += ["--port", "0"]  # TLS only
    server.start(wait=False)
    try:
        client = wait_serving_tls(tls_port, files, server)
        tool = subprocess.run(
            [
                sys.executable,
                "-c",
                "from concord_resp.cli import tool_main; tool_main()",
                "-p",
                str(tls_port),
                "--tls",
                "--cacert",
                str(files.ca),
                "ping",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert tool.stdout.strip() == "PONG", tool.stderr
        # backup and restore over TLS too (the options after the command this time).
        client.set("over-tls", "v")
        tls_options = ["-p", str(tls_port), "--tls", "--cacert", str(files.ca)]
        for command in (
            ["backup", str(tmp_path / "backup")],
            ["restore", str(tmp_path / "backup"), "--force"],
        ):
            done = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "from concord_resp.cli import tool_main; tool_main()",
                    *command,
                    *tls_options,
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
        assert client.get("over-tls") == b"v"
        client.close()
    finally:
        server.stop()
