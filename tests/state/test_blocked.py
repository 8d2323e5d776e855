"""Blocked clients as replicated state: waiters registered by a blocking command, served by
the entry that pushes (oldest first, each element once), ended by Unblock entries, and kept
in snapshots. Everything through `StateMachine.apply`, as every replica runs it."""

from __future__ import annotations

from concord_resp.commands import build_table
from concord_resp.resp import NULL_ARRAY, ErrorReply
from concord_resp.state import Command, Session, StateMachine, Transaction, Unblock
from concord_resp.state.blocked import BLOCK_AGAIN, BLOCKED
from concord_resp.state.entries import (
    UNBLOCK_CLIENT_ERROR,
    UNBLOCK_CLIENT_TIMEOUT,
    UNBLOCK_DISCONNECTED,
    UNBLOCK_NODE_GONE,
    UNBLOCK_TIMEOUT,
)
from concord_resp.state.snapshot import restore_records, snapshot_records
from concord_resp.store.digest import dataset_digest

MS = 1000  # entry times are in µs


class Replica:
    def __init__(self) -> None:
        self.machine = StateMachine(build_table())
        self.index = 0

    def apply(self, op: Command | Transaction | Unblock):  # type: ignore[no-untyped-def]
        self.index += 1
        return self.machine.apply(self.index, op)


def cmd(at_ms: int, *args: str, who: tuple[str, int] | None = None) -> Command:
    session = Session(who[0], who[1], who[1]) if who else None
    return Command(at_ms * MS, 0, [a.encode() for a in args], session)


def test_a_pop_with_nothing_blocks_and_a_push_serves_it() -> None:
    r = Replica()
    blocked = r.apply(cmd(1, "BLPOP", "a", "b", "0", who=("n2:x", 1)))
    assert blocked.reply is BLOCKED
    assert blocked.completions == ()
    pushed = r.apply(cmd(2, "RPUSH", "b", "v1", "v2", who=("n1:y", 1)))
    assert pushed.reply == 2  # the length after the push, before the waiter was served
    (served,) = pushed.completions
    assert (served.session.id, served.session.seq) == ("n2:x", 1)
    assert served.reply == [b"b", b"v1"]
    assert r.apply(cmd(3, "LRANGE", "b", "0", "-1")).reply == [b"v2"]
    assert not r.machine.blocked.waiters


def test_waiters_are_served_oldest_first_one_element_each() -> None:
    r = Replica()
    for seq in (1, 2, 3):
        assert r.apply(cmd(1, "BRPOP", "q", "0", who=(f"n{seq}:s", seq))).reply is BLOCKED
    applied = r.apply(cmd(2, "LPUSH", "q", "a", "b", who=("n9:p", 1)))
    assert [(c.session.id, c.reply) for c in applied.completions] == [
        ("n1:s", [b"q", b"a"]),
        ("n2:s", [b"q", b"b"]),
    ]
    assert list(r.machine.blocked.waiters) == [("n3:s", 3)]
    assert b"q" not in r.machine.keyspace.dbs[0].data  # emptied by serving: deleted


def test_a_retry_of_a_blocked_command_neither_blocks_twice_nor_pops_twice() -> None:
    r = Replica()
    first = cmd(1, "BLPOP", "q", "0", who=("n2:x", 4))
    assert r.apply(first).reply is BLOCKED
    assert r.apply(first).reply is BLOCKED  # the same entry proposed again
    assert len(r.machine.blocked.waiters) == 1
    (served,) = r.apply(cmd(2, "RPUSH", "q", "a", "b")).completions
    assert served.reply == [b"q", b"a"]
    # A copy applied after it was served answers what it got, and pops nothing more.
    assert r.apply(first).reply == [b"q", b"a"]
    assert r.apply(cmd(3, "LLEN", "q")).reply == 1


def test_blmove_serves_a_waiter_on_its_destination_too() -> None:
    r = Replica()
    r.apply(cmd(1, "BLMOVE", "src", "mid", "RIGHT", "LEFT", "0", who=("n1:a", 1)))
    r.apply(cmd(1, "BLPOP", "mid", "0", who=("n2:b", 1)))
    applied = r.apply(cmd(2, "RPUSH", "src", "e"))
    assert [(c.session.id, c.reply) for c in applied.completions] == [
        ("n1:a", b"e"),
        ("n2:b", [b"mid", b"e"]),
    ]
    data = r.machine.keyspace.dbs[0].data
    assert b"src" not in data
    assert b"mid" not in data
    assert {key for _, key in applied.touched} >= {b"src", b"mid"}


def test_inside_multi_a_blocking_pop_answers_as_a_timeout() -> None:
    r = Replica()
    applied = r.apply(
        Transaction(
            MS,
            0,
            [[b"BLPOP", b"q", b"0"], [b"BLMOVE", b"q", b"d", b"LEFT", b"LEFT", b"0"]],
            [],
            Session("n1:t", 1, 1),
        )
    )
    assert applied.reply == [NULL_ARRAY, None]
    assert not r.machine.blocked.waiters


def test_a_push_inside_multi_serves_after_the_transaction() -> None:
    r = Replica()
    r.apply(cmd(1, "BLPOP", "q", "0", who=("n2:x", 1)))
    applied = r.apply(
        Transaction(MS, 0, [[b"RPUSH", b"q", b"v"], [b"LLEN", b"q"]], [], Session("n1:t", 1, 1))
    )
    assert applied.reply == [1, 1]  # the waiter is served once the transaction is done
    (served,) = applied.completions
    assert served.reply == [b"q", b"v"]


def test_timeouts_are_decided_by_the_entry_time() -> None:
    r = Replica()
    r.apply(cmd(1000, "BLPOP", "q", "2", who=("n2:x", 1)))  # deadline: 3000 ms
    assert r.machine.blocked.next_deadline() == 3000
    early = r.apply(Unblock(2999 * MS, 0, UNBLOCK_TIMEOUT, [("n2:x", 1)]))
    assert early.reply == 0
    assert early.completions == ()
    late = r.apply(Unblock(3000 * MS, 0, UNBLOCK_TIMEOUT, [("n2:x", 1), ("n9:gone", 7)]))
    assert late.reply == 1
    (timed_out,) = late.completions
    assert timed_out.reply is NULL_ARRAY
    assert not r.machine.blocked.waiters
    assert r.machine.blocked.next_deadline() is None
    # Waiting forever has no deadline to pass.
    r.apply(cmd(5000, "BLPOP", "q", "0", who=("n2:x", 2)))
    assert r.apply(Unblock(10**12, 0, UNBLOCK_TIMEOUT, [("n2:x", 2)])).reply == 0


def test_client_unblock_disconnection_and_a_gone_node() -> None:
    r = Replica()
    for seq in (1, 2, 3, 4):
        r.apply(cmd(1, "BLPOP", "q", "0", who=("n2:x", seq)))
    ended = r.apply(Unblock(MS, 0, UNBLOCK_CLIENT_TIMEOUT, [("n2:x", 1)]))
    assert [c.reply for c in ended.completions] == [NULL_ARRAY]
    ended = r.apply(Unblock(MS, 0, UNBLOCK_CLIENT_ERROR, [("n2:x", 2)]))
    assert [c.reply for c in ended.completions] == [
        ErrorReply(b"UNBLOCKED client unblocked via CLIENT UNBLOCK")
    ]
    ended = r.apply(Unblock(MS, 0, UNBLOCK_DISCONNECTED, [("n2:x", 3)]))
    assert ended.reply == 1
    assert ended.completions == ()
    ended = r.apply(Unblock(MS, 0, UNBLOCK_NODE_GONE, [("n2:x", 4)]))
    assert [c.reply for c in ended.completions] == [BLOCK_AGAIN]
    # Nobody waits any more: a push stays in the list.
    assert r.apply(cmd(2, "RPUSH", "q", "kept")).completions == ()
    assert r.apply(cmd(3, "LLEN", "q")).reply == 1


def test_a_waiter_for_a_list_waits_on_while_its_key_holds_another_type() -> None:
    r = Replica()
    r.apply(cmd(1, "BLPOP", "k", "0", who=("n2:x", 1)))
    assert r.apply(cmd(2, "SET", "k", "string")).completions == ()
    r.apply(cmd(3, "DEL", "k"))
    (served,) = r.apply(cmd(4, "RPUSH", "k", "v")).completions
    assert served.reply == [b"k", b"v"]


def test_waiters_survive_a_snapshot_in_their_order() -> None:
    r = Replica()
    r.apply(cmd(1, "BLPOP", "a", "b", "5", who=("n2:x", 1)))
    r.apply(cmd(1, "BRPOP", "b", "0", who=("n3:y", 1)))
    r.apply(cmd(1, "BLMPOP", "0", "1", "b", "RIGHT", "COUNT", "2", who=("n1:z", 1)))
    back = Replica()
    restore_records(back.machine, snapshot_records(r.machine))
    back.index = r.index
    assert list(back.machine.blocked.waiters) == list(r.machine.blocked.waiters)
    assert back.machine.blocked.next_deadline() == 5001
    for replica in (r, back):
        applied = replica.apply(cmd(2, "RPUSH", "b", "1", "2", "3", "4"))
        assert [(c.session.id, c.reply) for c in applied.completions] == [
            ("n2:x", [b"b", b"1"]),
            ("n3:y", [b"b", b"4"]),
            ("n1:z", [b"b", [b"3", b"2"]]),
        ]
    assert dataset_digest(r.machine.keyspace) == dataset_digest(back.machine.keyspace)


def test_sorted_set_waiters_are_served_by_zadd_and_lists_by_pushes_only() -> None:
    r = Replica()
    r.apply(cmd(1, "BZPOPMIN", "z", "0", who=("n1:a", 1)))
    r.apply(cmd(1, "BLPOP", "z", "0", who=("n2:b", 1)))
    r.apply(cmd(1, "BZMPOP", "0", "1", "z", "MAX", "COUNT", "2", who=("n3:c", 1)))
    applied = r.apply(cmd(2, "ZADD", "z", "1", "one", "2", "two", "3", "three"))
    assert [(c.session.id, c.reply) for c in applied.completions] == [
        ("n1:a", [b"z", b"one", 1.0]),
        ("n3:c", [b"z", [[b"three", 3.0], [b"two", 2.0]]]),
    ]
    assert list(r.machine.blocked.waiters) == [("n2:b", 1)]  # waits for a list
    assert r.apply(cmd(3, "RPUSH", "elsewhere", "x")).completions == ()
