"""Snapshot records of the state machine: a restored machine is indistinguishable from one that
applied the log (the same data, TTLs, WATCH versions, encodings and session replies), and it
goes on identically; damaged record streams are refused; snapshots of the first format (before
key rows named their value's type) still restore."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import cbor2
import pytest

from concord_resp.commands import build_table
from concord_resp.raft.driver.snapshot_file import read_snapshot
from concord_resp.resp import NULL_ARRAY
from concord_resp.resp.replies import (
    BigNumber,
    ErrorReply,
    HumanDouble,
    Map,
    MapPairs,
    NestedMap,
    Pairs,
    RespSet,
    SimpleString,
    Verbatim,
)
from concord_resp.state import Command, Configure, Op, Session, StateMachine, Transaction
from concord_resp.state.sessions import decode_reply_tree, encode_reply_tree
from concord_resp.state.snapshot import (
    CHUNK,
    FORMAT,
    SnapshotError,
    restore_records,
    snapshot_records,
)
from concord_resp.store import EncodingConfig
from concord_resp.store.digest import dataset_digest

TABLE = build_table()
SECOND = 1_000_000
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def machine() -> StateMachine:
    return StateMachine(TABLE)


def random_ops(rng: random.Random, count: int, start_us: int) -> list[Op]:
    """Writes of every kind the store keeps state for, some with sessions."""
    ops: list[Op] = []
    for step in range(count):
        now = start_us + step * 1000
        key = b"k%d" % rng.randrange(40)
        db = rng.choice((0, 0, 0, 3))
        choice = rng.randrange(10)
        if choice == 0:
            argv = [b"SET", key, b"v%d" % step, b"PX", b"%d" % rng.randrange(1, 5000)]
        elif choice == 1:
            argv = [b"APPEND", key, b"+%d" % step]  # a raw (bytearray) value
        elif choice == 2:
            argv = [b"INCRBYFLOAT", b"f%d" % rng.randrange(5), b"1.5"]  # an encoding note
        elif choice == 3:
            argv = [b"DEL", key]  # a tombstone
        elif choice == 4:
            argv = [b"PERSIST", key]
        elif choice == 5:
            argv = [b"INCR", key]  # an error reply on a non-integer
        else:
            argv = [b"SET", key, b"%d" % step]
        session = (
            Session(f"node-{rng.randrange(3)}", step + 1, max(1, step - 5)) if step % 2 else None
        )
        if choice == 7:
            watches = [(db, key, rng.randrange(step + 1), True)]  # may abort: a NULL_ARRAY
            ops.append(Transaction(now, db, [argv, [b"GET", key]], watches, session))
        else:
            ops.append(Command(now, db, argv, session))
    return ops


def over_the_wire(records: list[Any]) -> list[Any]:
    return [cbor2.loads(cbor2.dumps(record)) for record in records]


def state_of(m: StateMachine) -> dict[str, Any]:
    dbs = []
    for db in m.keyspace.dbs:
        dbs.append(
            (
                [(k, type(v).__name__, bytes(v)) for k, v in db.data.items()],
                db.expires,
                list(db.expiry_index),
                db.versions,
                list(db.tombstones.items()),
                db.tombstone_floor,
                db.expired_deletions,
                db.encoding_overrides,
            )
        )
    sessions = {
        sid: (s.floor, s.last_seen_us, dict(s.replies)) for sid, s in m.sessions.table.items()
    }
    return {
        "dbs": dbs,
        "sessions": sessions,
        "applied": m.applied_index,
        "time": m.last_time_us,
        "sweep": m.sessions.sweep_us,
        "digest": dataset_digest(m.keyspace),
    }


@pytest.mark.parametrize("seed", range(5))
def test_a_restored_machine_equals_the_original_and_goes_on_identically(seed: int) -> None:
    rng = random.Random(seed)
    original = machine()
    for index, op in enumerate(random_ops(rng, 3 * CHUNK, 10 * SECOND), start=1):
        original.apply(index, op)
    records = over_the_wire(list(snapshot_records(original)))
    assert len(records) > 4  # several key chunks
    restored = machine()
    restore_records(restored, records)
    assert state_of(restored) == state_of(original)
    # Later entries (retries of sessions seen before included) give the same replies.
    later = random_ops(rng, 500, 20 * SECOND)
    retried = [op for op in random_ops(random.Random(seed), 3 * CHUNK, 10 * SECOND)[-40:]]
    start = original.applied_index + 1
    for offset, op in enumerate(later + retried):
        index = start + offset
        assert original.apply(index, op) == restored.apply(index, op)
    assert state_of(restored) == state_of(original)


def test_an_empty_machine_round_trips() -> None:
    restored = machine()
    restore_records(restored, over_the_wire(list(snapshot_records(machine()))))
    assert state_of(restored) == state_of(machine())


def snapshot_of_some_keys() -> list[Any]:
    m = machine()
    for index in range(1, 2 * CHUNK + 10):
        m.apply(index, Command(SECOND, 0, [b"SET", b"k%d" % index, b"v"]))
    return list(snapshot_records(m))


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r[:-1],  # cut short: no end record
        lambda r: r[:2] + r[3:],  # a record missing
        lambda r: [["not-a-snapshot", 1, 0, 0, 0], *r[1:]],
        lambda r: [[r[0][0], 99, *r[0][2:]], *r[1:]],  # a future format
        lambda r: [*r, ["keys", []]],  # records after the end
        lambda r: [r[0], ["db", 99, 0, 0], *r[1:]],  # no such database
        lambda r: [r[0], ["keys", [[b"k", b"v"]]], *r[1:]],  # keys before any database
        lambda r: [r[0], r[1], ["keys", [[b"k"]]], *r[2:]],  # a malformed key row
        lambda r: [r[0], r[1], ["keys", [[b"k", "no-such-type", b"v", None, 1, None]]], *r[2:]],
        lambda r: [r[0], r[1], ["keys", [[b"k", "string", b"v", None, 1, None]]], *r[2:]],
        lambda r: [[r[0][0], True, *r[0][2:]], *r[1:]],  # not a format number
        lambda r: [r[0], ["mystery"], *r[1:]],
    ],
)
def test_a_damaged_record_stream_is_refused(damage: Any) -> None:
    with pytest.raises(SnapshotError):
        restore_records(machine(), damage(snapshot_of_some_keys()))


def test_every_kind_of_reply_survives_the_session_table() -> None:
    replies = [
        None,
        7,
        b"bulk",
        bytearray(b"raw"),
        SimpleString(b"OK"),
        ErrorReply(b"ERR no"),
        1.5,
        True,
        [1, [b"nested", None], SimpleString(b"QUEUED")],
        Map({b"a": 1}),
        RespSet([b"x"]),
        Verbatim(b"text"),
        BigNumber(10**30),
        NULL_ARRAY,
        Pairs([(b"field", b"value"), (b"member", 1.5)]),
        HumanDouble(b"13.36138933897018433"),
        MapPairs([(b"k", 1), ([b"a list key"], b"v")]),  # a script's {map=...}
        BigNumber(b"12345678901234567890123"),  # a script's {big_number=...}
        NestedMap([(b"stream", [[b"1-0", [b"f", b"v"]], [b"2-0", NULL_ARRAY]])]),  # XREAD
    ]
    for reply in replies:
        tree = cbor2.loads(cbor2.dumps(encode_reply_tree(reply)))
        back = decode_reply_tree(tree)
        assert type(back) is (bytes if type(reply) is bytearray else type(reply))
        assert back == reply or back is reply


def test_key_rows_name_the_type_of_their_value() -> None:
    m = machine()
    m.apply(1, Command(SECOND, 0, [b"SET", b"plain", b"v"]))
    m.apply(2, Command(SECOND, 0, [b"APPEND", b"plain", b"+"]))
    m.apply(3, Command(SECOND, 0, [b"SET", b"n", b"1", b"PX", b"5000"]))
    records = list(snapshot_records(m))
    assert records[0][:2] == ["concord-snapshot", FORMAT]
    assert FORMAT == 7
    assert records[1] == ["config", [list(pair) for pair in EncodingConfig().as_pairs()]]
    assert records[3] == [
        "keys",
        [
            [b"plain", "string", [b"v+", True], None, 2, None],
            [b"n", "string", [b"1", False], SECOND // 1000 + 5000, 3, None],
        ],
    ]


def first_format_records() -> list[Any]:
    """A snapshot as the first format wrote it: key rows `[key, bytes, raw, expires,
    version, override]`, removed members sorted."""
    return [
        ["concord-snapshot", 1, 40, 5 * SECOND, 4 * SECOND],
        ["db", 0, 3, 2],
        [
            "keys",
            [
                [b"plain", b"value", False, None, 10, None],
                [b"grown", b"abcdef", True, None, 12, None],
                [b"float", b"3", False, None, 20, [b"embstr", 1]],
                [b"lasting", b"ttl", False, 4102444800000, 30, None],
            ],
        ],
        ["tombstones", [[b"gone", 31], [b"also-gone", 35]]],
        ["db", 4, 0, 0],
        ["keys", [[b"in4", b"four", False, None, 36, None]]],
        ["sessions", [["n1:abc", 38, 5 * SECOND, [[38, [0, b"OK"], 0], [39, 7, 4]]]]],
        ["members", {"n4": "127.0.0.1:7004@17004"}, ["n2", "n3"]],
        ["end", 9],
    ]


def test_a_first_format_record_stream_still_restores() -> None:
    restored = machine()
    restore_records(restored, over_the_wire(first_format_records()))
    db = restored.keyspace.dbs[0]
    assert list(db.data.items()) == [
        (b"plain", b"value"),
        (b"grown", bytearray(b"abcdef")),
        (b"float", b"3"),
        (b"lasting", b"ttl"),
    ]
    assert type(db.data[b"plain"]) is bytes
    assert type(db.data[b"grown"]) is bytearray
    assert db.versions == {b"plain": 10, b"grown": 12, b"float": 20, b"lasting": 30}
    assert db.ttl_ms(b"lasting") == 4102444800000
    assert list(db.expiry_index) == [(4102444800000, b"lasting")]
    assert db.encoding_override(b"float") == (b"embstr", 1)
    assert list(db.tombstones.items()) == [(b"gone", 31), (b"also-gone", 35)]
    assert (db.tombstone_floor, db.expired_deletions) == (3, 2)
    assert restored.keyspace.dbs[4].data == {b"in4": b"four"}
    assert restored.members.added == {"n4": "127.0.0.1:7004@17004"}
    assert list(restored.members.removed) == ["n2", "n3"]
    assert restored.sessions.table["n1:abc"].replies == {38: (b"OK", 0), 39: (7, 4)}
    assert (restored.applied_index, restored.last_time_us) == (40, 5 * SECOND)
    # Written again, it is of the current format and restores to the same state.
    again = machine()
    records = over_the_wire(list(snapshot_records(restored)))
    assert records[0][1] == FORMAT
    restore_records(again, records)
    assert state_of(again) == state_of(restored)
    assert list(again.members.removed) == ["n2", "n3"]
    # And it goes on working: the raw string grows in place.
    assert again.apply(41, Command(6 * SECOND, 0, [b"APPEND", b"grown", b"g"])).reply == 7


def test_the_first_format_fixture_snapshot_restores() -> None:
    (path,) = (FIXTURES / "datadir-v1" / "snapshots").iterdir()
    _, records = read_snapshot(path)
    restored = machine()
    restore_records(restored, records)
    db = restored.keyspace.dbs[0]
    assert type(db.data[b"grown"]) is bytearray
    assert db.data[b"grown"] == b"abcdef"
    assert db.data[b"counter"] == b"16"
    assert type(db.data[b"counter"]) is bytes
    again = machine()
    restore_records(again, over_the_wire(list(snapshot_records(restored))))
    assert state_of(again) == state_of(restored)


def test_the_encoding_thresholds_survive_a_snapshot() -> None:
    m = machine()
    m.apply(1, Configure(SECOND, 0, [("hash_max_listpack_entries", 4)], Session("n1:a", 1, 1)))
    back = machine()
    restore_records(back, snapshot_records(m))
    assert back.keyspace.config == EncodingConfig(hash_max_listpack_entries=4)
    assert back.keyspace.config != EncodingConfig()


def test_a_snapshot_without_thresholds_loads_the_defaults() -> None:
    m = machine()
    m.apply(1, Configure(SECOND, 0, [("zset_max_listpack_value", 9)]))
    records = [r for r in snapshot_records(m) if r[0] != "config"]
    records[-1] = ["end", len(records)]
    back = machine()
    back.keyspace.config = EncodingConfig(zset_max_listpack_value=1)
    restore_records(back, records)
    assert back.keyspace.config == EncodingConfig()


def test_streams_and_their_waiters_survive_a_snapshot() -> None:
    m = machine()
    ops = [
        *[[b"XADD", b"s", b"*", b"n", b"%d" % n] for n in range(250)],
        [b"XGROUP", b"CREATE", b"s", b"g", b"0"],
        [b"XREADGROUP", b"GROUP", b"g", b"alice", b"COUNT", b"7", b"STREAMS", b"s", b">"],
        [b"XDEL", b"s", b"10000-3"],
        [b"XREAD", b"BLOCK", b"0", b"STREAMS", b"w", b"$"],
        [b"XREADGROUP", b"GROUP", b"g", b"bob", b"BLOCK", b"0", b"STREAMS", b"s", b">"],
    ]
    for index, argv in enumerate(ops, start=1):
        m.apply(index, Command(10 * SECOND + index, 0, argv, Session("c", index, 1)))
    restored = machine()
    restore_records(restored, over_the_wire(list(snapshot_records(m))))
    assert dataset_digest(restored.keyspace) == dataset_digest(m.keyspace)
    assert list(restored.blocked.waiters) == list(m.blocked.waiters)
    later = [
        [b"XINFO", b"STREAM", b"s", b"FULL"],
        [b"XADD", b"w", b"*", b"x", b"1"],
        [b"XPENDING", b"s", b"g"],
    ]
    for offset, argv in enumerate(later, start=len(ops) + 1):
        op = Command(11 * SECOND + offset, 0, argv, Session("d", offset, 1))
        assert m.apply(offset, op) == restored.apply(offset, op)
