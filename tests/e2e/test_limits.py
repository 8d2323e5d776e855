"""Bounded clients on real concord-server processes.

The slow reader of issue 14: one client pipelines GETs of a 1 MB value and never reads its
replies. The server's RSS (/proc/<pid>/status) must stay within twice the configured client
limits over its baseline, and another client's PING must be answered within 100 ms (the
90th percentile of many, on a shared 2-core machine); after the slow client closes, the
same. Then: the hard limit and maxmemory-clients closing clients, with Redis's log lines;
and maxmemory decided by the node a write arrives at (a follower over its maxmemory refuses,
the leader accepts, and the replicas stay equal).
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from tests.support.cluster import LocalCluster
from tests.support.processes import ConcordProcess, free_port
from tests.support.tls import make_tls_files

MB = 1024 * 1024
GET_BIG = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n"
SET_SMALL = b"*3\r\n$3\r\nSET\r\n$5\r\nsmall\r\n$1\r\nv\r\n"
PING_BOUND = 0.1  # seconds


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@dataclass
class Watch:
    """What one observation period saw: the peak RSS and every PING's latency."""

    peak: int = 0
    pings: list[float] = field(default_factory=list)

    @property
    def p90(self) -> float:
        return sorted(self.pings)[int(len(self.pings) * 0.9)]


def watch(server: ConcordProcess, pinger: redis.Redis, seconds: float) -> Watch:
    """PING every 20 ms and sample RSS, for `seconds` (bounded in time and count)."""
    seen = Watch()
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds / 0.02) + 1):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        assert pinger.ping()
        seen.pings.append(time.perf_counter() - started)
        seen.peak = max(seen.peak, rss(server.pid))
        time.sleep(0.02)
    return seen


@contextmanager
def slow_reader(port: int, request: bytes, seconds: float) -> Iterator[socket.socket]:
    """A client that keeps sending `request` (for at most `seconds`) and never reads."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.setblocking(False)
    stop = threading.Event()
    deadline = time.monotonic() + seconds

    def pump() -> None:
        burst = request * 1000
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                sock.send(burst)
            except BlockingIOError:
                stop.wait(0.01)  # the server stopped reading it: it is held back
            except OSError:
                return  # closed by the server

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        yield sock
    finally:
        stop.set()
        thread.join(timeout=10)
        sock.close()


def baseline_rss(server: ConcordProcess, client: redis.Redis) -> int:
    """RSS once the server has served the value a few times (its buffers warmed up)."""
    for _ in range(5):
        assert len(client.get("big") or b"") == MB
    time.sleep(0.2)
    return max(rss(server.pid) for _ in range(3))


def omem_of_others(client: redis.Redis) -> list[int]:
    me = client.client_id()
    return [int(c["omem"]) for c in client.client_list() if int(c["id"]) != me]


@pytest.mark.parametrize("behind_a_write", [False, True], ids=["gets", "set-then-gets"])
def test_a_slow_reader_holds_bounded_memory_and_others_are_served(
    concord_factory: Callable[..., ConcordProcess], behind_a_write: bool
) -> None:
    limit = 16 * MB  # what the configured limits allow the clients' buffers together
    server = concord_factory(
        "--client-output-buffer-limit",
        "normal 8mb 4mb 10",
        "--maxmemory-clients",
        "16mb",
    )
    client = redis.Redis(port=server.port, socket_timeout=10)
    pinger = redis.Redis(port=server.port, socket_timeout=10)
    try:
        client.set("big", b"x" * MB)
        baseline = baseline_rss(server, client)
        request = (SET_SMALL if behind_a_write else b"") + GET_BIG
        with slow_reader(server.port, request, seconds=8):
            during = watch(server, pinger, seconds=3)
            held = omem_of_others(client)
            recent = client.info("clients")["client_recent_max_output_buffer"]
        after = watch(server, pinger, seconds=2)
        assert during.peak <= baseline + 2 * limit, (baseline, during.peak)
        assert after.peak <= baseline + 2 * limit, (baseline, after.peak)
        assert during.p90 < PING_BOUND, statistics.quantiles(during.pings, n=10)
        assert after.p90 < PING_BOUND, statistics.quantiles(after.pings, n=10)
        # Held back, not closed (no limit reached: it waits for its socket); behind its own
        # write, its reads run later and the hard limit closes it.
        if behind_a_write:
            assert "for overcoming of output buffer limits" in server.output()
        else:
            assert held
            assert 0 < max(held) <= 4 * MB, held
            assert recent > 0
        assert client.get("big") == b"x" * MB
    finally:
        client.close()
        pinger.close()


def test_a_slow_reader_over_tls_is_held_back_too(
    concord_factory: Callable[..., ConcordProcess], tmp_path: Path
) -> None:
    """With TLS, what the socket has not taken is ciphertext in the TLS layer: it is the
    output buffer, and backpressure holds the client back on it as on a plain socket."""
    files = make_tls_files(tmp_path / "certs")
    tls_port = free_port()
    server = concord_factory("--tls-port", str(tls_port), *files.server_args(auth_clients="no"))
    client = redis.Redis(port=server.port, socket_timeout=10)
    pinger = redis.Redis(port=server.port, socket_timeout=10)
    raw = socket.create_connection(("127.0.0.1", tls_port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    slow = files.context().wrap_socket(raw)
    try:
        client.set("big", b"x" * MB)
        baseline = baseline_rss(server, client)
        slow.settimeout(0.2)
        sent = 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and sent < 2000:
            try:
                slow.sendall(GET_BIG * 100)
                sent += 100
            except TimeoutError:
                break  # the server stopped reading it
        seen = watch(server, pinger, seconds=1.5)
        held = omem_of_others(client)
        assert held
        assert 0 < max(held) <= 4 * MB, held
        assert seen.peak <= baseline + 32 * MB, (baseline, seen.peak)
        assert seen.p90 < PING_BOUND
        served = int(client.info("commandstats")["cmdstat_get"]["calls"])
        assert served < 100  # of the GETs it sent: held back, not run
    finally:
        slow.close()
        client.close()
        pinger.close()


def test_the_hard_limit_closes_a_client_with_redis_log_line(
    concord_factory: Callable[..., ConcordProcess],
) -> None:
    server = concord_factory("--client-output-buffer-limit", "normal 2mb 0 0")
    client = redis.Redis(port=server.port, socket_timeout=10)
    try:
        client.set("big", b"x" * (3 * MB))
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            sock.sendall(GET_BIG * 16)
            assert wait_logged(server, "for overcoming of output buffer limits.")
            sock.settimeout(10)
            assert read_to_the_end(sock) < 4 * (3 * MB)  # not every reply: closed
        log = server.output()
        assert "scheduled to be closed ASAP for overcoming of output buffer limits." in log
        assert client.ping()
    finally:
        client.close()


def test_the_soft_limit_closes_a_client_that_stays_over_it(
    concord_factory: Callable[..., ConcordProcess],
) -> None:
    server = concord_factory("--client-output-buffer-limit", "normal 0 16kb 1")
    client = redis.Redis(port=server.port, socket_timeout=10)
    try:
        client.set("big", b"x" * MB)
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            sock.sendall(GET_BIG * 64)  # held back over 16 KB: closed after more than 1 s
            started = time.monotonic()
            assert wait_logged(server, "closed for overcoming of output buffer limits.")
            assert time.monotonic() - started > 1.0
            sock.settimeout(10)
            read_to_the_end(sock)
        assert client.ping()
    finally:
        client.close()


def wait_logged(server: ConcordProcess, text: str) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if text in server.output():
            return True
        time.sleep(0.05)
    return False


def read_to_the_end(sock: socket.socket) -> int:
    """Read until the server's close (EOF or reset); how many bytes came."""
    received = 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            data = sock.recv(1 << 20)
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += len(data)
    raise AssertionError("the server did not close the connection")


def test_maxmemory_clients_evicts_the_biggest_client(
    concord_factory: Callable[..., ConcordProcess],
) -> None:
    server = concord_factory()
    client = redis.Redis(port=server.port, socket_timeout=10)
    try:
        client.set("big", b"x" * MB)  # (its 1 MB query buffer would count too)
        client.config_set("maxmemory-clients", "128kb")
        # A client protected by CLIENT NO-EVICT holds its buffer; the next one is evicted.
        protected = socket.create_connection(("127.0.0.1", server.port))
        protected.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        protected.sendall(b"CLIENT NO-EVICT on\r\n" + GET_BIG * 32)
        exposed = socket.create_connection(("127.0.0.1", server.port))
        exposed.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        exposed.sendall(GET_BIG * 32)
        with protected, exposed:
            assert wait_logged(server, "Evicting client: id=")
            assert wait_closed_unread(exposed)
            stats = client.info("stats")
            assert stats["evicted_clients"] >= 1
            assert any(c["flags"] == "e" for c in client.client_list())  # still there
    finally:
        client.close()


def wait_closed_unread(sock: socket.socket) -> bool:
    """Without reading what is owed, poll for the server's close: a reset shows on send."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            sock.send(b"PING\r\n")
        except (BrokenPipeError, ConnectionResetError):
            return True
        time.sleep(0.05)
    return False


def test_maxmemory_is_decided_by_the_node_a_write_arrives_at(
    concord_cluster: LocalCluster,
) -> None:
    leader = concord_cluster.leader()
    follower = next(name for name in concord_cluster.names if name != leader)
    clients = {name: concord_cluster.client(name) for name in concord_cluster.names}
    try:
        clients[follower].config_set("maxmemory", 1)  # under any process's RSS
        with pytest.raises(redis.ResponseError, match=r"^command not allowed when used memory"):
            clients[follower].set("limits:oom", "through the follower")
        assert clients[leader].set("limits:oom", "through the leader")
        assert clients[follower].get("limits:oom") == b"through the leader"  # applied there
        info = clients[follower].info("errorstats")
        assert info["errorstat_OOM"]["count"] >= 1
        digests = {name: c.execute_command("DEBUG", "DIGEST") for name, c in clients.items()}
        assert len(set(digests.values())) == 1, digests
    finally:
        clients[follower].config_set("maxmemory", 0)
        clients[leader].delete("limits:oom")
        for client in clients.values():
            client.close()
