"""Serving under stress on real concord-server processes: big pipelines, broken clients,
and the `-LOADING` window while the log replays at start-up.

Raw sockets are used where the exact bytes or the exact timing of a request matter; replies
are read with hiredis (the parser redis-py uses).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import hiredis

from tests.support.processes import ConcordProcess
from tests.support.wal_files import write_set_log
from tests.support.workload import connect

Factory = Callable[..., ConcordProcess]

LOADING = "LOADING Concord is loading the dataset in memory"


def command(*argv: bytes) -> bytes:
    out = b"*%d\r\n" % len(argv)
    for arg in argv:
        out += b"$%d\r\n%s\r\n" % (len(arg), arg)
    return out


def read_replies(sock: socket.socket, count: int, timeout: float = 10.0) -> list[object]:
    reader = hiredis.Reader()
    replies: list[object] = []
    sock.settimeout(timeout)
    while len(replies) < count:
        reply = reader.gets()
        if reply is False:
            data = sock.recv(65536)
            assert data, "the server closed the connection"
            reader.feed(data)
        else:
            replies.append(reply)
    return replies


class Pinger:
    """PINGs on its own connection until stopped, timing every round trip."""

    def __init__(self, port: int) -> None:
        self.client = connect(port)
        self.answers: list[tuple[float, float]] = []  # (sent, answered), monotonic
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            sent = time.monotonic()
            assert self.client.ping() is True
            self.answers.append((sent, time.monotonic()))

    def __enter__(self) -> Pinger:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        self.client.close()

    def during(self, start: float, end: float) -> list[float]:
        """Latencies of the PINGs sent and answered between start and end."""
        return [done - sent for sent, done in self.answers if sent >= start and done <= end]


def test_a_100k_command_pipeline_does_not_starve_other_clients(
    concord_factory: Factory,
) -> None:
    server = concord_factory()
    count = 100_000
    requests = b"".join(command(b"SET", b"pipe:%d" % i, b"v") for i in range(count))
    expected = b"+OK\r\n" * count
    with (
        Pinger(server.port) as pinger,
        socket.create_connection(("127.0.0.1", server.port)) as sock,
    ):
        sender = threading.Thread(target=sock.sendall, args=(requests,), daemon=True)
        started = time.monotonic()
        sender.start()
        received = bytearray()
        sock.settimeout(30)
        while len(received) < len(expected):
            data = sock.recv(1 << 20)
            assert data, "the server closed the pipelining connection"
            received += data
        finished = time.monotonic()
        sender.join(10)
    assert received == expected
    latencies = pinger.during(started, finished)
    # The other client was served all along, not after the pipeline.
    assert len(latencies) >= 20, (len(latencies), finished - started)
    assert max(latencies) < 1.0
    assert connect(server.port).dbsize() == count


PARTIAL_REQUESTS = {
    "inside a bulk header": b"*3\r\n$3\r\nSET\r\n$4\r\nha",
    "before the last argument": b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n",
    "inside a big bulk": b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$100000\r\n" + b"x" * 5000,
    "inside the multibulk count": b"*",
}


def test_clients_that_vanish_mid_request_do_not_disturb_others(
    concord_factory: Factory,
) -> None:
    server = concord_factory()
    other = connect(server.port)
    assert other.set(b"steady", b"0") is True
    for number, partial in enumerate(PARTIAL_REQUESTS.values()):
        broken = socket.create_connection(("127.0.0.1", server.port))
        broken.sendall(partial)
        # While the half request sits in the server, everyone else is served.
        assert other.incr(b"steady") == 2 * number + 1
        assert other.ping() is True
        broken.close()
        assert other.incr(b"steady") == 2 * number + 2
    # The half-sent SETs were never applied, and the server let go of those connections.
    assert other.exists(b"half") == 0
    deadline = time.monotonic() + 10
    while other.info("clients")["connected_clients"] != 1:
        assert time.monotonic() < deadline, "broken connections were never closed"
        time.sleep(0.01)
    assert server.process is not None
    assert server.process.poll() is None
    other.close()


def test_loading_is_answered_while_the_log_replays(
    concord_factory: Factory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "big"
    count = 300_000
    write_set_log(data_dir, count)
    server = concord_factory(data_dir=data_dir, wait=False)
    probe = command(b"PING") + command(b"GET", b"key:1") + command(b"INFO", b"persistence")
    loading_rounds = 0
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, "the server never finished loading"
        assert server.process is not None
        assert server.process.poll() is None
        try:
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=1)
        except OSError:
            time.sleep(0.005)  # not listening yet
            continue
        with sock:
            sock.sendall(probe)
            ping, get, info = read_replies(sock, 3)
        assert isinstance(info, bytes)  # INFO is served while loading
        if isinstance(ping, hiredis.ReplyError):
            assert str(ping) == LOADING
            assert isinstance(get, hiredis.ReplyError)
            assert str(get) == LOADING
            assert b"loading:1\r\n" in info
            loading_rounds += 1
            continue
        assert ping == b"PONG"
        assert get == b"value:1"
        assert b"loading:0\r\n" in info
        break
    assert loading_rounds >= 1
    client = connect(server.port)
    assert client.dbsize() == count
    assert client.get(b"key:%d" % count) == b"value:%d" % count
    client.close()


def test_maxclients_refuses_extra_connections_with_redis_wording(
    concord_factory: Factory,
) -> None:
    server = concord_factory("--maxclients", "2")
    first = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    second = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        for sock in (first, second):
            sock.sendall(command(b"PING"))
            assert read_replies(sock, 1) == [b"PONG"]
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as third:
            third.settimeout(10)
            data = b""
            while chunk := third.recv(4096):
                data += chunk
            assert data == b"-ERR max number of clients reached\r\n"  # then closed
        first.close()
        # The slot is free again once the server has seen the close.
        deadline = time.monotonic() + 10
        while True:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as fourth:
                fourth.sendall(command(b"PING"))
                fourth.settimeout(10)
                reply = fourth.recv(4096)
            if reply == b"+PONG\r\n" or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert reply == b"+PONG\r\n"
    finally:
        first.close()
        second.close()


def test_replies_owed_are_sent_after_the_client_half_closes(concord_server: ConcordProcess) -> None:
    # Like redis-server: writes sent before the client shut its side down still get answers.
    with socket.create_connection(("127.0.0.1", concord_server.port), timeout=10) as sock:
        sock.sendall(command(b"SET", b"half-1", b"1") + command(b"SET", b"half-2", b"2"))
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(10)
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    assert data == b"+OK\r\n+OK\r\n"
