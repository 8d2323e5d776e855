"""The metrics endpoint in-process: answers, refusals, and a scraper that cannot hurt it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio.testing

from concord_resp.server.app import open_listener
from concord_resp.server.metrics_http import (
    MAX_CONNECTIONS,
    MAX_REQUEST,
    REQUEST_TIMEOUT,
    parse_request,
    serve_metrics,
)

BODY = "# HELP x an x\n# TYPE x gauge\nx 1\n"


def test_parse_request() -> None:
    assert parse_request(b"GET /metrics HTTP/1.1\r\nHost: a") == (200, False)
    assert parse_request(b"GET /metrics?x=1 HTTP/1.0") == (200, False)
    assert parse_request(b"HEAD /metrics HTTP/1.1") == (200, True)
    assert parse_request(b"GET / HTTP/1.1") == (404, False)
    assert parse_request(b"GET /metricsx HTTP/1.1") == (404, False)
    assert parse_request(b"POST /metrics HTTP/1.1") == (405, False)
    assert parse_request(b"GET /metrics") == (400, False)
    assert parse_request(b"\x00\xff garbage") == (400, False)


@asynccontextmanager
async def endpoint(render: object = None) -> AsyncIterator[int]:
    listener = open_listener("127.0.0.1", 0)
    port = listener.getsockname()[1]
    renders = render if callable(render) else (lambda: BODY)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_metrics, listener, renders)
        yield port
        nursery.cancel_scope.cancel()
    listener.close()


async def exchange(port: int, request: bytes) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        return await read_all(stream)


async def read_all(stream: trio.SocketStream, within: float = 5.0) -> bytes:
    data = b""
    with trio.fail_after(within):
        while chunk := await stream.receive_some(65536):
            data += chunk
    return data


async def test_get_metrics() -> None:
    async with endpoint() as port:
        reply = await exchange(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Type: text/plain; version=0.0.4; charset=utf-8" in head
    assert f"Content-Length: {len(BODY)}".encode() in head
    assert b"Connection: close" in head
    assert body == BODY.encode()


async def test_head_has_no_body() -> None:
    async with endpoint() as port:
        reply = await exchange(port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    assert reply.endswith(b"\r\n\r\n")


async def test_refusals() -> None:
    async with endpoint() as port:
        assert (await exchange(port, b"GET / HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 404")
        reply = await exchange(port, b"DELETE /metrics HTTP/1.1\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 405")
        assert b"Allow: GET, HEAD" in reply
        assert (await exchange(port, b"hello\r\n\r\n")).startswith(b"HTTP/1.1 400")
        # (Just past the limit: the server reads all of it, so the answer is not lost to a
        # reset for unread data.)
        start = b"GET /metrics HTTP/1.1\r\nX: "
        huge = start + b"a" * (MAX_REQUEST + 8 - len(start))
        assert (await exchange(port, huge)).startswith(b"HTTP/1.1 431")
        # Still serving after all that.
        assert (await exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 200")


async def test_a_failing_render_answers_500_and_serving_goes_on() -> None:
    calls = []

    def render() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return BODY

    async with endpoint(render) as port:
        assert (await exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 500")
        assert (await exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 200")


async def test_too_many_connections_are_closed_at_once() -> None:
    async with endpoint() as port:
        idle = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(MAX_CONNECTIONS)]
        await trio.sleep(0.05)  # (let the server take them: the limit counts accepted ones)
        extra = await trio.open_tcp_stream("127.0.0.1", port)
        assert await read_all(extra) == b""  # closed without an answer
        await extra.aclose()
        for stream in idle:
            await stream.aclose()
        reply = b""
        for _ in range(50):  # (the idle ones' slots come free as the server sees them close)
            reply = await exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n")
            if reply:
                break
            await trio.sleep(0.01)
        assert reply.startswith(b"HTTP/1.1 200")


def test_a_silent_scraper_is_dropped_after_the_request_timeout() -> None:
    async def main() -> float:
        async with endpoint() as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            started = trio.current_time()
            await stream.send_all(b"GET /metrics HTTP/1.1\r\n")  # and never the end
            assert await read_all(stream, 3 * REQUEST_TIMEOUT) == b""
            await stream.aclose()
            return trio.current_time() - started

    elapsed = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert REQUEST_TIMEOUT <= elapsed < REQUEST_TIMEOUT + 1
