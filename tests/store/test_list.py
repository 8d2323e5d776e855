"""The list type: encoding, digest order, snapshots, copies, emptiness."""

from __future__ import annotations

import cbor2
import pytest

from concord_resp.store.types import LIST, ListValue, type_for_tag, value_type
from concord_resp.store.types.string import STRING


def test_a_list_is_always_a_quicklist() -> None:
    value = ListValue([b"a", b"1"])
    assert value_type(value) is LIST
    assert LIST.encoding(value) == (b"quicklist", 1)
    assert LIST.name == b"list"


def test_the_digest_depends_on_the_order() -> None:
    zero = bytes(20)
    assert LIST.mix_digest(zero, ListValue([b"a", b"b"])) != LIST.mix_digest(
        zero, ListValue([b"b", b"a"])
    )
    # A list mixes its elements in as strings do, one after the other.
    assert LIST.mix_digest(zero, ListValue([b"a"])) == STRING.mix_digest(zero, b"a")


def test_snapshot_round_trip_through_cbor() -> None:
    value = ListValue([b"x", b"", b"\xff" * 3])
    payload = cbor2.loads(cbor2.dumps(LIST.to_snapshot(value)))
    back = type_for_tag(LIST.tag).from_snapshot(payload)
    assert type(back) is ListValue
    assert back == value


@pytest.mark.parametrize("payload", [[], "x", [b"a", "b"], None])
def test_a_malformed_payload_is_refused(payload: object) -> None:
    with pytest.raises(TypeError):
        LIST.from_snapshot(payload)


def test_a_copy_is_independent_and_emptiness_is_known() -> None:
    value = ListValue([b"a"])
    copy = LIST.duplicate(value)
    copy.append(b"b")
    assert list(value) == [b"a"]
    assert not LIST.is_empty(value)
    assert LIST.is_empty(ListValue())
    assert LIST.estimated_size(copy) > LIST.estimated_size(value)
