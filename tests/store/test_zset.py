"""The sorted set type: order, encodings and their conversion, listpack sizes, the range
helpers (checked against brute force), ZSCAN steps, digest, snapshots, copies, emptiness.
Listpack sizes and digests were read from Redis 7.0.15 (DUMP with rdbcompression off, and
DEBUG DIGEST-VALUE); compat/scenarios/zset_*.txt compare the commands byte for byte."""

from __future__ import annotations

import math
import zlib

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord_resp.store.encoding import EncodingConfig
from concord_resp.store.fingerprint import EMPTY_DIGEST, mix_digest
from concord_resp.store.types import ZSET, LexRange, ScoreRange, ZSet, type_for_tag, value_type
from concord_resp.store.types.zset import (
    LEX_MAX,
    LEX_MIN,
    format_score,
    listpack_entry_size,
    listpack_score_text,
)

ROOMY = EncodingConfig(zset_max_listpack_entries=1 << 40, zset_max_listpack_value=1 << 40)


def zset(pairs: list[tuple[float, bytes]], listpack: bool = True) -> ZSet:
    value = ZSet(listpack)
    for score, member in pairs:
        value.insert(member, score, ROOMY)
    return value


def digest(value: ZSet) -> str:
    return ZSET.mix_digest(mix_digest(EMPTY_DIGEST, (3).to_bytes(4, "big")), value).hex()


SMALL = [(1.0, b"a"), (2.0, b"b"), (1.5, b"c")]
MIXED = [
    (-0.0, b"zero"),
    (math.inf, b"up"),
    (-math.inf, b"down"),
    (0.1, b"tenth"),
    (123456789012.0, b"big"),
    (1e18, b"e18"),
    (-4611686018427387904.0, b"lowint"),
    (4611686018427387905.0, b"beyond"),
]
MEMBERS = [
    (1.0, b"12"),
    (2.0, b"-7"),
    (3.0, b"007"),
    (4.0, b"x" * 63),
    (5.0, b"y" * 64),
    (6.0, b"z" * 200),
    (70000.0, b"w"),
    (-5000.0, b"v"),
    (100000000000.0, b"u"),
    (3000000000.0, b"t"),
    (-40000.0, b"s"),
    (8000000.0, b"r"),
]


def test_members_order_by_score_then_bytes() -> None:
    value = zset([(1.0, b"b"), (1.0, b"a"), (0.0, b"z"), (1.0, b"ab"), (1.0, b""), (-1.0, b"\xff")])
    assert [member for _, member in value.order] == [b"\xff", b"z", b"", b"a", b"ab", b"b"]
    assert value.rank(b"ab") == 4
    assert value.rank(b"nosuch") is None
    assert value.at(0) == (-1.0, b"\xff")
    assert value_type(value) is ZSET
    assert ZSET.name == b"zset"
    assert ZSET.redis_type == 3


def test_minus_zero_equals_zero_and_a_listpack_stores_it_as_zero() -> None:
    listpack = zset([(-0.0, b"b"), (0.0, b"a")])
    skiplist = zset([(-0.0, b"b"), (0.0, b"a")], listpack=False)
    for value in (listpack, skiplist):
        assert [member for _, member in value.order] == [b"a", b"b"]
    assert math.copysign(1, listpack.scores[b"b"]) == 1
    assert math.copysign(1, skiplist.scores[b"b"]) == -1
    listpack.update(b"a", -0.0)
    assert math.copysign(1, listpack.scores[b"a"]) == 1


def test_an_insertion_past_a_threshold_converts_for_good() -> None:
    config = EncodingConfig(zset_max_listpack_entries=2, zset_max_listpack_value=3)
    value = ZSet()
    value.insert(b"a", 1.0, config)
    value.insert(b"b", -0.0, config)
    assert ZSET.encoding(value) == (b"listpack", 1)
    value.update(b"a", 5.0)  # updates never convert
    value.insert(b"c", 3.0, config)
    assert ZSET.encoding(value) == (b"skiplist", 1)
    assert math.copysign(1, value.scores[b"b"]) == 1  # it was a listpack's 0
    value.remove(b"c")
    value.remove(b"a")
    assert ZSET.encoding(value) == (b"skiplist", 1)
    long_member = ZSet()
    long_member.insert(b"abcd", 1.0, config)
    assert not long_member.listpack


def test_a_new_result_becomes_a_listpack_if_it_fits() -> None:
    config = EncodingConfig(zset_max_listpack_entries=3, zset_max_listpack_value=4)
    fits = ZSet.skiplist_of({b"a": -0.0, b"bb": 2.0})
    fits.to_listpack_if_small(config)
    assert fits.listpack
    assert math.copysign(1, fits.scores[b"a"]) == 1
    assert fits.listpack_bytes == zset([(0.0, b"a"), (2.0, b"bb")]).listpack_bytes
    assert [member for _, member in fits.order] == [b"a", b"bb"]
    for scores in ({b"a": 1.0, b"b": 2.0, b"c": 3.0, b"d": 4.0}, {b"toolong": 1.0}):
        value = ZSet.skiplist_of(dict(scores))
        value.to_listpack_if_small(config)
        assert not value.listpack


@pytest.mark.parametrize(
    ("pairs", "size"),
    [(SMALL, 25), (MIXED, 130), (MEMBERS, 422)],
    ids=["small", "mixed", "members"],
)
def test_listpack_sizes_are_redis_bytes(pairs: list[tuple[float, bytes]], size: int) -> None:
    value = zset(pairs)
    assert value.listpack_bytes == size
    assert ZSET.estimated_size(value) == 16 + size
    value.pop(highest=True)
    value.remove(pairs[0][1])
    value.update(next(iter(value.scores)), 0.25)
    rest = zset([(score, member) for member, score in value.scores.items()])
    assert value.listpack_bytes == rest.listpack_bytes


def test_listpack_entry_sizes() -> None:
    assert listpack_entry_size(b"") == 2
    assert listpack_entry_size(b"127") == 2  # 7-bit integer
    assert listpack_entry_size(b"-1") == 3  # 13-bit
    assert listpack_entry_size(b"-9223372036854775808") == 10  # 64-bit
    assert listpack_entry_size(b"9223372036854775808") == 21  # too big: a string
    assert listpack_entry_size(b"x" * 63) == 65
    assert listpack_entry_size(b"x" * 64) == 67  # 2-byte header, 1-byte back-length
    assert listpack_entry_size(b"x" * 126) == 130  # 2-byte back-length past 127


@pytest.mark.parametrize(
    ("score", "listpack", "printed"),
    [
        (1.0, b"1", b"1"),
        (1e18, b"1000000000000000000", b"1e+18"),
        (2.0**62, b"4611686018427387904", b"4.6116860184273879e+18"),
        (2.0**62 + 1024, b"4.6116860184273889e+18", b"4.6116860184273889e+18"),
        (-(2.0**62), b"-4611686018427387904", b"-4.6116860184273879e+18"),
        (0.1, b"0.10000000000000001", b"0.10000000000000001"),
        (-0.0, b"0", b"-0"),
        (math.inf, b"inf", b"inf"),
        (-math.inf, b"-inf", b"-inf"),
    ],
)
def test_score_texts(score: float, listpack: bytes, printed: bytes) -> None:
    assert listpack_score_text(score) == listpack
    assert format_score(score) == printed


@pytest.mark.parametrize(
    ("pairs", "listpack_digest", "skiplist_digest"),
    [
        (SMALL, "289309e47a0fdffa6b0c13617bf09b88b90ebf0d", None),
        (
            MIXED,
            "63a869a98650d524b14a64c6c053e160c28e778d",
            "6d820e080783dc6111e507d4b8bff61ad081711c",  # -0 is kept in a skiplist
        ),
        (MEMBERS, "c54dba50535c4095d06097ee5c5efdba41178100", None),
    ],
    ids=["small", "mixed", "members"],
)
def test_digests_are_redis_digests(
    pairs: list[tuple[float, bytes]], listpack_digest: str, skiplist_digest: str | None
) -> None:
    assert digest(zset(pairs)) == listpack_digest
    assert digest(zset(list(reversed(pairs)), listpack=False)) == (
        skiplist_digest or listpack_digest
    )


@pytest.mark.parametrize("listpack", [True, False])
def test_snapshot_round_trip_keeps_encoding_and_signed_zero(listpack: bool) -> None:
    value = zset(MIXED, listpack)
    payload = cbor2.loads(cbor2.dumps(ZSET.to_snapshot(value)))
    back = type_for_tag(ZSET.tag).from_snapshot(payload)
    assert type(back) is ZSet
    assert back.listpack == listpack
    assert list(back.order) == list(value.order)
    assert back.listpack_bytes == value.listpack_bytes
    assert digest(back) == digest(value)
    signs = {member: math.copysign(1, score) for member, score in value.scores.items()}
    assert {member: math.copysign(1, score) for member, score in back.scores.items()} == signs


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [True],
        [1, [b"a", 1.0]],
        [True, []],
        [True, [b"a"]],
        [True, ["a", 1.0]],
        [True, [b"a", 1]],
        [True, [b"a", math.nan]],
        [False, [b"a", 1.0, b"a", 2.0]],
    ],
)
def test_a_malformed_payload_is_refused(payload: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        ZSET.from_snapshot(payload)


def test_a_copy_is_independent_and_emptiness_is_known() -> None:
    value = zset(SMALL, listpack=False)
    value.scan(0, 1)
    copy = ZSET.duplicate(value)
    copy.insert(b"new", 9.0, ROOMY)
    copy.update(b"a", 7.0)
    assert value.scores == dict((m, s) for s, m in SMALL)
    assert list(value.order) == sorted(SMALL)
    assert ZSET.encoding(copy) == ZSET.encoding(value)
    assert not ZSET.is_empty(value)
    assert ZSET.is_empty(ZSet())
    assert ZSET.estimated_size(copy) > ZSET.estimated_size(value) > 0


# -- ranges against brute force -------------------------------------------------------------

SCORES = st.sampled_from([-math.inf, -2.0, -1.0, -0.0, 0.0, 0.5, 1.0, 2.0, math.inf])
MEMBER = st.binary(min_size=0, max_size=2)


def _distinct(pairs: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    return list({member: (score, member) for score, member in pairs}.values())


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(SCORES, MEMBER), max_size=12),
    SCORES,
    SCORES,
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_score_ranges_match_brute_force(
    pairs: list[tuple[float, bytes]],
    low: float,
    high: float,
    low_open: bool,
    high_open: bool,
    listpack: bool,
) -> None:
    value = zset(_distinct(pairs), listpack)
    spec = ScoreRange(low, high, low_open, high_open)
    inside = [i for i, (s, _) in enumerate(value.order) if spec.above_low(s) and spec.below_high(s)]
    assert value.first_in_score_range(spec) == (inside[0] if inside else None)
    assert value.last_in_score_range(spec) == (inside[-1] if inside else None)
    first, stop = value.score_range_positions(spec)
    assert list(range(first, stop)) == inside


def _lex_bound(data: bytes | None) -> tuple[int, bytes]:
    if data is None:
        return LEX_MIN
    return LEX_MAX if data == b"+" else (0, data)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(MEMBER, max_size=12, unique=True),
    st.one_of(st.none(), st.just(b"+"), MEMBER),
    st.one_of(st.none(), st.just(b"+"), MEMBER),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_lex_ranges_over_equal_scores_match_brute_force(
    members: list[bytes],
    low: bytes | None,
    high: bytes | None,
    low_open: bool,
    high_open: bool,
    listpack: bool,
) -> None:
    value = zset([(0.0, member) for member in members], listpack)
    spec = LexRange(_lex_bound(low), _lex_bound(high), low_open, high_open)
    inside = [i for i, (_, m) in enumerate(value.order) if spec.above_low(m) and spec.below_high(m)]
    assert value.first_in_lex_range(spec) == (inside[0] if inside else None)
    assert value.last_in_lex_range(spec) == (inside[-1] if inside else None)
    first, stop = value.lex_range_positions(spec)
    assert list(range(first, stop)) == inside


def test_lex_bounds_compare_as_redis_minstring_and_maxstring() -> None:
    assert LexRange(LEX_MIN, LEX_MIN, True, True).is_empty()
    assert LexRange(LEX_MAX, LEX_MIN).is_empty()
    assert not LexRange(LEX_MIN, LEX_MAX, True, True).is_empty()
    everything = LexRange(LEX_MIN, LEX_MAX, True, True)
    assert everything.above_low(b"")
    assert everything.below_high(b"\xff" * 9)
    assert not LexRange(LEX_MAX, LEX_MAX, True, True).above_low(b"\xff")


def test_a_listpack_with_different_scores_is_scanned_as_redis_scans_it() -> None:
    value = zset([(1.0, b"b"), (2.0, b"z"), (3.0, b"c"), (4.0, b"a")])
    spec = LexRange((0, b"a"), (0, b"d"))
    assert value.first_in_lex_range(spec) == 0
    assert value.lex_range_positions(spec) == (0, 1)  # stops at "z"
    assert value.last_in_lex_range(spec) == 3


# -- ZSCAN steps ----------------------------------------------------------------------------


def test_a_scan_returns_every_member_present_throughout_despite_changes() -> None:
    value = zset([(float(i), b"m%d" % i) for i in range(2000)], listpack=False)
    seen: set[bytes] = set()
    cursor, steps = 0, 0
    while True:
        cursor, batch = value.scan(cursor, 10)
        seen.update(member for member, _ in batch)
        for member, score in batch:
            assert value.scores[member] == score
        steps += 1
        # Churn: add and remove members that are not part of the guarantee.
        value.insert(b"new%d" % steps, -1.0, ROOMY)
        value.remove(b"new%d" % (steps - 1))
        if cursor == 0:
            break
    assert {b"m%d" % i for i in range(2000)} <= seen
    assert 100 < steps < 2000
    assert value.scan_index is not None
    assert len(value.scan_index) == len(value)
    assert value.scan(zlib.crc32(b"m5"), 1)[1][0][0] == b"m5"
