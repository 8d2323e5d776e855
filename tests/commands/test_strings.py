"""The string commands on the state machine, with explicit times.

Writes go through `StateMachine.apply` (committed log entries at the leader's time, in ms
here); reads through `read_context` + `run`. Expected replies were checked against Redis
7.0.15; the compat scenarios (`compat/scenarios/strings_*.txt`) compare the rest byte for byte.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord_resp.commands import build_table, strings
from concord_resp.commands.errors import CommandError
from concord_resp.commands.floats import (
    LONG_DOUBLE,
    format_long_double_human,
    round_to_format,
)
from concord_resp.commands.parse import option_name, parse_float, parse_long_double
from concord_resp.resp import OK, ErrorReply, Map, Reply
from concord_resp.state import Command, StateMachine, Transaction
from concord_resp.store import Database

FAR = 4_102_444_800_000  # 2100-01-01 in ms
WRONGTYPE = ErrorReply(b"WRONGTYPE Operation against a key holding the wrong kind of value")
SYNTAX = ErrorReply(b"ERR syntax error")
NOT_INTEGER = ErrorReply(b"ERR value is not an integer or out of range")
NOT_FLOAT = ErrorReply(b"ERR value is not a valid float")
OVERFLOW = ErrorReply(b"ERR increment or decrement would overflow")
NAN_OR_INF = ErrorReply(b"ERR increment would produce NaN or Infinity")
TOO_BIG = ErrorReply(b"ERR string exceeds maximum allowed size (proto-max-bulk-len)")


def _argv(args: Iterable[object]) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


def invalid_expire(name: str) -> ErrorReply:
    return ErrorReply(b"ERR invalid expire time in '%s' command" % name.encode())


class Node:
    """One state machine, driven the way the server drives it (times in ms)."""

    def __init__(self) -> None:
        self.machine = StateMachine(build_table())
        self.index = 0

    def write(self, at: int, *args: object) -> Reply:
        self.index += 1
        return self.machine.apply(self.index, Command(at * 1000, 0, _argv(args))).reply

    def multi(self, at: int, *commands: list[object]) -> Reply:
        self.index += 1
        op = Transaction(at * 1000, 0, [_argv(c) for c in commands], [])
        return self.machine.apply(self.index, op).reply

    def read(self, at: int, *args: object) -> Reply:
        ctx = self.machine.read_context(0, at * 1000, random.Random(0))
        return self.machine.run(ctx, _argv(args))

    @property
    def db(self) -> Database:
        return self.machine.keyspace.dbs[0]

    def hits_and_misses(self) -> tuple[int, int]:
        stats = self.machine.stats
        return stats.keyspace_hits, stats.keyspace_misses


@pytest.fixture
def node() -> Node:
    return Node()


@pytest.fixture
def with_list(node: Node) -> Node:
    """A node whose key `l` holds a value of another type (there is no list type yet)."""
    node.write(1000, "SET", "s", "str")
    node.db.set(b"l", ["not", "a", "string"], node.index)  # type: ignore[arg-type]
    return node


# -- GET / SET -------------------------------------------------------------------------


def test_set_and_get_binary_keys_and_values(node: Node) -> None:
    assert node.write(1000, "SET", b"k\x00ey", b"v\x00\xff") == OK
    assert node.read(1000, "GET", b"k\x00ey") == b"v\x00\xff"
    assert node.read(1000, "GET", b"k") is None
    assert node.write(1000, "SET", "e", "") == OK
    assert node.read(1000, "GET", "e") == b""
    assert node.read(1000, "STRLEN", "e") == 0


def test_set_nx_xx_and_get(node: Node) -> None:
    assert node.write(1000, "SET", "k", "a", "XX") is None
    assert node.write(1000, "SET", "k", "a", "NX") == OK
    assert node.write(1000, "SET", "k", "b", "NX") is None
    assert node.write(1000, "SET", "k", "b", "XX") == OK
    assert node.write(1000, "SET", "k", "c", "GET") == b"b"
    assert node.write(1000, "SET", "k", "d", "NX", "GET") == b"c"  # not set, old value
    assert node.read(1000, "GET", "k") == b"c"
    assert node.write(1000, "SET", "n", "v", "XX", "GET") is None
    assert node.read(1000, "GET", "n") is None
    assert node.write(1000, "SET", "n", "v", "NX", "GET") is None
    assert node.read(1000, "GET", "n") == b"v"


@pytest.mark.parametrize(
    ("options", "reply", "expiry"),
    [
        (["NX", "NX"], OK, None),
        (["XX", "XX"], None, None),
        (["GET", "GET"], None, None),
        (["KEEPTTL", "KEEPTTL"], OK, None),
        (["EX", "10", "EX", "20"], OK, 21_000),
        (["PXAT", "1", "PXAT", str(FAR)], OK, FAR),
        (["EX", "abc", "EX", "20"], OK, 21_000),  # only the last value is parsed
    ],
)
def test_set_accepts_repeated_options(
    node: Node, options: list[str], reply: Reply, expiry: int | None
) -> None:
    assert node.write(1000, "SET", "k", "v", *options) == reply
    assert node.db.ttl_ms(b"k") == expiry


@pytest.mark.parametrize(
    "options",
    [
        ["NX", "XX"],
        ["XX", "NX"],
        ["EX", "10", "PX", "10"],
        ["EXAT", "10", "PXAT", "10"],
        ["EX", "10", "KEEPTTL"],
        ["KEEPTTL", "PX", "10"],
        ["PERSIST"],
        ["EX"],
        ["EX", "10", "EX"],
        ["BAD"],
        ["nxx"],
        ["10"],
    ],
)
def test_set_syntax_errors(node: Node, options: list[str]) -> None:
    assert node.write(1000, "SET", "k", "v", *options) == SYNTAX
    assert node.read(1000, "GET", "k") is None


def test_options_are_compared_as_c_strings() -> None:
    assert option_name(b"NX\x00junk") == b"nx"
    assert option_name(b"\x00NX") == b""
    assert option_name(b"KeepTTL") == b"keepttl"


def test_set_option_with_nul_byte_is_the_option(node: Node) -> None:
    node.write(1000, "SET", "k", "old")
    assert node.write(1000, "SET", "k", "new", b"get\x00trailing") == b"old"
    assert node.write(1000, "SET", "k", "newer", b"nx\x00") is None


def test_set_expiry_options_are_absolute_ms(node: Node) -> None:
    node.write(10_000, "SET", "k", "v", "EX", 10)
    assert node.db.ttl_ms(b"k") == 20_000
    node.write(10_000, "SET", "k", "v", "PX", 1500)
    assert node.db.ttl_ms(b"k") == 11_500
    node.write(10_000, "SET", "k", "v", "EXAT", 50)
    assert node.db.ttl_ms(b"k") == 50_000
    node.write(10_000, "SET", "k", "v", "PXAT", FAR)
    assert node.db.ttl_ms(b"k") == FAR
    node.write(10_000, "SET", "k", "v2", "KEEPTTL")
    assert node.db.ttl_ms(b"k") == FAR
    node.write(10_000, "SET", "k", "v3")
    assert node.db.ttl_ms(b"k") is None


def test_set_key_is_live_at_its_expiry_and_gone_one_ms_later(node: Node) -> None:
    node.write(1000, "SET", "k", "v", "PX", 500)
    assert node.read(1500, "GET", "k") == b"v"
    assert node.read(1501, "GET", "k") is None
    assert node.read(1501, "STRLEN", "k") == 0


def test_set_with_a_past_absolute_time_stores_an_expired_key(node: Node) -> None:
    assert node.write(5000, "SET", "k", "v", "PXAT", 1) == OK
    assert node.read(5000, "GET", "k") is None
    assert node.write(5000, "SET", "k", "v", "EXAT", 1, "GET") is None


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["EX", "0"], invalid_expire("set")),
        (["PX", "-1"], invalid_expire("set")),
        (["EXAT", "0"], invalid_expire("set")),
        (["EX", str(2**63 // 1000)], invalid_expire("set")),  # overflows ms
        (["EX", str((2**63 - 1) // 1000)], invalid_expire("set")),  # overflows with now
        (["PX", str(2**63 - 1)], invalid_expire("set")),
        (["EX", "1.5"], NOT_INTEGER),
        (["EX", str(2**63)], NOT_INTEGER),
    ],
)
def test_set_expiry_errors(node: Node, options: list[str], error: ErrorReply) -> None:
    assert node.write(1000, "SET", "k", "v", *options) == error
    assert node.read(1000, "GET", "k") is None


def test_exat_that_fits_only_as_absolute(node: Node) -> None:
    assert node.write(1000, "SET", "k", "v", "EXAT", (2**63 - 1) // 1000) == OK
    assert node.write(1000, "PSETEX", "k", 2**63 - 1001, "v") == OK
    assert node.write(1000, "PSETEX", "k", 2**63 - 1000, "v") == invalid_expire("psetex")


def test_keepttl_on_an_expired_key_starts_without_ttl(node: Node) -> None:
    node.write(1000, "SET", "k", "v", "PXAT", 2000)
    assert node.write(3000, "SET", "k", "v2", "KEEPTTL") == OK
    assert node.db.ttl_ms(b"k") is None
    assert node.read(10**9, "GET", "k") == b"v2"


def test_set_overwrites_other_types_but_get_refuses_them(with_list: Node) -> None:
    node = with_list
    assert node.write(1000, "SET", "l", "v", "GET") == WRONGTYPE
    assert node.write(1000, "SET", "l", "v", "NX", "GET") == WRONGTYPE
    assert node.write(1000, "SET", "l", "v", "GET", "EX", 0) == invalid_expire("set")
    assert node.write(1000, "SET", "l", "v", "NX") is None
    assert node.write(1000, "SET", "l", "v") == OK
    assert node.read(1000, "GET", "l") == b"v"


# -- SETNX, SETEX, PSETEX, GETSET, GETDEL ----------------------------------------------


def test_setnx(with_list: Node) -> None:
    node = with_list
    assert node.write(1000, "SETNX", "k", "a") == 1
    assert node.write(1000, "SETNX", "k", "b") == 0
    assert node.write(1000, "SETNX", "l", "b") == 0  # any type counts as existing
    assert node.read(1000, "GET", "k") == b"a"
    node.write(1000, "SET", "e", "v", "PXAT", 1000)
    assert node.write(1001, "SETNX", "e", "new") == 1


def test_setex_and_psetex(node: Node) -> None:
    assert node.write(1000, "SETEX", "k", 10, "v") == OK
    assert node.db.ttl_ms(b"k") == 11_000
    assert node.write(1000, "PSETEX", "k", 10, "w") == OK
    assert node.db.ttl_ms(b"k") == 1010
    assert node.read(1010, "GET", "k") == b"w"
    assert node.read(1011, "GET", "k") is None
    assert node.write(1000, "SETEX", "k", 0, "v") == invalid_expire("setex")
    assert node.write(1000, "PSETEX", "k", -5, "v") == invalid_expire("psetex")
    assert node.write(1000, "SETEX", "k", "x", "v") == NOT_INTEGER


def test_getset_returns_the_old_value_and_clears_the_ttl(with_list: Node) -> None:
    node = with_list
    assert node.write(1000, "GETSET", "k", "a") is None
    node.write(1000, "SET", "k", "a", "PXAT", FAR)
    assert node.write(1000, "GETSET", "k", "b") == b"a"
    assert node.db.ttl_ms(b"k") is None
    assert node.write(1000, "GETSET", "l", "b") == WRONGTYPE


def test_getdel(with_list: Node) -> None:
    node = with_list
    node.write(1000, "SET", "k", "v")
    assert node.write(1000, "GETDEL", "k") == b"v"
    assert b"k" not in node.db.data
    assert node.write(1000, "GETDEL", "k") is None
    assert node.write(1000, "GETDEL", "l") == WRONGTYPE
    assert b"l" in node.db.data


# -- GETEX -----------------------------------------------------------------------------


def test_getex_sets_replaces_and_removes_the_ttl(node: Node) -> None:
    node.write(1000, "SET", "k", "v")
    assert node.write(1000, "GETEX", "k") == b"v"
    assert node.db.ttl_ms(b"k") is None
    assert node.write(1000, "GETEX", "k", "EX", 5) == b"v"
    assert node.db.ttl_ms(b"k") == 6000
    assert node.write(1000, "GETEX", "k", "PX", 5) == b"v"
    assert node.db.ttl_ms(b"k") == 1005
    assert node.write(1000, "GETEX", "k", "EXAT", 7) == b"v"
    assert node.db.ttl_ms(b"k") == 7000
    assert node.write(1000, "GETEX", "k", "PXAT", FAR) == b"v"
    assert node.db.ttl_ms(b"k") == FAR
    version = node.db.versions[b"k"]
    assert node.write(1000, "GETEX", "k", "PERSIST") == b"v"
    assert node.db.ttl_ms(b"k") is None
    assert node.db.versions[b"k"] > version
    version = node.db.versions[b"k"]
    assert node.write(1000, "GETEX", "k", "PERSIST") == b"v"
    assert node.db.versions[b"k"] == version  # nothing to remove: no change


def test_getex_absolute_time_now_or_earlier_deletes(node: Node) -> None:
    node.write(1000, "SET", "k", "v")
    assert node.write(5000, "GETEX", "k", "PXAT", 5001) == b"v"
    assert b"k" in node.db.data
    assert node.write(5000, "GETEX", "k", "PXAT", 5000) == b"v"  # when <= now: deleted
    assert b"k" not in node.db.data
    node.write(5000, "SET", "k", "v")
    assert node.write(5000, "GETEX", "k", "EXAT", 1) == b"v"
    assert node.read(5000, "GET", "k") is None


def test_getex_checks_in_redis_order(with_list: Node) -> None:
    node = with_list
    assert node.write(1000, "GETEX", "nokey", "BAD") == SYNTAX
    assert node.write(1000, "GETEX", "nokey", "EX", 0) is None  # expiry not looked at
    assert node.write(1000, "GETEX", "nokey", "EX", "abc") is None
    assert node.write(1000, "GETEX", "l", "EX", 0) == WRONGTYPE
    assert node.write(1000, "GETEX", "s", "EX", 0) == invalid_expire("getex")
    assert node.write(1000, "GETEX", "s", "EX", "x") == NOT_INTEGER
    for options in (["PERSIST", "EX", 1], ["EX", 1, "PERSIST"], ["KEEPTTL"], ["NX"], ["GET"]):
        assert node.write(1000, "GETEX", "s", *options) == SYNTAX
    assert node.write(1000, "GETEX", "s", "EX", 1, "EX", 2) == b"str"
    assert node.db.ttl_ms(b"s") == 3000


# -- MGET, MSET, MSETNX ----------------------------------------------------------------


def test_mget_gives_null_for_missing_and_other_types(with_list: Node) -> None:
    node = with_list
    assert node.read(1000, "MGET", "s", "l", "nokey", "s") == [b"str", None, None, b"str"]


def test_mset_and_msetnx(with_list: Node) -> None:
    node = with_list
    assert node.write(1000, "MSET", "a", 1, "b", 2, "a", 3) == OK
    assert node.read(1000, "MGET", "a", "b") == [b"3", b"2"]
    error = ErrorReply(b"ERR wrong number of arguments for 'mset' command")
    assert node.write(1000, "MSET", "a", 1, "b") == error
    assert node.write(1000, "MSETNX", "c", 1, "a", 2) == 0
    assert node.write(1000, "MSETNX", "c", 1, "l", 2) == 0
    assert node.read(1000, "GET", "c") is None
    assert node.write(1000, "MSETNX", "c", 1, "c", 2) == 1  # duplicates: the last wins
    assert node.read(1000, "GET", "c") == b"2"
    error = ErrorReply(b"ERR wrong number of arguments for 'msetnx' command")
    assert node.write(1000, "MSETNX", "x", 1, "y") == error


def test_mset_clears_ttls_and_msetnx_sees_expired_keys_as_absent(node: Node) -> None:
    node.write(1000, "SET", "a", "v", "PXAT", FAR)
    node.write(1000, "MSET", "a", "w")
    assert node.db.ttl_ms(b"a") is None
    node.write(1000, "SET", "e", "v", "PXAT", 1500)
    assert node.write(2000, "MSETNX", "e", "new", "f", "x") == 1
    assert node.db.ttl_ms(b"e") is None


# -- APPEND and SETRANGE: raw strings changed in place ---------------------------------


def test_append_creates_bytes_then_grows_a_bytearray_in_place(node: Node) -> None:
    assert node.write(1000, "APPEND", "k", "ab") == 2
    assert type(node.db.data[b"k"]) is bytes
    assert node.write(1000, "APPEND", "k", "cd") == 4
    raw = node.db.data[b"k"]
    assert type(raw) is bytearray
    version = node.db.versions[b"k"]
    assert node.write(1000, "APPEND", "k", "\x00e") == 6
    assert node.db.data[b"k"] is raw  # the same object, changed in place
    assert node.db.versions[b"k"] > version  # and WATCH sees the change
    assert node.read(1000, "GET", "k") == b"abcd\x00e"
    assert node.read(1000, "STRLEN", "k") == 6


def test_append_of_nothing_still_makes_the_value_raw(node: Node) -> None:
    node.write(1000, "SET", "k", "12")
    assert node.write(1000, "APPEND", "k", "") == 2
    assert type(node.db.data[b"k"]) is bytearray
    assert node.write(1000, "APPEND", "new", "") == 0
    assert node.db.data[b"new"] == b""


def test_append_and_setrange_keep_the_ttl(node: Node) -> None:
    node.write(1000, "SET", "k", "v", "PXAT", FAR)
    node.write(1000, "APPEND", "k", "w")
    node.write(1000, "SETRANGE", "k", 5, "x")
    assert node.db.ttl_ms(b"k") == FAR
    assert node.read(1000, "GET", "k") == b"vw\x00\x00\x00x"


def test_append_to_an_expired_key_starts_a_new_one(node: Node) -> None:
    node.write(1000, "SET", "k", "old", "PXAT", 1500)
    assert node.write(2000, "APPEND", "k", "new") == 3
    assert node.db.ttl_ms(b"k") is None
    assert node.read(2000, "GET", "k") == b"new"


def test_size_limit(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    assert node.write(1000, "SETRANGE", "k", 512 * 1024 * 1024, "x") == TOO_BIG
    assert node.write(1000, "SETRANGE", "k", 2**63 - 1, "xy") == TOO_BIG
    assert node.write(1000, "SETRANGE", "k", 512 * 1024 * 1024 - 1, "") == 0
    monkeypatch.setattr(strings, "PROTO_MAX_BULK_LEN", 10)
    node.write(1000, "SET", "k", "12345")
    assert node.write(1000, "APPEND", "k", "67890") == 10
    assert node.write(1000, "APPEND", "k", "1") == TOO_BIG
    assert node.write(1000, "APPEND", "new", "a" * 11) == 11  # a new key is not checked
    assert node.write(1000, "SETRANGE", "k", 9, "ab") == TOO_BIG
    assert node.write(1000, "SETRANGE", "k", 9, "a") == 10


def test_setrange(with_list: Node) -> None:
    node = with_list
    assert node.write(1000, "SETRANGE", "k", 0, "") == 0
    assert b"k" not in node.db.data
    assert node.write(1000, "SETRANGE", "k", 3, "ab") == 5
    assert node.db.data[b"k"] == bytearray(b"\x00\x00\x00ab")
    raw = node.db.data[b"k"]
    version = node.db.versions[b"k"]
    assert node.write(1000, "SETRANGE", "k", 1, "XYZW") == 5
    assert node.db.data[b"k"] is raw
    assert node.db.versions[b"k"] > version
    assert node.read(1000, "GET", "k") == b"\x00XYZW"
    assert node.write(1000, "SETRANGE", "k", 7, "!") == 8
    assert node.read(1000, "GET", "k") == b"\x00XYZW\x00\x00!"
    version = node.db.versions[b"k"]
    assert node.write(1000, "SETRANGE", "k", 100, "") == 8  # nothing to set: no change
    assert node.db.versions[b"k"] == version
    assert node.write(1000, "SETRANGE", "k", -1, "x") == ErrorReply(b"ERR offset is out of range")
    assert node.write(1000, "SETRANGE", "k", "x", "x") == NOT_INTEGER
    assert node.write(1000, "SETRANGE", "l", 0, "") == WRONGTYPE
    assert node.write(1000, "SETRANGE", "l", -1, "") == ErrorReply(b"ERR offset is out of range")


def test_setrange_on_bytes_converts_once(node: Node) -> None:
    node.write(1000, "SET", "k", "hello")
    assert node.write(1000, "SETRANGE", "k", 0, "j") == 5
    assert node.db.data[b"k"] == bytearray(b"jello")


def test_replies_do_not_change_when_the_value_changes_in_place(node: Node) -> None:
    node.write(1000, "APPEND", "k", "a")
    node.write(1000, "APPEND", "k", "b")
    replies = node.multi(
        1000,
        ["GET", "k"],
        ["MGET", "k"],
        ["GETEX", "k"],
        ["APPEND", "k", "c"],
        ["SETRANGE", "k", 0, "X"],
        ["GET", "k"],
    )
    assert replies == [b"ab", [b"ab"], b"ab", 3, 3, b"Xbc"]
    assert isinstance(replies, list)
    assert all(type(r) is bytes for r in (replies[0], replies[2], replies[5]))


# -- counters --------------------------------------------------------------------------


def test_incr_family(node: Node) -> None:
    assert node.write(1000, "INCR", "c") == 1
    assert node.write(1000, "INCRBY", "c", 41) == 42
    assert node.write(1000, "DECR", "c") == 41
    assert node.write(1000, "DECRBY", "c", 50) == -9
    assert node.read(1000, "GET", "c") == b"-9"
    assert node.write(1000, "INCRBY", "c", "x") == NOT_INTEGER
    assert node.write(1000, "INCRBY", "c", "1.0") == NOT_INTEGER


def test_incr_overflow_at_both_ends(node: Node) -> None:
    node.write(1000, "SET", "c", 2**63 - 1)
    assert node.write(1000, "INCR", "c") == OVERFLOW
    assert node.write(1000, "DECRBY", "c", -1) == OVERFLOW
    assert node.write(1000, "INCRBY", "c", -(2**63)) == -1
    node.write(1000, "SET", "c", -(2**63))
    assert node.write(1000, "DECR", "c") == OVERFLOW
    assert node.write(1000, "INCRBY", "c", 2**63 - 1) == -1
    error = ErrorReply(b"ERR decrement would overflow")
    assert node.write(1000, "DECRBY", "c", -(2**63)) == error


@pytest.mark.parametrize("text", [" 1", "1 ", "+1", "01", "1.0", "", "abc", "1\x002", str(2**63)])
def test_incr_refuses_values_that_are_not_strict_integers(node: Node, text: str) -> None:
    node.write(1000, "SET", "c", text)
    assert node.write(1000, "INCR", "c") == NOT_INTEGER


def test_counters_keep_the_ttl_and_ignore_expired_values(node: Node) -> None:
    node.write(1000, "SET", "c", 5, "PXAT", FAR)
    node.write(1000, "INCR", "c")
    node.write(1000, "INCRBYFLOAT", "c", "0.5")
    assert node.db.ttl_ms(b"c") == FAR
    node.write(1000, "SET", "c", 5, "PXAT", 1500)
    assert node.write(2000, "INCR", "c") == 1
    assert node.db.ttl_ms(b"c") is None


def test_counters_check_in_redis_order(with_list: Node) -> None:
    node = with_list
    assert node.write(1000, "INCRBY", "l", "x") == NOT_INTEGER  # the argument first
    assert node.write(1000, "DECRBY", "l", -(2**63)) == ErrorReply(b"ERR decrement would overflow")
    assert node.write(1000, "INCR", "l") == WRONGTYPE
    assert node.write(1000, "INCRBYFLOAT", "l", "x") == WRONGTYPE  # the type first


@pytest.mark.parametrize(
    ("start", "increments", "result"),
    [
        (None, ["10.5", "0.1"], b"10.6"),
        (None, ["0.1", "0.2"], b"0.3"),
        ("10.50", ["0.1"], b"10.6"),
        (None, ["3", "-3"], b"0"),
        (None, ["1e20"], b"100000000000000000000"),
        (None, ["0.000003814697265625"], b"0.00000381469726562"),  # a tie: to even
        (None, ["5e-18"], b"0"),
        (None, ["-0.000000000000000001"], b"0"),  # -0 is printed as 0
        (None, ["0.000000000000000015"], b"0.00000000000000002"),
        (None, ["1.23456789012345678901234567890"], b"1.23456789012345679"),
        (None, ["123456789012345678901234567890"], b"123456789012345678899921813504"),
        (None, ["0x1.8p1", "0X1P-2"], b"3.25"),
        (None, ["-.5e-1"], b"-0.05"),
        (None, ["1e-400"], b"0"),  # representable in long double
        ("17", ["0.5"], b"17.5"),
    ],
)
def test_incrbyfloat_computes_and_prints_like_redis(
    node: Node, start: str | None, increments: list[str], result: bytes
) -> None:
    if start is not None:
        node.write(1000, "SET", "f", start)
    replies = [node.write(1000, "INCRBYFLOAT", "f", inc) for inc in increments]
    assert replies[-1] == result
    assert node.read(1000, "GET", "f") == result


def test_incrbyfloat_big_values_print_every_digit(node: Node) -> None:
    reply = node.write(1000, "INCRBYFLOAT", "f", "1.5e300")
    assert isinstance(reply, bytes)
    assert len(reply) == 301
    assert reply.startswith(b"15000000000000000000498001098614721663")
    node.write(1000, "SET", "g", "1e4000")
    reply = node.write(1000, "INCRBYFLOAT", "g", 1)
    assert isinstance(reply, bytes)
    assert len(reply) == 4000
    assert reply.startswith(b"99999999999999999999654638730996")


@pytest.mark.parametrize(
    ("stored", "increment", "error"),
    [
        (None, "abc", NOT_FLOAT),
        (None, "", NOT_FLOAT),
        (None, " 1", NOT_FLOAT),
        (None, "1 ", NOT_FLOAT),
        (None, "1e", NOT_FLOAT),
        (None, "0x", NOT_FLOAT),
        (None, "nan", NOT_FLOAT),
        (None, "1e5000", NOT_FLOAT),  # overflows long double: ERANGE
        (None, "1e-4952", NOT_FLOAT),  # underflows to zero: ERANGE
        (None, "1" * 5120, NOT_FLOAT),  # string2ld's buffer
        (None, "inf", NAN_OR_INF),
        (None, "-infinity", NAN_OR_INF),
        ("inf", "1", NAN_OR_INF),
        ("1.1e4932", "1.1e4932", NAN_OR_INF),
        ("abc", "1", NOT_FLOAT),
        ("1e5000", "1", NOT_FLOAT),
    ],
)
def test_incrbyfloat_errors(
    node: Node, stored: str | None, increment: str, error: ErrorReply
) -> None:
    if stored is not None:
        node.write(1000, "SET", "f", stored)
    assert node.write(1000, "INCRBYFLOAT", "f", increment) == error
    assert node.read(1000, "GET", "f") == (None if stored is None else stored.encode())


def test_incrbyfloat_integer_results_are_embstr(node: Node) -> None:
    node.write(1000, "INCRBYFLOAT", "f", 3)
    assert node.db.encoding_override(b"f") == (b"embstr", 1)
    node.write(1000, "INCR", "f")
    assert node.db.encoding_override(b"f") is None


# -- reads -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "result"),
    [
        (0, 4, b"Hello"),
        (0, -1, b"Hello World"),
        (-5, -1, b"World"),
        (-1, -5, b""),
        (5, 3, b""),
        (-100, -50, b"H"),
        (-100, 100, b"Hello World"),
        (100, 200, b""),
        (10, 100, b"d"),
        (-(2**63), 2**63 - 1, b"Hello World"),
        (2**63 - 1, -(2**63), b""),
    ],
)
def test_getrange(node: Node, start: int, end: int, result: bytes) -> None:
    node.write(1000, "SET", "s", "Hello World")
    assert node.read(1000, "GETRANGE", "s", start, end) == result
    assert node.read(1000, "SUBSTR", "s", start, end) == result


def test_getrange_edges(with_list: Node) -> None:
    node = with_list
    node.write(1000, "SET", "e", "")
    assert node.read(1000, "GETRANGE", "e", 0, -1) == b""
    assert node.read(1000, "GETRANGE", "e", -1, 0) == b""
    assert node.read(1000, "GETRANGE", "nokey", 0, -1) == b""
    assert node.read(1000, "GETRANGE", "nokey", "a", 0) == NOT_INTEGER
    assert node.read(1000, "GETRANGE", "l", "a", 0) == NOT_INTEGER
    assert node.read(1000, "GETRANGE", "l", 0, 0) == WRONGTYPE


def test_reads_refuse_other_types(with_list: Node) -> None:
    node = with_list
    for argv in (["GET", "l"], ["STRLEN", "l"], ["GETRANGE", "l", 0, 1]):
        assert node.read(1000, *argv) == WRONGTYPE
    for argv in (
        ["APPEND", "l", "x"],
        ["SETRANGE", "l", 0, "x"],
        ["INCR", "l"],
        ["DECRBY", "l", 1],
        ["INCRBYFLOAT", "l", 1],
        ["GETDEL", "l"],
        ["GETEX", "l"],
    ):
        assert node.write(1000, *argv) == WRONGTYPE
    error = ErrorReply(b"ERR The specified keys must contain string values")
    assert node.read(1000, "LCS", "l", "s") == error
    assert node.read(1000, "LCS", "s", "l", "BAD") == error  # before the options


def test_reads_never_delete_expired_keys_but_writes_do(node: Node) -> None:
    node.write(1000, "SET", "k", "v", "PXAT", 1500)
    for argv in (["GET", "k"], ["MGET", "k"], ["STRLEN", "k"], ["LCS", "k", "k"]):
        node.read(2000, *argv)
    assert b"k" in node.db.data
    assert node.write(2000, "GETDEL", "k") is None
    assert b"k" not in node.db.data


def test_keyspace_hits_and_misses_follow_lookup_key_read(with_list: Node) -> None:
    node = with_list
    base_hits, base_misses = node.hits_and_misses()

    def delta() -> tuple[int, int]:
        hits, misses = node.hits_and_misses()
        return hits - base_hits, misses - base_misses

    node.read(1000, "GET", "s")
    node.read(1000, "GET", "nokey")
    assert delta() == (1, 1)
    node.read(1000, "MGET", "s", "nokey", "l")
    assert delta() == (3, 2)  # every key; another type is a hit
    node.read(1000, "STRLEN", "l")
    node.read(1000, "GETRANGE", "s", 0, 1)
    node.read(1000, "LCS", "s", "nokey")
    assert delta() == (6, 3)
    node.write(1000, "GETEX", "s")
    node.write(1000, "GETSET", "x", 1)
    node.write(1000, "SET", "x", 2, "GET")
    node.write(1000, "GETDEL", "x")
    assert delta() == (9, 4)
    for argv in (["SET", "y", 1], ["INCR", "y"], ["APPEND", "y", 2], ["SETNX", "y", 3]):
        node.write(1000, *argv)
    node.write(1000, "MSETNX", "y", 1)
    assert delta() == (9, 4)  # write lookups are not counted


# -- LCS -------------------------------------------------------------------------------


def test_lcs_replies(node: Node) -> None:
    node.write(1000, "MSET", "a", "ohmytext", "b", "mynewtext")
    assert node.read(1000, "LCS", "a", "b") == b"mytext"
    assert node.read(1000, "LCS", "a", "b", "LEN") == 6
    assert node.read(1000, "LCS", "a", "b", "IDX") == Map(
        {b"matches": [[[4, 7], [5, 8]], [[2, 3], [0, 1]]], b"len": 6}
    )
    reply = node.read(1000, "LCS", "a", "b", "IDX", "MINMATCHLEN", 4, "WITHMATCHLEN")
    assert reply == Map({b"matches": [[[4, 7], [5, 8], 4]], b"len": 6})
    assert node.read(1000, "LCS", "a", "nokey") == b""
    assert node.read(1000, "LCS", "a", "nokey", "IDX") == Map({b"matches": [], b"len": 0})


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["LEN", "IDX"], b"ERR If you want both the length and indexes, please just use IDX."),
        (["MINMATCHLEN"], b"ERR syntax error"),
        (["MINMATCHLEN", "x"], b"ERR value is not an integer or out of range"),
        (["BAD"], b"ERR syntax error"),
    ],
)
def test_lcs_option_errors(node: Node, options: list[str], error: bytes) -> None:
    assert node.read(1000, "LCS", "a", "b", *options) == ErrorReply(error)


def test_lcs_refuses_a_table_bigger_than_proto_max_bulk_len(node: Node) -> None:
    node.write(1000, "SETRANGE", "a", 11585, "x")  # 11586 bytes: (11587 ** 2) * 4 > 512MB
    node.write(1000, "SETRANGE", "b", 11585, "y")
    error = b"ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
    assert node.read(1000, "LCS", "a", "b", "LEN") == ErrorReply(error)
    assert node.read(1000, "LCS", "a", "nokey", "LEN") == 0


def _redis_lcs(
    a: bytes, b: bytes, min_match_len: int, with_match_len: bool
) -> tuple[bytes, list[Reply], int]:
    """Redis's lcsCommand, transcribed with its full table: the reference for LcsTable."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    i, j = len(a), len(b)
    out = bytearray()
    matches: list[Reply] = []
    a_start, a_end, b_start, b_end = len(a), 0, 0, 0
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            out.append(a[i - 1])
            if a_start == len(a):
                a_start = a_end = i - 1
                b_start = b_end = j - 1
            elif a_start == i and b_start == j:
                a_start, b_start = a_start - 1, b_start - 1
            else:
                emit = True
            if a_start == 0 or b_start == 0:
                emit = True
            i, j = i - 1, j - 1
        else:
            if table[i - 1][j] > table[i][j - 1]:
                i -= 1
            else:
                j -= 1
            if a_start != len(a):
                emit = True
        if emit:
            length = a_end - a_start + 1
            if min_match_len == 0 or length >= min_match_len:
                match: list[Reply] = [[a_start, a_end], [b_start, b_end]]
                if with_match_len:
                    match.append(length)
                matches.append(match)
            a_start = len(a)
    return bytes(reversed(out)), matches, table[len(a)][len(b)]


@settings(max_examples=300, deadline=None)
@given(
    a=st.binary(max_size=40).map(lambda s: bytes(x % 3 + 97 for x in s)),
    b=st.binary(max_size=40).map(lambda s: bytes(x % 3 + 97 for x in s)),
    min_match_len=st.integers(0, 3),
    with_match_len=st.booleans(),
)
def test_bit_parallel_lcs_matches_redis_table(
    a: bytes, b: bytes, min_match_len: int, with_match_len: bool
) -> None:
    table = strings.LcsTable(a, b, keep_rows=True)
    common, matches = table.walk(min_match_len, with_match_len)
    assert (common, matches, table.length) == _redis_lcs(a, b, min_match_len, with_match_len)
    assert strings.LcsTable(a, b, keep_rows=False).length == table.length


# -- C float parsing and printing ------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False))
def test_parse_float_reads_every_double_back(value: float) -> None:
    for text in (repr(value), f"{value:.17e}", value.hex()):
        parsed = parse_float(text.encode())
        assert parsed == value
        assert str(parsed) == str(value)  # keeps the sign of zero


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b"0x10", 16.0),
        (b"1.", 1.0),
        (b".5", 0.5),
        (b"+5", 5.0),
        (b"-INFINITY", float("-inf")),
        (b"2.4703282292062328e-324", 5e-324),  # just above half the smallest subnormal
        (b"1." + b"0" * 6000, 1.0),
    ],
)
def test_parse_float_accepts_what_strtod_accepts(text: bytes, value: float) -> None:
    assert parse_float(text) == value


@pytest.mark.parametrize(
    "text",
    [b"", b" 1", b"1 ", b"1_0", b"nan", b"-nan", b"1e400", b"1e-400", b"0x1p-1075", b"0x", b"e5"],
)
def test_parse_float_refuses_what_redis_refuses(text: bytes) -> None:
    with pytest.raises(CommandError):
        parse_float(text)


def test_long_double_rounding_and_printing() -> None:
    tenth = parse_long_double(b"0.1")
    assert tenth is not None
    assert tenth != Fraction(1, 10)  # rounded to 64 bits, not exact
    assert tenth == round_to_format(Fraction(1, 10), LONG_DOUBLE)
    assert format_long_double_human(Fraction(-1, 10**20)) == b"0"
    assert format_long_double_human(Fraction(25, 10**18)) == b"0.00000000000000002"
    assert format_long_double_human(Fraction(35, 10**18)) == b"0.00000000000000004"
    assert round_to_format(Fraction(2**16384), LONG_DOUBLE) is None
    assert parse_long_double(b"inf") is None


def test_lcs_of_a_short_and_a_long_string(node: Node) -> None:
    # The table is len(a) x len(b) bits; building b's byte masks must stay linear in len(b)
    # (an earlier version set one bit at a time and took seconds per megabyte).
    long = b"y" * 2_000_000 + b"x" + b"y" * 1_000
    node.write(1000, "MSET", "short", "zx", "long", long)
    assert node.read(1000, "LCS", "short", "long") == b"x"
    assert node.read(1000, "LCS", "short", "long", "IDX") == Map(
        {b"matches": [[[1, 1], [2_000_000, 2_000_000]]], b"len": 1}
    )
