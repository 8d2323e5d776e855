"""Stream ID parsing as Redis's streamGenericParseIDOrReply and string2ull accept IDs, and
the dispatcher's test for a blocking XREAD (the replies are compared with Redis in compat/)."""

from __future__ import annotations

import pytest

from concord_resp.commands import CommandError
from concord_resp.commands.streams import (
    blocking_read,
    decrement_id,
    increment_id,
    parse_add_id,
    parse_id,
    range_bounds,
)

U64_MAX = (1 << 64) - 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"5", (5, 0)),
        (b"5-3", (5, 3)),
        (b"-", (0, 0)),
        (b"+", (U64_MAX, U64_MAX)),
        (b"18446744073709551615-18446744073709551615", (U64_MAX, U64_MAX)),
        (b"+7", (7, 0)),  # strtoull takes a sign and leading spaces
        (b" 7-1", (7, 1)),
        (b"7\x00junk", (7, 0)),  # a C string ends at NUL
    ],
)
def test_ids_redis_accepts(text: bytes, expected: tuple[int, int]) -> None:
    assert parse_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [b"", b"x", b"-1", b"1-2-3", b"18446744073709551616", b"1-", b"7 ", b"0x10", b"9" * 200],
)
def test_ids_redis_refuses(text: bytes) -> None:
    with pytest.raises(CommandError, match="Invalid stream ID"):
        parse_id(text)


def test_strict_ids_refuse_the_range_ends_and_xadd_takes_ms_star() -> None:
    for text in (b"-", b"+"):
        with pytest.raises(CommandError):
            parse_id(text, strict=True)
    assert parse_add_id(b"5-*") == ((5, 0), False)
    assert parse_add_id(b"5-1") == ((5, 1), True)
    assert parse_id(b"5", U64_MAX) == (5, U64_MAX)


def test_exclusive_bounds_and_their_limits() -> None:
    assert range_bounds(b"(1-0", b"(2-0") == ((1, 1), (1, U64_MAX))
    assert increment_id((1, U64_MAX)) == (2, 0)
    assert decrement_id((2, 0)) == (1, U64_MAX)
    assert increment_id((U64_MAX, U64_MAX)) is None
    assert decrement_id((0, 0)) is None
    with pytest.raises(CommandError, match="invalid start ID"):
        range_bounds(b"(18446744073709551615-18446744073709551615", b"+")
    with pytest.raises(CommandError, match="invalid end ID"):
        range_bounds(b"-", b"(0-0")


def test_only_an_xread_with_block_before_streams_is_proposed() -> None:
    assert blocking_read([b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"])
    assert blocking_read([b"xread", b"COUNT", b"1", b"block", b"10", b"STREAMS", b"s", b"0"])
    assert not blocking_read([b"XREAD", b"STREAMS", b"block", b"0"])  # a key named block
    assert not blocking_read([b"XREAD", b"COUNT", b"1", b"STREAMS", b"s", b"0"])
