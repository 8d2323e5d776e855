"""A fault-injecting TCP proxy for the Raft peer links of a local cluster (fault tests only).

One listener per node on the cluster port the others dial (the `@C` of --initial-cluster),
forwarding to the node's real cluster port. The transport dials once per directed link and
its first frame names the dialer (`{"cluster", "from", "to"}`), so the proxy learns each
connection's link `src -> dst` from that frame and can cut exactly one direction.

Rules: `block(src, dst)`, `isolate(name)`, `partition(side_a, side_b)`, `heal()`. A rule
change returns only once every connection it cuts is closed (both sockets), so a test knows
no byte crosses a blocked link after the call; a blocked link's new connections are accepted
and closed at once (the transport redials with backoff). Memory is bounded: one chunk per
direction per connection. Everything runs in one `trio.run` on a daemon thread; `close()`
cancels it and joins the thread, closing every listener and socket.
"""

from __future__ import annotations

import ssl
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Final, TypeVar

import trio

from concord_resp.raft.driver.transport import FrameProtocolError, FrameReader

HOST: Final = "127.0.0.1"
CHUNK: Final = 64 * 1024  # bytes read per receive: the only buffering per direction
HANDSHAKE_MAX: Final = 64 * 1024
HANDSHAKE_TIMEOUT: Final = 5.0
START_TIMEOUT: Final = 10.0
CLOSE_TIMEOUT: Final = 10.0

Link = tuple[str, str]  # (src, dst): frames flowing from the dialer src to the node dst
T = TypeVar("T")


@dataclass(eq=False)  # identity: kept in a set
class _Connection:
    """One proxied connection: cancelling `scope` closes both of its sockets."""

    link: Link
    scope: trio.CancelScope
    done: trio.Event = field(default_factory=trio.Event)


class FaultProxy:
    """Directed-link fault injection between cluster members.

    `routes` maps a node name to (listen port, target port): the proxy listens on the port
    the other members dial for that node and forwards to where the node really listens.
    """

    def __init__(
        self,
        routes: Mapping[str, tuple[int, int]],
        tls: tuple[ssl.SSLContext, ssl.SSLContext] | None = None,
    ) -> None:
        self.routes = dict(routes)
        # TLS peer links: the proxy ends each TLS connection (as a member would, with the
        # test CA's certificate) to read the hello frame, and dials the node with TLS again.
        self.tls = tls
        self._blocked: set[Link] = set()
        self._connections: set[_Connection] = set()
        self._accepted: Counter[Link] = Counter()
        self._refused: Counter[Link] = Counter()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._nursery: trio.Nursery | None = None

    # -- lifecycle (test thread) ------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Bind every listener, then return (raises if one cannot be bound)."""
        if self._thread is not None:
            raise RuntimeError("proxy already started")
        self._thread = threading.Thread(target=self._thread_main, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise TimeoutError("fault proxy did not start")
        if self._error is not None:
            self._thread.join(CLOSE_TIMEOUT)
            raise RuntimeError(f"fault proxy failed to start: {self._error!r}") from self._error
        return self

    def close(self) -> None:
        """Stop the thread; every listener and connection is closed when this returns."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        stop = self._stop
        if stop is not None:
            try:
                self._call(stop.set)
            except trio.RunFinishedError:
                pass
        thread.join(CLOSE_TIMEOUT)
        if thread.is_alive():
            raise RuntimeError("fault proxy thread did not stop")

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- rules (test thread) ------------------------------------------------------------------

    def block(self, src: str, dst: str) -> None:
        """Cut the direction src -> dst (only frames from src to dst)."""
        self._set_rules(self._blocked | {(src, dst)})

    def isolate(self, name: str) -> None:
        """Cut every link to and from `name`."""
        others = [other for other in self.routes if other != name]
        self.partition([name], others)

    def partition(self, side_a: Iterable[str], side_b: Iterable[str]) -> None:
        """Cut both directions between every member of side_a and every member of side_b."""
        a, b = list(side_a), list(side_b)
        links = {(x, y) for x in a for y in b} | {(y, x) for x in a for y in b}
        self._set_rules(self._blocked | links)

    def heal(self) -> None:
        """Lift every rule."""
        self._set_rules(set())

    def add_route(self, name: str, listen_port: int, target_port: int) -> None:
        """A member that joined: listen on `listen_port` for it (its advertised cluster port)
        and forward to `target_port`; rules on other links are unchanged."""
        self.routes[name] = (listen_port, target_port)
        self._call_async(partial(self._listen, name, listen_port, target_port))

    def blocked(self) -> frozenset[Link]:
        return frozenset(self._call(lambda: set(self._blocked)))

    def stats(self) -> tuple[Counter[Link], Counter[Link]]:
        """(connections forwarded, connections refused) per link, since start."""
        return self._call(lambda: (Counter(self._accepted), Counter(self._refused)))

    def live_links(self) -> Counter[Link]:
        """Open proxied connections per link."""
        return self._call(lambda: Counter(c.link for c in self._connections))

    # -- inside the trio thread -------------------------------------------------------------

    def _call(self, function: Callable[[], T]) -> T:
        if self._token is None:
            raise RuntimeError("proxy is not running")
        return trio.from_thread.run_sync(function, trio_token=self._token)

    def _call_async(self, function: Callable[[], Awaitable[T]]) -> T:
        if self._token is None:
            raise RuntimeError("proxy is not running")
        return trio.from_thread.run(function, trio_token=self._token)

    def _set_rules(self, blocked: set[Link]) -> None:
        self._call_async(partial(self._apply_rules, blocked))

    async def _apply_rules(self, blocked: set[Link]) -> None:
        self._blocked = set(blocked)
        cut = [c for c in self._connections if c.link in self._blocked]
        for connection in cut:
            connection.scope.cancel()
        with trio.fail_after(CLOSE_TIMEOUT):
            for connection in cut:
                await connection.done.wait()

    def _thread_main(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as error:  # reported to start(); the thread must not die silently
            self._error = error
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for name, (listen_port, target_port) in self.routes.items():
                await self._listen(name, listen_port, target_port)
            self._ready.set()
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    async def _listen(self, name: str, listen_port: int, target_port: int) -> None:
        nursery = self._nursery
        assert nursery is not None
        listeners = await trio.open_tcp_listeners(listen_port, host=HOST)
        handler = partial(self._handle, name, target_port)
        nursery.start_soon(
            partial(trio.serve_listeners, handler, listeners, handler_nursery=nursery)
        )

    async def _handle(self, dst: str, target_port: int, accepted: trio.SocketStream) -> None:
        head: tuple[str, bytes] | None = None
        stream: trio.abc.Stream = accepted
        try:
            with trio.move_on_after(HANDSHAKE_TIMEOUT):
                if self.tls is not None:
                    stream = trio.SSLStream(accepted, self.tls[0], server_side=True)
                    await stream.do_handshake()
                head = await _read_hello(stream)
            if head is None:
                return
            src, raw = head
            link = (src, dst)
            if link in self._blocked:
                self._refused[link] += 1
                return
            self._accepted[link] += 1
            connection = _Connection(link, trio.CancelScope())
            self._connections.add(connection)
            try:
                with connection.scope:
                    upstream: trio.abc.Stream = await trio.open_tcp_stream(HOST, target_port)
                    if self.tls is not None:
                        upstream = trio.SSLStream(upstream, self.tls[1], server_hostname=HOST)
                        await upstream.do_handshake()
                    try:
                        await upstream.send_all(raw)
                        async with trio.open_nursery() as pipes:
                            pipes.start_soon(_pipe, stream, upstream, pipes.cancel_scope)
                            pipes.start_soon(_pipe, upstream, stream, pipes.cancel_scope)
                    finally:
                        await trio.aclose_forcefully(upstream)
            finally:
                self._connections.discard(connection)
                connection.done.set()
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # either end went away (a killed node): the dialer reconnects
        finally:
            await trio.aclose_forcefully(stream)


async def _read_hello(stream: trio.abc.Stream) -> tuple[str, bytes] | None:
    """The dialer's name and every byte read so far (the hello frame and anything after it),
    or None if the first frame is not a transport hello."""
    reader = FrameReader(HANDSHAKE_MAX)
    raw = bytearray()
    while True:
        try:
            frames = reader.pop_frames(limit=1)
        except FrameProtocolError:
            return None
        if frames:
            hello = frames[0]
            sender = hello.get("from") if isinstance(hello, dict) else None
            return (sender, bytes(raw)) if isinstance(sender, str) else None
        data = await stream.receive_some(reader.receive_size())
        if not data:
            return None
        raw += data
        reader.feed(data)


async def _pipe(source: trio.abc.Stream, sink: trio.abc.Stream, both: trio.CancelScope) -> None:
    """Copy until either side ends, then end the whole connection (no half-open links)."""
    try:
        while True:
            data = await source.receive_some(CHUNK)
            if not data:
                break
            await sink.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        both.cancel()
