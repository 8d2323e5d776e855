"""The hash type: listpack order, the one-way conversion to a hashtable, digests checked with a
real Redis, snapshots, copies, the member index behind HSCAN and HRANDFIELD."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from concord_resp.store import Database
from concord_resp.store.digest import value_digest
from concord_resp.store.encoding import EncodingConfig
from concord_resp.store.types import HASH, HashValue, type_for_tag, type_name, value_type
from concord_resp.store.types.hash import dict_slots, listpack_entry_size

DEFAULT = EncodingConfig()


def filled(*pairs: tuple[bytes, bytes], config: EncodingConfig = DEFAULT) -> HashValue:
    value = HashValue()
    for field, item in pairs:
        value.set_field(field, item, config)
    return value


def test_a_new_hash_is_a_listpack_in_insertion_order() -> None:
    value = filled((b"b", b"1"), (b"a", b"2"), (b"c", b"3"))
    assert value_type(value) is HASH
    assert type_name(value) == b"hash"
    assert HASH.encoding(value) == (b"listpack", 1)
    assert value.set_field(b"a", b"20", DEFAULT) is False  # an update keeps its place
    assert list(value.items()) == [(b"b", b"1"), (b"a", b"20"), (b"c", b"3")]
    assert value.delete_field(b"b") is True
    assert value.delete_field(b"b") is False
    assert value.set_field(b"b", b"1", DEFAULT) is True  # back, at the end
    assert list(value) == [b"a", b"c", b"b"]


def test_too_many_fields_convert_after_the_write_and_for_good() -> None:
    config = EncodingConfig(hash_max_listpack_entries=2)
    value = filled((b"a", b"1"), (b"b", b"2"), config=config)
    assert value.listpack
    value.set_field(b"c", b"3", config)
    assert not value.listpack
    value.delete_field(b"c")
    value.delete_field(b"b")
    assert HASH.encoding(value) == (b"hashtable", 1)


def test_a_lowered_limit_converts_on_an_update_too() -> None:
    value = filled((b"a", b"1"), (b"b", b"2"), (b"c", b"3"))
    value.set_field(b"a", b"1", EncodingConfig(hash_max_listpack_entries=2))
    assert not value.listpack


def test_a_long_field_or_value_converts_before_the_write() -> None:
    config = EncodingConfig(hash_max_listpack_value=3)
    for field, item in [(b"abcd", b"1"), (b"a", b"1234")]:
        value = filled((b"x", b"1"), config=config)
        value.set_field(field, item, config)
        assert not value.listpack
    value = filled((b"abc", b"123"), config=config)
    assert value.listpack
    value.try_conversion([b"ok", b"toolong"], config)  # hashTypeTryConversion
    assert not value.listpack


# Each expected digest is DEBUG DIGEST-VALUE from a real Redis 7.0 after the same writes.
@pytest.mark.parametrize(
    ("pairs", "digest"),
    [
        ([(b"a", b"1"), (b"b", b"2")], "6c8f22b3bf510fdcfd6122dd0f908a80e88243bf"),
        (
            [(b"field", b""), (b"", b"value"), (b"x", b"123456789012")],
            "b0f69e6eede62e366dad65c5a8df6ccb1632c21a",
        ),
    ],
)
def test_the_digest_is_redis_s(pairs: list[tuple[bytes, bytes]], digest: str) -> None:
    db = Database()
    db.set(b"h", filled(*pairs), 1)
    assert value_digest(db, b"h").hex() == digest
    # Order and encoding do not matter: Redis XORs a digest per field.
    db.set(b"h", filled(*reversed(pairs), config=EncodingConfig(hash_max_listpack_entries=0)), 2)
    assert value_digest(db, b"h").hex() == digest


@pytest.mark.parametrize("listpack", [True, False])
def test_snapshot_round_trip_keeps_order_and_encoding(listpack: bool) -> None:
    value = HashValue([(b"z", b"1"), (b"", b""), (b"\xff", b"\x00")], listpack=listpack)
    payload = cbor2.loads(cbor2.dumps(HASH.to_snapshot(value)))
    back = type_for_tag(HASH.tag).from_snapshot(payload)
    assert type(back) is HashValue
    assert list(back.items()) == list(value.items())
    assert back.listpack is listpack


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [True],
        [1, [b"a", b"b"]],
        [True, []],
        [True, [b"a"]],
        [True, [b"a", "b"]],
        [True, (b"a", b"b")],
        [False, [b"a", b"1", b"a", b"2"]],
    ],
)
def test_a_malformed_payload_is_refused(payload: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        HASH.from_snapshot(payload)


def test_a_copy_is_independent() -> None:
    value = HashValue([(b"a", b"1")], listpack=False)
    value.member_index()
    copy = HASH.duplicate(value)
    assert copy.index is None
    assert not copy.listpack
    copy.set_field(b"b", b"2", DEFAULT)
    assert list(value) == [b"a"]
    assert len(value.member_index()) == 1
    assert not HASH.is_empty(value)
    assert HASH.is_empty(HashValue())


def test_the_member_index_follows_every_change() -> None:
    value = HashValue([(b"f%d" % n, b"v") for n in range(50)], listpack=False)
    index = value.member_index()
    value.set_field(b"new", b"x", DEFAULT)
    value.set_field(b"f1", b"changed", DEFAULT)
    value.delete_field(b"f2")
    value.delete_field(b"absent")
    assert sorted(index.member_at(i) for i in range(len(index))) == sorted(value)
    cursor, seen = 0, set()
    while True:
        cursor, batch = value.scan(cursor, 7)
        seen.update(batch)
        if cursor == 0:
            break
    assert seen == set(value)
    pick = value.picker()
    assert {pick(i) for i in range(len(value))} == set(value)


def test_a_listpack_scans_whole_and_picks_in_its_order() -> None:
    value = filled((b"b", b"1"), (b"a", b"2"))
    assert value.scan(12345, 1) == (0, [b"b", b"a"])
    assert [value.picker()(i) for i in range(2)] == [b"b", b"a"]
    assert value.index is None


def test_estimated_sizes() -> None:
    small = filled((b"a", b"1"), (b"b", b"hello"))
    # Header, listpack header and end, then entries: "a" 1+1+1, 1 (an int) 1+1, ...
    assert HASH.estimated_size(small) == 16 + 7 + 3 + 2 + 3 + 7
    big = HashValue([(b"field:%d" % n, b"value:%d" % n) for n in range(1000)], listpack=False)
    assert HASH.estimated_size(big) > 1000 * (24 + 2 * 10)
    assert dict_slots(1000) == 1024
    assert dict_slots(0) == 4


@given(st.integers(-(2**63), 2**63 - 1))
def test_listpack_integers_take_at_most_ten_bytes(number: int) -> None:
    assert 2 <= listpack_entry_size(b"%d" % number) <= 10
