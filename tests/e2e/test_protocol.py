"""The RESP layer against real servers: malformed input gets Redis's exact bytes, then a close.

Each malformed input goes to a real redis-server and to concord-server over raw sockets;
the bytes each sends before closing must be identical, and both must close (cases marked
`eof` leave a request waiting, as Redis does, so the client's EOF ends them). A bystander
connection on each server must keep working throughout. Then random byte streams are thrown
at one concord-server: it must never crash, keep answering PING, and not grow its memory.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import hiredis
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from concord_resp.commands import build_table
from concord_resp.resp import RequestParser, split_args
from concord_resp.server.handlers import CONNECTION
from tests.resp.resp_decoder import decode_at
from tests.support.processes import ConcordProcess, RedisProcess

READ_TIMEOUT = 10.0


def frame(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def exchange(port: int, data: bytes, *, eof: bool) -> tuple[bytes, bool]:
    """Send data (then EOF if asked); return what the server sent and whether it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT) as sock:
        try:
            sock.sendall(data)
            if eof:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server closed while we were sending (a limit was hit)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return received, False
            except ConnectionResetError:
                return received, True  # closed with our bytes unread: RST, not FIN
            if not chunk:
                return received, True
            received += chunk


class Bystander:
    """A connection that stays open on a server and must keep answering."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT)

    def ping(self) -> bytes:
        self.sock.sendall(frame(b"PING", b"still here"))
        reply = b""
        while not reply.endswith(b"\r\n") or len(reply) < 16:
            chunk = self.sock.recv(256)
            assert chunk, "the bystander was disconnected"
            reply += chunk
        return reply

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def concord(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConcordProcess]:
    """A dedicated server: these tests change its limits and throw garbage at it."""
    server = ConcordProcess(tmp_path_factory.mktemp("protocol") / "data").start()
    yield server
    server.stop()


# (input, eof): the cases of the issue, then Redis quirks a reimplementation easily misses.
MALFORMED = {
    "bad multibulk length": (b"*abc\r\n", False),
    "count over INT_MAX": (b"*3000000000\r\n", False),
    "count is a big negative": (b"*-9223372036854775809\r\n", False),
    "status inside an array": (b"*1\r\n+x\r\n", False),
    "status inside an array, cut": (b"*1\r\n+x", True),
    "integer inside an array": (b"*2\r\n$3\r\nGET\r\n:1\r\n", False),
    "empty element line": (b"*1\r\n\r\n", False),
    "negative bulk length": (b"*1\r\n$-5\r\n", False),
    "null bulk in a request": (b"*1\r\n$-1\r\n", False),
    "bulk length over proto-max-bulk-len": (b"*1\r\n$600000000\r\n", False),
    "unbalanced quotes": (b'SET a "b\r\n', False),
    "closing quote not followed by a space": (b"SET 'a'b c\r\n", False),
    "inline request over 64KB without newline": (b"x" * (64 * 1024 + 1), False),
    "count string over 64KB": (b"*" + b"1" * (64 * 1024), False),
    "bulk count string over 64KB": (b"*1\r\n$" + b"1" * (64 * 1024), False),
    "bulk cut, then EOF": (b"*1\r\n$3\r\nabc", True),
    "replies before the error are sent": (
        frame(b"PING") + frame(b"ECHO", b"hi") + b"*1\r\n:1\r\n",
        False,
    ),
    "non-positive counts run nothing": (b"*-5\r\n*0\r\n*-1\r\n" + frame(b"PING"), True),
    "header line ends at its CR": (b"*1\rX$4\rXPINGxx", True),
    "NUL before the CR stalls": (b"*1\0\r\n" + frame(b"PING"), True),
    "NUL stalls an inline request": (b"PI\0NG\r\nPING\r\n", True),
    "inline forms": (b"PING\r\nPING\n\r\n\n  \r\nECHO 'a b'\r\nECHO \"\\x41\\n\"\r\n", True),
    "RESP types other than * start inline requests": (
        frame(b"PING") + b"$-1\r\n~1\r\n" + frame(b"PING"),
        True,
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_input_gets_redis_bytes_then_a_close(
    case: str, redis_server: RedisProcess, concord: ConcordProcess
) -> None:
    data, eof = MALFORMED[case]
    bystanders = [Bystander(redis_server.port), Bystander(concord.port)]
    try:
        expected = exchange(redis_server.port, data, eof=eof)
        assert expected[1], "redis-server did not close: the case is wrong"
        assert exchange(concord.port, data, eof=eof) == expected
        for bystander in bystanders:
            assert bystander.ping() == b"$10\r\nstill here\r\n"
    finally:
        for bystander in bystanders:
            bystander.close()


def test_quit_ends_the_batch_before_a_protocol_error(
    redis_server: RedisProcess, concord: ConcordProcess
) -> None:
    # Redis stops reading a client's input at QUIT: the bad request after it is never parsed.
    data = b"PING\r\nQUIT\r\n*1\r\n+x\r\n"
    expected = exchange(redis_server.port, data, eof=False)
    assert expected == (b"+PONG\r\n+OK\r\n", True)
    assert exchange(concord.port, data, eof=False) == expected


def test_resp3_and_resp2_replies_match_redis(
    redis_server: RedisProcess, concord: ConcordProcess
) -> None:
    requests = [
        frame(b"HELLO", b"3"),
        frame(b"CONFIG", b"GET", b"maxmemory-policy"),
        frame(b"GET", b"protocol:none"),
        frame(b"MGET", b"protocol:none", b"protocol:none2"),
        frame(b"PING"),
        frame(b"INCRBYFLOAT", b"protocol:float", b"1.5"),
        frame(b"DEL", b"protocol:float"),
        frame(b"HELLO", b"2"),
        frame(b"CONFIG", b"GET", b"maxmemory-policy"),
        frame(b"GET", b"protocol:none"),
    ]
    answers = []
    for port in (redis_server.port, concord.port):
        received, _ = exchange(port, b"".join(requests), eof=True)
        replies = []
        pos = 0
        while pos < len(received):
            start = pos
            pos = decode_at(received, pos)[1]
            replies.append(received[start:pos])
        assert len(replies) == len(requests)
        # HELLO's own reply differs (client id); every other reply must be the same bytes.
        answers.append([r for r, q in zip(replies, requests, strict=True) if b"HELLO" not in q])
    assert answers[0] == answers[1]
    assert answers[0][0].startswith(b"%1\r\n")  # RESP3: CONFIG GET answers a map


def set_query_buffer_limit(port: int, value: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(frame(b"CONFIG", b"SET", b"client-query-buffer-limit", value))
        assert sock.recv(64) == b"+OK\r\n"


@pytest.mark.parametrize(("size", "closed"), [(1024 * 1024 - 2, False), (1024 * 1024 - 1, True)])
def test_query_buffer_limit_closes_silently(
    size: int, closed: bool, redis_server: RedisProcess, concord: ConcordProcess
) -> None:
    # Redis's query buffer holds the bulk being read plus its CRLF: len + 2 > limit closes.
    data = frame(b"SET", b"qbuf", b"v" * size) + frame(b"PING")
    results = []
    for port in (redis_server.port, concord.port):
        set_query_buffer_limit(port, b"1mb")
        try:
            bystander = Bystander(port)
            results.append(exchange(port, data, eof=True))
            assert bystander.ping() == b"$10\r\nstill here\r\n"
            bystander.close()
        finally:
            set_query_buffer_limit(port, b"1gb")
    assert results[0] == results[1] == ((b"", True) if closed else (b"+OK\r\n+PONG\r\n", True))


inline_lines = st.lists(
    st.sampled_from(
        [b" ", b"\t", b"\r", b"\v", b'"', b"'", b"\\", b"x", b"a", b"4", b"F", b"\xff", b"\xa0"]
    )
    | st.binary(min_size=1, max_size=3).filter(lambda b: b"\n" not in b and b"\0" not in b),
    max_size=25,
).map(b"".join)


@given(inline_lines)
@settings(max_examples=150, deadline=None)
def test_split_args_matches_redis(redis_server: RedisProcess, line: bytes) -> None:
    # Redis is the oracle: RPUSH the inline words, read them back with LRANGE.
    request = b"RPUSH splitargs " + line
    argv = split_args(request)
    if argv is not None and len(argv) < 3:
        return  # no element to push: an arity error says nothing about the split
    with socket.create_connection(("127.0.0.1", redis_server.port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(
            request
            + b"\r\n"
            + frame(b"LRANGE", b"splitargs", b"0", b"-1")
            + frame(b"DEL", b"splitargs")
        )
        reader = hiredis.Reader()
        replies: list[object] = []
        while len(replies) < (1 if argv is None else 3):
            reply = reader.gets()
            if reply is False:
                data = sock.recv(65536)
                if not data:
                    break
                reader.feed(data)
            else:
                replies.append(reply)
    if argv is None:
        assert [str(r) for r in replies] == ["ERR Protocol error: unbalanced quotes in request"]
    else:
        assert replies == [len(argv) - 2, argv[2:], 1]


# Random streams: pieces of requests (well-formed and not) and raw bytes.
FRAGMENTS = [
    b"*",
    b"$",
    b"\r\n",
    b"\r",
    b"\n",
    b"\0",
    b"1",
    b"-1",
    b"3",
    b"2147483647",
    b"600000000",
    b'"',
    b"'",
    b" ",
    b"+x",
    b":1",
    b"PING",
    b"ECHO",
    b"~1",
    b"\t",
    frame(b"PING"),
    frame(b"GET", b"protocol:none"),
    b"*2\r\n$4\r\nECHO\r\n$100000\r\n",
]
REQUESTS = [frame(b"PING"), frame(b"ECHO", b"e" * 3000), b"PING\r\n", b"ECHO 'a b' \"\\x41\"\n"]
fragment_streams = st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=16), max_size=40)
truncated_pipelines = st.tuples(
    st.lists(st.sampled_from(REQUESTS), min_size=1, max_size=10).map(b"".join), st.floats(0, 1)
).map(lambda pipeline_cut: pipeline_cut[0][: int(len(pipeline_cut[0]) * pipeline_cut[1])])
streams = fragment_streams.map(b"".join) | truncated_pipelines


def send_stream(port: int, data: bytes, answer: bytes | None) -> None:
    received, closed = exchange(port, data, eof=True)
    assert closed, "the server kept a connection open after EOF"
    if answer is not None:
        assert received == answer


@given(streams)
@settings(max_examples=150, deadline=None)
def test_random_streams_never_break_the_server(concord: ConcordProcess, data: bytes) -> None:
    bystander = Bystander(concord.port)
    try:
        send_stream(concord.port, data, None)
        assert bystander.ping() == b"$10\r\nstill here\r\n"
    finally:
        bystander.close()
    assert concord.process is not None
    assert concord.process.poll() is None


@pytest.fixture(scope="module")
def redis_only_commands(redis_server: RedisProcess) -> frozenset[bytes]:
    """Commands Redis has and Concord does not serve (yet): their replies differ by design."""
    with socket.create_connection(("127.0.0.1", redis_server.port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(frame(b"COMMAND", b"LIST"))
        reader = hiredis.Reader()
        names: object = False
        while names is False:
            reader.feed(sock.recv(65536))
            names = reader.gets()
    assert isinstance(names, list)
    table = build_table(CONNECTION)
    return frozenset(name for name in names if table.find([name]) is None)


@given(fragment_streams.map(b"".join))
@settings(max_examples=200, deadline=None)
def test_random_streams_get_redis_bytes(
    redis_server: RedisProcess,
    concord: ConcordProcess,
    redis_only_commands: frozenset[bytes],
    data: bytes,
) -> None:
    # Random bytes can spell a command only Redis has (SYNC, once): not a protocol matter.
    for argv in RequestParser().feed(data):
        assume(argv[0].lower() not in redis_only_commands)
    # Whatever the bytes, Concord sends what Redis sends and closes where Redis closes.
    assert exchange(concord.port, data, eof=True) == exchange(redis_server.port, data, eof=True)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS line")


def random_stream(rng: random.Random) -> tuple[bytes, bytes | None]:
    """A stream and, when it is known, what the server must answer before the EOF."""
    kind = rng.randrange(8)
    # Requests that make the server hold a lot until the client goes away: a big bulk cut in
    # the middle, a huge count, a stalled header, an inline line just under 64 KB.
    if kind == 0:
        big = b"*2\r\n$4\r\nECHO\r\n$50000000\r\n" + rng.randbytes(2_000_000)
        return frame(b"PING") + big, b"+PONG\r\n"
    if kind == 1:
        return b"*2147483647\r\n" + frame(b"x")[4:] * 5000, b""
    if kind == 2:
        return b"*1\0" + rng.randbytes(60_000), b""
    if kind == 3:
        return b"x" * 60_000, b""
    if kind == 4:
        pipeline = b"".join(rng.choice(REQUESTS) for _ in range(rng.randrange(1, 20)))
        return pipeline[: rng.randrange(len(pipeline))], None
    pieces = [
        rng.choice(FRAGMENTS) if rng.random() < 0.7 else rng.randbytes(rng.randrange(16))
        for _ in range(rng.randrange(40))
    ]
    return b"".join(pieces), None


def test_memory_does_not_grow_with_garbage(concord: ConcordProcess) -> None:
    rng = random.Random(20240611)
    bystander = Bystander(concord.port)
    try:
        for _ in range(150):  # warm up: allocator pools, interned objects, log segments
            send_stream(concord.port, *random_stream(rng))
        before = rss_kb(concord.pid)
        started = time.monotonic()
        for _ in range(600):
            send_stream(concord.port, *random_stream(rng))
        after = rss_kb(concord.pid)
        assert bystander.ping() == b"$10\r\nstill here\r\n"
    finally:
        bystander.close()
    # 600 streams held about 150 MB in the parser, in pieces; what stays must be small.
    assert after - before < 40 * 1024, (before, after, time.monotonic() - started)
