"""BITFIELD and BITFIELD_RO on the state machine, against a model that works on a list of
bits: random sequences of GET/SET/INCRBY with every overflow mode, the string they leave, and
what counts as a change. Replies and errors are compared with Redis 7.0 byte for byte in
compat/scenarios/bits_bitfield.txt."""

from __future__ import annotations

import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from concord_resp.commands import build_table
from concord_resp.commands.bitfield import parse_type
from concord_resp.commands.errors import CommandError
from concord_resp.resp import ErrorReply, Reply
from concord_resp.state import Command, StateMachine
from concord_resp.store import Database

SECOND = 1_000_000
INVALID_TYPE = ErrorReply(
    b"ERR Invalid bitfield type. Use something like i16 u8. "
    b"Note that u64 is not supported but i64 is."
)
READ_ONLY = ErrorReply(b"ERR BITFIELD_RO only supports the GET subcommand")


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


def _argv(args: tuple[bytes | str | int, ...]) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


SHARED = Node()
"""One node for the property tests (building a command table per example is slow)."""


# -- the model: a list of bits ------------------------------------------------------------------


class Model:
    def __init__(self, data: bytes | None) -> None:
        self.exists = data is not None
        self.changes = 0  # ops that changed their field (Redis's `changes`: any -> modified)
        self.bits = [(byte >> (7 - i)) & 1 for byte in data or b"" for i in range(8)]

    def get(self, offset: int, width: int, signed: bool) -> int:
        bits = self.bits[offset : offset + width]
        bits += [0] * (width - len(bits))
        value = int("".join(map(str, bits)), 2)
        return value - (1 << width) if signed and bits[0] else value

    def put(self, offset: int, width: int, value: int) -> None:
        text = format(value % (1 << width), f"0{width}b")
        for i, char in enumerate(text):
            self.bits[offset + i] = int(char)

    def grow(self, last_bit: int) -> None:
        size = (last_bit // 8 + 1) * 8
        if len(self.bits) < size:
            self.bits += [0] * (size - len(self.bits))
        self.exists = True

    def to_bytes(self) -> bytes | None:
        if not self.exists:
            return None
        return bytes(
            int("".join(map(str, self.bits[i : i + 8])), 2) for i in range(0, len(self.bits), 8)
        )


def _run_model(model: Model, ops: list[tuple[str, str, int, int, str]]) -> list[Reply]:
    writes = [op for op in ops if op[0] != "GET"]
    if writes:
        model.grow(max(offset + int(kind[1:]) - 1 for _, kind, offset, _, _ in writes))
    replies: list[Reply] = []
    for name, kind, offset, argument, overflow in ops:
        signed, width = kind[0] == "i", int(kind[1:])
        low, high = (
            (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
        )
        old = model.get(offset, width, signed)
        if name == "GET":
            replies.append(old)
            continue
        target = old + argument if name == "INCRBY" else argument
        if not signed and name == "SET":
            target %= 1 << 64  # Redis reads an unsigned SET value as a uint64
        if low <= target <= high:
            new = target
        elif overflow == "FAIL":
            replies.append(None)
            continue
        elif overflow == "SAT":
            new = high if target > high else low
        else:
            new = (target - low) % (1 << width) + low
        model.put(offset, width, new)
        if new != old:
            model.changes += 1
        replies.append(new if name == "INCRBY" else old)
    return replies


_KINDS = [f"i{n}" for n in (1, 2, 5, 8, 13, 32, 63, 64)] + [f"u{n}" for n in (1, 3, 8, 16, 31, 63)]
_op = st.tuples(
    st.sampled_from(["GET", "SET", "INCRBY"]),
    st.sampled_from(_KINDS),
    st.integers(0, 90),
    st.integers(-(2**63), 2**63 - 1) | st.integers(-300, 300),
    st.sampled_from(["WRAP", "SAT", "FAIL"]),
)


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=12) | st.none(), ops=st.lists(_op, max_size=6))
@example(data=b"\x00", ops=[("SET", "i1", 0, 1, "WRAP"), ("SET", "i1", 0, 0, "WRAP")])
def test_bitfield_matches_the_bit_model(
    data: bytes | None, ops: list[tuple[str, str, int, int, str]]
) -> None:
    node = SHARED
    node.write("DEL", "k")
    if data is not None:
        node.write("SET", "k", data)
    argv: list[bytes | str | int] = []
    for name, kind, offset, argument, overflow in ops:
        argv += ["OVERFLOW", overflow, name, kind, offset]
        if name != "GET":
            argv.append(argument)
    model = Model(data)
    expected = _run_model(model, ops)
    version = node.db.watch_state(b"k", 1000)
    assert node.write("BITFIELD", "k", *argv) == expected
    assert node.read("GET", "k") == model.to_bytes()
    # Modified (WATCH fails) if a field changed on the way, even if a later op set it back.
    changed = model.to_bytes() != data or model.changes > 0
    assert (node.db.watch_state(b"k", 1000) != version) == changed
    if all(op[0] == "GET" for op in ops):
        assert node.read("BITFIELD_RO", "k", *argv) == expected


def test_offsets_by_field_index() -> None:
    node = Node()
    assert node.write("BITFIELD", "k", "SET", "u8", "#1", 7, "SET", "u4", "#1", 15) == [0, 0]
    assert node.read("GET", "k") == b"\x0f\x07"
    assert node.read("BITFIELD_RO", "k", "GET", "u8", "#1", "GET", "i4", "#0") == [7, 0]


def test_a_write_that_changes_no_field_bumps_no_version_but_leaves_the_string_raw() -> None:
    node = Node()
    node.write("SET", "k", "abc")
    version = node.db.versions[b"k"]
    assert node.write("BITFIELD", "k", "SET", "u8", 0, 97, "INCRBY", "i8", 8, 0) == [97, 98]
    assert node.db.versions[b"k"] == version
    assert node.read("OBJECT", "ENCODING", "k") == b"raw"
    assert node.write("BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u8", 0, 1000) == [None]
    assert node.db.versions[b"k"] == version
    assert node.write("BITFIELD", "k", "INCRBY", "u8", 0, 1) == [98]
    assert node.db.versions[b"k"] > version
    assert type(node.db.data[b"k"]) is bytearray


def test_a_failed_write_still_creates_or_grows_the_string() -> None:
    node = Node()
    assert node.write("BITFIELD", "k", "OVERFLOW", "FAIL", "SET", "u8", 8, 256) == [None]
    assert node.read("GET", "k") == b"\x00\x00"


def test_gets_alone_create_nothing_and_read_past_the_end_as_zeros() -> None:
    node = Node()
    assert node.write("BITFIELD", "k", "GET", "u8", 0, "GET", "i64", 1000) == [0, 0]
    assert b"k" not in node.db.data
    assert node.write("BITFIELD", "k") == []
    node.write("SET", "k", b"\x80")
    assert node.read("BITFIELD_RO", "k", "GET", "i64", 0, "GET", "u63", 1) == [-(2**63), 0]


def test_the_ttl_is_kept_and_replies_are_not_stored_objects() -> None:
    node = Node()
    node.write("SET", "k", "abc", "EX", 100)
    assert node.write("BITFIELD", "k", "SET", "u8", 24, 100) == [0]
    assert node.db.ttl_ms(b"k") == 101_000
    assert node.read("GET", "k") == b"abcd"


@pytest.mark.parametrize(
    ("arg", "signed", "bits"),
    [(b"i64", True, 64), (b"u63", False, 63), (b"i1", True, 1), (b"u8\x00junk", False, 8)],
)
def test_types(arg: bytes, signed: bool, bits: int) -> None:
    assert parse_type(arg) == (signed, bits)


@pytest.mark.parametrize("arg", [b"u64", b"i65", b"u0", b"i", b"", b"U8", b"u08", b"u+8", b"x8"])
def test_bad_types(arg: bytes) -> None:
    with pytest.raises(CommandError, match="Invalid bitfield type"):
        parse_type(arg)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["GET", "u8"], ErrorReply(b"ERR syntax error")),
        (["SET", "u8", 0], ErrorReply(b"ERR syntax error")),
        (["OVERFLOW"], ErrorReply(b"ERR syntax error")),
        (["OVERFLOW", "NONE"], ErrorReply(b"ERR Invalid OVERFLOW type specified")),
        (["GET", "u64", 0], INVALID_TYPE),
        (["GET", "u8", -1], ErrorReply(b"ERR bit offset is not an integer or out of range")),
        (["SET", "u8", 0, "x"], ErrorReply(b"ERR value is not an integer or out of range")),
        (["SET", "u8", 0, 1, "GET", "u99", 0], INVALID_TYPE),  # parsed before anything runs
    ],
)
def test_errors_run_nothing(args: list[str | int], error: ErrorReply) -> None:
    node = Node()
    assert node.write("BITFIELD", "k", *args) == error
    assert b"k" not in node.db.data


def test_bitfield_ro_refuses_writes_after_parsing_and_before_the_type_check() -> None:
    node = Node()
    node.write("RPUSH", "l", "a")
    assert node.read("BITFIELD_RO", "l", "SET", "u8", 0, 1) == READ_ONLY
    assert node.read("BITFIELD_RO", "l", "SET", "u99", 0, 1) == INVALID_TYPE
    assert node.read("BITFIELD_RO", "l", "GET", "u8", 0) == ErrorReply(
        b"WRONGTYPE Operation against a key holding the wrong kind of value"
    )
