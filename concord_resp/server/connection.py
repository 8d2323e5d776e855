"""One task per client connection: read what is available, run it as a batch, reply in order.

The socket is used through trio's low-level readiness API (`wait_readable` / `wait_writable`
on a non-blocking socket) rather than a stream object: it keeps the per-request overhead to
the system calls, which are most of the cost of a small command in Python.

Replies go through the connection's `Outbox`, strictly in request order. Replies known at once
are sent when the batch ends (one send per batch). A write's reply is sent without waking
the connection's task: when the node applies an entry the outbox is queued in the server's
`FlushQueue`, and after the run of entries it applied the node flushes every queued outbox
once (one send per client per run, however many of its writes the run held). If the socket cannot take everything, a
drain task finishes the job, and the connection reads no further requests until it has.

Backpressure: a batch whose replies pass `OUTPUT_PAUSE_BYTES` sends them before it goes on,
and waits for the socket to take them (the client to read), so a client pipelining reads of
big values without reading the replies holds at most about that much, and yields to the
others meanwhile. Replies completed by the node (writes', and reads deferred behind a
client's writes, `dispatch.MAX_DEFERRED` at most) are sent as soon as they pass that many
bytes rather than after the run of applies. What the socket has not taken is the client's
output buffer, which `limits` bounds (client-output-buffer-limit, maxmemory-clients). A
client that goes away or is closed for its limits is dropped at once: what it sent and was
not run yet, and the replies it was owed, are let go, not worked through.

Shutdown lets in-flight work finish: a connection with nothing pending is closed at once; one
with replies owed is asked to stop, and stops when its outbox is empty.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final

import trio

from ..resp import RequestParser, encode_error
from .client import ClientState
from .dispatch import OUTPUT_PAUSE_BYTES, Dispatcher
from .limits import QUERY_TRACKED
from .pending import Pending, ReadReply
from .state import ServerState
from .tls import TlsSocket

log = logging.getLogger("concord.server")

RECV_SIZE: Final = 128 * 1024
MAX_OWED: Final = 1000  # replies owed before the connection stops reading (flow control)


async def send_all(sock: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            continue
        view = view[sent:]


class FlushQueue:
    """Outboxes that have replies completed by the node, flushed once per run of applies."""

    def __init__(self) -> None:
        self._queued: list[Outbox] = []

    def add(self, outbox: Outbox) -> None:
        if not outbox.queued:
            outbox.queued = True
            self._queued.append(outbox)

    def flush(self) -> None:
        queued, self._queued = self._queued, []
        for outbox in queued:
            outbox.queued = False
            try:
                outbox.flush()
            except Exception:
                # Runs in the node's apply loop: a bug in one client's replies must not stop
                # the node. That client is told and disconnected.
                log.exception("internal error sending replies to client id=%d", outbox.client.id)
                outbox.fail()


class Outbox:
    """The replies owed to one client, in request order; sends whatever is ready."""

    __slots__ = (
        "_backlog",
        "_drained",
        "_flush_queue",
        "_last",
        "_nursery",
        "_send_raw",
        "_sock",
        "_tls",
        "_unsent_plain",
        "buffered",
        "client",
        "closed",
        "items",
        "queued",
        "ready",
        "soft_since",
        "state",
    )

    def __init__(
        self,
        sock: socket.socket,
        client: ClientState,
        state: ServerState,
        nursery: trio.Nursery,
        flush_queue: FlushQueue,
        tls: TlsSocket | None = None,
    ) -> None:
        self._sock = sock
        self._tls = tls
        self._send_raw = sock.send if tls is None else tls.send
        self._flush_queue = flush_queue
        self.queued = False  # in the flush queue
        self.client = client
        self.state = state
        self._nursery = nursery
        self.items: deque[bytes | Pending] = deque()
        self._last: Pending | None = None
        # What the socket did not take yet, as views (a big reply is never copied again).
        self._backlog: deque[memoryview] = deque()
        self._unsent_plain = 0  # bytes in the backlog
        self.buffered = 0  # and the TLS ciphertext not sent: the client's output buffer
        self.ready = 0  # bytes of replies the node completed since the last flush
        self.soft_since: float | None = None  # over its soft limit since (`limits`)
        self._drained: trio.Event | None = None  # set when a drain task has emptied the backlog
        self.closed = False

    # -- the ReplySink protocol (used by the dispatcher) ------------------------------------

    def push(self, reply: bytes) -> None:
        self.items.append(reply)

    def push_pending(self, pending: Pending) -> None:
        self.items.append(pending)
        self._last = pending
        pending.on_ready = self._applied

    def push_silent(self, pending: Pending) -> None:
        self._last = pending  # (never sent: CLIENT REPLY OFF or SKIP)

    def push_message(self, data: bytes) -> None:
        """A message pushed to the client (pub/sub): it goes ahead of the replies not known
        yet, as Redis writes a message into the output buffer at once, so a subscriber
        waiting on a write (or blocked) still gets its messages. Sent with the next flush."""
        if self.closed:
            return
        items = self.items
        last = self._last
        if last is None or last.done:
            items.append(data)
        else:
            for position, item in enumerate(items):
                if type(item) is not bytes and not item.done:  # type: ignore[union-attr]
                    items.insert(position, data)
                    break
            else:
                items.append(data)
        self._flush_queue.add(self)

    def _applied(self, size: int) -> None:
        self.ready += size
        if self.ready < OUTPUT_PAUSE_BYTES or self.closed:
            self._flush_queue.add(self)
            return
        # Big replies (reads deferred behind writes, a script's) are sent, or held and their
        # limits checked, at once: a run of applies does not pile them up.
        try:
            self.flush()
        except Exception:
            log.exception("internal error sending replies to client id=%d", self.client.id)
            self.fail()

    def unfinished(self) -> Pending | None:
        last = self._last
        return last if last is not None and not last.done else None

    # -- sending -----------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """Nothing owed to the client and nothing left to send."""
        return not self.items and not self._backlog and not (self._tls and self._tls.unsent)

    def flush(self) -> None:
        """Send every reply that is ready, up to the first one that is not. Never blocks."""
        items = self.items
        self.ready = 0
        ready: list[bytes] = []
        while items:
            head = items[0]
            if type(head) is bytes:
                ready.append(head)
            elif head.done:  # type: ignore[union-attr]
                ready.append(head.encoded)  # type: ignore[union-attr]
            else:
                break
            items.popleft()
        if ready and not self.closed:
            self._send(ready[0] if len(ready) == 1 else b"".join(ready))
        client = self.client
        if client.stop_requested and not client.busy and self.idle and client.cancel is not None:
            client.cancel()  # shutting down and nothing more is owed: close now

    def fail(self) -> None:
        """Give up on this client after an internal error: tell it, then close it."""
        if not self.closed:
            self.items.clear()
            self._send(b"-ERR internal error\r\n")
            self.closed = True
        if self.client.cancel is not None:
            self.client.cancel()

    def close_now(self) -> None:
        """Close the client at once (over its output buffer limit, or evicted for
        maxmemory-clients), as CLIENT KILL does: what it is owed is dropped."""
        client = self.client
        self.drop()
        client.closing = client.killed = True
        self.state.clients.remove(client)
        if client.cancel is not None:
            client.cancel()

    def drop(self) -> None:
        """The client is gone or being closed: let go of every reply owed to it, and of
        the reads deferred for it (they will not run). Its task stops at its next turn."""
        self.closed = True
        self.client.closing = True
        for item in self.items:
            if type(item) is ReadReply:
                item.cancelled = True
        self.items.clear()
        self._backlog.clear()
        self._unsent_plain = self.buffered = self.client.omem = self.client.oll = 0
        self.state.buffers.release(self)
        if self._drained is not None:
            self._drained.set()  # a batch waiting for the socket to drain goes on, and stops

    def _measure(self, grew: bool) -> None:
        """The output buffer, on the slow path only: what the socket has not taken (the
        backlog, and with TLS the ciphertext waiting). The limits see it when it grew, and
        forget a client that holds nothing."""
        tls = self._tls
        tls_unsent = tls.unsent if tls is not None else 0
        self.buffered = held = self._unsent_plain + tls_unsent
        client = self.client
        client.omem = held
        client.oll = len(self._backlog) + (tls_unsent > 0)
        buffers = self.state.buffers
        if grew:
            buffers.track(self)
            buffers.check(self.state, self, trio.current_time())
        elif not held:
            self.soft_since = None
            if client.query_buffer < QUERY_TRACKED:
                buffers.release(self)

    def _send(self, data: bytes) -> None:
        metrics = self.state.metrics
        metrics.net_output_bytes += len(data)
        metrics.writes_processed += 1
        if self._backlog:
            self._backlog.append(memoryview(data))
            self._unsent_plain += len(data)
            self._measure(grew=True)
            return
        try:
            sent = self._send_raw(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.drop()  # the client went away; its task will notice
            return
        if sent < len(data):
            self._backlog.append(memoryview(data)[sent:])
            self._unsent_plain += len(data) - sent
            self._start_drain()
            self._measure(grew=True)
        elif self._tls is not None and self._tls.unsent:
            self._start_drain()  # (TLS took it all; the socket not all of its ciphertext)
            self._measure(grew=True)

    def _start_drain(self) -> None:
        drained = self._drained
        if drained is None or drained.is_set():
            self._drained = trio.Event()
            self._nursery.start_soon(self._drain)

    async def _drain(self) -> None:
        tls = self._tls
        try:
            backlog = self._backlog
            while (backlog or (tls is not None and tls.unsent)) and not self.closed:
                try:
                    await trio.lowlevel.wait_writable(self._sock)
                    if tls is not None and tls.unsent:
                        tls.flush()
                        self._measure(grew=False)
                        continue
                    if not backlog:
                        break  # (dropped meanwhile)
                    sent = self._send_raw(backlog[0])
                except BlockingIOError:
                    continue
                except (OSError, trio.ClosedResourceError):
                    self.drop()
                    break
                if sent == len(backlog[0]):
                    backlog.popleft()
                else:
                    backlog[0] = backlog[0][sent:]
                self._unsent_plain -= sent
                self._measure(grew=False)
        finally:
            if self.closed:
                self.drop()
            if self._drained is not None:
                self._drained.set()

    async def settle(self) -> None:
        """Wait until every owed reply is applied and sent (before closing or reading on);
        nothing to wait for once the client is gone."""
        if self._last is not None and not self._last.done and not self.closed:
            await self._last.wait()
        self.flush()
        if self._drained is not None:
            await self._drained.wait()

    async def make_room(self) -> None:
        """Backpressure inside a batch (see the module docstring): send what is ready, wait
        until the socket has taken it, and let the other tasks run meanwhile."""
        self.flush()
        drained = self._drained
        if drained is not None and not drained.is_set():
            await drained.wait()
        else:
            await trio.lowlevel.checkpoint()

    async def wait_sent(self) -> None:
        """Flow control before reading more: a client with many replies owed (a long
        pipeline of writes) waits for them, and one whose socket is full waits for it to
        drain. A client with a few writes in flight goes on at once."""
        if len(self.items) > MAX_OWED:
            await self.settle()
        elif self._drained is not None and not self._drained.is_set():
            await self._drained.wait()


async def serve_connection(
    state: ServerState,
    dispatcher: Dispatcher,
    sock: socket.socket,
    client: ClientState,
    nursery: trio.Nursery,
    flush_queue: FlushQueue,
    tls: TlsSocket | None = None,
) -> None:
    settings = state.settings
    parser = RequestParser(
        max_bulk_len=settings.proto_max_bulk_len,
        max_query_buffer=settings.client_query_buffer_limit,
    )
    outbox = Outbox(sock, client, state, nursery, flush_queue, tls)
    client.replies_owed = lambda: not outbox.idle
    client.send_push = outbox.push_message
    wait_readable = trio.lowlevel.wait_readable
    recv = sock.recv if tls is None else tls.recv
    dispatch = dispatcher.dispatch
    stashed: list[bytes] = []  # read while the client was blocked, not parsed yet

    async def wait_watching(done: Callable[[], Awaitable[None]]) -> None:
        """Wait for `done` (a blocking command's reply, the end of a CLIENT PAUSE) while
        reading the socket, as Redis keeps reading a blocked client: what it sends is kept
        for afterwards (up to the query buffer limit), and a client that closes its side
        ends its wait at once."""
        outbox.flush()  # the replies before it are not held up
        async with trio.open_nursery() as watching:

            async def reply_known() -> None:
                await done()
                watching.cancel_scope.cancel()

            watching.start_soon(reply_known)
            kept = 0
            while kept <= settings.client_query_buffer_limit:
                if tls is None or not tls.buffered:
                    await wait_readable(sock)
                try:
                    data = recv(RECV_SIZE)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    outbox.drop()  # gone: nothing more can reach it
                    watching.cancel_scope.cancel()
                    return
                stashed.append(data)
                kept += len(data)

    client.wait_watching = wait_watching
    try:
        while True:
            if stashed:
                data = b"".join(stashed)
                stashed.clear()
            else:
                if tls is None or not tls.buffered:
                    await wait_readable(sock)
                try:
                    data = recv(RECV_SIZE)
                except BlockingIOError:
                    continue
                except OSError:
                    return
            if not data or client.stop_requested:
                # The client closed its side (or we are shutting down): replies still owed
                # for writes it sent are delivered first, as Redis does after a half-close.
                if not client.killed and not outbox.closed:
                    await outbox.settle()
                return
            if outbox.closed:
                return  # gone, or closed for its limits: what it sent is not run
            client.busy = True
            state.metrics.net_input_bytes += len(data)
            state.metrics.reads_processed += 1
            client.last_active = time.monotonic()
            parser.max_bulk_len = settings.proto_max_bulk_len
            parser.max_query_buffer = settings.client_query_buffer_limit
            commands = parser.feed(data)
            client.query_buffer = parser.buffered
            if client.query_buffer >= QUERY_TRACKED:  # a big argument on its way
                state.buffers.track(outbox)
                state.buffers.evict(state)
                if outbox.closed:
                    return
            if commands:
                await dispatch(client, commands, outbox)
                if outbox.closed:
                    return
            if parser.broken and not client.closing:
                # (A QUIT earlier in the batch ends the connection before the bad request.)
                client.closing = True
                if parser.error is not None:
                    state.metrics.errors.record(parser.error)
                    outbox.push(encode_error(parser.error))
                log.info(
                    "closing client id=%d addr=%s: %s", client.id, client.addr, parser.close_reason
                )
            client.busy = False
            if client.closing or client.stop_requested:
                await outbox.settle()
                return
            outbox.flush()
            await outbox.wait_sent()
    except Exception:
        # A bug met while serving this client must not end the server: the client is told
        # and disconnected (its replies may be out of step); the others go on.
        log.exception("internal error serving client id=%d addr=%s", client.id, client.addr)
        outbox.fail()
    finally:
        outbox.drop()
        state.pubsub.forget(client)
        if client.tracking is not None:
            state.tracking.disable(client)
        if client.monitor:
            state.monitors.remove(client)
        trio.lowlevel.notify_closing(sock)
        sock.close()
