"""The peer transport: frames between cluster members over trio TCP (DESIGN.md section 2).

A frame is any CBOR-encodable value; the transport never looks inside one after the handshake.
On the wire a frame is `u32 big-endian length | CBOR payload` (`framing`). Each node dials
every peer and uses that outbound connection only to send; it receives on the connections its
peers dialed. A connection carries frames only once `handshake` has authenticated both ends:
the same cluster, the protocol version, the names, and proof of the cluster secret both ways.

Rules: before authentication a dialer may make us read `HANDSHAKE_BYTES` at most, within
`handshake_timeout`, and at most `max_unauthenticated` connections are in their handshake at
once (a new one closes the oldest, so idle strangers cannot lock members out for long); every
refusal is logged, at warning level once a minute per cause. After it, a frame larger than
`max_frame` is a protocol error that closes its connection. Memory is bounded (a per-peer
queue of at most `queue_size` frames and `max_queued_bytes` bytes; a frame that does not fit
is dropped and counted, never waited for, since Raft tolerates lost messages); delivery is at
most once and in order per sender (a new connection from a sender supersedes its old one,
whose unread frames are lost). Every task lives in the nursery of `serve`; cancelling it
closes every socket. Streams are used through trio's `Stream` interface only.
"""

from __future__ import annotations

import logging
import random
import ssl
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, Protocol

import cbor2
import trio

from ...security.peer_auth import ClusterSecret
from . import handshake
from .framing import HEADER, RECEIVE_MIN, FrameProtocolError, FrameReader, encode_frame
from .handshake import HandshakeFailed, HandshakeReader, Identity

__all__ = [
    "FrameProtocolError",
    "FrameReader",
    "FrameTooLarge",
    "PeerLink",
    "PeerTransport",
    "Transport",
    "encode_frame",
]

log = logging.getLogger("concord.transport")

_BATCH_BYTES: Final = 1 << 20  # one send_all carries at most this much (or one larger frame)
_WARN_INTERVAL: Final = 60.0  # a repeated refusal is logged at warning level this often


@dataclass(frozen=True, slots=True)
class PeerLink:
    """A snapshot of the link to one peer, as `PeerTransport.status` reports it."""

    address: tuple[str, int]
    connected: bool  # our outbound connection is up (handshake accepted)
    last_received: float | None  # trio.current_time() of the last frame from this peer
    frames_sent: int
    frames_dropped: int  # queue full, or lost in a send that failed
    reconnects: int  # times the outbound link was re-established after the first time
    frames_received: int = 0
    queued: int = 0
    inbound: bool = False  # the peer's connection to us is up
    last_error: str | None = None  # why the outbound link last failed


class Transport(Protocol):
    """What the cluster layer calls on a peer link (`PeerTransport`, or a test's link)."""

    def send(self, to: str, frame: object) -> bool:
        """Queue a frame for `to` without blocking; False if it was dropped."""
        ...

    def set_peers(self, peers: dict[str, tuple[str, int]]) -> None:
        """The members to dial, by name: (host, cluster port)."""
        ...

    def status(self) -> dict[str, PeerLink]:
        """The link to each peer."""
        ...


def _remote(stream: trio.abc.Stream) -> str:
    """host:port of the other end, for the log ("?" when the stream is not a socket's)."""
    sock = getattr(stream, "socket", None)
    try:
        host, port = sock.getpeername()[:2] if sock is not None else ("?", "?")
    except OSError:
        return "?"
    return f"{host}:{port}"


class _Peer:
    """Outbound state for one peer: its queue, its dialer and its counters."""

    def __init__(self, name: str, address: tuple[str, int]) -> None:
        self.name = name
        self.address = address
        self.queue: deque[bytes] = deque()  # CBOR payloads, without headers
        self.queued_bytes = 0
        self.wakeup = trio.Event()  # set when a frame is queued
        self.redial = trio.Event()  # set when the peer dials us: it is up, retry now
        self.scope: trio.CancelScope | None = None  # the dialer task's scope
        self.connected = False
        self.ever_connected = False
        self.frames_sent = 0
        self.frames_dropped = 0
        self.reconnects = 0
        self.last_error: str | None = None


class _Inbound:
    """What we know about frames from one sender."""

    def __init__(self) -> None:
        self.last_received: float | None = None
        self.frames = 0
        self.scope: trio.CancelScope | None = None  # the live connection from this sender


class FrameTooLarge(ValueError):
    """`send` of a frame over `max_frame`: the peer would refuse it."""


class PeerTransport:
    """Frames to and from the other members of one cluster."""

    def __init__(
        self,
        name: str,
        cluster_id: str,
        peers: dict[str, tuple[str, int]],
        on_frame: Callable[[str, object], None],
        *,
        queue_size: int = 4096,
        max_queued_bytes: int = 64 << 20,
        max_frame: int = 1 << 30,
        rng: random.Random | None = None,
        backoff_initial: float = 0.05,
        backoff_max: float = 2.0,
        connect_timeout: float = 5.0,
        on_link_change: Callable[[str, bool], None] | None = None,
        version: int = 2,
        secret: ClusterSecret | None = None,
        handshake_timeout: float = 5.0,
        max_unauthenticated: int = 16,
        tls_server: ssl.SSLContext | None = None,
        tls_client: ssl.SSLContext | None = None,
    ) -> None:
        """`on_frame(sender, frame)` runs in the event loop for each frame received, in
        arrival order; an exception from it ends `serve` (a bug there must stop the node).
        `on_link_change(peer, connected)` is told when an outbound link comes up or goes
        down (the cluster layer may report the peer unreachable to Raft). Without a
        `secret`, the handshake proves nothing: listen on loopback only. With
        `tls_server` and `tls_client` (`tls-cluster`), every link is mutual TLS, each end's
        certificate checked against the CA, before the handshake."""
        self._tls_server = tls_server
        self._tls_client = tls_client
        self.name = name
        self.cluster_id = cluster_id
        self.version = version  # of the peer protocol this node speaks
        self.identity = Identity(name, cluster_id, version, secret)
        self.handshake_timeout = handshake_timeout
        self.max_unauthenticated = max_unauthenticated
        self.queue_size = queue_size
        self.max_queued_bytes = max_queued_bytes
        self.max_frame = max_frame
        self.port: int | None = None  # the listening port while serving
        self._on_frame = on_frame
        self._on_link_change = on_link_change
        self._rng = rng if rng is not None else random.Random()
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._connect_timeout = connect_timeout
        self._peers: dict[str, _Peer] = {}
        self._inbound: dict[str, _Inbound] = {}
        self._nursery: trio.Nursery | None = None
        self._warned: dict[tuple[str, ...], float] = {}
        # Connections still in their handshake, oldest first: closed first when over the bound.
        self._unauthenticated: OrderedDict[object, trio.CancelScope] = OrderedDict()
        self.set_peers(peers)

    # -- public API ----------------------------------------------------------------------

    async def serve(
        self,
        host: str,
        port: int,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on (host, port), dial every peer, run until cancelled."""
        if self._nursery is not None:
            raise RuntimeError(f"transport {self.name!r} is already serving")
        listeners = await trio.open_tcp_listeners(port, host=host)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for peer in self._peers.values():
                    self._start_dialer(peer)
                nursery.start_soon(self._accept, listeners, nursery)
                self.port = listeners[0].socket.getsockname()[1]
                task_status.started(self.port)
        finally:
            self._nursery = None
            self.port = None
            for listener in listeners:
                listener.socket.close()

    def send(self, to: str, frame: object) -> bool:
        """Queue `frame` for peer `to` without blocking. False if it was dropped: unknown
        peer, or its queue is full. Raises `FrameTooLarge` for a frame over `max_frame` (the
        caller must chunk; the peer would refuse it) and `cbor2.CBOREncodeError` for a value
        CBOR cannot carry: both are bugs of the caller."""
        peer = self._peers.get(to)
        if peer is None:
            return False
        if len(peer.queue) >= self.queue_size:
            peer.frames_dropped += 1
            return False
        payload = cbor2.dumps(frame)
        size = len(payload)
        if size > self.max_frame:
            raise FrameTooLarge(f"frame of {size} bytes exceeds max_frame {self.max_frame}")
        # One frame always fits an empty queue, whatever its size: a big snapshot chunk
        # must not be starved by the byte bound.
        if peer.queue and peer.queued_bytes + size > self.max_queued_bytes:
            peer.frames_dropped += 1
            return False
        peer.queue.append(payload)
        peer.queued_bytes += size
        peer.wakeup.set()
        return True

    def set_peers(self, peers: dict[str, tuple[str, int]]) -> None:
        """Membership changed: dial new peers, stop dialing (and drop the queues of)
        removed ones, redial a peer whose address changed (its queue is kept)."""
        for name in list(self._peers):
            if name not in peers:
                removed = self._peers.pop(name)
                if removed.scope is not None:
                    removed.scope.cancel()
        for name, address in peers.items():
            if name == self.name:
                continue  # tolerate a full member list
            address = (address[0], int(address[1]))
            peer = self._peers.get(name)
            if peer is None:
                peer = self._peers[name] = _Peer(name, address)
                self._start_dialer(peer)
            elif peer.address != address:
                peer.address = address
                if peer.scope is not None:
                    peer.scope.cancel()
                self._start_dialer(peer)

    def status(self) -> dict[str, PeerLink]:
        links = {}
        for name, peer in self._peers.items():
            inbound = self._inbound.get(name)
            links[name] = PeerLink(
                address=peer.address,
                connected=peer.connected,
                last_received=inbound.last_received if inbound else None,
                frames_sent=peer.frames_sent,
                frames_dropped=peer.frames_dropped,
                reconnects=peer.reconnects,
                frames_received=inbound.frames if inbound else 0,
                queued=len(peer.queue),
                inbound=inbound is not None and inbound.scope is not None,
                last_error=peer.last_error,
            )
        return links

    # -- outbound ------------------------------------------------------------------------

    def _start_dialer(self, peer: _Peer) -> None:
        if self._nursery is None:
            return  # `serve` starts it
        peer.scope = trio.CancelScope()
        self._nursery.start_soon(self._dial, peer, peer.scope)

    async def _dial(self, peer: _Peer, scope: trio.CancelScope) -> None:
        """Keep one outbound connection to `peer` up, with exponential backoff and jitter."""
        with scope:
            backoff = self._backoff_initial
            while True:
                peer.redial = trio.Event()
                connected_at = await self._connect_once(peer)
                if connected_at is not None and (
                    trio.current_time() - connected_at >= self._backoff_max
                ):
                    backoff = self._backoff_initial  # a flapping link keeps backing off
                delay = backoff * (0.5 + 0.5 * self._rng.random())
                backoff = min(backoff * 2, self._backoff_max)
                with trio.move_on_after(delay):
                    await peer.redial.wait()

    async def _connect_once(self, peer: _Peer) -> float | None:
        """One connection's life: dial, handshake, pump frames until it breaks. Returns
        when the handshake was accepted, or None if it never was."""
        host, port = peer.address
        stream: trio.abc.Stream | None = None
        authenticated = False
        try:
            with trio.move_on_after(self._connect_timeout):
                # trio's SocketStream sets TCP_NODELAY: frames leave as soon as written.
                stream = await trio.open_tcp_stream(host, port)
                if self._tls_client is not None:
                    stream = trio.SSLStream(stream, self._tls_client, server_hostname=host)
                    await stream.do_handshake()
                await handshake.dial(stream, self.identity, peer.name)
                authenticated = True
            if stream is None or not authenticated:
                peer.last_error = "connect or handshake timed out"
                return None
            connected_at = trio.current_time()
            self._link_up(peer)
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._watch_close, peer, stream, nursery.cancel_scope)
                    await self._pump(peer, stream, nursery.cancel_scope)
            finally:
                self._link_down(peer)
            return connected_at
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as error:
            peer.last_error = str(error) or type(error).__name__
            log.debug("link to %s at %s:%d failed: %s", peer.name, host, port, peer.last_error)
            return None
        except HandshakeFailed as error:
            if error.by_peer:
                peer.last_error = f"refused: {error.reason}"
                message = "peer %s at %s:%d refused the link (this node: %r): %s"
            else:
                peer.last_error = error.reason
                message = "peer %s at %s:%d failed the handshake (this node: %r): %s"
            key = ("refused", peer.name, peer.last_error)
            self._warn(key, message, peer.name, host, port, self.name, error.reason)
            return None
        except FrameProtocolError as error:
            peer.last_error = str(error)
            key = ("protocol", peer.name, peer.last_error)
            self._warn(key, "link to %s at %s:%d: %s", peer.name, host, port, error)
            return None
        finally:
            if stream is not None:
                await trio.aclose_forcefully(stream)

    def _link_up(self, peer: _Peer) -> None:
        peer.connected = True
        peer.last_error = None
        if peer.ever_connected:
            peer.reconnects += 1
        peer.ever_connected = True
        log.info("link to %s at %s:%d is up", peer.name, *peer.address)
        if self._on_link_change is not None:
            self._on_link_change(peer.name, True)

    def _link_down(self, peer: _Peer) -> None:
        peer.connected = False
        log.info("link to %s is down: %s", peer.name, peer.last_error or "closed")
        if self._on_link_change is not None:  # every "up" is paired with one "down"
            self._on_link_change(peer.name, False)

    async def _pump(self, peer: _Peer, stream: trio.abc.Stream, link: trio.CancelScope) -> None:
        """Send whatever is queued, many frames per `send_all`, until the link breaks."""
        queue = peer.queue
        while True:
            while not queue:
                peer.wakeup = trio.Event()
                await peer.wakeup.wait()
            parts: list[bytes] = []
            size = 0
            while queue and (not parts or size + len(queue[0]) <= _BATCH_BYTES):
                payload = queue.popleft()
                parts.append(HEADER.pack(len(payload)))
                parts.append(payload)
                size += len(payload)
            count = len(parts) // 2
            peer.queued_bytes -= size
            try:
                await stream.send_all(b"".join(parts))
            except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
                peer.frames_dropped += count  # partly written at most: at-most-once
                peer.last_error = str(error.__cause__ or error) or "send failed"
                link.cancel()
                return
            except trio.Cancelled:
                peer.frames_dropped += count
                raise
            peer.frames_sent += count

    async def _watch_close(
        self, peer: _Peer, stream: trio.abc.Stream, link: trio.CancelScope
    ) -> None:
        """The acceptor never writes after its answer: any read result ends the link."""
        try:
            data = await stream.receive_some(RECEIVE_MIN)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
            peer.last_error = str(error.__cause__ or error) or "connection lost"
        else:
            peer.last_error = "unexpected data from the acceptor" if data else "closed by peer"
        link.cancel()

    # -- inbound -------------------------------------------------------------------------

    async def _accept(self, listeners: list[trio.SocketListener], nursery: trio.Nursery) -> None:
        await trio.serve_listeners(self.handle_inbound, listeners, handler_nursery=nursery)

    async def handle_inbound(self, stream: trio.abc.Stream) -> None:
        """Serve one connection a peer dialed (from our listener, or any stream: a TLS
        one, a test's): handshake, then its frames until it ends. The caller closes it."""
        remote = _remote(stream)
        reader = HandshakeReader()
        sender: str | None = None
        try:
            with self._unauthenticated_slot() as slot:
                with trio.move_on_after(self.handshake_timeout):
                    if self._tls_server is not None:
                        stream = trio.SSLStream(stream, self._tls_server, server_side=True)
                        await stream.do_handshake()
                    sender = await handshake.accept(stream, self.identity, reader)
            if sender is None:
                why = "closed: too many handshakes at once" if slot.cancel_called else "too slow"
                self._warn(
                    ("handshake", remote.rpartition(":")[0], why),
                    "peer connection from %s: no handshake (%s)",
                    remote,
                    why,
                )
                return
            self._inbound_from(sender)
            frames = reader.frames
            frames.max_frame = self.max_frame
            await self._receive_frames(sender, stream, frames)
        except HandshakeFailed as error:
            detail = f" ({error.detail})" if error.detail else ""
            self._warn(
                ("refusing", remote.rpartition(":")[0], error.cause),
                "refused peer link from %s (claims to be node %r; this node %r): %s%s",
                remote,
                error.claimed,
                self.name,
                error.reason,
                detail,
            )
        except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
            log.debug("peer connection from %s (%s) lost: %s", remote, sender, error)
        except FrameProtocolError as error:
            who = sender or "not authenticated"
            key = ("protocol", remote.rpartition(":")[0], who, str(error))
            self._warn(key, "peer connection from %s (%s): %s; closing it", remote, who, error)

    @contextmanager
    def _unauthenticated_slot(self) -> Iterator[trio.CancelScope]:
        """A place among the connections in their handshake: when they are all taken,
        the oldest is closed (a member's handshake takes a round trip; a stranger's may
        take the whole timeout)."""
        waiting = self._unauthenticated
        while len(waiting) >= self.max_unauthenticated:
            _, oldest = waiting.popitem(last=False)
            oldest.cancel()
        key = object()
        with trio.CancelScope() as scope:
            waiting[key] = scope
            try:
                yield scope
            finally:
                waiting.pop(key, None)

    def _inbound_from(self, sender: str) -> None:
        peer = self._peers.get(sender)
        if peer is not None:
            peer.redial.set()  # it is up: skip the rest of our backoff towards it

    async def _receive_frames(
        self, sender: str, stream: trio.abc.Stream, reader: FrameReader
    ) -> None:
        inbound = self._inbound.get(sender)
        if inbound is None:
            inbound = self._inbound[sender] = _Inbound()
        if inbound.scope is not None:
            # A new connection supersedes the old one (whose peer restarted or redialed):
            # frames still unread there are dropped, so a sender's frames never interleave.
            inbound.scope.cancel()
        on_frame = self._on_frame
        with trio.CancelScope() as scope:
            inbound.scope = scope
            try:
                while True:
                    data = await stream.receive_some(reader.receive_size())
                    if not data:
                        return
                    reader.feed(data)
                    while frames := reader.pop_frames():
                        inbound.last_received = trio.current_time()
                        inbound.frames += len(frames)
                        for frame in frames:
                            on_frame(sender, frame)
            finally:
                if inbound.scope is scope:
                    inbound.scope = None
                    if sender not in self._peers:
                        del self._inbound[sender]  # unknown names must not accumulate

    # -- logging -------------------------------------------------------------------------

    def _warn(self, key: tuple[str, ...], message: str, *args: object) -> None:
        """Warn once per `_WARN_INTERVAL` per key; a peer retrying every backoff would
        otherwise fill the log with the same line."""
        now = trio.current_time()
        last = self._warned.get(key)
        if last is None or now - last >= _WARN_INTERVAL:
            if len(self._warned) > 1000:
                self._warned.clear()
            self._warned[key] = now
            log.warning(message, *args)
        else:
            log.debug(message, *args)
