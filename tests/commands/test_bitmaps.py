"""Bitmap commands on the state machine: what SETBIT and BITOP change (versions, the raw
encoding, TTLs), and BITCOUNT/BITPOS against a bit-by-bit model on random strings. Replies
and errors are compared with Redis 7.0 byte for byte in compat/scenarios/bits_*.txt."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord_resp.commands import build_table
from concord_resp.commands.bitmaps import first_bit, parse_bit_offset
from concord_resp.commands.errors import CommandError
from concord_resp.resp import ErrorReply, Reply
from concord_resp.state import Command, StateMachine
from concord_resp.store import Database

SECOND = 1_000_000
WRONGTYPE = ErrorReply(b"WRONGTYPE Operation against a key holding the wrong kind of value")
BIT_OFFSET = ErrorReply(b"ERR bit offset is not an integer or out of range")
BIT_VALUE = ErrorReply(b"ERR bit is not an integer or out of range")
SYNTAX = ErrorReply(b"ERR syntax error")


class Node:
    def __init__(self) -> None:
        self.machine = StateMachine(build_table())
        self.index = 0

    def write(self, *args: bytes | str | int) -> Reply:
        self.index += 1
        return self.machine.apply(self.index, Command(SECOND, 0, _argv(args))).reply

    def read(self, *args: bytes | str | int) -> Reply:
        ctx = self.machine.read_context(0, SECOND, random.Random(0))
        return self.machine.run(ctx, _argv(args))

    @property
    def db(self) -> Database:
        return self.machine.keyspace.dbs[0]

    def encoding(self, key: bytes) -> Reply:
        return self.read("OBJECT", "ENCODING", key)


def _argv(args: tuple[bytes | str | int, ...]) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


SHARED = Node()
"""One node for the property tests (building a command table per example is slow)."""


# -- SETBIT / GETBIT --------------------------------------------------------------------------


def test_setbit_creates_a_raw_string_and_grows_it_with_zeros() -> None:
    node = Node()
    assert node.write("SETBIT", "b", 7, 1) == 0
    assert node.db.data[b"b"] == bytearray(b"\x01")
    assert node.encoding(b"b") == b"raw"
    assert node.write("SETBIT", "b", 23, 1) == 0
    assert node.read("GET", "b") == b"\x01\x00\x01"
    assert node.write("SETBIT", "b", 23, 0) == 1
    assert node.read("GET", "b") == b"\x01\x00\x00"
    assert [node.read("GETBIT", "b", offset) for offset in (7, 8, 23, 24, 10**9)] == [1, 0, 0, 0, 0]
    assert node.read("GETBIT", "missing", 3) == 0


def test_setbit_changes_a_stored_string_in_place_and_keeps_its_ttl() -> None:
    node = Node()
    node.write("SET", "s", "abc", "EX", 100)
    assert node.write("SETBIT", "s", 6, 1) == 0
    assert node.read("GET", "s") == b"cbc"
    assert type(node.db.data[b"s"]) is bytearray
    assert node.db.ttl_ms(b"s") == 101_000
    stored = node.db.data[b"s"]
    node.write("SETBIT", "s", 30, 1)  # grows the same bytearray
    assert node.db.data[b"s"] is stored
    assert node.read("GET", "s") == b"cbc\x02"


def test_setbit_that_changes_nothing_bumps_no_version_but_leaves_the_string_raw() -> None:
    node = Node()
    node.write("SET", "n", 5)
    assert node.encoding(b"n") == b"int"
    version = node.db.versions[b"n"]
    assert node.write("SETBIT", "n", 0, 0) == 0
    assert node.db.versions[b"n"] == version  # WATCH sees no change
    assert node.read("GET", "n") == b"5"
    assert node.encoding(b"n") == b"raw"  # as dbUnshareStringValue leaves it
    assert node.read("OBJECT", "REFCOUNT", "n") == 1
    assert node.write("SETBIT", "n", 7, 1) == 1  # already set
    assert node.db.versions[b"n"] == version
    assert node.write("SETBIT", "n", 0, 1) == 0
    assert node.db.versions[b"n"] > version
    assert node.read("GET", "n") == b"\xb5"


def test_setbit_on_an_expired_key_starts_a_new_string() -> None:
    node = Node()
    node.write("SET", "k", "\xff", "PX", 1)
    node.index += 1
    assert (
        node.machine.apply(node.index, Command(3 * SECOND, 0, _argv(("SETBIT", "k", 9, 1)))).reply
        == 0
    )
    assert node.db.data[b"k"] == bytearray(b"\x00\x40")
    assert node.db.ttl_ms(b"k") is None


@pytest.mark.parametrize(
    ("offset", "value", "error"),
    [
        ("-1", "1", BIT_OFFSET),
        ("x", "1", BIT_OFFSET),
        ("4294967296", "1", BIT_OFFSET),
        ("#1", "1", BIT_OFFSET),  # no #N for SETBIT
        ("0", "2", BIT_VALUE),
        ("0", "-1", BIT_VALUE),
        ("0", "one", BIT_VALUE),
    ],
)
def test_setbit_errors_change_nothing(offset: str, value: str, error: ErrorReply) -> None:
    node = Node()
    assert node.write("SETBIT", "k", offset, value) == error
    assert b"k" not in node.db.data
    node.write("RPUSH", "l", "a")
    assert node.write("SETBIT", "l", offset, value) == error  # arguments come first
    assert node.read("GETBIT", "l", offset) == (error if error == BIT_OFFSET else WRONGTYPE)


def test_the_largest_offset_is_accepted_without_allocating() -> None:
    assert parse_bit_offset(b"4294967295") == 2**32 - 1
    with pytest.raises(CommandError):
        parse_bit_offset(b"4294967296")


@pytest.mark.parametrize(
    ("arg", "width", "offset"),
    [
        (b"#3", 8, 24),
        (b"#0", 64, 0),
        (b"#288230376151711744", 64, 0),  # 2^58 * 64 wraps around 64 bits, as in C
        (b"3", 8, 3),
    ],
)
def test_field_offsets(arg: bytes, width: int, offset: int) -> None:
    assert parse_bit_offset(arg, width) == offset


@pytest.mark.parametrize("arg", [b"#144115188075855872", b"#-1", b"#", b"##1", b"# 1", b"-#1"])
def test_bad_field_offsets(arg: bytes) -> None:
    with pytest.raises(CommandError, match="bit offset"):
        parse_bit_offset(arg, 64)


def test_bit_commands_refuse_other_types() -> None:
    node = Node()
    node.write("RPUSH", "l", "a")
    assert node.write("SETBIT", "l", 0, 1) == WRONGTYPE
    assert node.read("GETBIT", "l", 0) == WRONGTYPE
    assert node.read("BITCOUNT", "l") == WRONGTYPE
    assert node.read("BITPOS", "l", 1) == WRONGTYPE
    assert node.write("BITOP", "OR", "d", "l") == WRONGTYPE
    assert node.write("BITOP", "NOT", "l", "missing") == 0  # the target may be of any type
    assert b"l" not in node.db.data


# -- BITCOUNT / BITPOS against a bit-by-bit model ----------------------------------------------------


def _bits(data: bytes) -> list[int]:
    return [(byte >> (7 - i)) & 1 for byte in data for i in range(8)]


def _model_range(size: int, start: int, end: int) -> tuple[int, int]:
    if start < 0:
        start += size
    if end < 0:
        end += size
    return max(start, 0), min(max(end, 0), size - 1)


def _model_bitcount(data: bytes, start: int, end: int, in_bits: bool) -> int:
    bits = _bits(data)
    if start < 0 and end < 0 and start > end:
        return 0
    if in_bits:
        lo, hi = _model_range(len(bits), start, end)
        return sum(bits[lo : hi + 1])
    lo, hi = _model_range(len(data), start, end)
    return sum(_bits(data[lo : hi + 1])) if lo <= hi else 0


def _model_bitpos(data: bytes, bit: int, start: int, end: int | None, in_bits: bool) -> int:
    """The first `bit` in the range; for a 0 not found, the bit after the range when no end
    was given (the string is zero-padded), else -1."""
    bits = _bits(data)
    size = len(bits) if in_bits else len(data)
    lo, hi = _model_range(size, start, size - 1 if end is None else end)
    if lo > hi:
        return -1
    if not in_bits:
        lo, hi = lo * 8, hi * 8 + 7
    for position in range(lo, hi + 1):
        if bits[position] == bit:
            return position
    return hi + 1 if bit == 0 and end is None else -1


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(min_size=0, max_size=40),
    start=st.integers(-400, 400),
    end=st.integers(-400, 400),
    in_bits=st.booleans(),
)
def test_bitcount_matches_the_bit_model(data: bytes, start: int, end: int, in_bits: bool) -> None:
    node = SHARED
    node.write("SET", "k", data)
    unit = "BIT" if in_bits else "BYTE"
    assert node.read("BITCOUNT", "k", start, end, unit) == _model_bitcount(
        data, start, end, in_bits
    )
    if not in_bits:
        assert node.read("BITCOUNT", "k", start, end) == _model_bitcount(data, start, end, False)
    assert node.read("BITCOUNT", "k") == sum(_bits(data))


@settings(max_examples=400, deadline=None)
@given(
    data=st.binary(min_size=0, max_size=24).map(
        lambda raw: raw.translate(bytes([0x00, 0xFF, 0x0F, 0xF0] * 64))  # long runs of 0s, 1s
    ),
    bit=st.integers(0, 1),
    start=st.integers(-200, 200),
    end=st.integers(-200, 200) | st.none(),
    in_bits=st.booleans(),
)
def test_bitpos_matches_the_bit_model(
    data: bytes, bit: int, start: int, end: int | None, in_bits: bool
) -> None:
    node = SHARED
    node.write("SET", "k", data)
    if end is None:
        args: tuple[int, ...] = (start,)
        in_bits = False  # BIT needs an end
    else:
        args = (start, end)
    unit = ("BIT",) if in_bits else ()
    assert node.read("BITPOS", "k", bit, *args, *unit) == _model_bitpos(
        data, bit, start, end, in_bits
    )


def test_bitpos_whole_string_and_missing_keys() -> None:
    node = Node()
    node.write("SET", "ones", b"\xff\xff")
    assert node.read("BITPOS", "ones", 0) == 16  # past the end: zero padding
    assert node.read("BITPOS", "ones", 0, 0, -1) == -1  # an explicit end: no padding
    assert node.read("BITPOS", "ones", 1) == 0
    assert node.read("BITPOS", "missing", 0) == 0
    assert node.read("BITPOS", "missing", 1) == -1
    node.write("SET", "empty", "")
    assert node.read("BITPOS", "empty", 0) == -1
    assert first_bit(b"\x00\x10", 1) == 11
    assert first_bit(b"\xff\xef", 0) == 11
    assert first_bit(b"", 0) == 0


def test_bitcount_and_bitpos_on_a_large_string() -> None:
    node = Node()
    size = 4_000_000
    node.write("SETBIT", "big", size * 8 - 1, 1)
    node.write("SETBIT", "big", 12_345, 1)
    assert node.read("BITCOUNT", "big") == 2
    assert node.read("BITCOUNT", "big", 1544, -1) == 1
    assert node.read("BITPOS", "big", 1, 1544) == size * 8 - 1
    assert node.read("BITPOS", "big", 0) == 0
    assert node.read("BITPOS", "big", 1, 12_346, -1, "BIT") == size * 8 - 1


# -- BITOP ----------------------------------------------------------------------------------


def _model_bitop(operation: str, sources: list[bytes]) -> bytes:
    size = max((len(source) for source in sources), default=0)
    padded = [source.ljust(size, b"\x00") for source in sources]
    out = bytearray()
    for i in range(size):
        byte = padded[0][i]
        for source in padded[1:]:
            if operation == "AND":
                byte &= source[i]
            elif operation == "OR":
                byte |= source[i]
            else:
                byte ^= source[i]
        out.append(byte ^ 0xFF if operation == "NOT" else byte)
    return bytes(out)


@settings(max_examples=200, deadline=None)
@given(
    operation=st.sampled_from(["AND", "OR", "XOR"]),
    sources=st.lists(st.binary(max_size=50), min_size=1, max_size=5),
)
def test_bitop_matches_the_byte_model(operation: str, sources: list[bytes]) -> None:
    node = SHARED
    keys = []
    for i, source in enumerate(sources):
        keys.append(f"s{i}")
        node.write("SET", f"s{i}", source)
    size = node.write("BITOP", operation, "d", *keys, "missing")
    expected = _model_bitop(operation, [*sources, b""])
    assert size == len(expected)
    assert node.read("GET", "d") == (expected or None)


def test_bitop_not_and_the_stored_result() -> None:
    node = Node()
    node.write("SET", "a", b"\x0f\xf0")
    node.write("SET", "d", "old", "EX", 100)
    assert node.write("BITOP", "NOT", "d", "a") == 2
    assert node.db.data[b"d"] == bytearray(b"\xf0\x0f")  # stored raw
    assert node.db.ttl_ms(b"d") is None  # the target's TTL is gone
    assert node.write("BITOP", "NOT", "a", "a") == 2
    assert node.read("GET", "a") == b"\xf0\x0f"


def test_bitop_with_an_empty_result_deletes_the_target() -> None:
    node = Node()
    node.write("SET", "d", "x")
    node.write("SET", "empty", "")
    assert node.write("BITOP", "OR", "d", "missing", "empty") == 0
    assert b"d" not in node.db.data
    version = node.db.watch_state(b"d", 1000)
    assert node.write("BITOP", "AND", "d", "missing") == 0
    assert node.db.watch_state(b"d", 1000) == version  # nothing to delete: no change


def test_bitop_errors() -> None:
    node = Node()
    node.write("SET", "a", "x")
    assert node.write("BITOP", "NAND", "d", "a") == SYNTAX
    assert node.write("BITOP", "NOT", "d", "a", "a") == ErrorReply(
        b"ERR BITOP NOT must be called with a single source key."
    )
    assert node.write("BITOP", b"or\x00junk", "d", "a") == 1  # strcasecmp on a C string
