"""Hash commands on the state machine: what each write changes (versions WATCH compares, an
emptied hash deleted, nothing bumped by a write that changes nothing), HINCRBYFLOAT's long
double, HRANDFIELD's shapes and draws, HSCAN over a big hash, snapshots. Replies and errors are
compared with Redis 7.0 byte for byte in compat/scenarios/hash_*.txt."""

from __future__ import annotations

import cbor2
import pytest

from concord_resp.commands import build_table
from concord_resp.resp import OK, ErrorReply, Map, Pairs, Reply, encode_reply
from concord_resp.state import Command, Configure, StateMachine
from concord_resp.state.snapshot import restore_records, snapshot_records
from concord_resp.store.digest import dataset_digest
from concord_resp.store.types import HashValue

SECOND = 1_000_000


class Node:
    def __init__(self) -> None:
        self.machine = StateMachine(build_table())
        self.index = 0

    def run(self, *args: bytes | str | int) -> Reply:
        self.index += 1
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return self.machine.apply(self.index, Command(SECOND, 0, argv)).reply

    def configure(self, **settings: int) -> None:
        """CONFIG SET of encoding thresholds, as the log carries it."""
        self.index += 1
        self.machine.apply(self.index, Configure(SECOND, 0, list(settings.items())))

    def version(self, key: bytes) -> int | None:
        return self.machine.keyspace.dbs[0].versions.get(key)

    def value(self, key: bytes) -> object:
        return self.machine.keyspace.dbs[0].data.get(key)


def error(text: str) -> ErrorReply:
    return ErrorReply(text.encode())


def test_writes_bump_the_version_and_an_emptied_hash_is_deleted() -> None:
    node = Node()
    assert node.run("HSET", "h", "a", "1", "b", "2") == 2
    assert node.version(b"h") == 1
    assert node.run("HSET", "h", "a", "1") == 0  # the same value: still a write, as in Redis
    assert node.version(b"h") == 2
    assert node.run("HMSET", "h", "c", "3") == OK
    assert node.run("HINCRBY", "h", "c", 0) == 3
    assert node.version(b"h") == 4
    assert node.run("HDEL", "h", "a", "b", "c") == 3
    assert node.value(b"h") is None
    assert node.version(b"h") is None


def test_a_write_that_changes_nothing_leaves_the_version() -> None:
    node = Node()
    node.run("HSET", "h", "a", "1", "s", "text")
    assert node.run("HSETNX", "h", "a", "2") == 0
    assert node.run("HDEL", "h", "nosuch", "other") == 0
    assert node.run("HDEL", "missing", "a") == 0
    assert node.run("HINCRBY", "h", "s", 1) == error("ERR hash value is not an integer")
    assert node.run("HINCRBYFLOAT", "h", "s", 1) == error("ERR hash value is not a float")
    assert node.run("HINCRBY", "h", "a", "9223372036854775807") == error(
        "ERR increment or decrement would overflow"
    )
    assert node.version(b"h") == 1
    # A failed increment creates no key.
    assert node.run("HINCRBYFLOAT", "new", "f", "inf") == error("ERR value is NaN or Infinity")
    assert node.run("HINCRBY", "new", "f", "x") == error(
        "ERR value is not an integer or out of range"
    )
    assert node.value(b"new") is None
    assert node.version(b"new") is None


def test_hincrbyfloat_computes_in_long_double() -> None:
    node = Node()
    assert node.run("HINCRBYFLOAT", "h", "f", "10.5") == b"10.5"
    assert node.run("HINCRBYFLOAT", "h", "f", "0.1") == b"10.6"
    assert node.run("HINCRBYFLOAT", "h", "f", "-10.6") == b"0"
    # 1e308 is not a long double: Redis prints the one nearest it, digit for digit.
    first = node.run("HINCRBYFLOAT", "h", "g", "1e308")
    assert isinstance(first, bytes)
    assert first.startswith(b"99999999999999999996685879655845")
    big = node.run("HINCRBYFLOAT", "h", "g", "1e308")
    assert isinstance(big, bytes)
    assert big.startswith(b"19999999999999999999")
    assert len(big) == 309
    assert node.run("HINCRBYFLOAT", "h", "i", "3") == b"3"
    assert node.run("HINCRBY", "h", "i", "1") == 4  # an integral result stays an integer
    value = node.value(b"h")
    assert isinstance(value, HashValue)
    assert not value.listpack


def test_replies_are_not_the_stored_hash() -> None:
    node = Node()
    node.run("HSET", "h", "a", "1")
    everything, keys = node.run("HGETALL", "h"), node.run("HKEYS", "h")
    node.run("HSET", "h", "b", "2")
    assert everything == Map({b"a": b"1"})
    assert keys == [b"a"]


def test_hrandfield_shapes_in_both_protocols() -> None:
    node = Node()
    node.run("HSET", "h", "a", "1", "b", "2")
    whole = node.run("HRANDFIELD", "h", 5, "WITHVALUES")
    assert isinstance(whole, Pairs)
    assert encode_reply(whole, 2) == b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
    assert encode_reply(whole, 3) == (
        b"*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
    )
    repeated = node.run("HRANDFIELD", "h", -7, "WITHVALUES")
    assert isinstance(repeated, Pairs)
    assert len(repeated) == 7
    assert all(pair in ((b"a", b"1"), (b"b", b"2")) for pair in repeated)
    assert node.run("HRANDFIELD", "h", 0) == []
    assert node.run("HRANDFIELD", "missing") is None
    assert node.run("HRANDFIELD", "missing", 3) == []


@pytest.mark.parametrize("size", [20, 600])
@pytest.mark.parametrize("count", [1, 3, 15, 19])
def test_hrandfield_with_a_positive_count_is_distinct(size: int, count: int) -> None:
    node = Node()
    node.run("HSET", "h", *[f"f{n}" if i % 2 == 0 else str(n) for n in range(size) for i in (0, 1)])
    fields = node.run("HRANDFIELD", "h", count)
    assert isinstance(fields, list)
    assert len(fields) == count == len(set(fields))
    pairs = node.run("HRANDFIELD", "h", count, "WITHVALUES")
    assert isinstance(pairs, Pairs)
    assert len({field for field, _ in pairs}) == count
    assert all(field == b"f" + value for field, value in pairs)


def test_hscan_of_a_big_hash_returns_every_field_present_throughout() -> None:
    node = Node()
    for n in range(0, 1000, 100):
        node.run("HSET", "h", *[str(x) for m in range(n, n + 100) for x in (f"f{m}", m)])
    value = node.value(b"h")
    assert isinstance(value, HashValue)
    assert not value.listpack
    assert value.index is None
    seen: dict[bytes, bytes] = {}
    cursor = b"0"
    step = 0
    while True:
        reply = node.run("HSCAN", "h", cursor, "COUNT", 25)
        assert isinstance(reply, list)
        cursor, flat = reply
        seen.update(zip(flat[::2], flat[1::2], strict=True))
        step += 1
        node.run("HSET", "h", f"new{step}", "x")  # changes between steps
        node.run("HDEL", "h", f"f{step}")
        if cursor == b"0":
            break
    assert value.index is not None  # built by the first step, kept up to date since
    assert all(seen[b"f%d" % m] == b"%d" % m for m in range(100, 1000))
    matched = node.run("HSCAN", "h", 0, "MATCH", "f99*", "COUNT", 10_000)
    assert isinstance(matched, list)
    assert sorted(matched[1][::2]) == [
        b"f99",
        b"f990",
        b"f991",
        b"f992",
        b"f993",
        b"f994",
        b"f995",
        b"f996",
        b"f997",
        b"f998",
        b"f999",
    ]


def test_a_snapshot_keeps_hashes_their_order_and_encoding() -> None:
    node = Node()
    node.run("HSET", "small", "z", "1", "a", "2")
    node.configure(hash_max_listpack_entries=2)
    node.run("HSET", "big", "a", "1", "b", "2", "c", "3")
    node.run("EXPIRE", "big", 100)
    records = [cbor2.loads(cbor2.dumps(record)) for record in snapshot_records(node.machine)]
    restored = StateMachine(build_table())
    restore_records(restored, records)
    db = restored.keyspace.dbs[0]
    small, big = db.data[b"small"], db.data[b"big"]
    assert isinstance(small, HashValue)
    assert isinstance(big, HashValue)
    assert list(small.items()) == [(b"z", b"1"), (b"a", b"2")]
    assert small.listpack
    assert not big.listpack
    assert db.ttl_ms(b"big") is not None
    assert dataset_digest(restored.keyspace) == dataset_digest(node.machine.keyspace)


def test_the_same_entries_give_the_same_replies_and_state() -> None:
    nodes = [Node(), Node()]
    script: list[tuple[str, ...]] = [
        ("HSET", "h", *[f"f{n}" for n in range(300)]),
        ("HSET", "h", "x", "y"),
        ("HDEL", "h", "f0", "f2"),
        ("HGETALL", "h"),
        ("HSCAN", "h", "0", "COUNT", "7"),
        ("HINCRBYFLOAT", "h", "x2", "0.1"),
    ]
    for node in nodes:
        node.configure(hash_max_listpack_entries=10)
    replies = [[node.run(*command) for command in script] for node in nodes]
    assert replies[0] == replies[1]
    assert dataset_digest(nodes[0].machine.keyspace) == dataset_digest(nodes[1].machine.keyspace)
