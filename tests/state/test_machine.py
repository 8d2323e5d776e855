"""What applying an entry returns: its reply, the completions for client sessions (whichever
node proposed them), and the keys it touched; and the sections behind one interface."""

from __future__ import annotations

from concord_resp.commands import build_table
from concord_resp.resp import NULL_ARRAY, SimpleString
from concord_resp.state import (
    Command,
    Configure,
    Expiry,
    Session,
    StateMachine,
    Transaction,
)
from concord_resp.state.snapshot import restore_records, snapshot_records

TABLE = build_table()
T = 1_000_000_000


def test_a_write_completes_its_session_and_names_the_keys_it_touched() -> None:
    machine = StateMachine(TABLE)
    session = Session("n2:remote", 1, 1)
    applied = machine.apply(1, Command(T, 0, [b"MSET", b"a", b"1", b"b", b"2"], session))
    assert applied.reply == SimpleString(b"OK")
    assert (applied.session, applied.reply, applied.db_after) == (session, b"OK", 0)
    assert applied.completions == ()  # no other client's request did it answer
    assert applied.touched == [(0, b"a"), (0, b"b")]
    # A retry of the same write (after a leader change, say) is answered as the first time
    # and changes nothing.
    retry = machine.apply(2, Command(T + 5, 0, [b"MSET", b"a", b"9", b"b", b"9"], session))
    assert (retry.session, retry.reply, retry.db_after) == (session, b"OK", 0)
    assert retry.touched == ()
    assert machine.keyspace.dbs[0].data[b"a"] == b"1"


def test_reads_and_failed_writes_touch_nothing() -> None:
    machine = StateMachine(TABLE)
    machine.apply(1, Command(T, 0, [b"SET", b"s", b"text"]))
    failed = machine.apply(2, Command(T, 0, [b"INCR", b"s"]))
    assert bytes(failed.reply).startswith(b"ERR value is not an integer")  # type: ignore[call-overload]
    assert failed.touched == ()
    assert failed.session is None


def test_a_transaction_touches_keys_in_each_database_it_selects() -> None:
    machine = StateMachine(TABLE)
    op = Transaction(
        T,
        0,
        [[b"SET", b"x", b"1"], [b"SELECT", b"4"], [b"SET", b"y", b"2"], [b"EXPIRE", b"y", b"9"]],
        [],
        Session("n1:local", 3, 1),
    )
    applied = machine.apply(1, op)
    assert applied.db_after == 4
    assert applied.touched == [(0, b"x"), (4, b"y"), (4, b"y")]
    assert applied.session == Session("n1:local", 3, 1)
    # Aborted by WATCH: nothing touched, a null array.
    aborted = machine.apply(2, Transaction(T, 0, [[b"SET", b"x", b"2"]], [(0, b"x", 0, False)]))
    assert aborted.reply is NULL_ARRAY
    assert aborted.touched == ()


def test_whole_databases_and_expired_keys() -> None:
    machine = StateMachine(TABLE)
    machine.apply(1, Command(T, 0, [b"SET", b"gone", b"v", b"PX", b"5"]))
    machine.apply(2, Command(T, 1, [b"SET", b"kept", b"v"]))
    expired = machine.apply(3, Expiry(T + 10_000, 0, [b"gone"]))
    assert (expired.reply, expired.touched) == (1, [(0, b"gone")])
    swap = machine.apply(4, Command(T, 0, [b"SWAPDB", b"1", b"2"]))
    assert swap.touched == [(1, None), (2, None)]
    assert machine.apply(5, Command(T, 2, [b"FLUSHDB"])).touched == [(2, None)]
    assert machine.apply(6, Command(T, 3, [b"FLUSHDB"])).touched == ()  # it was empty


def test_sections_reset_adopt_and_snapshot_alike() -> None:
    machine = StateMachine(TABLE)
    machine.apply(1, Command(T, 0, [b"SET", b"k", b"v"], Session("n1:x", 1, 1)))
    machine.apply_member_change(2, "n4", "127.0.0.1:7004@17004")
    machine.apply_member_change(3, "n2", None)
    machine.apply(4, Command(T, 0, [b"SCRIPT", b"LOAD", b"return 1"]))
    library = b"#!lua name=lib\nredis.register_function('f', function() return 1 end)"
    machine.apply(5, Command(T, 0, [b"FUNCTION", b"LOAD", library]))
    machine.apply(6, Command(T, 0, [b"ACL", b"SETUSER", b"u", b"on", b">p", b"~k*", b"+get"]))
    machine.apply(7, Configure(T, 0, [("requirepass", b"pw")]))
    assert [s.kinds for s in machine.sections] == [
        ("sessions",),
        ("members",),
        ("blocked",),
        ("scripts",),
        ("functions",),
        ("acl-user", "acl-configured", "acl-requirepass"),
    ]
    restored = StateMachine(TABLE)
    restore_records(restored, snapshot_records(machine))
    assert list(restored.sessions.table) == ["n1:x"]
    assert restored.members.added == {"n4": "127.0.0.1:7004@17004"}
    assert list(restored.members.removed) == ["n2"]
    live = StateMachine(TABLE)
    live.adopt(restored)
    assert live.members.added == restored.members.added
    assert live.applied_index == 7
    assert list(live.scripting.scripts.bodies.values()) == [b"return 1"]
    assert list(live.scripting.functions.libraries) == [b"lib"]
    assert live.users.names() == [b"default", b"u"]
    assert live.users.configured
    assert live.users.requirepass == b"pw"
    assert live.users.default.can_log_in(b"pw")
    assert not live.users.default.can_log_in(b"x")
    user = live.users.get(b"u")
    assert user is not None
    assert user.describe(live.users.catalog) == (
        machine.users.by_name[b"u"].describe(machine.users.catalog)
    )
    live.reset()
    assert not live.sessions.table
    assert not live.members.added
    assert not live.scripting.scripts.bodies
    assert not live.scripting.functions.libraries
    assert live.users.names() == [b"default"]
    assert not live.users.configured
    assert live.applied_index == 0


def test_replies_below_a_sessions_floor_are_dropped() -> None:
    machine = StateMachine(build_table())
    # 5 before 4: the order a write answered later (a blocked one) records them in.
    for index, seq in enumerate((1, 2, 3, 5, 4), 1):
        machine.apply(index, Command(T, 0, [b"SET", b"k", b"%d" % seq], Session("n1:x", seq, 1)))
    state = machine.sessions.table["n1:x"]
    assert list(state.replies) == [1, 2, 3, 5, 4]
    machine.apply(6, Command(T, 0, [b"SET", b"k", b"6"], Session("n1:x", 6, 5)))
    # Dropped from the front up to the first at or above the floor; 4 waits for the sweep.
    assert list(state.replies) == [5, 4, 6]
    machine.sessions.sweep(T)
    assert list(state.replies) == [5, 6]
