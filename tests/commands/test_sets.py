"""Set commands on the state machine: versions WATCH compares, emptied sets deleted, SPOP's
strategies and the encodings they leave, SRANDMEMBER's draws, SSCAN over a big set, results
of the algebra, snapshots, and the same replies and state whatever the hash seed. Replies and
errors are compared with Redis 7.0 byte for byte in compat/scenarios/set_*.txt."""

from __future__ import annotations

import json
import random
from pathlib import Path

import cbor2
import pytest

from concord_resp.commands import build_table
from concord_resp.commands.members import DRAW_LIMIT, TOO_MANY
from concord_resp.resp import ErrorReply, Pairs, Reply, RespSet, encode_reply
from concord_resp.state import Command, Configure, StateMachine
from concord_resp.state.snapshot import restore_records, snapshot_records
from concord_resp.store.digest import dataset_digest
from concord_resp.store.types import SetValue
from tests.support.hash_seeds import outputs_under_seeds

SECOND = 1_000_000
ROOT = Path(__file__).resolve().parents[2]


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

    def value(self, key: bytes) -> SetValue | None:
        value = self.machine.keyspace.dbs[0].data.get(key)
        assert value is None or isinstance(value, SetValue)
        return value


def members(count: int, prefix: str = "m") -> list[str]:
    return [f"{prefix}{n}" for n in range(count)]


def test_writes_that_change_nothing_leave_the_version() -> None:
    node = Node()
    node.run("SADD", "s", "a", "b")
    node.run("SADD", "t", "a")
    assert node.run("SADD", "s", "a", "b") == 0
    assert node.run("SREM", "s", "nosuch") == 0
    assert node.run("SMOVE", "s", "s", "a") == 1
    assert node.run("SMOVE", "s", "t", "nosuch") == 0
    assert node.run("SPOP", "s", 0) == RespSet()
    assert node.version(b"s") == 1
    assert node.version(b"t") == 2
    # SMOVE of a member the destination has changes only the source.
    assert node.run("SMOVE", "s", "t", "a") == 1
    assert node.version(b"s") == 8
    assert node.version(b"t") == 2
    assert node.run("SMOVE", "s", "t", "b") == 1
    assert node.value(b"s") is None
    assert node.version(b"t") == 9


def test_an_emptied_set_is_deleted() -> None:
    node = Node()
    node.run("SADD", "s", "1", "2")
    assert node.run("SREM", "s", "1", "2", "3") == 2
    assert node.value(b"s") is None
    node.run("SADD", "s", "x")
    assert node.run("SPOP", "s") == b"x"
    assert node.value(b"s") is None


def test_stored_results_replace_or_delete_the_destination() -> None:
    node = Node()
    node.run("SADD", "a", "1", "2", "3")
    node.run("SADD", "b", "2", "3", "x")
    node.run("SET", "dst", "string")
    assert node.run("SINTERSTORE", "dst", "a", "b") == 2
    dst = node.value(b"dst")
    assert dst is not None
    assert dst.is_intset
    assert list(dst) == [b"2", b"3"]
    assert node.run("SUNIONSTORE", "dst", "a", "b") == 4
    dst = node.value(b"dst")
    assert dst is not None
    assert not dst.is_intset
    assert node.run("SDIFFSTORE", "dst", "a", "a") == 0
    assert node.value(b"dst") is None
    before = node.version(b"dst")
    assert node.run("SINTERSTORE", "dst", "a", "missing") == 0
    assert node.version(b"dst") == before  # nothing there to delete


def test_replies_are_not_the_stored_set() -> None:
    node = Node()
    node.run("SADD", "s", "a")
    reply = node.run("SMEMBERS", "s")
    node.run("SADD", "s", "b")
    assert reply == [b"a"]


@pytest.mark.parametrize(
    ("size", "count", "left"),
    [
        (12, 10, "intset"),  # CASE 3: the 2 left go to a new set, an intset
        (30, 25, "hashtable"),  # CASE 3: the 5 left are too many for an intset
        (10, 3, "hashtable"),  # CASE 2: popped one by one, the set stays a hashtable
    ],
)
def test_spop_with_a_count_leaves_the_encoding_redis_leaves(
    size: int, count: int, left: str
) -> None:
    node = Node()
    node.configure(set_max_intset_entries=4)
    node.run("SADD", "s", *range(1, size + 1))
    popped = node.run("SPOP", "s", count)
    assert isinstance(popped, RespSet)
    assert len(set(popped)) == count
    rest = node.value(b"s")
    assert rest is not None
    assert len(rest) == size - count
    assert set(popped) | set(rest) == {b"%d" % n for n in range(1, size + 1)}
    assert node.run("OBJECT", "ENCODING", "s") == left.encode()


def test_spop_of_the_whole_set_answers_it_as_sunion_does_and_deletes_it() -> None:
    node = Node()
    node.configure(set_max_intset_entries=4)
    node.run("SADD", "s", 5, 4, 3, 2, 1, 0)
    node.run("SREM", "s", 0, 5)  # a hashtable of four integers
    reply = node.run("SPOP", "s", 10)
    assert reply == RespSet([b"1", b"2", b"3", b"4"])  # built as an intset: ascending
    assert encode_reply(reply, 3).startswith(b"~4\r\n")
    assert node.value(b"s") is None


def test_spop_picks_alike_on_every_replica() -> None:
    nodes = [Node(), Node()]
    script: list[tuple[str | int, ...]] = [
        ("SADD", "s", *members(500)),
        ("SPOP", "s"),
        ("SPOP", "s", 7),
        ("SPOP", "s", 400),
        ("SADD", "i", *range(100)),
        ("SPOP", "i", 3),
        ("SMEMBERS", "s"),
    ]
    replies = [[node.run(*command) for command in script] for node in nodes]
    assert replies[0] == replies[1]
    assert dataset_digest(nodes[0].machine.keyspace) == dataset_digest(nodes[1].machine.keyspace)


@pytest.mark.parametrize("encoded", ["intset", "hashtable"])
@pytest.mark.parametrize("count", [1, 2, 10, 33, 99])
def test_srandmember_with_a_positive_count_is_distinct(encoded: str, count: int) -> None:
    node = Node()
    node.run("SADD", "s", *(range(100) if encoded == "intset" else members(100)))
    found = node.run("SRANDMEMBER", "s", count)
    assert isinstance(found, list)
    assert len(set(found)) == count
    assert all(member in node.value(b"s") for member in found)  # type: ignore[operator]
    repeated = node.run("SRANDMEMBER", "s", -300)
    assert isinstance(repeated, list)
    assert len(repeated) == 300


def test_sscan_of_a_big_set_returns_every_member_present_throughout() -> None:
    node = Node()
    node.run("SADD", "s", *members(2000))
    value = node.value(b"s")
    assert value is not None
    assert value.index is None
    seen: set[bytes] = set()
    cursor = b"0"
    step = 0
    while True:
        reply = node.run("SSCAN", "s", cursor, "COUNT", 50)
        assert isinstance(reply, list)
        cursor, found = reply
        seen.update(found)
        step += 1
        node.run("SADD", "s", f"new{step}")
        node.run("SREM", "s", f"m{step}")
        if cursor == b"0":
            break
    assert {b"m%d" % n for n in range(100, 2000)} <= seen
    assert value.index is not None
    assert len(value.index) == len(value)


def test_sintercard_stops_at_its_limit() -> None:
    node = Node()
    node.run("SADD", "a", *range(100))
    node.run("SADD", "b", *range(50, 200))
    assert node.run("SINTERCARD", 2, "a", "b") == 50
    assert node.run("SINTERCARD", 2, "a", "b", "LIMIT", 7) == 7
    assert node.run("SINTERCARD", 2, "a", "b", "LIMIT", 0) == 50


def test_a_snapshot_keeps_sets_their_order_and_encoding() -> None:
    node = Node()
    node.run("SADD", "ints", 3, 1, 2)
    node.run("SADD", "table", "z", "a", "1")
    records = [cbor2.loads(cbor2.dumps(record)) for record in snapshot_records(node.machine)]
    restored = StateMachine(build_table())
    restore_records(restored, records)
    db = restored.keyspace.dbs[0]
    ints, table = db.data[b"ints"], db.data[b"table"]
    assert isinstance(ints, SetValue)
    assert ints.is_intset
    assert list(ints) == [b"1", b"2", b"3"]
    assert isinstance(table, SetValue)
    assert not table.is_intset
    assert list(table) == [b"z", b"a", b"1"]
    assert dataset_digest(restored.keyspace) == dataset_digest(node.machine.keyspace)


# -- the hash seed never reaches a reply or the state ---------------------------------------

_SCRIPT: list[list[str]] = [
    ["SADD", "s", *members(300), *map(str, range(40))],
    ["SADD", "i", *map(str, range(600))],
    ["SPOP", "s", "5"],
    ["SPOP", "s", "250"],
    ["SPOP", "i"],
    ["SREM", "s", "m1", "m2", "m3"],
    ["SUNIONSTORE", "u", "s", "i"],
    ["SDIFFSTORE", "d", "i", "s"],
    ["SINTER", "i", "s"],
    ["SMEMBERS", "u"],
    ["SSCAN", "u", "0", "COUNT", "20"],
    ["HSET", "h", *members(1200)],
    ["HDEL", "h", "m0", "m4"],
    ["HGETALL", "h"],
    ["HSCAN", "h", "0", "COUNT", "20"],
    ["SMOVE", "s", "t", "m9"],
]


def _run_script() -> None:
    """In a child process: apply the script, print its replies and the snapshot records."""
    machine = StateMachine(build_table())
    replies = []
    for index, argv in enumerate(_SCRIPT, start=1):
        reply = machine.apply(index, Command(SECOND, 0, [a.encode() for a in argv])).reply
        replies.append(encode_reply(reply, 3).hex())
    records = cbor2.dumps(list(snapshot_records(machine))).hex()
    print(json.dumps([replies, records]))


@pytest.mark.parametrize("seeds", [("0", "4242")])
def test_the_hash_seed_reaches_no_reply_and_no_state(seeds: tuple[str, str]) -> None:
    code = "from tests.commands.test_sets import _run_script; _run_script()"
    outputs = outputs_under_seeds(code, seeds)
    assert outputs[0] == outputs[1]
    replies, _ = json.loads(outputs[0])
    assert len(replies) == len(_SCRIPT)


def test_a_draw_too_large_to_build_is_refused_and_the_node_goes_on() -> None:
    # Redis builds any reply a negative count asks for (and runs out of memory); Concord
    # refuses draws of more than DRAW_LIMIT members with an error instead.
    machine = StateMachine(build_table())
    writes = ([b"SADD", b"s", b"a"], [b"HSET", b"h", b"f", b"v"], [b"ZADD", b"z", b"1", b"m"])
    for index, argv in enumerate(writes, start=1):
        machine.apply(index, Command(SECOND, 0, argv))
    ctx = machine.read_context(0, SECOND, random.Random(1))
    too_many = ErrorReply(TOO_MANY.encode())
    for name, key in ((b"SRANDMEMBER", b"s"), (b"HRANDFIELD", b"h"), (b"ZRANDMEMBER", b"z")):
        assert machine.run(ctx, [name, key, b"-9223372036854775807"]) == too_many
        assert machine.run(ctx, [name, key, b"-%d" % (DRAW_LIMIT + 1)]) == too_many
    assert machine.run(ctx, [b"SRANDMEMBER", b"s", b"-1000"]) == [b"a"] * 1000
    assert machine.run(ctx, [b"HRANDFIELD", b"h", b"-3", b"WITHVALUES"]) == Pairs(
        [(b"f", b"v")] * 3
    )
    assert machine.run(ctx, [b"ZRANDMEMBER", b"z", b"-2"]) == [b"m", b"m"]
