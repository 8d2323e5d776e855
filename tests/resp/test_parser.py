"""RequestParser: Redis 7.0's request rules, limits and error texts, on any split of the input.

Expected values come from Redis 7.0.15 (`processInputBuffer`, `processMultibulkBuffer`,
`processInlineBuffer`, `sdssplitargs`); tests/e2e/test_protocol.py checks the same inputs
against a real redis-server. Every stream is also fed byte by byte and at every split point:
the hiredis hot path and the Python parser that takes over for partial requests must agree.
"""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Iterable, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from concord_resp.resp import RequestParser, split_args, string2ll
from concord_resp.resp import parser as parser_module
from concord_resp.resp.parser import PROTO_INLINE_MAX_SIZE

KB64 = PROTO_INLINE_MAX_SIZE


def frame(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def inline(*args: bytes) -> bytes:
    """An inline request that quotes every byte (`"\\xHH"`): split_args must undo it exactly."""
    return b" ".join(b'"' + b"".join(b"\\x%02x" % byte for byte in arg) + b'"' for arg in args)


Outcome = tuple[list[list[bytes]], bool, bytes | None, int]


def run(chunks: Iterable[bytes], **limits: int | bool) -> Outcome:
    parser = RequestParser(**limits)  # type: ignore[arg-type]
    commands: list[list[bytes]] = []
    for chunk in chunks:
        commands += parser.feed(chunk)
    return commands, parser.broken, parser.error, parser.buffered


def whole(data: bytes, **limits: int | bool) -> Outcome:
    return run([data], **limits)


def bytewise(data: bytes, **limits: int | bool) -> Outcome:
    return run([data[i : i + 1] for i in range(len(data))], **limits)


def assert_split_invariant(data: bytes, **limits: int | bool) -> Outcome:
    """Whole, byte by byte and every two-piece split give the same outcome; returns it."""
    expected = whole(data, **limits)
    assert bytewise(data, **limits) == expected
    for cut in range(1, len(data)):
        assert run([data[:cut], data[cut:]], **limits) == expected, cut
    return expected


def error(detail: str) -> bytes:
    return b"ERR Protocol error: " + detail.encode()


# -- multibulk -------------------------------------------------------------------------------


def test_multibulk_requests_pipelined() -> None:
    data = frame(b"SET", b"k", b"v") + frame(b"GET", b"k") + frame(b"PING")
    commands, broken, err, buffered = assert_split_invariant(data)
    assert commands == [[b"SET", b"k", b"v"], [b"GET", b"k"], [b"PING"]]
    assert (broken, err, buffered) == (False, None, 0)


def test_bulk_payloads_are_binary_safe() -> None:
    payloads = [b"", b"\r\n", b"\0\0", b"*1\r\n$4\r\nPING\r\n", b"$5\r\n+x\r\n", bytes(range(256))]
    data = b"".join(frame(b"SET", b"k", p) for p in payloads)
    commands = assert_split_invariant(data)[0]
    assert [c[2] for c in commands] == payloads


@pytest.mark.parametrize("count", [b"0", b"-1", b"-5", b"-2147483648"])
def test_non_positive_counts_are_empty_requests(count: bytes) -> None:
    # Redis: ll <= 0 means no command; the next request is parsed normally.
    data = b"*" + count + b"\r\n" + frame(b"PING") + b"*" + count + b"\r\nPING\r\n"
    assert assert_split_invariant(data) == ([[b"PING"], [b"PING"]], False, None, 0)


@pytest.mark.parametrize(
    "line",
    [b"*", b"*abc", b"*-0", b"*01", b"*+1", b"* 1", b"*1 ", b"*1a", b"*2147483648", b"*3000000000"],
)
def test_bad_count_is_invalid_multibulk_length(line: bytes) -> None:
    data = frame(b"PING") + line + b"\r\n" + frame(b"PING")
    outcome = assert_split_invariant(data)
    assert outcome == ([[b"PING"]], True, error("invalid multibulk length"), 0)


def test_largest_count_waits_without_allocating() -> None:
    # INT_MAX elements is legal; hiredis would allocate a 16 GB list for the header at once.
    tracemalloc.start()
    try:
        parser = RequestParser()
        assert parser.feed(frame(b"PING") + b"*2147483647\r\n" + frame(b"x")[4:]) == [[b"PING"]]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not parser.broken
    assert peak < 10 * 1024 * 1024


@pytest.mark.parametrize(
    ("element", "shown"),
    [
        (b"+x\r\n", b"+"),
        (b":1\r\n", b":"),
        (b"-ERR x\r\n", b"-"),
        (b"*1\r\n$1\r\nx\r\n", b"*"),
        (b"=5\r\ntxt:x\r\n", b"="),
        (b"(12\r\n", b"("),
        (b",1.5\r\n", b","),
        (b"#t\r\n", b"#"),
        (b"_\r\n", b"_"),
        (b"%1\r\n$1\r\na\r\n$1\r\nb\r\n", b"%"),
        (b"~1\r\n$1\r\na\r\n", b"~"),
        (b"!3\r\nerr\r\n", b"!"),
        (b"\r\n", b" "),  # an empty line: Redis prints its CR, as a space
        (b"\n\r\n", b" "),
        (b"x\r\n", b"x"),
    ],
)
def test_non_bulk_element_is_expected_dollar(element: bytes, shown: bytes) -> None:
    data = frame(b"PING") + b"*2\r\n$3\r\nGET\r\n" + element + frame(b"PING")
    outcome = assert_split_invariant(data)
    assert outcome == ([[b"PING"]], True, b"ERR Protocol error: expected '$', got '%s'" % shown, 0)


@pytest.mark.parametrize("length", [b"-1", b"-5", b"abc", b"01", b"+3", b"", b"3 "])
def test_bad_bulk_length(length: bytes) -> None:
    data = b"*1\r\n$" + length + b"\r\nabc\r\n"
    assert assert_split_invariant(data) == ([], True, error("invalid bulk length"), 0)


def test_bulk_over_the_limit_fails_from_the_header_alone() -> None:
    # No payload is sent: Redis answers as soon as it reads the header.
    data = b"*1\r\n$600000000\r\n"
    assert assert_split_invariant(data) == ([], True, error("invalid bulk length"), 0)
    limits = {"max_bulk_len": 10}
    assert whole(frame(b"x" * 10), **limits) == ([[b"x" * 10]], False, None, 0)
    data = frame(b"PING") + frame(b"x" * 11)
    assert assert_split_invariant(data, **limits) == (
        [[b"PING"]],
        True,
        error("invalid bulk length"),
        0,
    )


def test_header_line_ends_at_the_first_cr_whatever_follows() -> None:
    # Redis skips the byte after the CR unchecked, and the two bytes after a payload too.
    data = b"*2\rX$4\r\0PING??$1\rYa\r\n" + frame(b"GET", b"k")
    assert assert_split_invariant(data) == ([[b"PING", b"a"], [b"GET", b"k"]], False, None, 0)


def test_nul_before_the_cr_stalls_the_request_until_the_size_limit() -> None:
    # Redis looks for the CR with strchr, which stops at a NUL: the request never completes.
    stalled = frame(b"PING") + b"*1\0\r\n" + frame(b"PING")
    assert assert_split_invariant(stalled)[:3] == ([[b"PING"]], False, None)
    parser = RequestParser()
    parser.feed(stalled)
    assert parser.feed(b"x" * (KB64 - len(stalled) + 10)) == []
    assert not parser.broken
    parser.feed(b"x" * 100)
    assert parser.error == error("too big mbulk count string")
    bulk_header = RequestParser()
    bulk_header.feed(b"*1\r\n$4\0\r\nPING\r\n" + b"y" * KB64)
    assert bulk_header.error == error("too big bulk count string")


@pytest.mark.parametrize(
    ("prefix", "detail"),
    [(b"*", "too big mbulk count string"), (b"*1\r\n$", "too big bulk count string")],
)
def test_header_line_over_64kb(prefix: bytes, detail: str) -> None:
    line_start = prefix.rsplit(b"\n", 1)[-1]
    at_limit = prefix + b"1" * (KB64 - len(line_start))
    parser = RequestParser()
    assert parser.feed(at_limit) == []
    assert not parser.broken
    assert parser.feed(b"1") == []
    assert parser.error == error(detail)
    # A CR as the very last byte means "line found": Redis waits for one more byte, no check.
    parser = RequestParser()
    parser.feed(prefix + b"1" * KB64 + b"\r")
    assert not parser.broken
    parser.feed(b"\n")
    assert parser.broken  # then the 64 KB number is refused as a count or a length


def test_query_buffer_limit_closes_without_a_reply() -> None:
    # Redis's query buffer holds the bulk being read, with its CRLF: len + 2 > limit closes.
    limit = 1000
    assert whole(frame(b"SET", b"k", b"v" * 998), max_query_buffer=limit)[1] is False
    for chunks in (
        [frame(b"PING") + frame(b"SET", b"k", b"v" * 999)],
        [b"*1\r\n$5000\r\n", b"v" * 1001],
    ):
        _, broken, err, _ = run(chunks, max_query_buffer=limit)
        assert broken
        assert err is None
    parser = RequestParser(max_query_buffer=limit)
    parser.feed(b"*1\r\n$5000\r\n" + b"v" * 1000)
    assert not parser.broken  # 1000 bytes held so far: not over the limit yet
    assert parser.buffered == 1000
    parser.feed(b"v")
    assert parser.broken
    assert parser.error is None
    assert parser.close_reason == "max query buffer length reached"


def test_unauthenticated_limits() -> None:
    assert whole(frame(*[b"a"] * 10), auth_required=True)[:3] == ([[b"a"] * 10], False, None)
    assert whole(b"*11\r\n", auth_required=True)[2] == error("unauthenticated multibulk length")
    assert whole(frame(b"x" * 16384), auth_required=True)[1] is False
    assert whole(b"*1\r\n$16385\r\n", auth_required=True)[2] == error("unauthenticated bulk length")
    assert whole(b"*11\r\n")[1] is False


def test_requests_before_an_error_are_returned_and_nothing_after() -> None:
    parser = RequestParser()
    assert parser.feed(frame(b"PING") + b"*1\r\n:1\r\n" + frame(b"GET", b"k")) == [[b"PING"]]
    assert parser.broken
    assert parser.feed(frame(b"PING")) == []
    assert parser.close_reason == "Protocol error: expected '$', got ':'"


def test_buffered_counts_the_incomplete_element() -> None:
    parser = RequestParser()
    parser.feed(b"*2\r\n$3\r\nGET\r\n$10\r\nabcd")
    assert parser.buffered == 4  # Redis's qbuf: complete arguments are moved out of it
    parser.feed(b"efghij\r\n")
    assert parser.buffered == 0
    parser.feed(b"*1\r\n$12")
    assert parser.buffered == 3


# -- inline ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "argv"),
    [
        (b"PING", [b"PING"]),
        (b"  SET  a\t b  ", [b"SET", b"a", b"b"]),
        (b"SET \"a b\" 'c d'", [b"SET", b"a b", b"c d"]),
        (b'ECHO "\\x41\\x4a\\x4"', [b"ECHO", b"AJx4"]),  # `\\x4"` is not hex: `\\x` is x
        (b'ECHO "\\n\\r\\t\\b\\a\\"\\\\\\q"', [b"ECHO", b'\n\r\t\b\a"\\q']),
        (b"ECHO 'it\\'s' 'a\\nb'", [b"ECHO", b"it's", b"a\\nb"]),
        (b'ECHO ab"cd ef"gh', None),  # a closing quote must be followed by a space
        (b'ECHO ab"cd ef" gh', [b"ECHO", b"abcd ef", b"gh"]),
        (b"ECHO \"\" ''", [b"ECHO", b"", b""]),
        (b"ECHO a\vb\fc", [b"ECHO", b"a\vb\fc"]),  # only space, tab, CR, LF end a bare word
        (b"\v\fPING\v", [b"PING\v"]),  # but isspace() blanks are skipped between words
        (b"PI\rNG", [b"PI", b"NG"]),
        (b'ECHO "abc', None),
        (b"ECHO 'abc", None),
        (b"ECHO 'a'b", None),
        (b'ECHO "a\\"', None),
        (b"", []),
        (b"   ", []),
    ],
)
def test_split_args(line: bytes, argv: list[bytes] | None) -> None:
    assert split_args(line) == argv


@given(st.binary(max_size=60).filter(lambda b: not set(b) & set(b"\"'\0")))
def test_split_args_fast_path_agrees_with_the_quote_parser(line: bytes) -> None:
    # A trailing `""` word sends the line through the character loop instead of the regex.
    bare = split_args(line)
    assert bare is not None
    assert split_args(line + b' ""') == [*bare, b""]


def test_inline_requests() -> None:
    data = b"PING\r\nSET a 'b c'\n\r\n\n   \r\nGET a\r\r\n"
    commands = assert_split_invariant(data)[0]
    assert commands == [[b"PING"], [b"SET", b"a", b"b c"], [b"GET", b"a"]]


def test_inline_unbalanced_quotes() -> None:
    data = b'PING\r\nSET a "b\r\nPING\r\n'
    outcome = assert_split_invariant(data)
    assert outcome == ([[b"PING"]], True, error("unbalanced quotes in request"), 0)


def test_inline_request_over_64kb_without_newline() -> None:
    parser = RequestParser()
    assert parser.feed(b"x" * KB64) == []
    assert not parser.broken
    parser.feed(b"x")
    assert parser.error == error("too big inline request")


def test_inline_nul_stalls_the_request() -> None:
    # Redis finds the newline with strchr: a NUL before it hides it.
    parser = RequestParser()
    assert parser.feed(b"PI\0NG\r\nPING\r\n") == []
    assert not parser.broken
    parser.feed(b"PING\r\n" * (KB64 // 6))
    assert parser.error == error("too big inline request")


def test_mixed_inline_and_multibulk() -> None:
    data = b"PING\r\n" + frame(b"GET", b"k") + b"ECHO hi\n" + frame(b"PING") + b"\r\n" + frame(b"X")
    commands = assert_split_invariant(data)[0]
    assert commands == [[b"PING"], [b"GET", b"k"], [b"ECHO", b"hi"], [b"PING"], [b"X"]]


@pytest.mark.parametrize(
    "request_",
    [
        b"$-1\r\n",
        b"$4\r\n",
        b"+PING\r\n",
        b":1\r\n",
        b"_\r\n",
        b"~1\r\n",
        b">1\r\n",
        b"|1\r\n",
        b"%0\r\n",
    ],
)
def test_other_resp_types_at_a_request_start_are_inline(request_: bytes) -> None:
    # Only `*` starts a multibulk request; hiredis would read these as RESP values.
    data = frame(b"PING") + request_ + frame(b"PING")
    commands = assert_split_invariant(data)[0]
    assert commands == [[b"PING"], split_args(request_), [b"PING"]]


# -- the hot path ------------------------------------------------------------------------------


def count_python_requests(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the multibulk requests the Python parser is asked to read."""
    started = [0]
    original = parser_module._Multibulk.__init__

    def counting(self: parser_module._Multibulk) -> None:
        started[0] += 1
        original(self)

    monkeypatch.setattr(parser_module._Multibulk, "__init__", counting)
    return started


def test_complete_requests_are_parsed_by_hiredis_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    started = count_python_requests(monkeypatch)
    # Payloads that start like other RESP types, or hold `*`, are still plain bulks.
    values = [b"+15551234567", b"=A1+B1", b"(555) 123", b"~/x", b"a*b", b"|", b">"]
    data = b"".join(frame(b"SET", b"k%d" % i, v) for i, v in enumerate(values)) * 100
    parser = RequestParser()
    assert len(parser.feed(data)) == 700
    # A read that ends inside a request: only that request goes to Python.
    assert len(parser.feed(data + data[:-5])) == 1399
    assert parser.feed(data[-5:]) == [[b"SET", b"k6", b">"]]
    assert started[0] == 1


# -- streams cut anywhere --------------------------------------------------------------------


CORPUS = [
    frame(b"SET", b"key", b"value") * 3,
    frame(b"SET", b"k", b"a\r\n*1\r\n$1\r\nx\r\n*2\r\n") + frame(b"GET", b"k"),  # fake frame starts
    frame(b"PING") + frame(b"SET", b"k", b"\r\n*" * 50) + frame(b"PING"),
    b"*0\r\n*-1\r\n" + frame(b"") + b"\n" + frame(b"a", b"b"),
    b"PING\r\n" + frame(b"PING") + b"PING\n",
    frame(b"SET", b"k", b"+1") + frame(b"SET", b"k", b"=x") + frame(b"SET", b"k", b"(5"),
    frame(b"SET", b"k", b"*1234567") + frame(b"PING"),
]


@pytest.mark.parametrize("data", CORPUS)
def test_every_split_point_gives_the_same_commands(data: bytes) -> None:
    commands, broken, err, buffered = assert_split_invariant(data)
    assert (broken, err, buffered) == (False, None, 0)
    assert commands


argvs = st.lists(st.binary(max_size=40), min_size=1, max_size=6)


@st.composite
def request_stream(draw: st.DrawFn) -> tuple[bytes, list[list[bytes]]]:
    requests = draw(st.lists(st.tuples(argvs, st.booleans()), min_size=1, max_size=12))
    data = b"".join(
        inline(*argv) + b"\r\n" if as_inline else frame(*argv) for argv, as_inline in requests
    )
    return data, [argv for argv, _ in requests]


def chunked(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@given(request_stream(), st.lists(st.integers(min_value=0), max_size=20))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_random_requests_in_random_chunks_parse_back(
    stream: tuple[bytes, list[list[bytes]]], cuts: list[int]
) -> None:
    data, argvs_sent = stream
    assert run(chunked(data, cuts)) == (argvs_sent, False, None, 0)
    assert bytewise(data) == (argvs_sent, False, None, 0)


# Pieces of requests, well-formed and not: streams built from them reach every parser state.
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
    b"2147483648",
    b"9999999",
    b'"',
    b"'",
    b"\\x4",
    b" ",
    b"+x",
    b":1",
    b"PING",
    b"*1\r\n$4\r\nPING\r\n",
    b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n",
]
fragment_streams = st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=8), max_size=30).map(
    b"".join
)


@given(fragment_streams | st.binary(max_size=300), st.lists(st.integers(min_value=0), max_size=20))
@settings(max_examples=500, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
def test_arbitrary_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    parser = RequestParser(max_query_buffer=2000, max_bulk_len=1000)
    for chunk in chunked(data, cuts):
        for argv in parser.feed(chunk):
            assert argv
            assert all(type(arg) is bytes for arg in argv)
    if parser.broken:
        assert parser.close_reason
        assert parser.error is None or parser.error.startswith(b"ERR Protocol error: ")
        assert parser.feed(b"*1\r\n$4\r\nPING\r\n") == []
    else:
        assert parser.error is None
        assert 0 <= parser.buffered <= len(data)


# The hot path's documented leniency needs one of `+ = ( ~ > |`: these fragments have none.
SAFE_FRAGMENTS = [f for f in FRAGMENTS if not set(f) & set(b"+=(~>|")]


@given(st.lists(st.sampled_from(SAFE_FRAGMENTS), max_size=40).map(b"".join))
@settings(max_examples=500, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
def test_hot_path_agrees_with_the_python_parser(data: bytes) -> None:
    # Byte by byte, every request is cut, so the Python parser reads all of it; a whole read
    # goes through hiredis wherever the hot path takes it.
    assert whole(data) == bytewise(data)


def test_documented_leniency_of_the_hot_path() -> None:
    # After a bulk whose two trailing bytes are not CRLF, hiredis reads `+x` as an argument
    # where Redis says "expected '$', got '+'". A client has to craft this on purpose.
    data = b"*2\r\n$1\r\naXY+x\r\n"
    assert whole(data) == ([[b"a", b"x"]], False, None, 0)
    assert bytewise(data) == ([], True, error("expected '$', got '+'"), 0)


def test_string2ll_is_strict() -> None:
    assert [
        string2ll(t) for t in (b"0", b"-1", b"9223372036854775807", b"-9223372036854775808")
    ] == [
        0,
        -1,
        2**63 - 1,
        -(2**63),
    ]
    for text in (b"", b"-", b"-0", b"01", b"+1", b" 1", b"1 ", b"9223372036854775808", b"\xd9\xa1"):
        assert string2ll(text) is None
