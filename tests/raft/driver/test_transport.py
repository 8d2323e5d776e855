"""The peer transport over real TCP on 127.0.0.1: ordering, bounds, reconnects, refusals,
and the handshake: proof of the cluster secret both ways, bounded in bytes, time and number
before authentication."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import struct
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

from concord_resp.raft.driver.handshake import AUTHENTICATION_FAILED, HANDSHAKE_BYTES
from concord_resp.raft.driver.transport import (
    FrameProtocolError,
    FrameReader,
    FrameTooLarge,
    PeerTransport,
    encode_frame,
)
from concord_resp.security.peer_auth import NONCE_BYTES, ClusterSecret, Role, Transcript, prove
from tests.support import waiting

HOST = "127.0.0.1"
WAIT = 5.0  # bound on every wait; each test takes well under a second
SECRET = ClusterSecret(b"test-secret-" * 4)
OTHER_SECRET = ClusterSecret(b"other-secret" * 4)


class Recorder:
    """Collects what a transport reports; `wait` blocks until a predicate holds."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, object]] = []
        self.links: list[tuple[str, bool]] = []
        self._changed = trio.Event()

    def on_frame(self, sender: str, frame: object) -> None:
        self.frames.append((sender, frame))
        self._changed.set()

    def on_link_change(self, peer: str, up: bool) -> None:
        self.links.append((peer, up))
        self._changed.set()

    def frames_from(self, sender: str) -> list[object]:
        return [frame for name, frame in self.frames if name == sender]

    async def wait(self, predicate: Callable[[], bool]) -> None:
        with trio.fail_after(WAIT):
            while not predicate():
                self._changed = trio.Event()
                await self._changed.wait()

    async def wait_frames(self, sender: str, count: int) -> list[object]:
        await self.wait(lambda: len(self.frames_from(sender)) >= count)
        return self.frames_from(sender)

    async def wait_link(self, peer: str, up: bool, count: int = 1) -> None:
        await self.wait(lambda: self.links.count((peer, up)) >= count)


class Node:
    """A transport, its recorder, and a handle to stop and restart its `serve` task."""

    def __init__(self, name: str, cluster: str = "c1", **options: Any) -> None:
        self.name = name
        self.seen = Recorder()
        self.transport = PeerTransport(
            name,
            cluster,
            {},
            self.seen.on_frame,
            rng=random.Random(name),
            on_link_change=self.seen.on_link_change,
            **{"secret": SECRET, **options},
        )
        self.port = 0
        self._scope: trio.CancelScope | None = None
        self._stopped = trio.Event()

    @property
    def address(self) -> tuple[str, int]:
        return (HOST, self.port)

    async def start(self, nursery: trio.Nursery, port: int = 0) -> None:
        scope = self._scope = trio.CancelScope()
        stopped = self._stopped = trio.Event()

        async def run(task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                with scope:
                    await self.transport.serve(HOST, port, task_status=task_status)
            finally:
                stopped.set()

        self.port = await nursery.start(run)

    async def stop(self) -> None:
        assert self._scope is not None
        self._scope.cancel()
        with trio.fail_after(WAIT):
            await self._stopped.wait()


def link(*nodes: Node) -> None:
    """Make every node a peer of every other one."""
    for node in nodes:
        node.transport.set_peers({n.name: n.address for n in nodes if n is not node})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


async def wait_until(predicate: Callable[[], bool]) -> None:
    """For conditions no callback reports (log records, counters): poll, bounded."""
    await waiting.wait_until(predicate, within=WAIT)


# -- the frame codec ---------------------------------------------------------------------


def test_frame_reader_decodes_frames_split_at_any_byte() -> None:
    frames: list[object] = [b"", b"abc", {"k": [1, None, True]}, "text", 2**40, [b"x" * 300]]
    wire = b"".join(encode_frame(frame) for frame in frames)
    reader = FrameReader(max_frame=1 << 20)
    decoded: list[object] = []
    for byte in wire:
        reader.feed(bytes([byte]))
        decoded += reader.pop_frames()
    assert decoded == frames
    assert reader.pop_frames() == []


def test_frame_reader_returns_good_frames_before_refusing_an_oversized_one() -> None:
    reader = FrameReader(max_frame=16)
    reader.feed(encode_frame(b"ok") + encode_frame(b"y" * 32))
    assert reader.pop_frames() == [b"ok"]
    with pytest.raises(FrameProtocolError, match="exceeds the limit"):
        reader.pop_frames()


# -- transports over TCP -----------------------------------------------------------------


async def test_three_transports_deliver_every_frame_in_order_per_sender() -> None:
    nodes = [Node("n1"), Node("n2"), Node("n3")]
    big = bytes(range(256)) * (5 * 1024 * 1024 // 256)  # 5 MiB
    nested = {"argv": [b"SET", b"k", b"\x00\xff"], "meta": {"t": 3, "ok": True, "x": None}}
    async with trio.open_nursery() as nursery:
        for node in nodes:
            await node.start(nursery)
        link(*nodes)
        sent: dict[tuple[str, str], list[object]] = {}
        for node in nodes:
            for other in nodes:
                if other is node:
                    continue
                frames: list[object] = [
                    b"%s>%s %d" % (node.name.encode(), other.name.encode(), i) for i in range(500)
                ]
                frames[100:100] = [big, nested, [1, [2, [3, ["deep", -7]]]], "text", None, False]
                for frame in frames:
                    assert node.transport.send(other.name, frame)
                sent[node.name, other.name] = frames
        for (sender, receiver), frames in sent.items():
            node = next(n for n in nodes if n.name == receiver)
            received = await node.seen.wait_frames(sender, len(frames))
            assert received == frames
        n1 = nodes[0].transport
        await wait_until(lambda: n1.status()["n2"].frames_sent == len(sent["n1", "n2"]))
        link_status = n1.status()["n2"]
        assert link_status.address == nodes[1].address
        assert link_status.connected
        assert link_status.inbound
        assert link_status.frames_received == len(sent["n2", "n1"])
        assert link_status.last_received is not None
        assert link_status.last_received <= trio.current_time()
        assert (link_status.frames_dropped, link_status.reconnects, link_status.queued) == (0, 0, 0)
        nursery.cancel_scope.cancel()


async def test_a_peer_that_starts_late_receives_what_was_queued_for_it() -> None:
    a, b = Node("a"), Node("b")
    b.port = free_port()  # nothing listens there yet
    async with trio.open_nursery() as nursery:
        await a.start(nursery)
        link(a, b)
        frames = [b"early %d" % i for i in range(50)]
        for frame in frames:
            assert a.transport.send("b", frame)
        assert not a.transport.status()["b"].connected
        await b.start(nursery, b.port)
        assert await b.seen.wait_frames("a", len(frames)) == frames
        assert a.transport.status()["b"].frames_dropped == 0
        nursery.cancel_scope.cancel()


async def test_the_queue_bound_drops_and_counts_while_a_peer_is_down() -> None:
    a, b = Node("a", queue_size=8), Node("b")
    b.port = free_port()
    async with trio.open_nursery() as nursery:
        await a.start(nursery)
        link(a, b)
        accepted = [a.transport.send("b", i) for i in range(12)]
        assert accepted == [True] * 8 + [False] * 4
        status = a.transport.status()["b"]
        assert (status.queued, status.frames_dropped, status.connected) == (8, 4, False)
        await b.start(nursery, b.port)
        assert await b.seen.wait_frames("a", 8) == list(range(8))
        await wait_until(lambda: a.transport.status()["b"].frames_sent == 8)
        nursery.cancel_scope.cancel()


def test_the_byte_bound_drops_but_one_frame_always_fits_an_empty_queue() -> None:
    a = Node("a", max_queued_bytes=1000)
    a.transport.set_peers({"b": (HOST, free_port())})  # never started: nothing is sent
    assert a.transport.send("b", b"x" * 5000)  # alone in the queue: accepted
    assert not a.transport.send("b", b"y")
    assert a.transport.status()["b"].frames_dropped == 1
    assert not a.transport.send("nobody", b"z")  # unknown peer
    small = PeerTransport("c", "c1", {"a": (HOST, 1)}, lambda sender, frame: None, max_frame=100)
    with pytest.raises(FrameTooLarge, match="max_frame"):  # the caller must chunk
        small.send("a", b"x" * 200)


async def test_links_come_back_after_a_peer_restarts_on_the_same_port() -> None:
    a, b = Node("a"), Node("b")
    async with trio.open_nursery() as nursery:
        await a.start(nursery)
        await b.start(nursery)
        link(a, b)
        assert a.transport.send("b", "before")
        assert await b.seen.wait_frames("a", 1) == ["before"]
        await b.stop()
        await a.seen.wait_link("b", up=False)
        assert not a.transport.status()["b"].connected
        for i in range(3):
            assert a.transport.send("b", f"while down {i}")
        await b.start(nursery, b.port)  # the same transport object, serving again
        received = await b.seen.wait_frames("a", 4)
        assert received == ["before", "while down 0", "while down 1", "while down 2"]
        assert b.transport.send("a", "back")
        assert await a.seen.wait_frames("b", 1) == ["back"]
        status = a.transport.status()["b"]
        assert status.connected
        assert status.reconnects == 1
        nursery.cancel_scope.cancel()


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "concord.transport" and r.levelno == logging.WARNING
    ]


async def test_a_peer_of_another_cluster_is_refused_and_both_sides_log_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="concord.transport")
    a, b = Node("a", cluster="alpha"), Node("b", cluster="beta")
    async with trio.open_nursery() as nursery:
        await a.start(nursery)
        await b.start(nursery)
        link(a, b)
        assert a.transport.send("b", b"to b")
        assert b.transport.send("a", b"to a")

        def refusals() -> tuple[list[str], list[str]]:
            messages = warnings(caplog)
            acceptor = [m for m in messages if m.startswith("refused peer link from 127.0.0.1:")]
            dialer = [m for m in messages if m.startswith("peer b at 127.0.0.1:")]
            return acceptor, dialer

        await wait_until(lambda: all(refusals()))
        acceptor, dialer = refusals()
        by_b = [m for m in acceptor if "this node 'b'" in m]
        assert by_b
        assert "claims to be node 'a'" in by_b[0]
        assert "cluster id mismatch (it names cluster 'alpha')" in by_b[0]  # our log only
        assert "refused the link" in dialer[0]
        status = a.transport.status()["b"]
        assert not status.connected
        assert status.queued == 1
        # What the acceptor told the dialer names no cluster id.
        assert status.last_error == "refused: cluster id mismatch"
        assert "beta" not in dialer[0]
        assert a.seen.frames == []
        assert b.seen.frames == []
        nursery.cancel_scope.cancel()


async def test_members_without_a_secret_link_but_one_with_a_secret_refuses_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="concord.transport")
    a, b, c = Node("a", secret=None), Node("b", secret=None), Node("c")
    async with trio.open_nursery() as nursery:
        for node in (a, b, c):
            await node.start(nursery)
        link(a, b, c)
        for node in (a, b, c):
            for other in (a, b, c):
                if other is not node:
                    assert node.transport.send(other.name, f"{node.name}>{other.name}")
        assert await b.seen.wait_frames("a", 1) == ["a>b"]
        assert await a.seen.wait_frames("b", 1) == ["b>a"]
        # c (with the secret) and a, b (without) refuse each other both ways.
        await wait_until(
            lambda: all(
                link.last_error == f"refused: {AUTHENTICATION_FAILED}"
                for node, peer in ((a, "c"), (b, "c"), (c, "a"), (c, "b"))
                for link in [node.transport.status()[peer]]
            )
        )
        assert c.seen.frames == []
        assert a.seen.frames_from("c") == []
        assert b.seen.frames_from("c") == []
        assert any(f"this node 'c'): {AUTHENTICATION_FAILED}" in m for m in warnings(caplog))
        nursery.cancel_scope.cancel()


async def test_a_wrong_secret_is_refused_and_no_frame_crosses() -> None:
    a, b = Node("a", secret=OTHER_SECRET), Node("b")
    async with trio.open_nursery() as nursery:
        await a.start(nursery)
        await b.start(nursery)
        link(a, b)
        assert a.transport.send("b", b"forged")
        assert b.transport.send("a", b"secret")
        await wait_until(
            lambda: (
                a.transport.status()["b"].last_error == f"refused: {AUTHENTICATION_FAILED}"
                and b.transport.status()["a"].last_error == f"refused: {AUTHENTICATION_FAILED}"
            )
        )
        assert a.seen.frames == []
        assert b.seen.frames == []
        assert a.seen.links == []  # never up
        assert not b.transport.status()["a"].inbound
        nursery.cancel_scope.cancel()


async def test_a_peer_sending_an_oversized_frame_is_disconnected(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="concord.transport")
    a, b = Node("a"), Node("b", max_frame=1024)
    async with trio.open_nursery() as nursery:
        await a.start(nursery)
        await b.start(nursery)
        link(a, b)
        assert a.transport.send("b", b"small")
        await b.seen.wait_frames("a", 1)
        assert a.transport.send("b", b"x" * 4096)
        await a.seen.wait_link("b", up=False)
        assert any("exceeds the limit of 1024" in r.getMessage() for r in caplog.records)
        assert a.transport.send("b", b"after")  # sent on the next connection
        assert await b.seen.wait_frames("a", 2) == [b"small", b"after"]
        nursery.cancel_scope.cancel()


async def test_set_peers_adds_moves_and_removes_a_peer() -> None:
    a, b = Node("a"), Node("b")
    async with trio.open_nursery() as nursery:
        await a.start(nursery)
        await b.start(nursery)
        b.transport.set_peers({"a": a.address})
        assert not a.transport.send("b", "unknown yet")
        a.transport.set_peers({"b": (HOST, free_port())})  # a wrong address first
        assert a.transport.send("b", "queued")
        assert not a.transport.status()["b"].connected
        a.transport.set_peers({"b": b.address})  # moved: redialed, the queue is kept
        await a.seen.wait_link("b", up=True)
        assert a.transport.send("b", "hello")
        assert await b.seen.wait_frames("a", 2) == ["queued", "hello"]
        a.transport.set_peers({})
        await a.seen.wait_link("b", up=False)
        assert not a.transport.send("b", "gone")
        assert a.transport.status() == {}
        await wait_until(lambda: not b.transport.status()["a"].inbound)
        nursery.cancel_scope.cancel()


async def read_frame(stream: trio.abc.ReceiveStream) -> object:
    reader = FrameReader(1 << 20)
    while not (frames := reader.pop_frames(limit=1)):
        data = await stream.receive_some()
        assert data, "closed before a frame"
        reader.feed(data)
    return frames[0]


async def closed(stream: trio.abc.ReceiveStream) -> bool:
    """Whether the other end closed `stream` (reading whatever it sent before); a reset
    (it closed with our bytes unread) counts."""
    with trio.fail_after(WAIT):
        try:
            while data := await stream.receive_some():
                assert len(data) < 1 << 20
        except trio.BrokenResourceError:
            pass
    return True


def hello(sender: str = "a", to: str = "b", **fields: object) -> dict[str, object]:
    """A dialer's first frame, as this version sends it (`fields` change or add to it)."""
    frame = {"cluster": "c1", "from": sender, "to": to, "version": 2, "nonce": b"n" * NONCE_BYTES}
    return {**frame, **fields}


async def read_to_end(stream: trio.abc.ReceiveStream) -> list[object]:
    """Every frame the other end sends until it closes."""
    reader = FrameReader(1 << 20)
    with trio.fail_after(WAIT):
        while data := await stream.receive_some():
            reader.feed(data)
    return reader.pop_frames()


async def handshake_by_hand(
    stream: trio.abc.Stream, sender: str, to: str, *, secret: ClusterSecret | None = SECRET
) -> object:
    """Dial as `sender`, proving with `secret`; returns the acceptor's last answer."""
    nonce = bytes(range(NONCE_BYTES))
    await stream.send_all(encode_frame(hello(sender, to, nonce=nonce)))
    challenge = await read_frame(stream)
    assert isinstance(challenge, dict)
    assert set(challenge) == {"nonce"}
    transcript = Transcript("c1", sender, to, 2, nonce, challenge["nonce"])
    await stream.send_all(encode_frame({"proof": prove(secret, Role.DIALER, transcript)}))
    answer = await read_frame(stream)
    if isinstance(answer, dict) and answer.get("ok") is True:
        assert answer["proof"] == prove(secret, Role.ACCEPTOR, transcript)  # mutual
    return answer


async def test_the_wire_format_and_any_sender_name_that_proves_the_secret() -> None:
    b = Node("b")
    async with trio.open_nursery() as nursery:
        await b.start(nursery)
        with trio.fail_after(WAIT):
            stream = await trio.open_tcp_stream(HOST, b.port)
            answer = await handshake_by_hand(stream, "stranger", "b")
            assert isinstance(answer, dict)
            assert answer["ok"] is True
            await stream.send_all(encode_frame([1, "two"]) + encode_frame({"three": b"3"}))
            assert await b.seen.wait_frames("stranger", 2) == [[1, "two"], {"three": b"3"}]
            await stream.aclose()

            stream = await trio.open_tcp_stream(HOST, b.port)
            await stream.send_all(encode_frame(hello("x", "nobody")))
            reply = await read_frame(stream)
            assert isinstance(reply, dict)
            assert "not 'nobody'" in reply["error"]
            assert await closed(stream)
            await stream.aclose()

            # A dialer must speak this node's peer protocol version (a first-version node,
            # which names none, is told so).
            for version in (None, 1, 3, "2"):
                stream = await trio.open_tcp_stream(HOST, b.port)
                first = hello("v", "b", version=version)
                if version is None:
                    del first["version"]
                await stream.send_all(encode_frame(first))
                reply = await read_frame(stream)
                assert isinstance(reply, dict)
                assert "peer protocol version" in reply["error"]
                assert "speaks version 2" in reply["error"]
                await stream.aclose()
        assert b.seen.frames_from("x") == b.seen.frames_from("v") == []
        nursery.cancel_scope.cancel()


async def test_without_the_secret_no_frame_gets_past_the_handshake() -> None:
    b = Node("b")
    async with trio.open_nursery() as nursery:
        await b.start(nursery)
        with trio.fail_after(WAIT):
            # A wrong proof, then frames: refused, nothing delivered.
            stream = await trio.open_tcp_stream(HOST, b.port)
            answer = await handshake_by_hand(stream, "a", "b", secret=OTHER_SECRET)
            assert answer == {"error": AUTHENTICATION_FAILED}
            with contextlib.suppress(trio.BrokenResourceError):
                await stream.send_all(encode_frame(["raft", "forged"]))
            assert await closed(stream)
            await stream.aclose()
            # No proof at all: a frame sent where the proof belongs.
            stream = await trio.open_tcp_stream(HOST, b.port)
            await stream.send_all(encode_frame(hello()))
            await stream.send_all(encode_frame(["removed"]) + encode_frame(["fwd", []]))
            challenge, refusal = await read_to_end(stream)
            assert isinstance(challenge, dict)
            assert "nonce" in challenge
            assert refusal == {"error": AUTHENTICATION_FAILED}
            await stream.aclose()
        assert b.seen.frames == []
        nursery.cancel_scope.cancel()


async def test_refusals_are_logged_once_a_minute_per_cause_whatever_names_are_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="concord.transport")
    b = Node("b")
    async with trio.open_nursery() as nursery:
        await b.start(nursery)
        with trio.fail_after(WAIT):
            for i in range(5):
                stream = await trio.open_tcp_stream(HOST, b.port)
                answer = await handshake_by_hand(stream, f"stranger-{i}", "b", secret=None)
                assert answer == {"error": AUTHENTICATION_FAILED}
                await stream.aclose()

        def refused_records() -> list[logging.LogRecord]:
            return [r for r in caplog.records if "refused peer link" in r.getMessage()]

        await wait_until(lambda: len(refused_records()) == 5)
        refused = refused_records()
        assert [r.levelno for r in refused] == [logging.WARNING] + [logging.DEBUG] * 4
        assert "claims to be node 'stranger-0'" in refused[0].getMessage()
        nursery.cancel_scope.cancel()


async def relay(listener: trio.SocketListener, target: tuple[str, int], record: bytearray) -> None:
    """Forward one connection to `target`, recording what the dialer sends."""
    inbound = await listener.accept()
    outbound = await trio.open_tcp_stream(*target)

    async def pump(source: trio.abc.Stream, sink: trio.abc.Stream, keep: bool) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            while data := await source.receive_some():
                if keep:
                    record.extend(data)
                await sink.send_all(data)

    async with inbound, outbound, trio.open_nursery() as nursery:
        nursery.start_soon(pump, inbound, outbound, True)
        await pump(outbound, inbound, False)
        nursery.cancel_scope.cancel()


async def test_a_recorded_handshake_replayed_is_refused() -> None:
    a, b = Node("a"), Node("b")
    recorded = bytearray()
    async with trio.open_nursery() as nursery:
        await a.start(nursery)
        await b.start(nursery)
        listeners = await trio.open_tcp_listeners(0, host=HOST)
        nursery.start_soon(relay, listeners[0], b.address, recorded)
        a.transport.set_peers({"b": (HOST, listeners[0].socket.getsockname()[1])})
        assert a.transport.send("b", b"genuine")
        assert await b.seen.wait_frames("a", 1) == [b"genuine"]  # through the relay
        # The dialer's hello and proof, exactly as an eavesdropper saw them, then a frame.
        with trio.fail_after(WAIT):
            stream = await trio.open_tcp_stream(HOST, b.port)
            await stream.send_all(bytes(recorded) + encode_frame(b"replayed"))
            challenge, refusal = await read_to_end(stream)
            assert isinstance(challenge, dict)
            assert "nonce" in challenge  # a new nonce: the recorded proof is for another
            assert refusal == {"error": AUTHENTICATION_FAILED}
            await stream.aclose()
        assert b.seen.frames_from("a") == [b"genuine"]
        nursery.cancel_scope.cancel()


async def impostor(listener: trio.SocketListener) -> None:
    """An acceptor that does not know the secret and says yes to anyone."""
    stream = await listener.accept()
    async with stream:
        await read_frame(stream)
        await stream.send_all(encode_frame({"nonce": b"i" * NONCE_BYTES}))
        await read_frame(stream)
        await stream.send_all(encode_frame({"ok": True, "proof": b"p" * 32}))
        await closed(stream)


async def test_a_dialer_sends_nothing_to_an_acceptor_that_cannot_prove_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="concord.transport")
    a = Node("a", backoff_initial=10.0, backoff_max=10.0)  # one attempt in this test
    async with trio.open_nursery() as nursery:
        await a.start(nursery)
        listeners = await trio.open_tcp_listeners(0, host=HOST)
        nursery.start_soon(impostor, listeners[0])
        a.transport.set_peers({"b": (HOST, listeners[0].socket.getsockname()[1])})
        assert a.transport.send("b", b"for b only")
        await wait_until(lambda: a.transport.status()["b"].last_error is not None)
        status = a.transport.status()["b"]
        assert status.last_error == "the peer did not prove the cluster secret"
        assert (status.connected, status.queued, status.frames_sent) == (False, 1, 0)
        assert a.seen.links == []
        assert any("failed the handshake" in m for m in warnings(caplog))
        nursery.cancel_scope.cancel()


async def test_a_handshake_is_bounded_in_bytes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="concord.transport")
    b = Node("b")
    async with trio.open_nursery() as nursery:
        await b.start(nursery)
        with trio.fail_after(WAIT):
            # A hello announcing a 200 MB frame: closed on its header.
            stream = await trio.open_tcp_stream(HOST, b.port)
            await stream.send_all(struct.pack(">I", 200 << 20) + b"x" * 65536)
            assert await closed(stream)
            await stream.aclose()
            # Frames each under the bound, together over it.
            stream = await trio.open_tcp_stream(HOST, b.port)
            await stream.send_all(encode_frame(hello()))
            assert isinstance(await read_frame(stream), dict)
            await stream.send_all(encode_frame({"proof": b"p" * (HANDSHAKE_BYTES - 40)}))
            assert await closed(stream)
            await stream.aclose()
        messages = warnings(caplog)
        assert any(f"exceeds the limit of {HANDSHAKE_BYTES}" in m for m in messages)
        assert any(f"handshake longer than {HANDSHAKE_BYTES} bytes" in m for m in messages)
        assert b.seen.frames == []
        nursery.cancel_scope.cancel()


async def test_a_slow_handshake_is_cut_at_the_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    b = PeerTransport("b", "c1", {}, lambda sender, frame: None, secret=SECRET)
    b.handshake_timeout = 3.0
    dialer, acceptor = trio.testing.memory_stream_pair()
    first = encode_frame(hello())
    ended: list[float] = []

    async def serve() -> None:
        await b.handle_inbound(acceptor)
        ended.append(trio.current_time())
        await acceptor.aclose()

    async with trio.open_nursery() as nursery:
        started = trio.current_time()
        nursery.start_soon(serve)
        # One byte a second: always sending, never done.
        for byte in first:
            if ended:
                break
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await dialer.send_all(bytes([byte]))
            await trio.sleep(1.0)
    assert ended == [started + 3.0]
    assert await closed(dialer)


async def test_handshakes_at_once_are_bounded_and_members_still_get_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="concord.transport")
    a, b = Node("a"), Node("b", max_unauthenticated=4)
    async with trio.open_nursery() as nursery:
        await b.start(nursery)
        with trio.fail_after(WAIT):
            idle = [await trio.open_tcp_stream(HOST, b.port) for _ in range(4)]
            await trio.sleep(0.05)  # (b accepted them; nothing signals it)
            extra = await trio.open_tcp_stream(HOST, b.port)
            assert await closed(idle[0])  # the oldest made room, at once
            # A member dialing while strangers hold every place still gets in.
            await a.start(nursery)
            link(a, b)
            assert a.transport.send("b", b"member")
            assert await b.seen.wait_frames("a", 1) == [b"member"]
            for stream in [*idle, extra]:
                await stream.aclose()
        assert any("too many handshakes at once" in m for m in warnings(caplog))
        nursery.cancel_scope.cancel()


async def test_cancelling_serve_closes_every_socket() -> None:
    fds_before = len(os.listdir("/proc/self/fd"))
    a, b = Node("a"), Node("b")
    with trio.fail_after(WAIT):
        async with trio.open_nursery() as nursery:
            await a.start(nursery)
            await b.start(nursery)
            link(a, b)
            assert a.transport.send("b", 1)
            assert b.transport.send("a", 2)
            await b.seen.wait_frames("a", 1)
            await a.seen.wait_frames("b", 1)
            nursery.cancel_scope.cancel()
        # The nursery exited: no task of either transport is left running.
    assert len(os.listdir("/proc/self/fd")) == fds_before
    assert a.transport.port is None
    assert not any(link.connected or link.inbound for link in a.transport.status().values())
    with pytest.raises(OSError, match=r"connect|refused"):
        await trio.open_tcp_stream(HOST, a.port)
