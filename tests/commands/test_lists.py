"""List commands on the state machine: what each write changes (versions, deletion of an
emptied list), ranges from either end, and large lists. Replies and errors are compared with
Redis 7.0 byte for byte in compat/scenarios/list_*.txt."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from concord_resp.commands import build_table
from concord_resp.commands.lists import list_range
from concord_resp.resp import NULL_ARRAY, OK, Reply
from concord_resp.state import Command, StateMachine
from concord_resp.store.types import ListValue

SECOND = 1_000_000


class Node:
    def __init__(self) -> None:
        self.machine = StateMachine(build_table())
        self.index = 0

    def run(self, *args: bytes | str | int) -> Reply:
        self.index += 1
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return self.machine.apply(self.index, Command(SECOND, 0, argv)).reply

    def version(self, key: bytes) -> int | None:
        return self.machine.keyspace.dbs[0].versions.get(key)


def test_pushes_and_pops_change_the_version_and_an_emptied_list_is_deleted() -> None:
    node = Node()
    assert node.run("RPUSH", "l", "a", "b") == 2
    assert node.version(b"l") == 1
    assert node.run("LPOP", "l") == b"a"
    assert node.version(b"l") == 2
    assert node.run("RPOP", "l", 5) == [b"b"]
    assert b"l" not in node.machine.keyspace.dbs[0].data
    assert node.run("LPOP", "l", 5) is NULL_ARRAY


def test_a_write_that_changes_nothing_leaves_the_version() -> None:
    node = Node()
    node.run("RPUSH", "l", "a", "b")
    assert node.run("LREM", "l", 0, "nosuch") == 0
    assert node.run("LINSERT", "l", "BEFORE", "nosuch", "x") == -1
    assert node.run("LPUSHX", "missing", "x") == 0
    assert node.version(b"l") == 1
    assert node.version(b"missing") is None
    # LTRIM signals the key even when it trims nothing, as Redis does.
    assert node.run("LTRIM", "l", 0, -1) == OK
    assert node.version(b"l") == 5


def test_lmove_onto_itself_rotates() -> None:
    node = Node()
    node.run("RPUSH", "l", "a", "b", "c")
    assert node.run("LMOVE", "l", "l", "LEFT", "RIGHT") == b"a"
    assert node.run("LRANGE", "l", 0, -1) == [b"b", b"c", b"a"]
    node.run("RPUSH", "one", "x")
    assert node.run("RPOPLPUSH", "one", "one") == b"x"
    assert node.run("LRANGE", "one", 0, -1) == [b"x"]


def test_a_reply_is_not_the_stored_list() -> None:
    node = Node()
    node.run("RPUSH", "l", "a")
    reply = node.run("LRANGE", "l", 0, -1)
    node.run("RPUSH", "l", "b")
    assert reply == [b"a"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.binary(max_size=2), max_size=12),
    st.integers(-15, 15),
    st.integers(-15, 15),
)
def test_ranges_from_either_end_are_pythons_slices(
    items: list[bytes], start: int, end: int
) -> None:
    lst = ListValue(items)
    size = len(items)
    lo = max(start + size if start < 0 else start, 0)
    hi = end + size if end < 0 else end
    expected = items[lo : hi + 1] if hi >= lo else []
    assert list_range(lst, start, end) == expected


def test_a_large_list_is_trimmed_and_searched_from_both_ends() -> None:
    node = Node()
    for chunk in range(10):
        node.run("RPUSH", "big", *[b"%d" % (chunk * 10_000 + i) for i in range(10_000)])
    assert node.run("LLEN", "big") == 100_000
    assert node.run("LINDEX", "big", -1) == b"99999"
    assert node.run("LPOS", "big", "99998") == 99_998
    assert node.run("LPOS", "big", "5", "RANK", -1) == 5
    assert node.run("LRANGE", "big", -2, -1) == [b"99998", b"99999"]
    assert node.run("LTRIM", "big", 10, 99_989) == OK
    assert node.run("LRANGE", "big", 0, 0) == [b"10"]
    assert node.run("LLEN", "big") == 99_980
