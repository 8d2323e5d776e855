"""Keyspace notifications as every replica publishes them: the messages of each entry
(`Applied.messages`), in Redis's order, from `StateMachine.apply` alone. The order across
commands and the events of every command are compared with a real Redis in compat/
(scenarios notify_*); these are the cases a scenario cannot pin down: expiry by entry and by
a write meeting an expired key at an exact time, blocked clients served by a push, and the
cost of notifications that are off (nothing is built)."""

from __future__ import annotations

import random

from concord_resp.commands import build_table
from concord_resp.state import Command, Configure, Expiry, Session, StateMachine, Transaction
from concord_resp.state.blocked import BLOCKED
from concord_resp.store.events import parse_classes

MS = 1000  # entry times are in µs
T = 1_700_000_000_000  # ms


class Replica:
    def __init__(self, classes: bytes = b"") -> None:
        self.machine = StateMachine(build_table())
        self.index = 0
        if classes:
            self.configure(classes)

    def configure(self, classes: bytes) -> None:
        flags = parse_classes(classes)
        assert flags is not None
        self.index += 1
        self.machine.apply(self.index, Configure(T * MS, 0, [("notify_keyspace_events", flags)]))

    def apply(self, op: Command | Transaction | Expiry):  # type: ignore[no-untyped-def]
        self.index += 1
        return self.machine.apply(self.index, op)

    def events(self, *line: str, at_ms: int = T, db: int = 0) -> list[tuple[bytes, bytes]]:
        """Run one command; its messages as (channel, message)."""
        applied = self.apply(Command(at_ms * MS, db, [part.encode() for part in line]))
        return [(channel, message) for channel, message, _, _ in applied.messages]


def keyevents(*pairs: tuple[str, str], db: int = 0) -> list[tuple[bytes, bytes]]:
    """(event, key) pairs as the keyevent channel's messages."""
    return [(b"__keyevent@%d__:%s" % (db, event.encode()), key.encode()) for event, key in pairs]


def test_nothing_is_published_or_built_while_notifications_are_off() -> None:
    r = Replica()
    for line in (("SET", "a", "1", "EX", "10"), ("LPUSH", "l", "x"), ("GET", "nosuch")):
        assert r.apply(Command(T * MS, 0, [part.encode() for part in line])).messages == ()
    assert r.machine.keyspace.events.messages == []


def test_an_entry_publishes_to_both_channels_in_the_command_order() -> None:
    r = Replica(b"KEA")
    assert r.events("SET", "k", "v", "EX", "100") == [
        (b"__keyspace@0__:k", b"set"),
        (b"__keyevent@0__:set", b"k"),
        (b"__keyspace@0__:k", b"expire"),
        (b"__keyevent@0__:expire", b"k"),
    ]
    assert r.events("SET", "k", "w", "KEEPTTL") == [
        (b"__keyspace@0__:k", b"set"),
        (b"__keyevent@0__:set", b"k"),
    ]


def test_an_emptied_collection_publishes_its_event_then_del() -> None:
    r = Replica(b"EA")
    r.events("RPUSH", "src", "a")
    assert r.events("LMOVE", "src", "dst", "LEFT", "RIGHT") == keyevents(
        ("rpush", "dst"), ("lpop", "src"), ("del", "src")
    )
    r.events("HSET", "h", "f", "v")
    assert r.events("HDEL", "h", "f", "nosuch") == keyevents(("hdel", "h"), ("del", "h"))
    r.events("ZADD", "z", "1", "a")
    assert r.events("ZPOPMIN", "z", "5") == keyevents(("zpopmin", "z"), ("del", "z"))
    assert r.events("SINTERSTORE", "dst", "nosuch") == keyevents(("del", "dst"))
    assert r.events("SINTERSTORE", "dst", "nosuch") == []  # nothing to delete


def test_a_command_that_changes_nothing_publishes_nothing() -> None:
    r = Replica(b"EA")
    r.events("SADD", "s", "a")
    r.events("SET", "k", "v")
    r.events("SETBIT", "b", "0", "1")
    for line in (
        ("SADD", "s", "a"),
        ("SREM", "s", "b"),
        ("PERSIST", "k"),
        ("EXPIRE", "nosuch", "10"),
        ("LREM", "s2", "0", "x"),
        ("ZADD", "z", "XX", "1", "a"),
        ("SETBIT", "b", "0", "1"),
        ("BITFIELD", "b", "SET", "u1", "0", "1"),
        ("FLUSHDB",),  # (Redis 7.0 publishes nothing for these three either)
        ("SWAPDB", "0", "1"),
        ("FLUSHALL",),
    ):
        assert r.events(*line) == [], line


def test_a_time_in_the_past_deletes_and_publishes_del() -> None:
    r = Replica(b"Eg")
    r.events("SET", "k", "v")
    assert r.events("PEXPIREAT", "k", str(T - 1)) == keyevents(("del", "k"))
    r.events("SET", "k", "v")
    assert r.events("GETEX", "k", "EXAT", "1") == keyevents(("del", "k"))


def test_an_expiry_entry_publishes_expired_for_each_key_it_deletes() -> None:
    r = Replica(b"KEx")
    r.events("SET", "a", "1", "PX", "10")
    r.events("SET", "b", "1", "PX", "10")
    applied = r.apply(Expiry((T + 20) * MS, 0, [b"a", b"nosuch", b"b"]))
    assert [(c, m) for c, m, _, _ in applied.messages] == [
        (b"__keyspace@0__:a", b"expired"),
        (b"__keyevent@0__:expired", b"a"),
        (b"__keyspace@0__:b", b"expired"),
        (b"__keyevent@0__:expired", b"b"),
    ]
    assert r.apply(Expiry((T + 30) * MS, 0, [b"a"])).messages == ()  # already gone


def test_a_write_meeting_an_expired_key_publishes_expired_first() -> None:
    r = Replica(b"EAn")
    r.events("SET", "k", "v", "PX", "10")
    later = T + 20
    assert r.events("SET", "k", "w", at_ms=later) == keyevents(
        ("expired", "k"), ("new", "k"), ("set", "k")
    )
    r.events("RPUSH", "l", "a", at_ms=later)
    r.events("PEXPIRE", "l", "10", at_ms=later)
    assert r.events("LPUSH", "l", "b", at_ms=later + 20) == keyevents(
        ("expired", "l"), ("new", "l"), ("lpush", "l")
    )
    # A read does not delete: the key miss only (Redis's primary would also expire it).
    r.events("SET", "g", "v", "PX", "10", at_ms=later + 20)
    r.configure(b"EAm")
    ctx = r.machine.read_context(0, (later + 40) * MS, random.Random(0))
    r.machine.run(ctx, [b"GET", b"g"])
    assert r.machine.keyspace.events.take() == [(b"__keyevent@0__:keymiss", b"g", False, None)]


def test_a_blocked_pop_is_published_when_served_after_the_push() -> None:
    r = Replica(b"EA")
    waiter = Command(
        T * MS, 0, [b"BLMOVE", b"q", b"dst", b"LEFT", b"RIGHT", b"0"], Session("n2:c", 1, 1)
    )
    assert r.apply(waiter).reply is BLOCKED
    assert r.events("RPUSH", "q", "v") == keyevents(
        ("rpush", "q"), ("rpush", "dst"), ("lpop", "q"), ("del", "q")
    )
    blpop = Command(T * MS, 3, [b"BLPOP", b"q3", b"0"], Session("n2:c", 2, 2))
    assert r.apply(blpop).reply is BLOCKED
    assert r.events("LPUSH", "q3", "a", "b", db=3) == keyevents(
        ("lpush", "q3"), ("lpop", "q3"), db=3
    )


def test_key_misses_come_from_read_lookups_only() -> None:
    r = Replica(b"Em")
    r.events("SET", "s", "v")
    assert r.events("GETDEL", "nosuch") == keyevents(("keymiss", "nosuch"))
    assert r.events("SINTERSTORE", "d", "s2", "s3") == keyevents(
        ("keymiss", "s2"), ("keymiss", "s3")
    )
    assert r.events("LPUSHX", "nosuch", "a") == []  # a write lookup
    assert r.events("DEL", "nosuch") == []
    assert r.events("OBJECT", "ENCODING", "nosuch") == []  # LOOKUP_NONOTIFY
    assert r.events("TYPE", "nosuch") == keyevents(("keymiss", "nosuch"))


def test_a_transaction_publishes_each_command_in_order_with_its_database() -> None:
    r = Replica(b"Eg$")
    applied = r.apply(
        Transaction(
            T * MS,
            0,
            [[b"SET", b"a", b"1"], [b"SELECT", b"2"], [b"SET", b"a", b"2"], [b"DEL", b"a"]],
            [],
        )
    )
    assert [(c, m) for c, m, _, _ in applied.messages] == [
        *keyevents(("set", "a")),
        *keyevents(("set", "a"), ("del", "a"), db=2),
    ]


def test_move_and_copy_publish_in_the_target_database() -> None:
    r = Replica(b"Egn")
    r.events("SET", "k", "v")
    assert r.events("COPY", "k", "k", "DB", "4") == [
        *keyevents(("new", "k"), ("copy_to", "k"), db=4),
    ]
    assert r.events("MOVE", "k", "5") == [
        *keyevents(("new", "k"), db=5),
        *keyevents(("move_from", "k")),
        *keyevents(("move_to", "k"), db=5),
    ]
