"""DUMP and RESTORE on the state machine, with explicit times: payloads for values built by
commands compared with Redis 7.0.15's, RESTORE's checks in Redis's order, TTLs (relative,
ABSTTL, past, overflowing), IDLETIME as Redis's 24-bit LRU clock gives it, versions WATCH
compares, snapshots and determinism. Replies and errors are compared with Redis byte for byte
in compat/scenarios/dump_*.txt, and payloads cross between the two servers in
tests/e2e/test_dump_migration.py."""

from __future__ import annotations

import random

import pytest

from concord_resp.commands import build_table
from concord_resp.commands.dump import redis_idle_time
from concord_resp.resp import OK, ErrorReply, Reply
from concord_resp.state import Command, Configure, StateMachine
from concord_resp.state.snapshot import restore_records, snapshot_records
from concord_resp.store.digest import dataset_digest
from tests.support.rdb_legacy import payload, string

NOW_MS = 1_765_000_000_123  # a time in 2025, in ms

BUSYKEY = ErrorReply(b"BUSYKEY Target key name already exists.")
BAD_FOOTER = ErrorReply(b"ERR DUMP payload version or checksum are wrong")
BAD_DATA = ErrorReply(b"ERR Bad data format")
SYNTAX = ErrorReply(b"ERR syntax error")
NOT_INTEGER = ErrorReply(b"ERR value is not an integer or out of range")
INVALID_TTL = ErrorReply(b"ERR Invalid TTL value, must be >= 0")
INVALID_IDLETIME = ErrorReply(b"ERR Invalid IDLETIME value, must be >= 0")
INVALID_FREQ = ErrorReply(b"ERR Invalid FREQ value, must be >= 0 and <= 255")


class Node:
    """One state machine, driven as the server drives it (times in ms)."""

    def __init__(self) -> None:
        self.machine = StateMachine(build_table())
        self.index = 0

    def write(self, *args: object, at: int = NOW_MS) -> Reply:
        self.index += 1
        return self.machine.apply(self.index, Command(at * 1000, 0, _argv(args))).reply

    def read(self, *args: object, at: int = NOW_MS) -> Reply:
        ctx = self.machine.read_context(0, at * 1000, random.Random(0))
        return self.machine.run(ctx, _argv(args))

    def configure(self, **settings: int) -> None:
        self.index += 1
        self.machine.apply(self.index, Configure(NOW_MS * 1000, 0, list(settings.items())))

    def version(self, key: bytes) -> int | None:
        return self.machine.keyspace.dbs[0].versions.get(key)


def _argv(args: tuple[object, ...]) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


@pytest.fixture
def node() -> Node:
    return Node()


STRING_PAYLOAD = bytes.fromhex("000568656c6c6f0a006372df766534200a")  # "hello", from Redis

# (commands building the value, OBJECT ENCODING, Redis 7.0.15's DUMP of it)
REDIS_DUMPS: list[tuple[list[list[object]], str, str]] = [
    ([["SET", "k", "hello"]], "embstr", "000568656c6c6f0a006372df766534200a"),
    ([["SET", "k", "-12"]], "int", "00c0f40a004474ced75aa7ef82"),
    ([["SET", "k", "2147483648"]], "int", "000a323134373438333634380a00e7b129a34c1d76ee"),
    ([["SET", "k", "abc" * 10]], "embstr", "00c30b1e0361626361e00f020162630a008874be6d67e59d2a"),
    ([["SET", "k", "ab"], ["APPEND", "k", "c"]], "raw", "00036162630a00d9ac303d4172a2e2"),
    (
        [["RPUSH", "k", "a", "1", "-1", "300", "70000", "-9000000", "5000000000", "x" * 70]],
        "quicklist",
        "120102c33140701f7000000008008161020101dfff02c12c02f270110104f3c0ab76ff05f400f205012a01"
        "20200309e04678e03c000148ff0a00041afb47522bf1f1",
    ),
    (
        [["SADD", "k", "3", "-1", "2"]],
        "intset",
        "0b0e0200000003000000ffff020003000a00c87a922a3d7de78c",
    ),
    (
        [["SADD", "k", "-5", "10000000000"]],
        "intset",
        "0b180800000002000000fbffffffffffffff00e40b54020000000a004f1f0cb049fa50a9",
    ),
    ([["SADD", "k", "member"]], "hashtable", "0201066d656d6265720a00782717cf5e5d03c4"),
    (
        [["ZADD", "k", "1", "a", "2.5", "b", "-3", "c", "inf", "d", "1e20", "e", "-0", "f"]],
        "listpack",
        "1131310000000c00816302dffd028166020001816102010181620283322e35048165028531652b3230068164"
        "0283696e6604ff0a005363f0d18fe3e5dc",
    ),
    (
        [
            ["CONFIG", "zset_max_listpack_entries", 1],
            ["ZADD", "k", "1", "a", "2.5", "b", "-0", "c"],
        ],
        "skiplist",
        "0503016200000000000004400161000000000000f03f016300000000000000800a0054d12d4ac10b65a9",
    ),
    (
        [["HSET", "k", "f1", "v1", "n", "12", "neg", "-4096", "big", "x" * 64]],
        "listpack",
        "10c32b40641f6400000008008266310382763103816e020c01836e656704d00002836269670402e04078e0"
        "36000142ff0a0026546ce5ae5c3a2f",
    ),
    (
        [["CONFIG", "hash_max_listpack_entries", 0], ["HSET", "k", "f1", "v1"]],
        "hashtable",
        "04010266310276310a00fcf27c841f560a15",
    ),
]


@pytest.mark.parametrize(
    ("commands", "encoding", "hexed"), REDIS_DUMPS, ids=range(len(REDIS_DUMPS))
)
def test_dump_of_values_built_by_commands_is_redis_s(
    node: Node, commands: list[list[object]], encoding: str, hexed: str
) -> None:
    for command in commands:
        if command[0] == "CONFIG":
            node.configure(**{str(command[1]): int(str(command[2]))})
        else:
            node.write(*command)
    assert node.read("OBJECT", "ENCODING", "k") == encoding.encode()
    assert node.read("DUMP", "k") == bytes.fromhex(hexed)


def test_dump_of_a_missing_key_and_its_accounting(node: Node) -> None:
    assert node.read("DUMP", "nosuch") is None
    node.write("SET", "k", "v", at=NOW_MS - 10_000)
    stats = node.machine.stats
    hits, misses = stats.keyspace_hits, stats.keyspace_misses
    assert node.read("DUMP", "k") == bytes.fromhex("0001760a009108ceb219388ace")
    assert (stats.keyspace_hits, stats.keyspace_misses) == (hits + 1, misses)
    assert node.read("OBJECT", "IDLETIME", "k") == 0  # DUMP is an access
    node.write("PEXPIRE", "k", 5)
    assert node.read("DUMP", "k", at=NOW_MS + 10) is None


def test_restore_creates_the_value_with_its_encoding(node: Node) -> None:
    node.write("RPUSH", "l", "a", "b")
    node.write("HSET", "h", "f", "v")
    for key in (b"l", b"h"):
        dumped = node.read("DUMP", key)
        assert node.write("RESTORE", key + b"2", 0, dumped) == OK
        assert node.read("DUMP", key + b"2") == dumped
    assert node.read("LRANGE", "l2", 0, -1) == [b"a", b"b"]
    assert node.read("OBJECT", "ENCODING", "h2") == b"listpack"
    assert node.read("TTL", "l2") == -1
    assert node.write("RESTORE", "s", 0, STRING_PAYLOAD) == OK
    assert node.read("GET", "s") == b"hello"
    assert node.read("OBJECT", "ENCODING", "s") == b"embstr"


def test_restore_converts_as_redis_does_under_the_thresholds(node: Node) -> None:
    node.write("HSET", "h", "a", "1", "b", "2", "c", "3")
    dumped = node.read("DUMP", "h")
    node.configure(hash_max_listpack_entries=2)
    assert node.write("RESTORE", "h2", 0, dumped) == OK
    assert node.read("OBJECT", "ENCODING", "h2") == b"hashtable"
    assert node.read("HGETALL", "h2") == node.read("HGETALL", "h")


def test_restore_errors_in_redis_order(node: Node) -> None:
    node.write("SET", "k", "old")
    # Options are checked first, then BUSYKEY, the TTL, the footer, the value.
    assert node.write("RESTORE", "k", -1, b"junk", "FOO") == SYNTAX
    assert node.write("RESTORE", "k", -1, b"junk", "IDLETIME", -1) == INVALID_IDLETIME
    assert node.write("RESTORE", "k", -1, b"junk", "IDLETIME", "x") == NOT_INTEGER
    assert node.write("RESTORE", "k", -1, b"junk", "FREQ", 256) == INVALID_FREQ
    assert node.write("RESTORE", "k", -1, b"junk", "FREQ", -1) == INVALID_FREQ
    assert node.write("RESTORE", "k", -1, b"junk", "FREQ", "x") == NOT_INTEGER
    assert node.write("RESTORE", "k", -1, b"junk") == BUSYKEY
    assert node.write("RESTORE", "k", "abc", b"junk") == BUSYKEY
    assert node.write("RESTORE", "new", "abc", b"junk") == NOT_INTEGER
    assert node.write("RESTORE", "new", -1, b"junk") == INVALID_TTL
    assert node.write("RESTORE", "new", 0, b"junk") == BAD_FOOTER
    assert node.write("RESTORE", "k", 0, b"junk", "REPLACE") == BAD_FOOTER
    wrong_crc = STRING_PAYLOAD[:-1] + b"\x00"
    assert node.write("RESTORE", "new", 0, wrong_crc) == BAD_FOOTER
    assert node.write("RESTORE", "new", 0, payload(0, string(b"v"), version=11)) == BAD_FOOTER
    assert node.write("RESTORE", "new", 0, payload(15, b"\x00")) == BAD_DATA
    assert node.write("RESTORE", "k", 0, payload(0, b"\x30ab"), "REPLACE") == BAD_DATA
    assert node.read("GET", "k") == b"old"  # a refused REPLACE leaves the key
    assert node.read("EXISTS", "new") == 0
    assert node.version(b"k") == 1


def test_idletime_and_freq_exclude_each_other(node: Node) -> None:
    assert node.write("RESTORE", "a", 0, STRING_PAYLOAD, "FREQ", 5, "IDLETIME", 5) == SYNTAX
    assert node.write("RESTORE", "a", 0, STRING_PAYLOAD, "IDLETIME", 5, "FREQ", 5) == SYNTAX
    assert node.write("RESTORE", "a", 0, STRING_PAYLOAD, "IDLETIME", 0, "FREQ", 5) == SYNTAX
    assert node.write("RESTORE", "a", 0, STRING_PAYLOAD, "IDLETIME") == SYNTAX
    assert node.write("RESTORE", "a", 0, STRING_PAYLOAD, "freq", 1, "freq", 300) == INVALID_FREQ
    assert node.write("RESTORE", "a", 0, STRING_PAYLOAD, "freq", 255, "freq", 0) == OK
    assert node.write("RESTORE", "b", 0, STRING_PAYLOAD, "idletime", 1, "idletime", 2) == OK
    assert node.read("OBJECT", "IDLETIME", "b") == 2


def test_replace_and_ttls(node: Node) -> None:
    node.write("SET", "k", "old")
    assert node.write("RESTORE", "k", 5000, STRING_PAYLOAD, "REPLACE") == OK
    assert node.read("GET", "k") == b"hello"
    assert node.read("PTTL", "k") == 5000
    assert node.write("RESTORE", "a", NOW_MS + 7000, STRING_PAYLOAD, "ABSTTL") == OK
    assert node.read("PEXPIRETIME", "a") == NOW_MS + 7000
    # A TTL of 0 is none, ABSTTL or not.
    assert node.write("RESTORE", "b", 0, STRING_PAYLOAD, "ABSTTL") == OK
    assert node.read("TTL", "b") == -1
    # An absolute time already past creates nothing (OK), and REPLACE has deleted the key.
    version = node.version(b"k")
    assert node.write("RESTORE", "c", 1, STRING_PAYLOAD, "ABSTTL") == OK
    assert node.read("EXISTS", "c") == 0
    assert node.version(b"c") is None
    assert node.write("RESTORE", "k", NOW_MS, STRING_PAYLOAD, "ABSTTL", "REPLACE") == OK
    assert node.read("EXISTS", "k") == 0
    assert node.version(b"k") is None
    assert version is not None
    # A relative TTL that overflows a long long wraps into the past, as in Redis.
    assert node.write("RESTORE", "d", 2**63 - 1, STRING_PAYLOAD) == OK
    assert node.read("EXISTS", "d") == 0


def test_busykey_deletes_an_expired_key_first(node: Node) -> None:
    node.write("SET", "k", "v", "PX", 10)
    assert node.write("RESTORE", "k", 0, STRING_PAYLOAD, at=NOW_MS + 20) == OK
    assert node.read("GET", "k", at=NOW_MS + 20) == b"hello"


# Redis 7.0.15's OBJECT IDLETIME right after RESTORE ... IDLETIME n, at a known time: its
# LRU clock is 24 bits of seconds, and RESTORE stores clock - n with C arithmetic.
IDLE_CASES = [
    (0, 0),
    (5, 5),
    (10**6, 10**6),
    (16777214, 16777214),
    (16777215, 0),
    (16777216, 1),
    (10**9, 10144256),
    (10**12, 10817536),
    (10**15, 13008896),
    (9223372036854775, 14898167),
    (9223372036854776, 1879048),
    (10**16, 16406544),
    (10**18, 8164212),
    (2**63 - 1, 16777214),
]
IDLE_CASES_AT_MS = 1_796_108_396_877  # when the Redis answers above were taken


@pytest.mark.parametrize(("idle", "reported"), IDLE_CASES)
def test_idle_times_as_redis_reports_them(idle: int, reported: int) -> None:
    assert redis_idle_time(IDLE_CASES_AT_MS, idle) == reported
    node = Node()
    assert (
        node.write("RESTORE", "k", 0, STRING_PAYLOAD, "IDLETIME", idle, at=IDLE_CASES_AT_MS) == OK
    )
    assert node.read("OBJECT", "IDLETIME", "k", at=IDLE_CASES_AT_MS) == reported
    assert node.read("OBJECT", "IDLETIME", "k", at=IDLE_CASES_AT_MS + 3000) == reported + 3


def test_freq_has_no_effect_without_lfu(node: Node) -> None:
    assert node.write("RESTORE", "k", 0, STRING_PAYLOAD, "FREQ", 100) == OK
    assert node.read("OBJECT", "FREQ", "k") == ErrorReply(
        b"ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please "
        b"note that when switching between policies at runtime LRU and LFU data will take "
        b"some time to adjust."
    )
    assert node.read("OBJECT", "IDLETIME", "k", at=NOW_MS + 2000) == 2


def test_versions_watch_compares(node: Node) -> None:
    assert node.write("RESTORE", "k", 0, STRING_PAYLOAD) == OK
    assert node.version(b"k") == node.index
    before = node.index
    assert node.write("RESTORE", "k", 0, STRING_PAYLOAD) == BUSYKEY
    assert node.write("RESTORE", "k", 0, b"junk", "REPLACE") == BAD_FOOTER
    assert node.version(b"k") == before
    assert node.write("RESTORE", "k", 0, STRING_PAYLOAD, "REPLACE") == OK
    assert node.version(b"k") == node.index


def test_restore_is_deterministic_and_survives_a_snapshot() -> None:
    one, two = Node(), Node()
    for n in (one, two):
        n.write("RPUSH", "l", *[b"e%d" % i for i in range(3000)])
        n.write("SADD", "s", *[b"m%d" % i for i in range(700)])
        n.write("ZADD", "z", *[x for i in range(200) for x in (i / 7, b"z%d" % i)])
    for key in (b"l", b"s", b"z"):
        dumped = one.read("DUMP", key)
        assert dumped == two.read("DUMP", key)
        for n in (one, two):
            assert n.write("RESTORE", key + b"-copy", 0, dumped, "IDLETIME", 7) == OK
    assert dataset_digest(one.machine.keyspace) == dataset_digest(two.machine.keyspace)
    copy = StateMachine(build_table())
    restore_records(copy, snapshot_records(one.machine))
    for key in (b"l-copy", b"s-copy", b"z-copy"):
        ctx = copy.read_context(0, NOW_MS * 1000, random.Random(0))
        assert copy.run(ctx, [b"DUMP", key]) == one.read("DUMP", key)


def test_dump_follows_the_list_thresholds(node: Node) -> None:
    node.write("RPUSH", "l", *[b"element-%d" % i for i in range(2000)])
    node.configure(list_max_listpack_size=-1, list_compress_depth=1)
    dumped = node.read("DUMP", "l")
    assert isinstance(dumped, bytes)
    assert dumped[1] > 2  # several 4 kB nodes
    assert node.write("RESTORE", "l2", 0, dumped) == OK
    assert node.read("LRANGE", "l2", 0, -1) == node.read("LRANGE", "l", 0, -1)
