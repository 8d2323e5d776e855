"""The generic key commands on the state machine, with explicit times.

Writes go through `StateMachine.apply` (as committed log entries, at the leader's time);
reads through `read_context` + `run`. Times are explicit milliseconds, so expiry boundaries
are exact: a key whose expiry is T is live at T and gone at T + 1.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord_resp.commands import build_table
from concord_resp.resp import ErrorReply, Reply, SimpleString
from concord_resp.state import Command, StateMachine
from concord_resp.store import Database

SHARED = 2**31 - 1
FAR = 4_102_444_800_000  # 2100-01-01 in ms

# Keys whose crc32 values are equal (forged by appending 4 bytes), and keys whose crc32 is 0:
# SCAN orders keys by crc32, so these exercise its group and cursor-0 edge cases.
COLLIDING = [
    b"collide-0",
    b"collide-1\xbcc\xb1Q",
    b"collide-2\x062\xb8\xc8",
    b"collide-3\x90\x02\xbf\xbf",
]
CRC_ZERO = [b"zero-0\xed\xf3>\xa3", b"zero-1{\xc39\xd4"]


def _argv(args: Iterable[object]) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


class Node:
    """One state machine, driven the way the server drives it."""

    def __init__(self) -> None:
        self.machine = StateMachine(build_table())
        self.index = 0

    def write(self, at: int, *args: object, db: int = 0) -> Reply:
        self.index += 1
        return self.machine.apply(self.index, Command(at * 1000, db, _argv(args))).reply

    def read(self, at: int, *args: object, db: int = 0, seed: int = 0) -> Reply:
        ctx = self.machine.read_context(db, at * 1000, random.Random(seed))
        return self.machine.run(ctx, _argv(args))

    def db(self, number: int = 0) -> Database:
        return self.machine.keyspace.dbs[number]

    def state(self) -> object:
        """Everything replicated about the keyspace (not the node-local access times)."""
        return [
            (
                dict(db.data),
                dict(db.expires),
                dict(db.versions),
                dict(db.tombstones),
                db.tombstone_floor,
                dict(db.encoding_overrides),
            )
            for db in self.machine.keyspace.dbs
        ]


@pytest.fixture
def node() -> Node:
    return Node()


# -- expiry boundaries --------------------------------------------------------------------


def test_key_is_live_at_its_expiry_time_and_gone_one_ms_later(node: Node) -> None:
    node.write(1000, "SET", "k", "v")
    assert node.write(1000, "PEXPIREAT", "k", 5000) == 1
    assert node.read(5000, "EXISTS", "k") == 1
    assert node.read(5000, "PTTL", "k") == 0
    assert node.read(5000, "TTL", "k") == 0
    assert node.read(5000, "GET", "k") == b"v"
    assert node.read(5001, "EXISTS", "k") == 0
    assert node.read(5001, "PTTL", "k") == -2
    assert node.read(5001, "TYPE", "k") == SimpleString(b"none")
    assert node.read(5001, "KEYS", "*") == []
    assert node.read(5001, "DBSIZE") == 0


def test_setting_an_expiry_at_the_current_time_deletes_the_key(node: Node) -> None:
    node.write(1000, "SET", "k", "v")
    assert node.write(2000, "PEXPIREAT", "k", 2000) == 1
    assert b"k" not in node.db().data
    node.write(2000, "SET", "k", "v")
    assert node.write(2000, "PEXPIREAT", "k", 2001) == 1
    assert node.read(2001, "EXISTS", "k") == 1


def test_relative_expiry_is_counted_from_the_entry_time(node: Node) -> None:
    node.write(10_000, "SET", "k", "v")
    node.write(10_000, "PEXPIRE", "k", 1500)
    assert node.read(10_000, "PEXPIRETIME", "k") == 11_500
    node.write(10_000, "EXPIRE", "k", 3)
    assert node.read(10_000, "PEXPIRETIME", "k") == 13_000
    assert node.read(11_499, "TTL", "k") == 2  # 1501 ms rounds to 2 s
    assert node.read(11_501, "TTL", "k") == 1


def test_expiretime_rounds_to_the_nearest_second(node: Node) -> None:
    node.write(1000, "SET", "k", "v")
    node.write(1000, "PEXPIREAT", "k", FAR + 499)
    assert node.read(1000, "EXPIRETIME", "k") == FAR // 1000
    node.write(1000, "PEXPIREAT", "k", FAR + 500)
    assert node.read(1000, "EXPIRETIME", "k") == FAR // 1000 + 1


def test_relative_expiry_overflow_depends_on_the_current_time(node: Node) -> None:
    node.write(0, "SET", "k", "v")
    limit = 2**63 - 1
    assert node.write(0, "PEXPIRE", "k", limit) == 1  # 0 + LLONG_MAX still fits
    error = node.write(5, "PEXPIRE", "k", limit)
    assert error == ErrorReply(b"ERR invalid expire time in 'pexpire' command")
    assert node.write(5, "PEXPIRE", "k", limit - 5) == 1


def test_gt_and_lt_treat_no_ttl_as_infinite(node: Node) -> None:
    node.write(1000, "SET", "k", "v")
    assert node.write(1000, "EXPIRE", "k", 100, "GT") == 0
    assert node.write(1000, "EXPIRE", "k", 100, "LT") == 1
    assert node.write(1000, "EXPIRE", "k", 100, "LT") == 0  # equal is not less
    assert node.write(1000, "EXPIRE", "k", 100, "GT") == 0  # equal is not greater
    assert node.write(1000, "EXPIRE", "k", 101, "GT") == 1
    assert node.read(1000, "PEXPIRETIME", "k") == 102_000


def test_a_past_time_with_a_failing_condition_does_not_delete(node: Node) -> None:
    node.write(1000, "SET", "k", "v")
    assert node.write(1000, "PEXPIREAT", "k", 1, "XX") == 0
    assert node.read(1000, "EXISTS", "k") == 1
    assert node.write(1000, "PEXPIREAT", "k", 1, "LT") == 1
    assert node.read(1000, "EXISTS", "k") == 0


def test_writes_delete_expired_keys_first_and_keep_their_version(node: Node) -> None:
    node.write(1000, "SET", "k", "v")
    node.write(1000, "PEXPIREAT", "k", 1500)
    before = node.db().watch_state(b"k", 2000)
    assert before == (2, False)
    assert node.write(2000, "PERSIST", "k") == 0
    assert b"k" not in node.db().data
    assert node.db().watch_state(b"k", 2000) == before
    assert node.read(2000, "EXISTS", "k") == 0


# -- versions: every change bumps, reads and no-ops do not --------------------------------

CHANGES = [
    (["SET k v"], "DEL k", ["k"]),
    (["SET k v"], "UNLINK k", ["k"]),
    (["SET k v"], "EXPIRE k 100", ["k"]),
    (["SET k v"], "PEXPIREAT k 1", ["k"]),
    (["SET k v", "EXPIRE k 100"], "PERSIST k", ["k"]),
    (["SET k v", "EXPIRE k 100"], "EXPIRE k 200 GT", ["k"]),
    (["SET k v"], "RENAME k k2", ["k", "k2"]),
    (["SET k v", "SET k2 w"], "RENAME k k2", ["k", "k2"]),
    (["SET k v"], "RENAMENX k k2", ["k", "k2"]),
    (["SET k v"], "COPY k k2", ["k2"]),
    (["SET k v", "SET k2 w"], "COPY k k2 REPLACE", ["k2"]),
    (["SET k v"], "MOVE k 1", ["k"]),
    (["SET k v"], "FLUSHDB", ["k"]),
    (["SET k v"], "FLUSHALL", ["k"]),
    (["SET k v"], "SWAPDB 0 1", ["k"]),
]

NO_CHANGES = [
    (["SET k v"], "EXISTS k"),
    (["SET k v"], "TOUCH k"),
    (["SET k v"], "TYPE k"),
    (["SET k v"], "TTL k"),
    (["SET k v"], "OBJECT ENCODING k"),
    (["SET k v"], "KEYS *"),
    (["SET k v"], "SCAN 0"),
    (["SET k v"], "RANDOMKEY"),
    (["SET k v"], "PERSIST k"),
    (["SET k v"], "EXPIRE k 100 XX"),
    (["SET k v", "EXPIRE k 100"], "EXPIRE k 200 NX"),
    (["SET k v", "EXPIRE k 100"], "EXPIRE k 50 GT"),
    (["SET k v"], "EXPIRE missing 100"),
    (["SET k v"], "RENAME k k"),
    (["SET k v", "SET k2 w"], "RENAMENX k k2"),
    (["SET k v", "SET k2 w"], "COPY k k2"),
    (["SET k v"], "COPY missing k"),
    (["SET k v"], "MOVE missing 1"),
    (["SET k v", "MOVE k 1", "SET k w"], "MOVE k 1"),
    (["SET k v"], "DEL missing"),
    (["SET k v"], "SWAPDB 0 0"),
    (["SET k v"], "RENAME missing k"),
]


def _watch_states(node: Node, keys: list[str], at: int) -> list[tuple[int, bool]]:
    return [node.db(n).watch_state(k.encode(), at) for n in (0, 1) for k in keys]


@pytest.mark.parametrize(("setup", "command", "keys"), CHANGES)
def test_writes_that_change_keys_bump_their_versions(
    node: Node, setup: list[str], command: str, keys: list[str]
) -> None:
    for line in setup:
        node.write(1000, *line.split())
    before = _watch_states(node, keys, 2000)
    reply = node.write(2000, *command.split())
    assert not isinstance(reply, ErrorReply)
    after = _watch_states(node, keys, 2000)
    for key, old, new in zip(keys, before[: len(keys)], after[: len(keys)], strict=True):
        assert old != new, f"{command} did not bump {key}"


@pytest.mark.parametrize(("setup", "command"), NO_CHANGES)
def test_reads_and_no_op_writes_change_nothing(node: Node, setup: list[str], command: str) -> None:
    for line in setup:
        node.write(1000, *line.split())
    before = node.state()
    argv = command.split()
    spec = node.machine.resolve(_argv(argv))
    reply = node.write(2000, *argv) if spec.is_write else node.read(2000, *argv)
    assert node.state() == before, f"{command} -> {reply!r} changed the keyspace"


def test_reads_never_delete_expired_keys(node: Node) -> None:
    node.write(1000, "SET", "k", "v")
    node.write(1000, "PEXPIREAT", "k", 1500)
    before = node.state()
    for command in ("EXISTS k", "TOUCH k", "TYPE k", "TTL k", "KEYS *", "SCAN 0", "RANDOMKEY"):
        node.read(2000, *command.split())
    node.read(2000, "OBJECT", "ENCODING", "k")
    assert node.state() == before


# -- RENAME, MOVE, COPY -------------------------------------------------------------------


def test_rename_moves_the_ttl_and_leaves_a_tombstone(node: Node) -> None:
    node.write(1000, "SET", "a", "1")
    node.write(1000, "PEXPIREAT", "a", FAR)
    node.write(1000, "SET", "b", "2")
    node.write(1000, "PEXPIREAT", "b", FAR + 1)
    index = node.index + 1
    assert node.write(2000, "RENAME", "a", "b") == SimpleString(b"OK")
    db = node.db()
    assert db.data == {b"b": b"1"}
    assert db.ttl_ms(b"b") == FAR
    assert db.ttl_ms(b"a") is None
    assert db.watch_state(b"a", 2000) == (index, False)
    assert db.watch_state(b"b", 2000) == (index, True)
    node.write(2000, "SET", "c", "3")
    node.write(2000, "RENAME", "c", "b")  # a key without TTL replaces one with a TTL
    assert db.ttl_ms(b"b") is None
    assert db.expiry_index.count((FAR, b"b")) == 0


def test_move_carries_the_ttl_and_refuses_an_existing_target(node: Node) -> None:
    node.write(1000, "SET", "k", "v")
    node.write(1000, "PEXPIREAT", "k", FAR)
    assert node.write(1000, "MOVE", "k", 3) == 1
    assert node.db(3).ttl_ms(b"k") == FAR
    assert node.read(1000, "GET", "k", db=3) == b"v"
    assert node.read(1000, "EXISTS", "k") == 0
    node.write(1000, "SET", "k", "here")
    assert node.write(1000, "MOVE", "k", 3) == 0
    # an expired target counts as missing and is replaced
    node.write(1000, "PEXPIREAT", "k", 1500, db=3)
    assert node.write(2000, "MOVE", "k", 3) == 1
    assert node.read(2000, "GET", "k", db=3) == b"here"
    assert node.db(3).ttl_ms(b"k") is None


def test_copy_duplicates_values_modified_in_place(node: Node) -> None:
    node.write(1000, "SET", "src", "abc")
    db = node.db()
    db.set(b"src", bytearray(b"abc"), node.index)  # as APPEND leaves it
    node.write(1000, "COPY", "src", "dst", "DB", 2)
    copied = node.db(2).data[b"dst"]
    assert copied == bytearray(b"abc")
    assert copied is not db.data[b"src"]
    assert node.read(1000, "OBJECT", "ENCODING", "dst", db=2) == b"raw"


def test_copied_shared_integers_are_not_shared(node: Node) -> None:
    node.write(1000, "SET", "i", "42")
    node.write(1000, "COPY", "i", "j")
    assert node.read(1000, "OBJECT", "REFCOUNT", "i") == SHARED
    assert node.read(1000, "OBJECT", "REFCOUNT", "j") == 1
    assert node.read(1000, "OBJECT", "ENCODING", "j") == b"int"
    node.write(1000, "RENAME", "j", "k")
    node.write(1000, "COPY", "k", "l")
    assert node.read(1000, "OBJECT", "REFCOUNT", "k") == 1
    assert node.read(1000, "OBJECT", "REFCOUNT", "l") == 1
    node.write(1000, "SET", "l", "42")
    assert node.read(1000, "OBJECT", "REFCOUNT", "l") == SHARED
    node.write(1000, "DEL", "k")
    assert b"k" not in node.db().encoding_overrides


def test_copy_of_an_expired_source_deletes_it(node: Node) -> None:
    node.write(1000, "SET", "src", "v")
    node.write(1000, "PEXPIREAT", "src", 1500)
    assert node.write(2000, "COPY", "src", "dst") == 0
    assert node.db().data == {}


# -- OBJECT -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoding", "refcount"),
    [
        (b"0", b"int", SHARED),
        (b"9999", b"int", SHARED),
        (b"10000", b"int", 1),
        (b"-1", b"int", 1),
        (b"-0", b"embstr", 1),
        (b"007", b"embstr", 1),
        (b"-9223372036854775808", b"int", 1),
        (b"9223372036854775808", b"embstr", 1),
        (b"", b"embstr", 1),
        (b"x" * 44, b"embstr", 1),
        (b"x" * 45, b"raw", 1),
        (bytearray(b"1"), b"raw", 1),
    ],
)
def test_object_encoding_and_refcount(
    node: Node, value: bytes, encoding: bytes, refcount: int
) -> None:
    node.write(1000, "SET", "k", "placeholder")
    node.db().set(b"k", value, node.index)
    assert node.read(1000, "OBJECT", "ENCODING", "k") == encoding
    assert node.read(1000, "OBJECT", "REFCOUNT", "k") == refcount


def test_idle_time_counts_whole_seconds_since_the_last_access(node: Node) -> None:
    node.write(1_000, "SET", "k", "v")
    assert node.read(1_000, "OBJECT", "IDLETIME", "k") == 0
    assert node.read(5_999, "OBJECT", "IDLETIME", "k") == 4
    # these do not count as an access (Redis's LOOKUP_NOTOUCH)
    for command in ("EXISTS k", "TYPE k", "TTL k", "PTTL k", "OBJECT ENCODING k", "SCAN 0"):
        node.read(6_000, *command.split())
    assert node.read(6_000, "OBJECT", "IDLETIME", "k") == 5
    node.read(6_000, "GET", "k")
    assert node.read(8_000, "OBJECT", "IDLETIME", "k") == 2
    node.read(9_000, "TOUCH", "k")
    assert node.read(9_500, "OBJECT", "IDLETIME", "k") == 0
    node.write(12_000, "EXPIRE", "k", 100)
    assert node.read(13_000, "OBJECT", "IDLETIME", "k") == 1


def test_access_times_are_dropped_with_their_keys(node: Node) -> None:
    node.write(1000, "SET", "a", "1")
    node.write(1000, "SET", "b", "2")
    node.write(1000, "SET", "c", "3")
    node.write(1000, "DEL", "a")
    node.write(1000, "RENAME", "b", "b2")
    node.write(1000, "PEXPIREAT", "c", 1500)
    node.write(2000, "PERSIST", "c")  # a write meeting the expired key deletes it
    assert set(node.db().access) == {b"b2"}
    node.write(2000, "FLUSHALL")
    assert node.db().access == {}


def test_object_freq_needs_an_lfu_policy(node: Node) -> None:
    assert node.read(1000, "OBJECT", "FREQ", "missing") is None
    node.write(1000, "SET", "k", "v")
    reply = node.read(1000, "OBJECT", "FREQ", "k")
    assert isinstance(reply, ErrorReply)
    assert reply.startswith(b"ERR An LFU maxmemory policy")


# -- RANDOMKEY ----------------------------------------------------------------------------


def test_randomkey_never_returns_an_expired_key(node: Node) -> None:
    assert node.read(1000, "RANDOMKEY") is None
    for i in range(50):
        node.write(1000, "SET", f"dead{i}", "v")
        node.write(1000, "PEXPIREAT", f"dead{i}", 1500)
    assert node.read(2000, "RANDOMKEY") is None
    node.write(2000, "SET", "live", "v")
    for seed in range(30):
        assert node.read(2000, "RANDOMKEY", seed=seed) == b"live"


def test_randomkey_reaches_every_key_and_is_deterministic_per_seed(node: Node) -> None:
    keys = {f"k{i}".encode() for i in range(8)}
    for key in keys:
        node.write(1000, "SET", key, "v")
    seen = {node.read(1000, "RANDOMKEY", seed=seed) for seed in range(200)}
    assert seen == keys
    assert node.read(1000, "RANDOMKEY", seed=7) == node.read(1000, "RANDOMKEY", seed=7)


# -- SCAN ---------------------------------------------------------------------------------


def _scan_step(
    node: Node, cursor: bytes, *options: object, at: int = 1000
) -> tuple[bytes, list[bytes]]:
    reply = node.read(at, "SCAN", cursor, *options)
    assert isinstance(reply, list), reply
    next_cursor, keys = reply
    assert isinstance(next_cursor, bytes)
    assert isinstance(keys, list)
    return next_cursor, keys


def _scan_all(node: Node, *options: object, at: int = 1000) -> list[bytes]:
    cursor, found = b"0", []
    for _ in range(10_000):
        cursor, keys = _scan_step(node, cursor, *options, at=at)
        found.extend(keys)
        if cursor == b"0":
            return found
    raise AssertionError("SCAN did not finish")


def test_forged_keys_collide() -> None:
    assert len({zlib.crc32(key) for key in COLLIDING}) == 1
    assert {zlib.crc32(key) for key in CRC_ZERO} == {0}


def test_scan_returns_whole_crc_groups_so_it_always_progresses(node: Node) -> None:
    for key in [*COLLIDING, *CRC_ZERO, b"a", b"b"]:
        node.write(1000, "SET", key, "v")
    cursor, keys = _scan_step(node, b"0", "COUNT", 1)
    assert sorted(keys) == sorted(CRC_ZERO)  # the crc32 0 group, and the cursor moved on
    assert cursor != b"0"
    found = _scan_all(node, "COUNT", 1)
    assert sorted(found) == sorted([*COLLIDING, *CRC_ZERO, b"a", b"b"])
    assert len(found) == len(set(found))


def test_scan_cursor_is_the_next_crc32(node: Node) -> None:
    keys = [f"key{i}".encode() for i in range(20)]
    for key in keys:
        node.write(1000, "SET", key, "v")
    ordered = sorted(keys, key=lambda k: (zlib.crc32(k), k))
    cursor, batch = _scan_step(node, b"0", "COUNT", 5)
    assert batch == ordered[:5]
    assert cursor == b"%d" % zlib.crc32(ordered[5])
    cursor, batch = _scan_step(node, cursor, "COUNT", 100)
    assert batch == ordered[5:]
    assert cursor == b"0"
    assert _scan_step(node, b"%d" % 2**32)[0] == b"0"
    assert _scan_step(node, b"-1") == (b"0", [])


def test_scan_filters_pattern_type_and_expired_keys(node: Node) -> None:
    for key in ("apple", "apricot", "banana", "avocado"):
        node.write(1000, "SET", key, "v")
    node.write(1000, "PEXPIREAT", "avocado", 1500)
    assert sorted(_scan_all(node, "MATCH", "a*", at=1500)) == [b"apple", b"apricot", b"avocado"]
    assert sorted(_scan_all(node, "MATCH", "a*", at=1501)) == [b"apple", b"apricot"]
    strings = _scan_all(node, "TYPE", "STRING", "COUNT", 1, at=2000)
    assert sorted(strings) == [b"apple", b"apricot", b"banana"]
    assert _scan_all(node, "TYPE", "list", at=2000) == []
    assert _scan_all(node, "TYPE", "nosuchtype", at=2000) == []


@pytest.mark.parametrize(
    ("cursor", "ok"),
    [
        (b"", True),
        (b"+0", True),
        (b"-0", True),
        (b"18446744073709551615", True),
        (b"5\x00junk", True),
        (b"18446744073709551616", False),
        (b" 0", False),
        (b"0 ", False),
        (b"-", False),
        (b"0x1", False),
        (b"\xd9\xa1", False),  # a non-ASCII digit
    ],
)
def test_scan_cursor_parsing_follows_strtoul(node: Node, cursor: bytes, ok: bool) -> None:
    reply = node.read(1000, "SCAN", cursor)
    assert (reply != ErrorReply(b"ERR invalid cursor")) == ok


_KEYS = st.sampled_from([*COLLIDING, *CRC_ZERO, *(b"k%d" % i for i in range(12))])
_OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["set", "del", "scan"]), _KEYS), min_size=0, max_size=60
)


@settings(max_examples=150, deadline=None)
@given(
    initial=st.sets(_KEYS, max_size=18),
    operations=_OPERATIONS,
    count=st.integers(min_value=1, max_value=4),
)
def test_scan_returns_every_key_present_for_the_whole_iteration(
    initial: set[bytes], operations: list[tuple[str, bytes]], count: int
) -> None:
    node = Node()
    for key in initial:
        node.write(1000, "SET", key, "v")
    present = set(initial)
    always = set(initial)  # keys present for the whole iteration so far
    ever = set(initial)
    cursor, found = b"0", set()
    pending = iter(operations)
    for _ in range(1000):
        # Interleave writes between SCAN calls, as other clients would.
        for kind, key in pending:
            if kind == "scan":
                break
            if kind == "set":
                node.write(1000, "SET", key, "v")
                present.add(key)
                ever.add(key)
            else:
                node.write(1000, "DEL", key)
                present.discard(key)
                always.discard(key)
        cursor, keys = _scan_step(node, cursor, "COUNT", count)
        found.update(keys)
        assert set(keys) <= present
        if cursor == b"0":
            break
    else:
        raise AssertionError("SCAN did not finish")
    assert always <= found
    assert found <= ever


# -- keyspace hits and misses -------------------------------------------------------------

STATS = [
    ("EXISTS a missing", (1, 1)),
    ("TYPE a", (1, 0)),
    ("TYPE missing", (0, 1)),
    ("TTL a", (1, 0)),
    ("PTTL missing", (0, 1)),
    ("EXPIRETIME gone", (0, 1)),
    ("OBJECT ENCODING a", (1, 0)),
    ("OBJECT REFCOUNT missing", (0, 1)),
    ("OBJECT FREQ a", (1, 0)),
    ("TOUCH a missing gone", (1, 2)),
    ("COPY a b", (1, 0)),
    ("COPY gone b", (0, 1)),
    ("SCAN 0", (0, 0)),
    ("SCAN 0 TYPE string", (2, 1)),
    ("KEYS *", (0, 0)),
    ("RANDOMKEY", (0, 0)),
    ("RENAME a b", (0, 0)),
    ("EXPIRE a 100", (0, 0)),
    ("DEL a missing", (0, 0)),
]


@pytest.mark.parametrize(("command", "counts"), STATS)
def test_read_lookups_count_hits_and_misses(
    node: Node, command: str, counts: tuple[int, int]
) -> None:
    node.write(1000, "SET", "a", "1")
    node.write(1000, "SET", "c", "1")
    node.write(1000, "SET", "gone", "1")
    node.write(1000, "PEXPIREAT", "gone", 1500)
    stats = node.machine.stats
    before = (stats.keyspace_hits, stats.keyspace_misses)
    argv = command.split()
    if node.machine.resolve(_argv(argv)).is_write:
        node.write(2000, *argv)
    else:
        node.read(2000, *argv)
    after = (stats.keyspace_hits, stats.keyspace_misses)
    assert (after[0] - before[0], after[1] - before[1]) == counts
