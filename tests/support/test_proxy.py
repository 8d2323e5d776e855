"""The fault proxy: forwards framed peer links, cuts exactly the blocked direction, closes clean.

Plain blocking sockets on 127.0.0.1 stand in for the nodes: a "dialer" sends a transport
hello frame and bytes, a "node" socket accepts what the proxy forwards. Every wait is bounded
by a socket timeout.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from concord_resp.raft.driver.transport import encode_frame
from tests.support.processes import free_port
from tests.support.proxy import FaultProxy

TIMEOUT = 5.0


class Node:
    """A listening socket standing in for node `name`'s real cluster port."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(TIMEOUT)
        self.port = int(self.listener.getsockname()[1])

    def accept(self) -> socket.socket:
        conn, _ = self.listener.accept()
        conn.settimeout(TIMEOUT)
        return conn

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def setup() -> Iterator[tuple[FaultProxy, dict[str, Node], dict[str, int]]]:
    nodes = {name: Node(name) for name in ("a", "b", "c")}
    ports = {name: free_port() for name in nodes}
    proxy = FaultProxy({name: (ports[name], nodes[name].port) for name in nodes}).start()
    try:
        yield proxy, nodes, ports
    finally:
        proxy.close()
        for node in nodes.values():
            node.close()


def dial(src: str, dst: str, port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.sendall(encode_frame({"cluster": "t", "from": src, "to": dst}) + b"payload")
    return sock


def receive_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def is_closed(sock: socket.socket) -> bool:
    """True once the peer closed (EOF or reset) within TIMEOUT."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def connect_through(
    src: str, dst: str, nodes: dict[str, Node], ports: dict[str, int]
) -> tuple[socket.socket, socket.socket]:
    """A forwarded connection src -> dst: (dialer side, node side), checked both ways."""
    hello = encode_frame({"cluster": "t", "from": src, "to": dst})
    dialer = dial(src, dst, ports[dst])
    accepted = nodes[dst].accept()
    assert receive_exactly(accepted, len(hello) + 7) == hello + b"payload"
    accepted.sendall(b"answer")
    assert receive_exactly(dialer, 6) == b"answer"
    return dialer, accepted


def test_forwards_both_ways_and_counts_links(
    setup: tuple[FaultProxy, dict[str, Node], dict[str, int]],
) -> None:
    proxy, nodes, ports = setup
    dialer, accepted = connect_through("a", "b", nodes, ports)
    big = bytes(range(256)) * 2000  # several chunks
    dialer.sendall(big)
    assert receive_exactly(accepted, len(big)) == big
    assert proxy.live_links() == {("a", "b"): 1}
    assert proxy.stats()[0] == {("a", "b"): 1}
    dialer.close()
    assert is_closed(accepted)  # no half-open link left behind
    accepted.close()


def test_block_cuts_one_direction_and_heal_restores(
    setup: tuple[FaultProxy, dict[str, Node], dict[str, int]],
) -> None:
    proxy, nodes, ports = setup
    ab = connect_through("a", "b", nodes, ports)
    ba = connect_through("b", "a", nodes, ports)
    proxy.block("a", "b")
    assert proxy.blocked() == {("a", "b")}
    # the existing a -> b connection is closed on both ends; b -> a is untouched
    assert is_closed(ab[0])
    assert is_closed(ab[1])
    assert proxy.live_links() == {("b", "a"): 1}
    ba[1].sendall(b"still")
    assert receive_exactly(ba[0], 5) == b"still"
    # a new a -> b connection is accepted then closed, never forwarded
    again = dial("a", "b", ports["b"])
    assert is_closed(again)
    assert proxy.stats()[1] == {("a", "b"): 1}
    proxy.heal()
    assert proxy.blocked() == frozenset()
    connect_through("a", "b", nodes, ports)


def test_isolate_and_partition_cut_both_directions(
    setup: tuple[FaultProxy, dict[str, Node], dict[str, int]],
) -> None:
    proxy, nodes, ports = setup
    proxy.isolate("a")
    assert proxy.blocked() == {("a", "b"), ("b", "a"), ("a", "c"), ("c", "a")}
    connect_through("b", "c", nodes, ports)
    proxy.heal()
    proxy.partition(["a", "b"], ["c"])
    assert proxy.blocked() == {("a", "c"), ("c", "a"), ("b", "c"), ("c", "b")}
    connect_through("a", "b", nodes, ports)
    assert is_closed(dial("c", "a", ports["a"]))


def test_not_a_hello_is_dropped(setup: tuple[FaultProxy, dict[str, Node], dict[str, int]]) -> None:
    proxy, _, ports = setup
    sock = socket.create_connection(("127.0.0.1", ports["a"]), timeout=TIMEOUT)
    sock.sendall(encode_frame(["not", "a", "hello"]))
    assert is_closed(sock)
    assert proxy.stats() == ({}, {})


def test_close_stops_listeners_and_connections() -> None:
    node = Node("b")
    port = free_port()
    proxy = FaultProxy({"b": (port, node.port)}).start()
    try:
        dialer, accepted = connect_through("a", "b", {"b": node}, {"b": port})
        proxy.close()
        assert is_closed(dialer)
        assert is_closed(accepted)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        proxy.close()  # idempotent
    finally:
        proxy.close()
        node.close()
