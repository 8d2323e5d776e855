"""Sorted set commands on the state machine: what each write changes (versions WATCH
compares, deletion of an emptied sorted set), reply shapes per protocol, random choices from
the entry's seed, large sorted sets, sets as inputs of the algebra, and the pop helpers the
blocking commands use. Replies and errors are compared with Redis 7.0 byte for byte in
compat/scenarios/zset_*.txt."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord_resp.commands import build_table
from concord_resp.commands.errors import CommandError
from concord_resp.commands.floats import DOUBLE, parse_c_float
from concord_resp.commands.parse import parse_float
from concord_resp.commands.zset_ranges import strtod
from concord_resp.commands.zsets import first_zset, parse_zmpop, pop_pairs, pop_zset
from concord_resp.resp import NULL_ARRAY, ErrorReply, Pairs, Reply, encode_reply
from concord_resp.state import Command, Configure, StateMachine
from concord_resp.state.snapshot import restore_records, snapshot_records
from concord_resp.store.digest import dataset_digest
from concord_resp.store.types import ZSet, registered_types
from concord_resp.store.types.base import ValueType, register, unregister
from tests.support.hash_seeds import outputs_under_seeds

SECOND = 1_000_000
WRONGTYPE = ErrorReply(b"WRONGTYPE Operation against a key holding the wrong kind of value")


class Node:
    def __init__(self) -> None:
        self.machine = StateMachine(build_table())
        self.index = 0

    def run(self, *args: bytes | str | float) -> Reply:
        self.index += 1
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return self.machine.apply(self.index, Command(SECOND, 0, argv)).reply

    def read(self, *args: bytes | str | float, seed: int = 0) -> Reply:
        ctx = self.machine.read_context(0, SECOND, random.Random(seed))
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return self.machine.run(ctx, argv)

    def version(self, key: bytes) -> int | None:
        return self.machine.keyspace.dbs[0].versions.get(key)

    def value(self, key: bytes) -> object:
        return self.machine.keyspace.dbs[0].data.get(key)


@pytest.fixture
def node() -> Node:
    return Node()


# -- versions and deletion ------------------------------------------------------------------


def test_a_write_that_changes_nothing_leaves_the_version(node: Node) -> None:
    assert node.run("ZADD", "z", 1, "a", 2, "b") == 2
    assert node.version(b"z") == 1
    assert node.run("ZADD", "z", "NX", 5, "a") == 0
    assert node.run("ZADD", "z", 1, "a") == 0  # the same score
    assert node.run("ZADD", "z", "GT", 0, "a") == 0
    assert node.run("ZADD", "z", "XX", 1, "nosuch") == 0
    assert node.run("ZINCRBY", "z", 0, "a") == 1.0
    assert node.run("ZREM", "z", "nosuch") == 0
    assert node.run("ZREMRANGEBYSCORE", "z", 10, 20) == 0
    assert node.run("ZREMRANGEBYRANK", "z", 5, 9) == 0
    assert node.run("ZREMRANGEBYLEX", "z", "[x", "[y") == 0
    assert node.run("ZPOPMIN", "z", 0) == []
    assert node.version(b"z") == 1
    assert node.run("ZADD", "missing", "XX", 1, "a") == 0
    assert node.value(b"missing") is None
    assert node.version(b"missing") is None
    assert node.run("ZADD", "z", "CH", 3, "a") == 1
    assert node.version(b"z") == node.index


def test_a_nan_increment_changes_nothing(node: Node) -> None:
    node.run("ZADD", "z", "inf", "a")
    assert node.run("ZINCRBY", "z", "-inf", "a") == ErrorReply(
        b"ERR resulting score is not a number (NaN)"
    )
    assert node.version(b"z") == 1
    assert node.read("ZSCORE", "z", "a") == math.inf


@pytest.mark.parametrize(
    "emptying",
    [
        ["ZREM", "z", "a", "b", "c"],
        ["ZPOPMIN", "z", 5],
        ["ZPOPMAX", "z", 3],
        ["ZMPOP", 1, "z", "MIN", "COUNT", 3],
        ["ZREMRANGEBYRANK", "z", 0, -1],
        ["ZREMRANGEBYSCORE", "z", "-inf", "+inf"],
        ["ZREMRANGEBYLEX", "z", "-", "+"],
    ],
)
def test_an_emptied_sorted_set_is_deleted(node: Node, emptying: list[str | int]) -> None:
    node.run("ZADD", "z", 0, "a", 0, "b", 0, "c")
    node.run(*emptying)
    assert node.value(b"z") is None
    assert node.version(b"z") is None  # deleted: a tombstone keeps its version
    assert node.machine.keyspace.dbs[0].tombstones[b"z"] == node.index


def test_stored_results_replace_the_destination_or_delete_it(node: Node) -> None:
    node.run("ZADD", "a", 1, "x", 2, "y")
    node.run("SET", "dst", "string")
    node.run("EXPIRE", "dst", 100)
    assert node.run("ZUNIONSTORE", "dst", 1, "a") == 2
    assert isinstance(node.value(b"dst"), ZSet)
    assert b"dst" not in node.machine.keyspace.dbs[0].expires
    assert node.run("ZRANGESTORE", "dst", "a", 5, 9) == 0
    assert node.value(b"dst") is None
    assert node.run("ZINTERSTORE", "dst", 2, "a", "missing") == 0
    assert node.version(b"dst") is None


def test_a_reply_is_not_the_stored_sorted_set(node: Node) -> None:
    node.run("ZADD", "z", 1, "a")
    ranged = node.read("ZRANGE", "z", 0, -1, "WITHSCORES")
    scanned = node.read("ZSCAN", "z", 0)
    node.run("ZADD", "z", 2, "b", 5, "a")
    assert ranged == Pairs([(b"a", 1.0)])
    assert scanned == [b"0", [b"a", b"1"]]


# -- replies per protocol -------------------------------------------------------------------


def test_scored_replies_nest_in_resp3_only(node: Node) -> None:
    node.run("ZADD", "z", 1, "a", 2.5, "b", "-inf", "c")
    reply = node.read("ZRANGE", "z", 0, 1, "WITHSCORES")
    assert encode_reply(reply, 2) == b"*4\r\n$1\r\nc\r\n$4\r\n-inf\r\n$1\r\na\r\n$1\r\n1\r\n"
    assert encode_reply(reply, 3) == b"*2\r\n*2\r\n$1\r\nc\r\n,-inf\r\n*2\r\n$1\r\na\r\n,1\r\n"
    single = node.run("ZPOPMAX", "z")
    assert encode_reply(single, 3) == b"*2\r\n$1\r\nb\r\n,2.5\r\n"
    popped = node.run("ZMPOP", 1, "z", "MIN")
    assert encode_reply(popped, 2) == b"*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nc\r\n$4\r\n-inf\r\n"
    assert node.run("ZMPOP", 1, "nosuch", "MIN") is NULL_ARRAY


# -- randomness -----------------------------------------------------------------------------


def test_random_members_come_from_the_rng_and_are_distinct_when_asked(node: Node) -> None:
    node.run("ZADD", "z", *[part for i in range(100) for part in (i, f"m{i}")])
    first = node.read("ZRANDMEMBER", "z", 30, seed=7)
    assert first == node.read("ZRANDMEMBER", "z", 30, seed=7)
    assert isinstance(first, list)
    assert len(set(first)) == 30
    assert node.read("ZRANDMEMBER", "z", 90, seed=7) != node.read("ZRANDMEMBER", "z", 90, seed=8)
    repeated = node.read("ZRANDMEMBER", "z", -500, seed=1)
    assert isinstance(repeated, list)
    assert len(repeated) == 500
    assert len(set(repeated)) < 100
    scored = node.read("ZRANDMEMBER", "z", 3, "WITHSCORES", seed=2)
    assert isinstance(scored, Pairs)
    for member, score in scored:
        assert node.read("ZSCORE", "z", member) == score
    everything = node.read("ZRANDMEMBER", "z", 100)
    assert everything == [b"m%d" % i for i in reversed(range(100))]


def test_the_same_entries_give_the_same_state_on_every_replica() -> None:
    replicas = [Node(), Node()]
    script: list[list[bytes | str | float]] = [
        ["ZADD", "z", *[p for i in range(300) for p in (i * 0.5, f"m{i}")]],
        ["ZADD", "z", "-0", "neg"],
        ["ZUNIONSTORE", "u", 2, "z", "z", "WEIGHTS", 1, "-1"],
        ["ZRANGESTORE", "r", "z", 10, 200, "BYSCORE", "REV", "LIMIT", 3, 50],
        ["ZPOPMAX", "z", 3],
        ["ZINCRBY", "z", 1.5, "m7"],
    ]
    for replica in replicas:
        for argv in script:
            replica.run(*argv)
    digests = {dataset_digest(replica.machine.keyspace) for replica in replicas}
    assert len(digests) == 1


def test_a_snapshot_restores_scores_encodings_and_signed_zeros() -> None:
    node = Node()
    node.index += 1
    node.machine.apply(node.index, Configure(SECOND, 0, [("zset_max_listpack_entries", 4)]))
    node.run("ZADD", "lp", "-0", "a", 1, "b", "inf", "c")
    node.run("ZADD", "sl", 1, "b", "inf", "c", "-inf", "d", 0.5, "e", 2, "f")
    node.run("ZADD", "sl", "-0", "a")  # a skiplist keeps the sign
    restored = Node()
    records = cbor2.loads(cbor2.dumps(list(snapshot_records(node.machine))))
    restore_records(restored.machine, records)
    assert restored.read("OBJECT", "ENCODING", "lp") == b"listpack"
    assert restored.read("OBJECT", "ENCODING", "sl") == b"skiplist"
    assert restored.read("ZSCORE", "sl", "a") == -0.0
    assert encode_reply(restored.read("ZSCORE", "sl", "a"), 2) == b"$2\r\n-0\r\n"
    assert encode_reply(restored.read("ZSCORE", "lp", "a"), 2) == b"$1\r\n0\r\n"
    assert dataset_digest(restored.machine.keyspace) == dataset_digest(node.machine.keyspace)
    restored.index = node.index
    assert restored.run("ZADD", "lp", 2, "x") == 1  # the thresholds came along
    assert restored.read("OBJECT", "ENCODING", "lp") == b"listpack"
    assert restored.run("ZADD", "lp", 3, "y") == 1
    assert restored.read("OBJECT", "ENCODING", "lp") == b"skiplist"


# -- large sorted sets ----------------------------------------------------------------------


def test_a_large_sorted_set_ranks_ranges_and_scans(node: Node) -> None:
    size = 50_000
    for chunk in range(0, size, 5000):
        node.run("ZADD", "big", *[p for i in range(chunk, chunk + 5000) for p in (i, b"m%d" % i)])
    assert node.read("OBJECT", "ENCODING", "big") == b"skiplist"
    assert node.read("ZCARD", "big") == size
    assert node.read("ZRANK", "big", "m40000") == 40000
    assert node.read("ZREVRANK", "big", "m40000") == size - 1 - 40000
    assert node.read("ZRANGE", "big", 49998, -1) == [b"m49998", b"m49999"]
    assert node.read("ZRANGEBYSCORE", "big", "(100", "+inf", "LIMIT", 2, 2) == [b"m103", b"m104"]
    assert node.read("ZCOUNT", "big", 1000, "(2000") == 1000
    assert node.read("ZRANDMEMBER", "big", 5) is not None
    seen: set[bytes] = set()
    cursor = b"0"
    while True:
        reply = node.read("ZSCAN", "big", cursor, "COUNT", 500)
        assert isinstance(reply, list)
        cursor, items = reply
        seen.update(items[::2])
        if cursor == b"0":
            break
    assert len(seen) == size
    assert node.run("ZREMRANGEBYRANK", "big", 0, 9_999) == 10_000
    assert node.read("ZRANGE", "big", 0, 0, "WITHSCORES") == Pairs([(b"m10000", 10000.0)])


# -- sets as inputs of the algebra ----------------------------------------------------------


class FakeSet(dict[bytes, None]):
    """A stand-in for the set type while it is not there: members iterate as bytes, `in`."""


class FakeSetType(ValueType[FakeSet]):
    name = b"set"
    redis_type = 2
    tag = "test-set"
    classes = (FakeSet,)

    def encoding(self, value: FakeSet) -> tuple[bytes, int]:
        return b"hashtable", 1

    def mix_digest(self, digest: bytes, value: FakeSet) -> bytes:
        return digest

    def to_snapshot(self, value: FakeSet) -> object:
        return list(value)

    def from_snapshot(self, payload: object) -> FakeSet:
        raise NotImplementedError

    def duplicate(self, value: FakeSet) -> FakeSet:
        return FakeSet(value)

    def estimated_size(self, value: FakeSet) -> int:
        return 0

    def is_empty(self, value: FakeSet) -> bool:
        return not value


@pytest.fixture
def with_sets(node: Node) -> Iterator[Node]:
    """`s1` = {x, y, w} and `s2` = {y} as sets: with SADD once the set type exists, else
    through a stand-in type with the name `set`."""
    if any(kind.name == b"set" for kind in registered_types()):
        node.run("SADD", "s1", "x", "y", "w")
        node.run("SADD", "s2", "y")
        yield node
        return
    fake = register(FakeSetType())
    try:
        db = node.machine.keyspace.dbs[0]
        db.set(b"s1", FakeSet.fromkeys([b"x", b"y", b"w"]), node.index)
        db.set(b"s2", FakeSet.fromkeys([b"y"]), node.index)
        yield node
    finally:
        unregister(fake)


def test_sets_take_part_with_score_one(with_sets: Node) -> None:
    node = with_sets
    node.run("ZADD", "z", 5, "x", 7, "v")
    assert node.read("ZUNION", 2, "z", "s1", "WITHSCORES") == Pairs(
        [(b"w", 1.0), (b"y", 1.0), (b"x", 6.0), (b"v", 7.0)]
    )
    assert node.read("ZINTER", 2, "s1", "z", "WEIGHTS", 3, 1, "WITHSCORES") == Pairs([(b"x", 8.0)])
    assert node.read("ZINTER", 2, "s1", "s2", "WITHSCORES") == Pairs([(b"y", 2.0)])
    assert node.read("ZINTER", 2, "s2", "s2", "WITHSCORES") == Pairs([(b"y", 2.0)])
    assert node.read("ZDIFF", 2, "s1", "z", "WITHSCORES") == Pairs([(b"w", 1.0), (b"y", 1.0)])
    assert node.read("ZINTERCARD", 2, "s1", "s2") == 1
    assert node.run("ZUNIONSTORE", "dst", 1, "s1") == 3
    assert node.read("ZRANGE", "dst", 0, -1) == [b"w", b"x", b"y"]
    node.run("SET", "str", "v")
    assert node.read("ZUNION", 2, "s1", "str") == WRONGTYPE


# -- the pops the blocking commands share -----------------------------------------------------


def test_the_pop_helpers(node: Node) -> None:
    node.run("ZADD", "z", 1, "a", 2, "b", 3, "c")
    node.run("SET", "str", "v")
    ctx = node.machine.read_context(0, SECOND, random.Random(0))
    ctx.index = node.index + 1
    assert parse_zmpop([b"bzmpop", b"0", b"2", b"k1", b"k2", b"max", b"count", b"2"], 2) == (
        [b"k1", b"k2"],
        True,
        2,
    )
    assert first_zset(ctx, [b"nosuch", b"z", b"str"]) == b"z"
    assert pop_pairs(ctx, b"z", False, 1) == [(b"a", 1.0)]
    assert pop_zset(ctx, b"z", True, 5) == [b"z", [[b"c", 3.0], [b"b", 2.0]]]
    assert node.value(b"z") is None
    assert node.version(b"z") is None


# -- no hash-seed order ---------------------------------------------------------------------

ZSET_WORKLOAD: list[list[bytes | str | float]] = [
    ["ZADD", "z", *[p for i in range(400) for p in (i % 37, f"member:{i}")]],
    ["ZADD", "small", 1, "a", "-0", "b", "inf", "c"],
    ["ZUNIONSTORE", "u", 3, "z", "small", "z", "WEIGHTS", 1, 2, "-0.5", "AGGREGATE", "MAX"],
    ["ZINTERSTORE", "i", 2, "z", "u"],
    ["ZDIFFSTORE", "d", 2, "z", "small"],
    ["ZRANGESTORE", "r", "z", "(3", 20, "BYSCORE", "REV", "LIMIT", 5, 100],
    ["ZPOPMIN", "z", 7],
    ["ZMPOP", 2, "nosuch", "u", "MAX", "COUNT", 3],
    ["ZREMRANGEBYLEX", "r", "-", "[member:2"],
    ["COPY", "small", "copied"],
]


def zset_workload_summary() -> str:
    """Run in a child process: apply the workload, print the dataset digest, a hash of the
    snapshot records and of a few read replies, and this process's hash of a probe."""
    node = Node()
    for argv in ZSET_WORKLOAD:
        reply = node.run(*argv)
        assert not isinstance(reply, ErrorReply), (argv, reply)
    records = cbor2.dumps(list(snapshot_records(node.machine)))
    reads = [
        node.read("ZRANDMEMBER", "u", 50, "WITHSCORES", seed=3),
        node.read("ZSCAN", "u", 0, "COUNT", 20),
        node.read("ZUNION", 2, "z", "u", "WITHSCORES"),
    ]
    replies = b"".join(encode_reply(reply, 3) for reply in reads)
    return " ".join(
        [
            dataset_digest(node.machine.keyspace).hex(),
            hashlib.sha1(records).hexdigest(),
            hashlib.sha1(replies).hexdigest(),
            str(hash("probe")),
        ]
    )


def test_different_hash_seeds_give_the_same_state_and_replies() -> None:
    code = "from tests.commands.test_zsets import zset_workload_summary as s; print(s())"
    outputs = [output.split() for output in outputs_under_seeds(code)]
    (digest, records, replies, probe), (digest2, records2, replies2, probe2) = outputs
    assert probe != probe2  # the seeds really differ
    assert digest != bytes(20).hex()
    assert (digest, records, replies) == (digest2, records2, replies2)


# -- parsing scores -------------------------------------------------------------------------

DECIMALS = st.from_regex(
    rb"[+-]?(?:[0-9]{1,30}\.?[0-9]{0,30}|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,3})?", fullmatch=True
)


@settings(max_examples=500, deadline=None)
@given(DECIMALS)
def test_decimal_scores_parse_as_strtod_with_erange_refused(text: bytes) -> None:
    exact = parse_c_float(text, DOUBLE)  # exact arithmetic: the reference
    if exact is None:
        with pytest.raises(CommandError):
            parse_float(text)
        return
    negative, magnitude = exact
    assert magnitude is not None
    value = parse_float(text)
    assert value == (-1 if negative else 1) * float(magnitude)
    assert math.copysign(1, value) == (-1 if negative else 1)


@settings(max_examples=500, deadline=None)
@given(DECIMALS, st.sampled_from([b"", b" ", b"\t\n "]))
def test_range_bounds_parse_as_strtod_without_erange(text: bytes, space: bytes) -> None:
    value = strtod(space + text)
    assert value is not None
    exact = parse_c_float(text, DOUBLE)
    if exact is not None:
        negative, magnitude = exact
        assert magnitude is not None
        assert value == (-1 if negative else 1) * float(magnitude)
    else:  # out of range: infinite, or zero
        assert math.isinf(value) or value == 0


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b"", 0.0),
        (b"inf", math.inf),
        (b"-Infinity", -math.inf),
        (b"+INF", math.inf),
        (b"0x1p3", 8.0),
        (b"-0x.8", -0.5),
        (b"0x1p99999", math.inf),
        (b" \t-1e999", -math.inf),
        (b"nan", None),
        (b"-nan", None),
        (b"inf ", None),
        (b"   ", None),
        (b"1e", None),
        (b"++1", None),
        (b"1_0", None),
        (b"0x", None),
    ],
)
def test_range_bound_literals(text: bytes, value: float | None) -> None:
    assert strtod(text) == value
