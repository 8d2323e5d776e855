"""Typed log entries: one codec, the same bytes the first release wrote, strict decoding."""

from __future__ import annotations

import cbor2
import pytest

from concord_resp.state import (
    USERS_BOOTSTRAP,
    USERS_LOAD,
    Command,
    Configure,
    EntryError,
    Expiry,
    Op,
    Session,
    SetUsers,
    Transaction,
    decode_op,
    encode_op,
)

OPS: list[Op] = [
    Command(10, 0, [b"SET", b"k", b"v"]),
    Command(11, 3, [b"INCR", b"c"], Session("n1:ab", 7, 5)),
    Transaction(12, 0, [[b"SELECT", b"2"], [b"SET", b"k", b"v"]], [(0, b"k", 4, True)]),
    Transaction(13, 1, [[b"DEL", b"x"]], [], Session("n2:cd", 1, 1)),
    Expiry(14, 5, [b"a", b"b"]),
    Configure(15, 0, [("hash_max_listpack_entries", 4), ("list_max_listpack_size", -3)]),
    Configure(16, 2, [("set_max_intset_entries", 0)], Session("n3:ef", 2, 2)),
    Configure(17, 0, [("requirepass", b"sekret")], Session("n3:ef", 3, 3)),
    Command(18, 0, [b"EVAL", b"return 1", b"0"], Session("n1:ab", 8, 8), b"alice"),
    Transaction(19, 0, [[b"EVAL", b"return 1", b"0"]], [], Session("n1:ab", 9, 9), b"bob"),
    SetUsers(20, 0, USERS_LOAD, [(b"default", [b"on", b"nopass"]), (b"u", [])]),
    SetUsers(21, 0, USERS_BOOTSTRAP, [(b"default", [b">pw"])], Session("n1:ab", 10, 10)),
]


@pytest.mark.parametrize("op", OPS, ids=lambda op: type(op).__name__)
def test_entries_round_trip(op: Op) -> None:
    assert decode_op(encode_op(op)) == op


def test_the_wire_form_is_the_first_releases() -> None:
    # Logs written before entries were typed must decode: the same CBOR lists.
    assert cbor2.loads(encode_op(OPS[1])) == [0, 11, 3, [b"INCR", b"c"], ["n1:ab", 7, 5]]
    assert cbor2.loads(encode_op(OPS[2])) == [
        1,
        12,
        0,
        [[b"SELECT", b"2"], [b"SET", b"k", b"v"]],
        [[0, b"k", 4, True]],
        None,
    ]
    assert cbor2.loads(encode_op(OPS[4])) == [2, 14, 5, [b"a", b"b"]]


@pytest.mark.parametrize(
    "wire",
    [
        b"not cbor \xff",
        cbor2.dumps([]),
        cbor2.dumps([9, 0, 0, []]),
        cbor2.dumps([0, "10", 0, [b"GET"], None]),
        cbor2.dumps([0, 10, 0, ["GET"], None]),
        cbor2.dumps([0, 10, 0, [b"GET"], ["s", 1]]),
        cbor2.dumps([1, 10, 0, [[b"GET"]], [[0, "k", 1, True]], None]),
        cbor2.dumps([2, 10, 0, [b"k"], None]),  # an expiry has no session
        cbor2.dumps([3, 10, 0, [["maxclients", 4]], None]),  # not a replicated parameter
        cbor2.dumps([3, 10, 0, [["set_max_intset_entries", "4"]], None]),
        cbor2.dumps([3, 10, 0, [["set_max_intset_entries"]], None]),
        cbor2.dumps([3, 10, 0, [["requirepass", 4]], None]),
        cbor2.dumps([0, 10, 0, [b"EVAL"], None, "not bytes"]),
        cbor2.dumps([1, 10, 0, [[b"EVAL"]], [], None, 7]),
        cbor2.dumps([5, 10, 0, 9, [], None]),  # no such mode
        cbor2.dumps([5, 10, 0, 0, [[b"u"]], None]),
        cbor2.dumps([5, 10, 0, 0, [[b"u", [7]]], None]),
    ],
)
def test_what_is_not_an_entry_is_refused(wire: bytes) -> None:
    with pytest.raises(EntryError):
        decode_op(wire)
