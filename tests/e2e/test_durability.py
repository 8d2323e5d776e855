"""Durability of real concord-server processes: nothing acknowledged is ever lost.

Servers are killed with SIGKILL (no flush, no goodbye) or stopped with SIGTERM, their log files
are torn or corrupted the way crashes and bad disks do it, and then they are restarted on the
same data directory and checked with redis-py clients.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable

import pytest

from concord_resp.raft.driver.wal import HEADER
from tests.support.processes import ConcordProcess
from tests.support.wal_files import append_bytes, flip_byte, record_offsets, segments, set_entry
from tests.support.workload import Workload, connect

Factory = Callable[..., ConcordProcess]


def restart(factory: Factory, server: ConcordProcess, *args: str) -> tuple[ConcordProcess, str]:
    """Start a new server on `server`'s data directory; also returns its part of the log."""
    start = len(server.output())
    again = factory(*args, data_dir=server.data_dir)
    return again, again.output()[start:]


def fill(port: int, count: int, prefix: str = "key") -> dict[bytes, bytes]:
    """SET `count` keys in one pipeline; returns what was written."""
    data = {f"{prefix}:{i}".encode(): f"value:{i}".encode() for i in range(count)}
    client = connect(port)
    with client.pipeline(transaction=False) as pipe:
        for key, value in data.items():
            pipe.set(key, value)
        assert pipe.execute() == [True] * count
    client.close()
    return data


def assert_holds(port: int, data: dict[bytes, bytes]) -> None:
    client = connect(port)
    assert client.mget(list(data)) == list(data.values())
    client.close()


def test_kill_9_under_50_concurrent_writers_loses_no_acknowledged_write(
    concord_factory: Factory,
) -> None:
    server = concord_factory()
    workload = Workload(server.port, 50).start()
    workload.wait_for_acks(6000)
    server.kill()  # mid-run: writes are in flight on most connections
    workload.join()
    again, _ = restart(concord_factory, server)
    assert workload.problems(again.port) == []
    assert workload.acks() >= 6000


def test_torn_last_record_is_cut_with_a_warning_and_earlier_data_kept(
    concord_factory: Factory,
) -> None:
    server = concord_factory()
    data = fill(server.port, 300)
    assert server.stop() == 0
    newest = segments(server.data_dir)[-1]
    original = newest.read_bytes()
    intact = len(original)
    record = set_entry(302, b"torn", b"x" * 500)
    append_bytes(newest, record[: len(record) // 2])

    again, output = restart(concord_factory, server)
    assert "WARNING" in output
    warning = next(line for line in output.splitlines() if "WARNING" in line)
    assert str(newest) in warning
    assert f"byte offset {intact}" in warning
    # Cut exactly there (the restarted node has appended its own entries after the cut).
    assert newest.read_bytes()[:intact] == original
    assert_holds(again.port, data)
    client = connect(again.port)
    assert client.get(b"torn") is None
    assert client.set(b"after", b"cut") is True
    client.close()
    assert again.stop() == 0

    # The next start finds a clean log.
    third, output = restart(concord_factory, again)
    assert "WARNING" not in output
    assert_holds(third.port, {**data, b"after": b"cut"})


@pytest.mark.parametrize("where", ["payload", "length"])
def test_corrupt_middle_record_stops_start_up_naming_file_and_offset(
    concord_factory: Factory, where: str
) -> None:
    server = concord_factory()
    fill(server.port, 200)
    assert server.stop() == 0
    segment = segments(server.data_dir)[-1]
    target = record_offsets(segment)[5]  # an early record, long acknowledged
    flip_byte(segment, target + (HEADER.size + 4 if where == "payload" else 1))
    size = segment.stat().st_size

    start = len(server.output())
    broken = concord_factory(data_dir=server.data_dir, wait=False)
    assert broken.wait_exit(timeout=30) == 1
    output = broken.output()[start:]
    error = next(line for line in output.splitlines() if "cannot start" in line)
    assert str(segment) in error
    assert f"byte offset {target}:" in error
    assert segment.stat().st_size == size  # nothing was cut off


def test_10_mb_values_round_trip_and_survive_a_restart(concord_factory: Factory) -> None:
    server = concord_factory()
    values = {b"big:%d" % i: os.urandom(10 * 1024 * 1024) for i in range(3)}
    client = connect(server.port, timeout=60)
    for key, value in values.items():
        assert client.set(key, value) is True
    for key, value in values.items():
        assert client.get(key) == value
    assert client.strlen(b"big:0") == 10 * 1024 * 1024
    client.close()
    server.kill()
    again, _ = restart(concord_factory, server)
    client = connect(again.port, timeout=60)
    for key, value in values.items():
        assert client.get(key) == value
    client.close()


def test_sigterm_during_writes_exits_cleanly_and_keeps_every_acknowledged_write(
    concord_factory: Factory,
) -> None:
    server = concord_factory()
    workload = Workload(server.port, 10).start()
    workload.wait_for_acks(1000)
    assert server.stop() == 0
    workload.join()
    assert "shutting down" in server.output()
    again, _ = restart(concord_factory, server)
    assert workload.problems(again.port) == []


def test_a_second_signal_exits_at_once(concord_factory: Factory) -> None:
    server = concord_factory()
    client = connect(server.port)
    assert client.set(b"big", b"x" * (4 * 1024 * 1024)) is True
    # A client that asks for 32 MB of replies and reads none keeps a batch busy: the graceful
    # shutdown waits for it (up to its timeout), which leaves time for the second signal.
    stuck = socket.create_connection(("127.0.0.1", server.port))
    stuck.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 8)
    first = b""
    while len(first) < 10:  # the batch has started: its first reply is on the way
        first += stuck.recv(10 - len(first))
    assert first == b"$4194304\r\n"
    os.kill(server.pid, signal.SIGTERM)
    wait_for_line(server, "shutting down")
    assert server.process is not None
    assert server.process.poll() is None
    started = time.monotonic()
    os.kill(server.pid, signal.SIGTERM)
    assert server.wait_exit(timeout=5) == 1
    assert time.monotonic() - started < 2
    assert "second signal" in server.output()
    stuck.close()
    client.close()


def test_fsync_never_is_reported_and_still_keeps_data_across_a_process_crash(
    concord_factory: Factory,
) -> None:
    server = concord_factory("--fsync", "never")
    client = connect(server.port)
    assert client.config_get("appendfsync") == {"appendfsync": "no"}
    data = fill(server.port, 500)
    client.close()
    # Without fsync the data is in the OS page cache: a process crash does not lose it.
    server.kill()
    again, _ = restart(concord_factory, server, "--fsync", "never")
    assert_holds(again.port, data)
    assert again.stop() == 0
    always, _ = restart(concord_factory, again)
    client = connect(always.port)
    assert client.config_get("appendfsync") == {"appendfsync": "always"}
    client.close()


def wait_for_line(server: ConcordProcess, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in server.output():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r} never appeared in the server log")
        if server.process is not None and server.process.poll() is not None:
            raise subprocess.SubprocessError(f"server exited before logging {text!r}")
        time.sleep(0.01)
