"""SORT and SORT_RO on the state machine: what they change (the destination of STORE and
nothing else, versions WATCH compares, a listpack sorted set converted by SORT only), expired
keys, lookups counted as Redis counts them, replies that share nothing with the state, the
strtod rules of weights, Redis's partial quicksort, and the command's keys. Replies and errors
are compared with Redis 7.0 byte for byte in compat/scenarios/sort_*.txt."""

from __future__ import annotations

import hashlib
import random
from collections import Counter

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord_resp.commands import Route, build_table, key_positions
from concord_resp.commands.csort import partial_quicksort
from concord_resp.commands.floats import strtod_checked
from concord_resp.commands.sort import (
    NOT_DOUBLES,
    Pattern,
    SortRequest,
    output_range,
    sort_keys,
)
from concord_resp.resp import ErrorReply, Reply, encode_reply
from concord_resp.server.handlers import CONNECTION
from concord_resp.state import Command, StateMachine, Transaction
from concord_resp.state.snapshot import snapshot_records
from concord_resp.store.types import ListValue, ZSet
from tests.support.hash_seeds import outputs_under_seeds

SECOND = 1_000_000
SYNTAX = ErrorReply(b"ERR syntax error")
WRONGTYPE = ErrorReply(b"WRONGTYPE Operation against a key holding the wrong kind of value")
NOT_A_DOUBLE = ErrorReply(NOT_DOUBLES.encode())


class Node:
    def __init__(self) -> None:
        self.machine = StateMachine(build_table())
        self.index = 0
        self.time_us = SECOND

    def run(self, *args: bytes | str | float) -> Reply:
        self.index += 1
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return self.machine.apply(self.index, Command(self.time_us, 0, argv)).reply

    def read(self, *args: bytes | str | float) -> Reply:
        ctx = self.machine.read_context(0, self.time_us, random.Random(0))
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return self.machine.run(ctx, argv)

    def version(self, key: bytes) -> int | None:
        return self.machine.keyspace.dbs[0].versions.get(key)

    def value(self, key: bytes) -> object:
        return self.machine.keyspace.dbs[0].data.get(key)

    def stored_list(self, key: bytes) -> list[bytes]:
        value = self.value(key)
        assert type(value) is ListValue
        return list(value)

    def hits_and_misses(self) -> tuple[int, int]:
        stats = self.machine.stats
        return stats.keyspace_hits, stats.keyspace_misses


@pytest.fixture
def node() -> Node:
    return Node()


# -- what SORT changes ----------------------------------------------------------------------


def test_sort_without_store_changes_nothing(node: Node) -> None:
    node.run("RPUSH", "l", 3, 1, 2)
    node.run("SET", "w_1", 5)
    node.machine.keyspace.take_touched()
    assert node.run("SORT", "l", "BY", "w_*", "GET", "#", "GET", "w_*") == [
        b"2",
        None,
        b"3",
        None,
        b"1",
        b"5",
    ]
    assert node.run("SORT", "l", "DESC") == [b"3", b"2", b"1"]
    assert node.version(b"l") == 1
    assert node.version(b"w_1") == 2
    assert node.machine.keyspace.take_touched() == ()


def test_store_replaces_the_destination_and_its_ttl(node: Node) -> None:
    node.run("RPUSH", "l", 3, 1, 2)
    node.run("HSET", "dst", "f", "v")
    node.run("EXPIRE", "dst", 100)
    assert node.run("SORT", "l", "STORE", "dst") == 3
    stored = node.value(b"dst")
    assert type(stored) is ListValue
    assert list(stored) == [b"1", b"2", b"3"]
    assert node.version(b"dst") == node.index
    assert b"dst" not in node.machine.keyspace.dbs[0].expires
    assert node.read("OBJECT", "ENCODING", "dst") == b"quicklist"
    assert node.version(b"l") == 1  # the source is only read


def test_store_of_nil_fetches_is_the_empty_string(node: Node) -> None:
    node.run("RPUSH", "l", "a", "b")
    node.run("SET", "w_b", "x")
    assert node.run("SORT", "l", "ALPHA", "GET", "w_*", "GET", "#", "STORE", "dst") == 4
    assert node.stored_list(b"dst") == [b"", b"a", b"x", b"b"]


def test_an_empty_result_deletes_the_destination(node: Node) -> None:
    node.run("RPUSH", "l", 1)
    node.run("SET", "dst", "v")
    assert node.run("SORT", "l", "LIMIT", 0, 0, "STORE", "dst") == 0
    assert node.value(b"dst") is None
    assert node.machine.keyspace.dbs[0].tombstones[b"dst"] == node.index
    # Nothing to delete: nothing changes.
    assert node.run("SORT", "missing", "STORE", "other") == 0
    assert node.version(b"other") is None
    assert b"other" not in node.machine.keyspace.dbs[0].tombstones


def test_a_conversion_error_stores_nothing(node: Node) -> None:
    node.run("RPUSH", "l", 1, "x")
    node.run("SET", "dst", "keep")
    assert node.run("SORT", "l", "STORE", "dst") == NOT_A_DOUBLE
    assert node.value(b"dst") == b"keep"
    assert node.version(b"dst") == 2


def test_a_set_stored_by_a_constant_is_sorted_alpha(node: Node) -> None:
    node.run("SADD", "s", "b", "c", "a", 10, 9)
    assert node.run("SORT", "s", "BY", "nosort") == [b"b", b"c", b"a", b"10", b"9"]
    assert node.run("SORT", "s", "BY", "nosort", "STORE", "dst") == 5
    assert node.stored_list(b"dst") == [b"10", b"9", b"a", b"b", b"c"]
    assert node.run("SORT", "s", "BY", "nosort", "DESC", "LIMIT", 0, 2, "STORE", "dst") == 2
    assert node.stored_list(b"dst") == [b"c", b"b"]


def test_sort_converts_a_listpack_sorted_set_without_a_version_bump(node: Node) -> None:
    node.run("ZADD", "z", 2, "b", 1, "a")
    zset = node.value(b"z")
    assert isinstance(zset, ZSet)
    assert zset.listpack
    # SORT_RO is a read: it changes nothing (Redis converts here too; see the module).
    assert node.read("SORT_RO", "z", "ALPHA") == [b"a", b"b"]
    assert zset.listpack
    node.machine.keyspace.take_touched()
    assert node.run("SORT", "z", "ALPHA", "LIMIT", 0, 0) == []
    assert not zset.listpack
    assert node.read("OBJECT", "ENCODING", "z") == b"skiplist"
    assert node.version(b"z") == 1  # WATCH sees no change, as in Redis
    assert node.machine.keyspace.take_touched() == ()
    assert node.run("SORT", "z", "BY", "nosort") == [b"a", b"b"]


def test_every_replica_converts_alike() -> None:
    entries = [
        ["ZADD", "z", 1, "a", 2, "b"],
        ["SORT", "z", "ALPHA"],
        ["ZADD", "z", 3, "c"],
        ["SORT", "z", "BY", "nosort", "DESC", "STORE", "d"],
    ]
    replicas = [Node(), Node()]
    replies = [[node.run(*entry) for entry in entries] for node in replicas]
    assert replies[0] == replies[1]
    for node in replicas:
        zset = node.value(b"z")
        assert isinstance(zset, ZSet)
        assert not zset.listpack
    assert replicas[0].stored_list(b"d") == [b"c", b"b", b"a"]
    first, second = (cbor2.dumps(list(snapshot_records(node.machine))) for node in replicas)
    assert first == second


def test_sort_goes_through_the_log_and_sort_ro_is_a_read() -> None:
    table = build_table(CONNECTION)
    sort, sort_ro = table.by_name(b"sort"), table.by_name(b"sort_ro")
    assert sort is not None
    assert sort_ro is not None
    assert sort.route is Route.LOG  # a write in Redis 7.0, with or without STORE
    assert sort_ro.route is Route.READ


def test_sort_in_a_transaction(node: Node) -> None:
    node.run("RPUSH", "l", 2, 1)
    node.index += 1
    entry = Transaction(SECOND, 0, [[b"SORT", b"l"], [b"SORT", b"l", b"STORE", b"d"]], [])
    reply = node.machine.apply(node.index, entry).reply
    assert reply == [[b"1", b"2"], 2]
    assert node.stored_list(b"d") == [b"1", b"2"]


# -- reads: expiry, counting, replies ---------------------------------------------------------


def test_sort_purges_expired_keys_and_sort_ro_does_not(node: Node) -> None:
    node.run("RPUSH", "l", 1, 2)
    node.run("SET", "w_1", 1)
    node.run("PEXPIRE", "w_1", 10)
    node.run("RPUSH", "gone", 1)
    node.run("PEXPIRE", "gone", 10)
    node.time_us += 1_000_000
    db = node.machine.keyspace.dbs[0]
    assert node.read("SORT_RO", "l", "GET", "w_*") == [None, None]
    assert node.read("SORT_RO", "gone") == []
    assert b"w_1" in db.data
    assert b"gone" in db.data
    assert node.run("SORT", "l", "GET", "w_*") == [None, None]
    assert node.run("SORT", "gone") == []
    assert b"w_1" not in db.data
    assert b"gone" not in db.data
    assert db.expired_deletions == 2


def test_lookups_are_counted_as_redis_counts_them(node: Node) -> None:
    node.run("RPUSH", "l", 1, 2, 3)
    node.run("SET", "w_1", 1)
    node.run("HSET", "h_2", "f", 2)
    before = node.hits_and_misses()
    # The key (1 hit), BY (3 lookups: 1 hit, 2 misses), GET w_* (3: 1 hit), GET # and a
    # constant GET (no lookup), GET h_*->f (3: 1 hit, even for a missing field).
    node.run("SORT", "l", "BY", "w_*", "GET", "w_*", "GET", "#", "GET", "k", "GET", "h_*->f")
    hits, misses = node.hits_and_misses()
    assert (hits - before[0], misses - before[1]) == (4, 6)
    before = (hits, misses)
    node.run("SORT", "l", "BY", "nosort", "LIMIT", 0, 1, "GET", "w_*")  # no BY lookups
    assert node.hits_and_misses() == (before[0] + 2, before[1])
    node.run("SORT", "missing")
    assert node.hits_and_misses() == (before[0] + 2, before[1] + 1)


def test_replies_do_not_share_stored_strings(node: Node) -> None:
    node.run("RPUSH", "l", "a")
    node.run("SET", "w_a", "x")
    node.run("APPEND", "w_a", "y")  # now a bytearray, changed in place by later writes
    fetched = node.read("SORT", "l", "ALPHA", "GET", "w_*")
    node.run("SORT", "l", "ALPHA", "GET", "w_*", "STORE", "dst")
    node.run("SETRANGE", "w_a", 0, "zz")
    assert fetched == [b"xy"]
    assert node.stored_list(b"dst") == [b"xy"]
    assert all(type(item) is bytes for item in node.stored_list(b"dst"))


def test_replies_in_both_protocols(node: Node) -> None:
    node.run("RPUSH", "l", "b", "a")
    reply = node.read("SORT", "l", "ALPHA", "GET", "#", "GET", "nosuch_*")
    assert encode_reply(reply, 2) == b"*4\r\n$1\r\na\r\n$-1\r\n$1\r\nb\r\n$-1\r\n"
    assert encode_reply(reply, 3) == b"*4\r\n$1\r\na\r\n_\r\n$1\r\nb\r\n_\r\n"
    assert encode_reply(node.run("SORT", "l", "ALPHA", "STORE", "d"), 3) == b":2\r\n"


def test_errors(node: Node) -> None:
    node.run("SET", "str", 1)
    node.run("RPUSH", "l", 1)
    assert node.run("SORT", "str") == WRONGTYPE
    assert node.run("SORT", "str", "BOGUS") == SYNTAX  # options first
    assert node.read("SORT_RO", "l", "STORE", "d") == SYNTAX
    assert node.run("SORT", "l", "LIMIT", 1) == SYNTAX
    assert node.run("SORT", "l", "LIMIT", "x", 1) == ErrorReply(
        b"ERR value is not an integer or out of range"
    )
    assert node.run("SORT") == ErrorReply(b"ERR wrong number of arguments for 'sort' command")
    assert node.run("SORT", "str", "STORE", "d") == WRONGTYPE
    assert node.value(b"d") is None


def test_a_big_sorted_set_by_a_constant_with_a_limit(node: Node) -> None:
    members: list[str | int] = []
    for i in range(50_000):
        members += [i, f"m{i}"]
    node.run("ZADD", "z", *members)
    assert node.run("SORT", "z", "BY", "nosort", "LIMIT", 49_998, 5) == [b"m49998", b"m49999"]
    assert node.run("SORT", "z", "BY", "nosort", "DESC", "LIMIT", 1, 2) == [b"m49998", b"m49997"]


def test_hashtable_sets_answer_alike_on_every_replica() -> None:
    members = [f"m{i}".encode() for i in range(300)]
    random.Random(3).shuffle(members)
    replies = []
    for _ in range(2):
        node = Node()
        node.run("SADD", "s", *members)
        replies.append(node.run("SORT", "s", "BY", "nosort", "LIMIT", 10, 20))
    assert replies[0] == replies[1] == members[10:30]


# -- the parts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"", 0.0),
        (b" 7", 7.0),
        (b"\t-1", -1.0),
        (b"0x10", 16.0),
        (b"+infinity", float("inf")),
        (b".5", 0.5),
        (b"0x1p-1074", 5e-324),
        (b"2.2250738585072013e-308", 2.2250738585072014e-308),
        (b"1.7976931348623157e308", 1.7976931348623157e308),
        (b"0e5000", 0.0),
    ],
)
def test_weights_strtod_accepts(text: bytes, expected: float) -> None:
    assert strtod_checked(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        b"1 ",
        b"  ",
        b"nan",
        b"1e400",
        b"1e-400",
        b"1e-310",
        b"4.9e-324",
        b"2.2250738585072012e-308",  # tiny after rounding to 53 bits, and inexact
        b"0x1.fffffffffffffp-1023",
        b"1.7976931348623159e308",
        b"0x",
        b"1e",
        b"-",
        b"12abc",
    ],
)
def test_weights_strtod_refuses(text: bytes) -> None:
    # Each checked against Redis 7.0 on a fresh connection (see sort_basic.txt on errno).
    assert strtod_checked(text) is None


def test_minus_zero_keeps_its_sign() -> None:
    assert str(strtod_checked(b"-0")) == "-0.0"


def test_patterns_read_as_lookupkeybypattern_does() -> None:
    arrow = Pattern(b"h_*->f->g")
    assert (arrow.prefix, arrow.suffix, arrow.field) == (b"h_", b"", b"f->g")
    ending = Pattern(b"*->")
    assert (ending.prefix, ending.suffix, ending.field) == (b"", b"->", None)
    before_star = Pattern(b"a->b_*")
    assert (before_star.prefix, before_star.suffix, before_star.field) == (b"a->b_", b"", None)
    nul_field = Pattern(b"h_*->\x00z")
    assert (nul_field.suffix, nul_field.field) == (b"->\x00z", None)
    assert Pattern(b"w_\x00*").prefix is None  # no `*` in the C string
    assert Pattern(b"#\x00x").is_element
    assert not Pattern(b"##").is_element


def test_options_as_redis_parses_them() -> None:
    request = SortRequest([b"SORT", b"k", b"BY", b"nosort", b"BY", b"w_*", b"desc"], False)
    assert request.dontsort
    assert request.desc
    assert request.by is not None
    request = SortRequest(
        [b"SORT", b"k", b"STORE", b"a", b"store", b"b", b"LIMIT", b"1", b"2"], False
    )
    assert (request.store, request.offset, request.count) == (b"b", 1, 2)
    assert output_range(request, 10) == (1, 2)
    assert output_range(request, 1) == (0, -1)
    assert output_range(request, 0) == (-1, -2)


def test_the_keys_of_sort() -> None:
    table = build_table()
    for line, keys in [
        ([b"SORT", b"k"], [1]),
        ([b"SORT", b"k", b"STORE", b"d"], [1, 3]),
        ([b"SORT", b"k", b"STORE", b"d", b"LIMIT", b"0", b"1", b"store", b"e"], [1, 8]),
        ([b"SORT", b"k", b"GET", b"store", b"BY", b"x"], [1]),
        ([b"SORT", b"k", b"store", b"by"], [1, 3]),
        ([b"SORT_RO", b"k", b"STORE", b"d"], [1]),
    ]:
        spec = table.find(line)
        assert spec is not None
        assert key_positions(spec.key_specs, line) == keys
    assert sort_keys([b"SORT", b"k", b"LIMIT", b"store", b"x", b"STORE"]) == [1]


# -- Redis's pqsort ---------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 4), max_size=120),
    st.integers(0, 130),
    st.integers(0, 130),
    st.booleans(),
)
def test_partial_quicksort_puts_the_range_in_place(
    keys: list[int], first: int, span: int, desc: bool
) -> None:
    last = first + span
    items = list(range(len(keys)))
    sign = -1 if desc else 1

    def compare(a: int, b: int) -> int:
        return sign * ((keys[a] > keys[b]) - (keys[a] < keys[b]))

    partial_quicksort(items, compare, first, last)
    assert Counter(items) == Counter(range(len(keys)))  # a permutation
    expected = sorted(keys, reverse=desc)
    got = [keys[i] for i in items]
    assert got[first : last + 1] == expected[first : last + 1]


def test_partial_quicksort_with_the_whole_range_sorts() -> None:
    rng = random.Random(5)
    keys = [rng.randrange(1000) for _ in range(500)]
    items = list(range(len(keys)))
    partial_quicksort(items, lambda a, b: (keys[a] > keys[b]) - (keys[a] < keys[b]), 0, 499)
    assert [keys[i] for i in items] == sorted(keys)


# -- determinism across hash seeds ------------------------------------------------------------


def sort_workload_summary() -> str:
    """Run in a child process: SORT every kind of collection (hashtable sets and sorted sets
    whose ties would be in Redis's hash order included), print a hash of the replies and of
    the snapshot, and this process's hash of a probe."""
    node = Node()
    members = [f"m{i}" for i in range(200)]
    node.run("SADD", "s", *members)
    node.run("ZADD", "z", *[part for i, m in enumerate(members) for part in (i % 3, m)])
    node.run("RPUSH", "l", *members)
    node.run("MSET", *[part for i, m in enumerate(members) for part in (f"w_{m}", i % 4)])
    replies = [
        node.run("SORT", "s", "BY", "nosort"),
        node.run("SORT", "s", "BY", "w_*", "ALPHA", "LIMIT", 5, 30),
        node.run("SORT", "z", "BY", "nosuch_*", "ALPHA", "DESC"),
        node.run("SORT", "l", "BY", "w_*", "ALPHA", "LIMIT", 50, 60, "GET", "#", "GET", "w_*"),
        node.run("SORT", "s", "BY", "nosort", "STORE", "d1"),
        node.run("SORT", "z", "BY", "w_*", "STORE", "d2"),
    ]
    assert not any(isinstance(reply, ErrorReply) for reply in replies), replies
    records = cbor2.dumps(list(snapshot_records(node.machine)))
    encoded = b"".join(encode_reply(reply, 3) for reply in replies)
    return " ".join(
        [
            hashlib.sha1(encoded).hexdigest(),
            hashlib.sha1(records).hexdigest(),
            str(hash("probe")),
        ]
    )


def test_different_hash_seeds_give_the_same_replies_and_state() -> None:
    code = "from tests.commands.test_sort import sort_workload_summary as s; print(s())"
    outputs = [output.split() for output in outputs_under_seeds(code)]
    (replies, records, probe), (replies2, records2, probe2) = outputs
    assert probe != probe2  # the seeds really differ
    assert (replies, records) == (replies2, records2)
