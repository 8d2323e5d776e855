"""The value-type registry and the string type: what TYPE, OBJECT ENCODING/REFCOUNT, COPY,
snapshots and MEMORY USAGE learn about a string (the replies are compared with a real Redis in
compat/scenarios/strings_encoding.txt)."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from concord_resp.resp import string2ll
from concord_resp.store.types import (
    STRING,
    registered_types,
    type_for_tag,
    type_name,
    value_type,
)
from concord_resp.store.types.string import SHARED_REFCOUNT, as_long_long


def test_both_string_classes_are_the_string_type() -> None:
    assert value_type(b"x") is value_type(bytearray(b"x")) is STRING
    assert type_name(b"x") == type_name(bytearray()) == b"string"
    assert type_name(None) == b"none"
    assert type_for_tag("string") is STRING
    assert STRING in registered_types()
    assert STRING.redis_type == 0


def test_unknown_classes_and_tags_are_refused() -> None:
    with pytest.raises(TypeError):
        value_type(["not", "registered"])
    with pytest.raises(ValueError, match="unknown value type tag"):
        type_for_tag("no-such-type")
    with pytest.raises(ValueError, match="unknown value type tag"):
        type_for_tag(0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"0", (b"int", SHARED_REFCOUNT)),
        (b"9999", (b"int", SHARED_REFCOUNT)),
        (b"10000", (b"int", 1)),
        (b"-1", (b"int", 1)),
        (b"-9223372036854775808", (b"int", 1)),
        (b"9223372036854775808", (b"embstr", 1)),  # out of range
        (b"007", (b"embstr", 1)),
        (b"", (b"embstr", 1)),
        (b"x" * 44, (b"embstr", 1)),
        (b"x" * 45, (b"raw", 1)),
        (bytearray(b"1"), (b"raw", 1)),
    ],
)
def test_string_encodings_follow_try_object_encoding(
    value: bytes | bytearray, expected: tuple[bytes, int]
) -> None:
    assert STRING.encoding(value) == expected


@given(st.one_of(st.binary(max_size=22), st.integers().map(lambda n: b"%d" % n)))
def test_the_integer_test_is_redis_s_string2ll(text: bytes) -> None:
    assert as_long_long(text) == string2ll(text)


@pytest.mark.parametrize("value", [b"abc", bytearray(b"abc"), b"", bytearray()])
def test_a_snapshot_payload_keeps_the_class(value: bytes | bytearray) -> None:
    payload = cbor2.loads(cbor2.dumps(STRING.to_snapshot(value)))
    back = STRING.from_snapshot(payload)
    assert back == value
    assert type(back) is type(value)


@pytest.mark.parametrize("payload", [b"abc", [b"abc"], ["abc", False], [b"abc", 1]])
def test_a_malformed_string_payload_is_refused(payload: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        STRING.from_snapshot(payload)


def test_a_copy_is_independent() -> None:
    value = b"abc"
    assert STRING.duplicate(value) is value  # immutable: shared
    raw = bytearray(b"abc")
    copied = STRING.duplicate(raw)
    assert copied == raw
    assert copied is not raw
    assert type(copied) is bytearray


def test_size_estimates_grow_with_the_value_and_strings_are_never_empty() -> None:
    sizes = [STRING.estimated_size(v) for v in (b"1", b"abc", b"x" * 100, b"x" * 1000)]
    assert sizes == sorted(sizes)
    assert sizes[0] > 0
    assert STRING.estimated_size(bytearray(b"x" * 1000)) >= 1000
    assert not STRING.is_empty(b"")
    assert not STRING.is_empty(bytearray())
