"""RedisStringModel and RedisListModel follow Redis's semantics, and Operation rejects
malformed calls."""

from __future__ import annotations

import pytest

from concord_resp.checker import (
    Operation,
    RedisListModel,
    RedisStreamModel,
    RedisStringModel,
    Value,
    encode_elements,
    redis_integer,
)
from concord_resp.checker.history import Status

MODEL = RedisStringModel()


def call(kind: str, value: Value = None, output: Value = None, status: Status = "ok") -> Operation:
    return Operation(0, kind, b"k", value, 0, None if status == "info" else 1, status, output)


def test_a_key_starts_missing_and_get_reads_the_current_value() -> None:
    assert MODEL.init() is None
    assert MODEL.step(None, call("get", output=None)) == (True, None)
    assert MODEL.step(None, call("get", output=b"")) == (False, None)
    assert MODEL.step(b"v", call("get", output=b"v")) == (True, b"v")
    assert MODEL.step(b"v", call("get", output=b"w")) == (False, b"v")
    assert MODEL.step(b"", call("get", output=None)) == (False, b"")


@pytest.mark.parametrize("reply", ["OK", b"OK", True])
def test_set_replies_ok_in_any_client_spelling_and_replaces_the_value(reply: Value) -> None:
    assert MODEL.step(b"old", call("set", b"new", reply)) == (True, b"new")


def test_set_with_another_reply_does_not_fit() -> None:
    assert MODEL.step(None, call("set", b"new", None))[0] is False


def test_append_replies_with_the_new_length_and_a_missing_key_counts_as_empty() -> None:
    assert MODEL.step(None, call("append", b"ab", 2)) == (True, b"ab")
    assert MODEL.step(b"ab", call("append", b"cde", 5)) == (True, b"abcde")
    assert MODEL.step(b"ab", call("append", b"cde", 3)) == (False, b"abcde")
    assert MODEL.step(None, call("append", b"", 0)) == (True, b"")


def test_incr_replies_with_the_new_integer_stored_as_decimal_bytes() -> None:
    assert MODEL.step(None, call("incr", None, 1)) == (True, b"1")
    assert MODEL.step(b"41", call("incr", None, 42)) == (True, b"42")
    assert MODEL.step(b"41", call("incr", None, 41)) == (False, b"42")
    assert MODEL.step(b"5", call("incr", -10, -5)) == (True, b"-5")


@pytest.mark.parametrize("value", [b"abc", b"", b"1.5", b" 1", b"+1", b"01", b"-0"])
def test_an_ok_incr_of_a_non_integer_does_not_fit_and_an_info_one_changes_nothing(
    value: bytes,
) -> None:
    assert MODEL.step(value, call("incr", None, 1)) == (False, value)
    assert MODEL.step(value, call("incr", None, None, "info")) == (True, value)


def test_incr_past_the_64_bit_range_is_an_error() -> None:
    top = b"9223372036854775807"
    assert MODEL.step(top, call("incr", None, 2**63))[0] is False
    assert MODEL.step(top, call("incr", None, None, "info")) == (True, top)
    assert MODEL.step(top, call("incr", -1, 2**63 - 2)) == (True, b"9223372036854775806")


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        (b"0", 0),
        (b"7", 7),
        (b"-12", -12),
        (b"9223372036854775807", 2**63 - 1),
        (b"-9223372036854775808", -(2**63)),
        (b"9223372036854775808", None),
        (b"-", None),
        (b"", None),
        (b"00", None),
        (b"1e3", None),
        (b"\xd9\xa3", None),
    ],
)
def test_redis_integer_is_as_strict_as_string2ll(raw: bytes, number: int | None) -> None:
    assert redis_integer(raw) == number


def test_info_calls_accept_any_output_and_still_apply() -> None:
    assert MODEL.step(b"a", call("append", b"b", None, "info")) == (True, b"ab")
    assert MODEL.step(b"a", call("set", b"z", None, "info")) == (True, b"z")
    assert MODEL.step(b"a", call("get", None, None, "info")) == (True, b"a")


def test_only_get_is_read_only() -> None:
    assert MODEL.read_only(call("get"))
    assert not any(MODEL.read_only(call(kind, b"1")) for kind in ("set", "append", "incr"))


def test_malformed_calls_raise() -> None:
    with pytest.raises(ValueError, match="no operation"):
        MODEL.step(None, call("del"))
    with pytest.raises(ValueError, match="bytes argument"):
        MODEL.step(None, call("set", "text", "OK"))
    with pytest.raises(ValueError, match="int amount"):
        MODEL.step(None, call("incr", b"1", 1))


def test_operation_rejects_impossible_intervals_and_statuses() -> None:
    with pytest.raises(ValueError, match="completion time"):
        Operation(0, "get", b"k", None, 5, None, "ok")
    with pytest.raises(ValueError, match="before it is invoked"):
        Operation(0, "get", b"k", None, 5, 4, "ok")
    with pytest.raises(ValueError, match="unknown status"):
        Operation(0, "get", b"k", None, 5, 6, "done")  # type: ignore[arg-type]
    assert Operation(0, "set", b"k", b"v", 5, None, "info").complete is None


def test_operations_describe_themselves_in_one_line() -> None:
    assert Operation(3, "append", b"k", b"x", 10, 20, "ok", 4).describe() == (
        "p3 append(b'k', b'x') -> 4  [10..20]"
    )
    assert Operation(1, "get", b"k", None, 7, None, "info").describe() == (
        "p1 get(b'k') -> ? (indeterminate)  [7..?]"
    )
    assert "failed" in Operation(1, "set", b"k", b"v", 7, 9, "fail").describe()


def test_the_list_model_appends_and_reads_whole_lists() -> None:
    model = RedisListModel()
    state = model.init()
    ok, state = model.step(state, call("rpush", b"a", 1))
    assert ok
    ok, state = model.step(state, call("rpush", b"b", 2))
    assert ok
    assert state == (b"a", b"b")
    assert model.step(state, call("lrange", None, encode_elements([b"a", b"b"])))[0]
    # A lost, doubled or reordered element cannot be read.
    for wrong in ([b"a"], [b"a", b"b", b"b"], [b"b", b"a"]):
        assert not model.step(state, call("lrange", None, encode_elements(wrong)))[0]
    assert not model.step(state, call("rpush", b"c", 2))[0]  # the length must be right
    assert model.step(state, call("rpush", b"c", None, status="info"))[1] == (b"a", b"b", b"c")
    assert model.read_only(call("lrange", None, b""))
    assert encode_elements([b"ab", b""]) != encode_elements([b"a", b"b"])


def test_the_stream_model_appends_values_and_reads_them_in_id_order() -> None:
    model = RedisStreamModel()
    state = model.init()
    ok, state = model.step(state, call("xadd", b"a", b"1-0"))
    assert ok
    ok, state = model.step(state, call("xadd", b"b", None, status="info"))
    assert ok
    assert state == (b"a", b"b")
    assert model.step(state, call("xrange", None, encode_elements([b"a", b"b"])))[0]
    for wrong in ([b"a"], [b"a", b"b", b"b"], [b"b", b"a"]):
        assert not model.step(state, call("xrange", None, encode_elements(wrong)))[0]
    assert model.read_only(call("xrange", None, b""))
    assert not model.read_only(call("xadd", b"c", b"2-0"))
