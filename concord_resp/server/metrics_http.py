"""The metrics endpoint (`--metrics-port`): `GET /metrics` over HTTP/1.x, for Prometheus.

A deliberately small HTTP server: one request per connection (`Connection: close`), `GET`
or `HEAD` of `/metrics` (a query string is ignored) answers the exposition
(`server/exposition.py`), any other path 404, any other method 405, anything unreadable 400.
A scraper cannot hurt the node: a request's head is read up to `MAX_REQUEST` bytes (431
beyond) within `REQUEST_TIMEOUT` seconds (then the connection is dropped), the body of a
request is never read, and at most `MAX_CONNECTIONS` are served at once (others are closed
at once). Rendering runs in the event loop, once per scrape, reading counters only.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Final

import trio

from ..metrics.prometheus import CONTENT_TYPE

log = logging.getLogger("concord.metrics")

MAX_REQUEST: Final = 8192  # bytes of request line and headers
REQUEST_TIMEOUT: Final = 5.0  # seconds to send the request and take the answer
MAX_CONNECTIONS: Final = 16
PATH: Final = "/metrics"

_REASONS: Final = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}


def parse_request(head: bytes) -> tuple[int, bool]:
    """The status to answer a request's head with, and whether it was a HEAD request."""
    line, _, _ = head.partition(b"\r\n")
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return 400, False
    method, target = parts[0], parts[1].split(b"?", 1)[0]
    if method not in (b"GET", b"HEAD"):
        return 405, False
    return (200 if target == PATH.encode() else 404), method == b"HEAD"


def response(status: int, body: bytes, head_only: bool = False) -> bytes:
    """An HTTP/1.1 response that closes the connection."""
    content_type = CONTENT_TYPE if status == 200 else "text/plain; charset=utf-8"
    headers = [
        f"HTTP/1.1 {status} {_REASONS[status]}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if status == 405:
        headers.append("Allow: GET, HEAD")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + (b"" if head_only else body)


async def _read_head(stream: trio.abc.Stream) -> bytes | None:
    """The request line and headers; None if the connection ended first, or b"" if they
    run past `MAX_REQUEST`."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_REQUEST:
            return b""
        chunk = await stream.receive_some(MAX_REQUEST)
        if not chunk:
            return None
        data += chunk
    head = data[: data.index(b"\r\n\r\n")]
    return head if len(head) <= MAX_REQUEST else b""


async def _answer(stream: trio.abc.Stream, render: Callable[[], str]) -> None:
    head = await _read_head(stream)
    if head is None:
        return
    if not head:
        await stream.send_all(response(431, b"request too large\n"))
        return
    status, head_only = parse_request(head)
    body = f"{_REASONS[status].lower()}\n".encode()
    if status == 200:
        try:
            body = render().encode()
        except Exception:  # a bug in a metric must not end the node: logged, answered 500
            log.exception("rendering /metrics failed")
            status, body = 500, b"internal error\n"
    await stream.send_all(response(status, body, head_only))


async def serve_metrics(
    listener: socket.socket,
    render: Callable[[], str],
) -> None:
    """Serve `/metrics` on `listener` (a bound, listening socket) until cancelled."""
    limiter = trio.CapacityLimiter(MAX_CONNECTIONS)

    async def handle(stream: trio.SocketStream) -> None:
        try:
            limiter.acquire_nowait()
        except trio.WouldBlock:
            await stream.aclose()  # too many at once: this one is not served
            return
        try:
            with trio.move_on_after(REQUEST_TIMEOUT):
                await _answer(stream, render)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the scraper went away: nothing to answer
        finally:
            limiter.release()
            await trio.aclose_forcefully(stream)

    trio_listener = trio.SocketListener(trio.socket.from_stdlib_socket(listener))
    await trio.serve_listeners(handle, [trio_listener])
