"""encode_reply: every reply type, nested any way, in RESP2 and RESP3, read back independently.

The wire bytes are decoded by tests/resp/resp_decoder.py (written from the protocol spec, no
shared code) and compared with what Redis 7.0 sends for the same value: RESP3 types as such,
and in RESP2 the degradations of `networking.c` (map -> flat array, set -> array, double ->
bulk string of "%.17g", boolean -> :1/:0, verbatim -> bulk, big number -> bulk, null -> $-1,
null array -> *-1). Doubles are checked against the C library's own `%.17g` (via ctypes).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord_resp.resp import (
    NULL_ARRAY,
    OK,
    BigNumber,
    ErrorReply,
    Map,
    NestedMap,
    Pairs,
    Push,
    RespSet,
    SimpleString,
    Verbatim,
    encode_error,
    encode_reply,
    format_double,
)

from .resp_decoder import (
    Big,
    Double,
    Error,
    MapValue,
    Null,
    PushValue,
    SetValue,
    Simple,
    VerbatimText,
    decode,
    decode_all,
)

_libc = ctypes.CDLL(ctypes.util.find_library("c"))


def c_format_double(value: float) -> bytes:
    """What Redis 7.0's `snprintf(buf, len, "%.17g", d)` prints, from the C library itself."""
    buffer = ctypes.create_string_buffer(64)
    _libc.snprintf(buffer, 64, b"%.17g", ctypes.c_double(value))
    return buffer.value


def expected(value: object, proto: int) -> object:
    """The decoded form of `value` as Redis 7.0 would send it."""
    resp3 = proto == 3
    if isinstance(value, SimpleString):
        return Simple(bytes(value))
    if isinstance(value, ErrorReply):
        return Error(bytes(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, bool):
        return value if resp3 else int(value)
    if isinstance(value, int):
        return value
    if value is None:
        return Null("null") if resp3 else Null("bulk")
    if value is NULL_ARRAY:
        return Null("null") if resp3 else Null("array")
    if isinstance(value, float):
        text = c_format_double(value)
        return Double(text) if resp3 else text
    if isinstance(value, Verbatim):
        return VerbatimText(value.format, value.text) if resp3 else value.text
    if isinstance(value, BigNumber):
        return Big(value.value) if resp3 else str(value.value).encode()
    if isinstance(value, Map):
        pairs = [(expected(k, proto), expected(v, proto)) for k, v in value.items()]
        return MapValue(tuple(pairs)) if resp3 else [x for pair in pairs for x in pair]
    if isinstance(value, RespSet):
        items = [expected(item, proto) for item in value]
        return SetValue(tuple(items)) if resp3 else items
    if isinstance(value, Push):
        items = [expected(item, proto) for item in value]
        return PushValue(tuple(items)) if resp3 else items
    if isinstance(value, list | tuple):
        return [expected(item, proto) for item in value]
    raise TypeError(value)


no_newline = st.binary(max_size=20).filter(lambda b: b"\r" not in b and b"\n" not in b)
any_double = st.floats(allow_nan=True, allow_infinity=True) | st.integers(0, 2**64 - 1).map(
    lambda bits: struct.unpack("<d", struct.pack("<Q", bits))[0]  # every bit pattern, NaNs too
)
hashable_leaves = st.one_of(
    st.binary(max_size=30),
    no_newline.map(SimpleString),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.none(),
    any_double,
    st.booleans(),
    st.builds(Verbatim, st.binary(max_size=30), st.sampled_from([b"txt", b"mkd"])),
    st.integers().map(BigNumber),
)
leaves = hashable_leaves | st.one_of(
    no_newline.map(ErrorReply),
    st.binary(max_size=10).map(bytearray),
    st.just(NULL_ARRAY),
)
replies = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.lists(children, max_size=5).map(RespSet),
        st.lists(children, max_size=5).map(Push),
        st.dictionaries(hashable_leaves, children, max_size=4).map(Map),
    ),
    max_leaves=25,
)


@given(replies)
@settings(max_examples=500)
def test_every_reply_round_trips_in_resp2_and_resp3(value: object) -> None:
    for proto in (2, 3):
        assert decode(encode_reply(value, proto)) == expected(value, proto)


@given(st.lists(replies, max_size=5))
def test_pipelined_replies_are_self_delimiting(values: list[object]) -> None:
    for proto in (2, 3):
        wire = b"".join(encode_reply(value, proto) for value in values)
        assert decode_all(wire) == [expected(value, proto) for value in values]


@given(any_double)
def test_doubles_are_printed_like_glibc(value: float) -> None:
    assert format_double(value) == c_format_double(value)


@pytest.mark.parametrize(
    ("value", "resp2", "resp3"),
    [
        (OK, b"+OK\r\n", b"+OK\r\n"),
        (b"", b"$0\r\n\r\n", b"$0\r\n\r\n"),
        (None, b"$-1\r\n", b"_\r\n"),
        (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
        ([], b"*0\r\n", b"*0\r\n"),
        (-1, b":-1\r\n", b":-1\r\n"),
        (1023, b":1023\r\n", b":1023\r\n"),
        (2**63 - 1, b":9223372036854775807\r\n", b":9223372036854775807\r\n"),
        (True, b":1\r\n", b"#t\r\n"),
        (False, b":0\r\n", b"#f\r\n"),
        (0.1, b"$19\r\n0.10000000000000001\r\n", b",0.10000000000000001\r\n"),
        (1.0, b"$1\r\n1\r\n", b",1\r\n"),
        (-0.0, b"$2\r\n-0\r\n", b",-0\r\n"),
        (1e300, b"$23\r\n1.0000000000000001e+300\r\n", b",1.0000000000000001e+300\r\n"),
        (math.inf, b"$3\r\ninf\r\n", b",inf\r\n"),
        (-math.inf, b"$4\r\n-inf\r\n", b",-inf\r\n"),
        (math.nan, b"$3\r\nnan\r\n", b",nan\r\n"),
        (-math.nan, b"$4\r\n-nan\r\n", b",-nan\r\n"),
        (Verbatim(b"Some string"), b"$11\r\nSome string\r\n", b"=15\r\ntxt:Some string\r\n"),
        (
            BigNumber(-(2**70)),
            b"$23\r\n-1180591620717411303424\r\n",
            b"(-1180591620717411303424\r\n",
        ),
        (Map({b"a": 1}), b"*2\r\n$1\r\na\r\n:1\r\n", b"%1\r\n$1\r\na\r\n:1\r\n"),
        (RespSet([b"x"]), b"*1\r\n$1\r\nx\r\n", b"~1\r\n$1\r\nx\r\n"),
        (Push([b"message"]), b"*1\r\n$7\r\nmessage\r\n", b">1\r\n$7\r\nmessage\r\n"),
        (
            Pairs([(b"m", 1.5), (b"n", 2.0)]),
            b"*4\r\n$1\r\nm\r\n$3\r\n1.5\r\n$1\r\nn\r\n$1\r\n2\r\n",
            b"*2\r\n*2\r\n$1\r\nm\r\n,1.5\r\n*2\r\n$1\r\nn\r\n,2\r\n",
        ),
        (Pairs(), b"*0\r\n", b"*0\r\n"),
        (
            NestedMap([(b"s", [b"1-0"])]),  # XREAD: [key, entries] pairs, a map in RESP3
            b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n$3\r\n1-0\r\n",
            b"%1\r\n$1\r\ns\r\n*1\r\n$3\r\n1-0\r\n",
        ),
        (ErrorReply(b"ERR no"), b"-ERR no\r\n", b"-ERR no\r\n"),
    ],
)
def test_exact_bytes(value: object, resp2: bytes, resp3: bytes) -> None:
    assert encode_reply(value, 2) == resp2
    assert encode_reply(value, 3) == resp3


def test_error_text_stays_on_one_line() -> None:
    # Redis's addReplyErrorFormat: trailing CR/LF trimmed, the others become spaces.
    assert encode_error(b"ERR a\r\nb\r\n") == b"-ERR a  b\r\n"
    assert encode_error("\nERR x") == b"- ERR x\r\n"
    assert encode_reply(ErrorReply(b"ERR bad\nthing\n"), 3) == b"-ERR bad thing\r\n"


def test_subclasses_take_their_base_encoding() -> None:
    class Key(bytes):
        pass

    class Flags(dict):  # type: ignore[type-arg]
        pass

    assert encode_reply(Key(b"k")) == b"$1\r\nk\r\n"
    assert encode_reply(Flags({b"a": b"b"}), 3) == b"%1\r\n$1\r\na\r\n$1\r\nb\r\n"
    with pytest.raises(TypeError):
        encode_reply(object())
