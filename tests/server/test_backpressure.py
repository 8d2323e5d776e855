"""Backpressure on a client that pipelines reads of a big value and never reads the replies:
the connection stops running its requests while its socket is full, holds about one pause's
worth of replies, and once the client is gone drops what it sent without running it.

A real connection task (`serve_connection`) over a socket pair, on the in-process node.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import trio

from concord_resp.server.client import ClientState
from concord_resp.server.connection import FlushQueue, serve_connection
from concord_resp.server.dispatch import MAX_DEFERRED, OUTPUT_PAUSE_BYTES
from tests.cluster.test_deferred_reads import expected, pairs
from tests.server.conftest import InProcess

MB = 1024 * 1024
GET_BIG = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n"
SET_SMALL = b"*3\r\n$3\r\nSET\r\n$1\r\ns\r\n$1\r\nv\r\n"


@asynccontextmanager
async def connected(node: InProcess) -> AsyncIterator[tuple[socket.socket, ClientState]]:
    """A connection task serving one end of a socket pair; yields the other end, which the
    test writes requests to (and never reads from)."""
    ours, theirs = socket.socketpair()
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
    ours.setblocking(False)
    client = node.client()
    async with trio.open_nursery() as nursery:
        done = trio.Event()

        async def serve() -> None:
            with trio.CancelScope() as scope:
                client.cancel = scope.cancel
                await serve_connection(
                    node.state, node.dispatcher, ours, client, nursery, FlushQueue()
                )
            done.set()

        nursery.start_soon(serve)
        try:
            yield theirs, client
        finally:
            theirs.close()
            with trio.fail_after(10):
                await done.wait()  # the connection ends at once when its client goes


async def settled(count: Callable[[], int], quiet: float = 0.3, limit: float = 10.0) -> int:
    """Wait until `count()` stops changing for `quiet` seconds (at most `limit`)."""
    last = count()
    with trio.move_on_after(limit):
        while True:
            await trio.sleep(quiet)
            now = count()
            if now == last:
                break
            last = now
    return last


def get_calls(node: InProcess) -> int:
    stats = node.state.metrics.commands.get("get")
    return stats.calls if stats is not None else 0


async def test_a_client_that_does_not_read_is_not_served_further(node: InProcess) -> None:
    await node.one(node.client(), f"SET big {'x' * MB}")
    async with connected(node) as (theirs, client):
        theirs.sendall(GET_BIG * 1000)
        served = await settled(lambda: get_calls(node))
        # It waits for its socket: a few replies' worth is held, not a thousand.
        assert 0 < served < 10
        assert 0 < client.omem <= OUTPUT_PAUSE_BYTES + 2 * MB
        assert node.state.buffers.holders  # its output buffer is what the limits see
        assert not client.closing  # no limit is set: it waits, it is not closed
    # Gone: the connection ended, and what it had sent was dropped, not run.
    await trio.sleep(0.2)
    assert get_calls(node) == served
    assert not node.state.buffers.holders


async def test_reads_behind_a_write_are_bounded_by_the_output_limit(
    node: InProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """Reads deferred behind the client's own write run later, in the node's apply loop,
    where nothing can wait for the socket: their replies are sent as they come, and the
    hard limit closes the client then; the reads still owed are not run."""
    await node.one(node.client(), f"SET big {'x' * MB}")
    limit = "CONFIG SET client-output-buffer-limit 'normal 4mb 0 0'"
    assert await node.one(node.client(), limit) == b"+OK\r\n"
    with caplog.at_level(logging.WARNING, logger="concord.server"):
        async with connected(node) as (theirs, client):
            theirs.sendall(SET_SMALL + GET_BIG * 500)
            served = await settled(lambda: get_calls(node))
            assert client.killed
            assert client.omem == 0
            assert 0 < served < 10
    assert "for overcoming of output buffer limits" in caplog.text
    assert not node.state.buffers.holders


async def test_a_reading_client_gets_every_reply(node: InProcess) -> None:
    value = b"y" * (MB // 2)
    await node.one(node.client(), f"SET big {value.decode()}")
    count = 40
    async with connected(node) as (theirs, _client):
        theirs.sendall(GET_BIG * count)
        expected = (b"$%d\r\n" % len(value) + value + b"\r\n") * count
        received = bytearray()
        theirs.setblocking(False)
        with trio.fail_after(20):
            while len(received) < len(expected):
                await trio.sleep(0.001)
                try:
                    received += theirs.recv(1 << 20)
                except BlockingIOError:
                    pass
        assert bytes(received) == expected


async def test_more_reads_behind_writes_than_may_be_owed_are_all_answered(
    node: InProcess,
) -> None:
    """Past `MAX_DEFERRED` reads owed behind its writes, a batch waits for them to run and
    be sent, then goes on: every reply is still the state after its own write."""
    client = node.client()
    count = MAX_DEFERRED + 150
    with trio.fail_after(60):
        replies = await node.dispatcher.run_batch(client, pairs(count))
    assert replies == expected(count)
    assert client.deferred_reads < MAX_DEFERRED
    assert not node.server.node.reads.deferred


async def test_big_connection_level_replies_are_held_back_too(node: InProcess) -> None:
    """COMMAND DOCS (hundreds of KB) pipelined without reading: not run a thousand times."""
    async with connected(node) as (theirs, client):
        theirs.sendall(b"*2\r\n$7\r\nCOMMAND\r\n$4\r\nDOCS\r\n" * 1000)

        def calls() -> int:
            stats = node.state.metrics.commands.get("command|docs")
            return stats.calls if stats is not None else 0

        served = await settled(calls)
        assert 0 < served < 20
        assert client.omem <= 4 * MB
