"""The set type: intsets (sorted, Redis's integers only), the one-way conversion to a
hashtable, digests checked with a real Redis, snapshots, copies, the member index."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from concord_resp.resp import string2ll
from concord_resp.store import Database
from concord_resp.store.digest import value_digest
from concord_resp.store.encoding import EncodingConfig
from concord_resp.store.types import SET, SetValue, type_for_tag, type_name, value_type

DEFAULT = EncodingConfig()


def filled(*members: bytes, config: EncodingConfig = DEFAULT) -> SetValue:
    value = SetValue.for_member(members[0])
    for member in members:
        value.add(member, config)
    return value


def test_integers_make_an_intset_in_ascending_order() -> None:
    value = filled(b"5", b"-3", b"10", b"5")
    assert value_type(value) is SET
    assert type_name(value) == b"set"
    assert SET.encoding(value) == (b"intset", 1)
    assert list(value) == [b"-3", b"5", b"10"]
    assert len(value) == 3
    assert b"5" in value
    assert b"7" not in value
    assert b"05" not in value
    assert b"abc" not in value
    assert 5 not in value


@pytest.mark.parametrize(
    "member",
    [b"007", b"-0", b"+1", b" 1", b"1 ", b"1.0", b"9223372036854775808", b"", b"x"],
)
def test_a_member_redis_does_not_read_as_an_integer_makes_a_hashtable(member: bytes) -> None:
    assert string2ll(member) is None
    value = filled(b"1", member)
    assert SET.encoding(value) == (b"hashtable", 1)
    assert list(value) == [b"1", member]
    assert member in value
    assert b"1" in value
    assert SetValue.for_member(member).is_intset is False


def test_the_extremes_of_a_long_long_are_integers() -> None:
    value = filled(b"9223372036854775807", b"-9223372036854775808", b"0")
    assert value.is_intset
    assert list(value) == [b"-9223372036854775808", b"0", b"9223372036854775807"]


def test_too_many_members_convert_for_good() -> None:
    config = EncodingConfig(set_max_intset_entries=3)
    value = filled(b"1", b"2", b"3", config=config)
    assert value.is_intset
    assert value.add(b"3", config) is False  # no change, no conversion
    assert value.add(b"4", config) is True
    assert not value.is_intset
    value.remove(b"4")
    value.remove(b"3")
    assert SET.encoding(value) == (b"hashtable", 1)
    assert list(value) == [b"1", b"2"]


def test_the_limit_is_capped_at_two_to_the_thirtieth() -> None:
    value = filled(b"1", config=EncodingConfig(set_max_intset_entries=2**40))
    assert value.is_intset
    assert filled(b"1", config=EncodingConfig(set_max_intset_entries=0)).is_intset is False


def test_removal_from_both_encodings() -> None:
    for value in (filled(b"1", b"2", b"3"), filled(b"1", b"2", b"3", b"x")):
        assert value.remove(b"2") is True
        assert value.remove(b"2") is False
        assert value.remove(b"nope") is False
        assert value.remove(b"02") is False
        assert b"2" not in value
    assert SET.is_empty(SetValue())
    assert not SET.is_empty(filled(b"1"))


# Each expected digest is DEBUG DIGEST-VALUE from a real Redis 7.0 after the same SADD.
@pytest.mark.parametrize(
    ("members", "digest"),
    [
        ([b"1", b"2", b"3"], "2a462a3f51a1db89738ebbeef0c47ce1bbc85246"),
        ([b"a", b"b", b"c"], "593c2414786d75446e97f4ea5d4b731f3313da72"),
        ([b"-9223372036854775808", b"", b"x"], "18ac1f5cdad1aa8b0926725bba156856499204c2"),
    ],
)
def test_the_digest_is_redis_s(members: list[bytes], digest: str) -> None:
    db = Database()
    db.set(b"s", filled(*members), 1)
    assert value_digest(db, b"s").hex() == digest
    # Order and encoding do not matter: Redis XORs each member in.
    db.set(b"s", SetValue.hashtable(reversed(members)), 2)
    assert value_digest(db, b"s").hex() == digest


@pytest.mark.parametrize(
    "value", [filled(b"3", b"-1", b"2"), filled(b"b", b"", b"\xff", b"1"), filled(b"1", b"x")]
)
def test_snapshot_round_trip_keeps_order_and_encoding(value: SetValue) -> None:
    payload = cbor2.loads(cbor2.dumps(SET.to_snapshot(value)))
    back = type_for_tag(SET.tag).from_snapshot(payload)
    assert type(back) is SetValue
    assert back == value
    assert list(back) == list(value)
    assert back.is_intset is value.is_intset


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [True],
        [1, [1]],
        [True, []],
        [True, [b"1"]],
        [True, [2, 1]],
        [True, [1, 1]],
        [True, [2**63]],
        [False, [1]],
        [False, [b"a", b"a"]],
        [False, (b"a",)],
    ],
)
def test_a_malformed_payload_is_refused(payload: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        SET.from_snapshot(payload)


def test_a_copy_is_independent_and_keeps_the_encoding() -> None:
    for value in (filled(b"1", b"2"), filled(b"a", b"b")):
        copy = SET.duplicate(value)
        assert copy == value
        assert copy.is_intset is value.is_intset
        copy.add(b"3", DEFAULT)
        assert b"3" not in value
    table = filled(b"a", b"b")
    table.member_index()
    copy = SET.duplicate(table)
    assert copy.index is None


def test_take_adopts_another_set() -> None:
    value = filled(b"a", b"b")
    value.member_index()
    value.take(filled(b"7"))
    assert value.is_intset
    assert list(value) == [b"7"]
    assert value.index is None


def test_the_member_index_follows_every_change() -> None:
    value = SetValue.hashtable(b"m%d" % n for n in range(100))
    index = value.member_index()
    value.add(b"new", DEFAULT)
    value.add(b"m1", DEFAULT)
    value.remove(b"m2")
    assert len(index) == len(value) == 100
    assert {index.member_at(i) for i in range(len(index))} == set(value)
    cursor, seen = 0, set()
    while True:
        cursor, batch = value.scan(cursor, 9)
        seen.update(batch)
        if cursor == 0:
            break
    assert seen == set(value)
    with pytest.raises(TypeError):
        filled(b"1").member_index()


def test_an_intset_scans_whole_and_picks_by_position() -> None:
    value = filled(b"30", b"10", b"20")
    assert value.scan(999, 1) == (0, [b"10", b"20", b"30"])
    pick = value.picker()
    assert [pick(i) for i in range(3)] == [b"10", b"20", b"30"]
    value.remove(b"10")
    assert pick(0) == b"20"  # the picker reads the live set


def test_estimated_sizes() -> None:
    assert SET.estimated_size(filled(b"1", b"2")) == 16 + 8 + 2 * 2
    assert SET.estimated_size(filled(b"1", b"70000")) == 16 + 8 + 2 * 4
    assert SET.estimated_size(filled(b"1", b"-9223372036854775808")) == 16 + 8 + 2 * 8
    big = SetValue.hashtable(b"member:%d" % n for n in range(1000))
    assert SET.estimated_size(big) > 1000 * (24 + 12)
    assert SET.estimated_size(SetValue()) == 16


@given(st.lists(st.one_of(st.integers(-(2**63), 2**63 - 1).map(lambda n: b"%d" % n), st.binary())))
def test_membership_matches_a_model(members: list[bytes]) -> None:
    value = SetValue()
    model: set[bytes] = set()
    config = EncodingConfig(set_max_intset_entries=8)
    for member in members:
        assert value.add(member, config) is (member not in model)
        model.add(member)
    assert sorted(value) == sorted(model)
    assert value.is_intset is (all(string2ll(m) is not None for m in model) and len(model) <= 8)
    for member in members[::2]:
        assert value.remove(member) is (member in model)
        model.discard(member)
    assert sorted(value) == sorted(model)
