"""One task per client connection: read what is available, run it as a batch, reply once.

The socket is used through trio's low-level readiness API (`wait_readable` / `wait_writable`
on a non-blocking socket) rather than a stream object: it keeps the per-request overhead to
one scheduler round trip, which is most of the cost of a small command in Python.

A batch, once started, finishes even if the server is shutting down (the dispatch runs in a
shielded scope): in-flight commands complete and get their replies. Waiting for the next
request is not shielded, so shutdown and CLIENT KILL stop an idle connection at once.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Final

import trio

from ..resp import RequestParser, encode_error
from .client import ClientState
from .dispatch import Dispatcher
from .state import ServerState

log = logging.getLogger("concord.server")

RECV_SIZE: Final = 128 * 1024


async def send_all(sock: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            continue
        view = view[sent:]


async def serve_connection(
    state: ServerState, dispatcher: Dispatcher, sock: socket.socket, client: ClientState
) -> None:
    settings = state.settings
    parser = RequestParser(
        max_bulk_len=settings.proto_max_bulk_len,
        max_query_buffer=settings.client_query_buffer_limit,
    )
    wait_readable = trio.lowlevel.wait_readable
    recv = sock.recv
    run_batch = dispatcher.run_batch
    try:
        while True:
            await wait_readable(sock)
            try:
                data = recv(RECV_SIZE)
            except BlockingIOError:
                continue
            except OSError:
                return
            if not data:
                return
            state.net_input_bytes += len(data)
            client.last_active = time.monotonic()
            parser.max_bulk_len = settings.proto_max_bulk_len
            parser.max_query_buffer = settings.client_query_buffer_limit
            commands = parser.feed(data)
            client.query_buffer = parser.buffered
            out = b""
            if commands:
                with trio.CancelScope(shield=True):
                    replies = await run_batch(client, commands)
                out = replies[0] if len(replies) == 1 else b"".join(replies)
            if parser.broken:
                client.closing = True
                if parser.error is not None:
                    out += encode_error(parser.error)
                log.info(
                    "closing client id=%d addr=%s: %s", client.id, client.addr, parser.close_reason
                )
            if out:
                try:
                    await send_all(sock, out)
                except OSError:
                    return
                state.net_output_bytes += len(out)
            if client.closing:
                return
    finally:
        sock.close()
