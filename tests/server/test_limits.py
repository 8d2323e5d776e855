"""Bounded clients, in process: the output buffer limits' rules (time passed in, then trio's
mock clock), maxmemory-clients' choice of victims, and the settings' Redis syntax.

The outbox tests drive a real `Outbox` over a socket pair whose far end never reads, so the
socket fills and what is left is the client's output buffer, as with a client that does not
read its replies.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import trio
import trio.testing

from concord_resp.config import (
    DEFAULT_OUTPUT_LIMITS,
    Config,
    ConfigError,
    OutputBufferLimit,
    RuntimeSettings,
    config_from_args,
    format_memory_or_percent,
    format_output_buffer_limits,
    parse_maxmemory_clients,
    parse_output_buffer_limits,
)
from concord_resp.metrics import Metrics
from concord_resp.server.client import ClientRegistry, ClientState
from concord_resp.server.connection import FlushQueue, Outbox
from concord_resp.server.limits import ClientBuffers, over_output_limit
from tests.support.waiting import wait_until

MB = 1024 * 1024


# -- the rules ----------------------------------------------------------------------------


def test_hard_limit_closes_at_once() -> None:
    limit = OutputBufferLimit(hard=100, soft=0, soft_seconds=0)
    assert over_output_limit(limit, 99, None, 0.0) == (False, None)
    assert over_output_limit(limit, 100, None, 0.0) == (True, None)


def test_soft_limit_closes_after_its_seconds_continuously_over() -> None:
    limit = OutputBufferLimit(hard=0, soft=50, soft_seconds=10)
    over, since = over_output_limit(limit, 60, None, 100.0)
    assert (over, since) == (False, 100.0)  # first seen over it: the count starts
    assert over_output_limit(limit, 60, since, 110.0) == (False, 100.0)  # 10 s: not more
    assert over_output_limit(limit, 60, since, 110.5) == (True, 100.0)
    # Going under it starts the count again.
    assert over_output_limit(limit, 49, since, 105.0) == (False, None)
    assert over_output_limit(limit, 60, None, 106.0) == (False, 106.0)


def test_zero_bytes_is_no_limit() -> None:
    assert over_output_limit(OutputBufferLimit(0, 0, 0), 10**12, None, 0.0) == (False, None)
    # Both limits: the hard one closes whatever the soft one's clock says.
    both = OutputBufferLimit(hard=100, soft=50, soft_seconds=60)
    assert over_output_limit(both, 100, 5.0, 6.0) == (True, 5.0)


# -- the settings' syntax ---------------------------------------------------------------


def test_output_buffer_limits_syntax() -> None:
    words = b"normal 1mb 512kb 10 replica 1 2 3".split()
    limits = parse_output_buffer_limits(words, DEFAULT_OUTPUT_LIMITS)
    assert format_output_buffer_limits(limits) == (
        "normal 1048576 524288 10 slave 1 2 3 pubsub 33554432 8388608 60"
    )
    assert parse_output_buffer_limits([], limits) == limits  # "" changes nothing
    # C's strtoll into an int, as Redis reads the seconds.
    seconds = parse_output_buffer_limits(b"pubsub 0 0 99999999999".split(), limits)
    assert seconds[2].soft_seconds == 1215752191
    for bad, reason in [
        (b"normal 1 2", "Wrong number of arguments"),
        (b"master 1 2 3", "Invalid client class"),
        (b"normal 1 2 -1", "Error in hard, soft or soft_seconds"),
        (b"normal x 2 3", "Error in hard, soft or soft_seconds"),
        (b"normal 1 2 3x", "Error in hard, soft or soft_seconds"),
    ]:
        with pytest.raises(ValueError, match=reason):
            parse_output_buffer_limits(bad.split(), limits)


def test_maxmemory_clients_syntax() -> None:
    assert parse_maxmemory_clients(b"10%") == -10
    assert format_memory_or_percent(-10) == "10%"
    assert parse_maxmemory_clients(b"1mb") == MB
    # An unsigned value past LLONG_MAX reads as negative: a percentage (Redis does so).
    assert parse_maxmemory_clients(b"18446744073709551615") == -1
    for bad, reason in [
        (b"101%", "less or equal to 100"),
        (b"-5", "memory or percent value"),
        (b"01%", "memory or percent value"),
        (b"%", "memory or percent value"),
    ]:
        with pytest.raises(ValueError, match=reason):
            parse_maxmemory_clients(bad)


def test_the_flags() -> None:
    config = config_from_args(
        [
            "--maxmemory",
            "1gb",
            "--maxmemory-clients",
            "5%",
            "--client-output-buffer-limit",
            "normal 4mb 2mb 10",
            "--client-output-buffer-limit",
            "pubsub 1 2 3 replica 0 0 0",
        ]
    )
    assert config.maxmemory == 1024 * MB
    assert config.maxmemory_clients == -5
    assert config.client_output_buffer_limit == (
        OutputBufferLimit(4 * MB, 2 * MB, 10),
        OutputBufferLimit(0, 0, 0),
        OutputBufferLimit(1, 2, 3),
    )
    settings = RuntimeSettings.from_config(config)
    assert settings.client_eviction_limit() == int(1024 * MB * 0.05)
    for flags, reason in [
        (["--maxmemory-policy", "allkeys-lru"], "only noeviction"),
        (["--maxmemory-policy", "sometimes"], "must be one of"),
        (["--maxmemory-clients", "x"], "memory or percent value"),
        (["--client-output-buffer-limit", "master 1 2 3"], "Invalid client class"),
    ]:
        with pytest.raises(ConfigError, match=reason):
            config_from_args(flags)
    assert config_from_args(["--maxmemory-policy", "NOEVICTION"]).maxmemory == 0


def test_client_eviction_limit() -> None:
    settings = RuntimeSettings.from_config(Config())
    assert settings.client_eviction_limit() == 0
    settings.maxmemory_clients = -10
    assert settings.client_eviction_limit() == 0  # a percentage of no maxmemory
    settings.maxmemory = 100 * MB
    assert settings.client_eviction_limit() == 10 * MB
    settings.maxmemory_clients = 1000
    assert settings.client_eviction_limit() == 128 * 1024  # never less than 128 KB


# -- outboxes whose client does not read -----------------------------------------------


def fake_state(**settings: object) -> SimpleNamespace:
    runtime = RuntimeSettings.from_config(Config())
    for name, value in settings.items():
        setattr(runtime, name, value)
    return SimpleNamespace(
        settings=runtime, metrics=Metrics(), buffers=ClientBuffers(), clients=ClientRegistry()
    )


@pytest.fixture
def stuck_socket() -> Iterator[socket.socket]:
    """Our end of a socket pair whose other end never reads; small kernel buffers."""
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ours.setblocking(False)
    yield ours
    ours.close()
    theirs.close()


def open_outbox(
    state: SimpleNamespace, sock: socket.socket, nursery: trio.Nursery, number: int = 1
) -> Outbox:
    client = ClientState(id=number, addr=f"10.0.0.1:{number}", laddr="127.0.0.1:6379", fd=number)
    state.clients.add(client)
    cancelled: list[bool] = []
    client.cancel = lambda: cancelled.append(True)
    return Outbox(sock, client, state, nursery, FlushQueue())  # type: ignore[arg-type]


async def test_a_client_over_its_hard_limit_is_closed_at_once(
    stuck_socket: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    limits = (OutputBufferLimit(hard=MB, soft=0, soft_seconds=0), *DEFAULT_OUTPUT_LIMITS[1:])
    state = fake_state(client_output_buffer_limit=limits)
    async with trio.open_nursery() as nursery:
        outbox = open_outbox(state, stuck_socket, nursery)
        outbox.push(b"x" * (MB // 2))
        outbox.flush()
        assert 0 < outbox.buffered < MB
        assert outbox.client.omem == outbox.buffered
        assert outbox.client.oll == 1
        assert not outbox.closed
        assert state.buffers.holders
        with caplog.at_level(logging.WARNING, logger="concord.server"):
            outbox.push(b"y" * MB)
            outbox.flush()
        assert outbox.closed
        assert outbox.client.killed
        assert outbox.buffered == 0
        assert not state.buffers.holders
        assert not len(state.clients)  # gone from CLIENT LIST at once
        assert "scheduled to be closed ASAP for overcoming of output buffer limits" in caplog.text
        assert "addr=10.0.0.1:1" in caplog.text
        nursery.cancel_scope.cancel()


async def test_the_soft_limit_closes_after_its_seconds_on_the_clients_cron(
    stuck_socket: socket.socket,
    mock_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    limits = (OutputBufferLimit(hard=0, soft=MB // 4, soft_seconds=5), *DEFAULT_OUTPUT_LIMITS[1:])
    state = fake_state(client_output_buffer_limit=limits)
    async with trio.open_nursery() as nursery:
        outbox = open_outbox(state, stuck_socket, nursery)
        outbox.push(b"x" * MB)
        outbox.flush()  # over the soft limit from now on: the client never reads
        buffers = state.buffers
        assert outbox.soft_since == trio.current_time()
        mock_clock.jump(5.0)
        buffers.cron(state, trio.current_time())
        assert not outbox.closed  # 5 s, not more
        mock_clock.jump(0.1)
        with caplog.at_level(logging.WARNING, logger="concord.server"):
            buffers.cron(state, trio.current_time())
        assert outbox.closed
        assert "closed for overcoming of output buffer limits." in caplog.text
        nursery.cancel_scope.cancel()


async def test_a_drained_buffer_leaves_the_table() -> None:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    with ours, theirs:
        theirs.setblocking(False)
        state = fake_state()
        async with trio.open_nursery() as nursery:
            outbox = open_outbox(state, ours, nursery)
            outbox.push(b"z" * (4 * MB))
            outbox.flush()
            assert outbox.buffered
            assert state.buffers.holders
            received = 0
            with trio.fail_after(10):
                while received < 4 * MB:
                    await trio.sleep(0.001)
                    try:
                        received += len(theirs.recv(1 << 20))
                    except BlockingIOError:
                        pass
                await wait_until(lambda: not outbox.buffered)
            assert not state.buffers.holders
            assert outbox.client.omem == 0
            assert not outbox.closed
            nursery.cancel_scope.cancel()


class FakeHolder:
    def __init__(self, number: int, buffered: int, *, no_evict: bool = False) -> None:
        self.client = ClientState(id=number, addr=f"a:{number}", laddr="l", fd=number)
        self.client.no_evict = no_evict
        self.buffered = buffered
        self.soft_since: float | None = None
        self.closed = False

    def close_now(self) -> None:
        self.closed = True


def test_maxmemory_clients_closes_the_biggest_first_and_spares_no_evict() -> None:
    state = fake_state(maxmemory_clients=1 * MB)
    buffers = state.buffers
    small, big, biggest = FakeHolder(1, 300_000), FakeHolder(2, 500_000), FakeHolder(3, 900_000)
    biggest.client.no_evict = True
    for holder in (small, big, biggest):
        buffers.track(holder)
    buffers.evict(state)  # 1.7 MB held: the biggest evictable goes, leaving 1.2 MB...
    assert big.closed
    assert not biggest.closed
    assert small.closed  # ...still over: the next biggest evictable goes too
    assert buffers.evicted == 2
    assert list(buffers.holders) == [3]


def test_maxmemory_clients_counts_query_buffers_too() -> None:
    state = fake_state(maxmemory_clients=256 * 1024)
    buffers = state.buffers
    uploading = FakeHolder(1, 0)
    uploading.client.query_buffer = 300_000
    buffers.track(uploading)
    buffers.cron(state, 0.0)
    assert uploading.closed
    assert buffers.evicted == 1
