"""The simulated state machine: Redis replies, sessions that apply a retry once, snapshots."""

from concord_resp.sim.kv import STALE, Command, KeyValue, Reply, parse_integer


def test_commands_reply_like_redis() -> None:
    kv = KeyValue()
    assert kv.apply(1, Command(1, 1, "set", b"k", b"12")) == Reply(ok=True, output="OK")
    assert kv.apply(2, Command(1, 2, "append", b"k", b"3")) == Reply(ok=True, output=3)
    assert kv.apply(3, Command(1, 3, "incr", b"k", b"")) == Reply(ok=True, output=124)
    assert kv.apply(4, Command(1, 4, "incr", b"new", b"")) == Reply(ok=True, output=1)
    assert kv.apply(5, Command(1, 5, "append", b"new", b"x")) == Reply(ok=True, output=2)
    refused = kv.apply(6, Command(1, 6, "incr", b"new", b""))
    assert not refused.ok
    assert kv.get(b"k") == b"124"
    assert kv.get(b"new") == b"1x"
    assert kv.get(b"none") is None
    assert kv.applied == 6


def test_a_retried_command_is_applied_once_and_answered_again() -> None:
    kv = KeyValue()
    first = kv.apply(1, Command(7, 1, "append", b"k", b"a"))
    again = kv.apply(2, Command(7, 1, "append", b"k", b"a"))  # the same (client, seq)
    assert first == again == Reply(ok=True, output=1)
    assert kv.get(b"k") == b"a"
    assert kv.apply(3, Command(7, 2, "append", b"k", b"b")).output == 2
    assert kv.apply(4, Command(7, 1, "append", b"k", b"a")) == STALE  # older than the last
    assert kv.get(b"k") == b"ab"
    assert kv.session_reply(7, 2) == Reply(ok=True, output=2)
    assert kv.session_reply(7, 1) is None


def test_apply_retry_twice_switch_ignores_the_session_table() -> None:
    kv = KeyValue(ignore_sessions=True)
    kv.apply(1, Command(7, 1, "append", b"k", b"a"))
    assert kv.apply(2, Command(7, 1, "append", b"k", b"a")).output == 2
    assert kv.get(b"k") == b"aa"


def test_snapshot_round_trip_keeps_data_sessions_and_digest() -> None:
    kv = KeyValue()
    kv.apply(1, Command(1, 1, "set", b"b", b"1"))
    kv.apply(2, Command(2, 1, "set", b"a", b"2"))
    copy = KeyValue()
    copy.restore(2, kv.encode())
    assert copy.applied == 2
    assert copy.data == kv.data
    assert copy.sessions == kv.sessions
    assert copy.digest() == kv.digest()
    # The same state reached in another order has the same digest.
    other = KeyValue()
    other.apply(1, Command(2, 1, "set", b"a", b"2"))
    other.apply(2, Command(1, 1, "set", b"b", b"1"))
    assert other.digest() == kv.digest()
    other.apply(3, Command(1, 2, "append", b"b", b"1"))
    assert other.digest() != kv.digest()


def test_command_encoding_and_integer_parsing() -> None:
    command = Command(3, 9, "append", b"k1", b"7")
    assert Command.decode(command.encode()) == command
    assert parse_integer(b"-12") == -12
    assert parse_integer(b"0") == 0
    for bad in (b"", b"-", b"01", b"+1", b" 1", b"1x", b"9223372036854775808"):
        assert parse_integer(bad) is None
