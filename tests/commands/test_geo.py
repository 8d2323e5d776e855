"""Geo commands and their math: geohash encoding and decoding as Redis computes them (scores,
positions and strings checked with Redis 7.0), the cells a search scans, distances and their
printing, the C sorts that order results (outputs of glibc 2.36's qsort and Redis 7.0's
pqsort.c), and the commands on the state machine: versions, deletions, stored encodings,
reply shapes per protocol, large sorted sets searched by their cells only, snapshots and
determinism. Replies and errors are compared with Redis byte for byte in
compat/scenarios/geo_*.txt."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import concord_resp.commands.geo as geo
from concord_resp.commands import build_table
from concord_resp.commands.csort import merge_sort, partial_quicksort
from concord_resp.commands.floats import format_long_double_human
from concord_resp.commands.geo import Point, sort_points
from concord_resp.commands.geohash import (
    LAT_MAX,
    LAT_MIN,
    STEP_MAX,
    Cell,
    Shape,
    decode,
    decode_area,
    deinterleave,
    distance,
    encode,
    estimate_step,
    format_coordinate,
    format_distance,
    geohash_text,
    interleave,
    neighbours,
    score_bits,
    search_cells,
)
from concord_resp.resp import NULL_ARRAY, ErrorReply, HumanDouble, Reply, encode_reply
from concord_resp.state import Command, Configure, Session, StateMachine
from concord_resp.state.snapshot import restore_records, snapshot_records
from concord_resp.store.digest import dataset_digest
from concord_resp.store.types import ZSet

SECOND = 1_000_000
WRONGTYPE = ErrorReply(b"WRONGTYPE Operation against a key holding the wrong kind of value")
PALERMO = (13.361389, 38.115556)
CATANIA = (15.087269, 37.502669)


class Node:
    def __init__(self) -> None:
        self.machine = StateMachine(build_table())
        self.index = 0

    def run(self, *args: bytes | str | float, session: Session | None = None) -> Reply:
        self.index += 1
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return self.machine.apply(self.index, Command(SECOND, 0, argv, session)).reply

    def read(self, *args: bytes | str | float) -> Reply:
        ctx = self.machine.read_context(0, SECOND, random.Random(0))
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return self.machine.run(ctx, argv)

    def version(self, key: bytes) -> int | None:
        return self.machine.keyspace.dbs[0].versions.get(key)

    def value(self, key: bytes) -> object:
        return self.machine.keyspace.dbs[0].data.get(key)

    def configure(self, **settings: int) -> None:
        self.index += 1
        self.machine.apply(self.index, Configure(SECOND, 0, list(settings.items())))


@pytest.fixture
def node() -> Node:
    return Node()


@pytest.fixture
def sicily(node: Node) -> Node:
    node.run("GEOADD", "Sicily", *PALERMO, "Palermo", *CATANIA, "Catania")
    return node


# -- the geohash ----------------------------------------------------------------------------


def _bit_by_bit_interleave(even: int, odd: int) -> int:
    return sum(((even >> i) & 1) << (2 * i) | ((odd >> i) & 1) << (2 * i + 1) for i in range(32))


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_interleaving_puts_latitude_bits_at_even_positions(even: int, odd: int) -> None:
    bits = interleave(even, odd)
    assert bits == _bit_by_bit_interleave(even, odd)
    assert deinterleave(bits) == even | (odd << 32)


def test_scores_positions_and_strings_are_redis_s() -> None:
    # ZSCORE, GEOPOS and GEOHASH of Redis 7.0 after GEOADD of these points.
    assert encode(*PALERMO) == 3479099956230698
    assert encode(*CATANIA) == 3479447370796909
    assert encode(180, LAT_MAX) == 13510798882111488  # the upper edges: bits 52 and 53
    assert encode(-180, LAT_MIN) == 0
    assert [format_coordinate(x) for x in decode(3479099956230698)] == [
        b"13.36138933897018433",
        b"38.11555639549629859",
    ]
    assert [format_coordinate(x) for x in decode(13510798882111488)] == [
        b"180",
        b"85.0511287799999991",
    ]
    assert geohash_text(3479099956230698) == b"sqc8b49rny0"
    assert geohash_text(3479447370796909) == b"sqdtr74hyu0"
    assert geohash_text(13510798882111488) == b"bp05b5048p0"
    assert geohash_text(0) == b"00bh0hbj200"


def test_positions_outside_the_limits_do_not_encode() -> None:
    assert encode(180.0000001, 0) is None
    assert encode(0, LAT_MAX + 1e-9) is None
    assert encode(0, -90.0) is None


@pytest.mark.parametrize(
    ("score", "bits"),
    [
        (1.5, 1),
        (-1.0, 2**64 - 1),  # negative: wrapped
        (-0.5, 0),
        (2.0**63, 2**63),
        (1e30, 0),  # 2**64 and above: 0
        (math.inf, 0),
        (-math.inf, 2**63),  # below -2**63: 2**63
        (-9.3e18, 2**63),
    ],
)
def test_any_score_converts_as_x86_64_converts_a_double(score: float, bits: int) -> None:
    assert score_bits(score) == bits


def test_any_score_decodes_to_a_clamped_position() -> None:
    # GEOPOS of Redis 7.0 for members added with these scores by ZADD.
    expected = {
        -1.0: (b"180", b"85.0511287799999991"),
        1e30: (b"-179.99999731779098511", b"-85.05112751263942528"),
        -math.inf: (b"180", b"-85.05112751263942528"),
        1.5: (b"-179.99999731779098511", b"-85.05112497791824921"),
    }
    for score, position in expected.items():
        assert tuple(format_coordinate(x) for x in decode(score)) == position


@given(st.integers(0, 2**52 - 1))
def test_a_decoded_geohash_is_the_centre_of_its_cell_and_encodes_back(bits: int) -> None:
    longitude, latitude = decode(float(bits))
    area = decode_area(bits, STEP_MAX)
    assert area.long_min <= longitude <= area.long_max
    assert area.lat_min <= latitude <= area.lat_max
    assert encode(longitude, latitude) == bits


def test_neighbours_wrap_around_the_world() -> None:
    step = 2  # 4 x 4 cells
    west_edge = interleave(1, 0)  # latitude cell 1, longitude cell 0
    around = neighbours(west_edge, step)
    assert deinterleave(around.west or 0) == 1 | (3 << 32)  # wrapped to longitude cell 3
    assert deinterleave(around.east or 0) == 1 | (1 << 32)
    assert deinterleave(around.north or 0) == 2
    assert deinterleave(around.south or 0) == 0
    assert deinterleave(around.south_west or 0) == 0 | (3 << 32)
    top = interleave(3, 2)
    assert deinterleave(neighbours(top, step).north or 0) == 0 | (2 << 32)  # wrapped south


def test_the_step_follows_the_radius_and_the_latitude() -> None:
    assert estimate_step(0, 0) == STEP_MAX
    assert estimate_step(1, 0) == 24
    assert estimate_step(100_000, 0) == 7
    assert estimate_step(100_000, 70) == 6
    assert estimate_step(100_000, -85) == 5
    assert estimate_step(5_000_000, 0) == 2
    assert estimate_step(10_000_000, 0) == 1
    assert estimate_step(math.inf, 0) == 1
    assert estimate_step(1e-300, 0) == STEP_MAX


def test_a_search_centred_in_its_cell_drops_the_neighbours_it_cannot_reach() -> None:
    # Near the equator a cell at the estimated step is about as high as the radius and
    # twice as wide: the cells north and south are needed, those east and west are not.
    step = estimate_step(100, 0.3)
    area = decode_area(encode(10.5, 0.3, step) or 0, step)
    middle = ((area.long_min + area.long_max) / 2, (area.lat_min + area.lat_max) / 2)
    cells = search_cells(Shape(*middle, conversion=1.0, radius=100))
    assert cells[0] == Cell(encode(*middle, step) or 0, step)
    kept = [name for name, cell in zip(CELL_NAMES, cells, strict=True) if cell is not None]
    assert kept == ["centre", "north", "south"]


def test_a_search_near_a_cell_edge_keeps_the_neighbours_it_reaches() -> None:
    step = estimate_step(100, 0)
    area = decode_area(encode(10.5, 40.5, step) or 0, step)
    # Just inside the cell's north-east corner: north, east and north-east are needed.
    corner = (area.long_max - 1e-7, area.lat_max - 1e-7)
    cells = search_cells(Shape(*corner, conversion=1.0, radius=100))
    kept = [name for name, cell in zip(CELL_NAMES, cells, strict=True) if cell is not None]
    assert kept == ["centre", "north", "east", "north_east"]
    low, high = cells[0].score_range() if cells[0] else (0, 0)
    assert low <= encode(*corner) < high  # type: ignore[operator]


CELL_NAMES = [
    "centre",
    "north",
    "south",
    "east",
    "west",
    "north_east",
    "north_west",
    "south_east",
    "south_west",
]


def test_a_world_wide_radius_scans_each_of_the_four_cells_once(node: Node) -> None:
    cells = search_cells(Shape(10, 40, conversion=1000.0, radius=10_000))
    assert {cell.step for cell in cells if cell} == {1}
    scanned: list[Cell] = []
    last = 0
    for number, cell in enumerate(cells):  # membersOfAllNeighbors's skipping
        if cell is None or (last and cell == cells[last]):
            continue
        scanned.append(cell)
        last = number
    assert len(scanned) == len(set(scanned)) == 4
    node.run("GEOADD", "w", 0, 0, "a", 100, 50, "b", -100, -50, "c", 170, -80, "d")
    found = node.read("GEOSEARCH", "w", "FROMLONLAT", 10, 40, "BYRADIUS", 30_000, "km")
    assert isinstance(found, list)
    assert sorted(found) == [b"a", b"b", b"c", b"d"]  # each once


# -- distances ------------------------------------------------------------------------------


def test_distances_are_redis_s() -> None:
    palermo, catania = decode(3479099956230698), decode(3479447370796909)
    assert format_distance(distance(*palermo, *catania)) == b"166274.1516"  # GEODIST, m
    assert format_distance(distance(*palermo, *catania) / 1000) == b"166.2742"
    assert distance(*palermo, *palermo) == 0.0
    assert distance(0, 10, 0, -10) == pytest.approx(2 * math.pi * 6372797.560856 / 18)


@pytest.mark.parametrize(
    ("meters", "text"),
    [
        (0.0, b"0.0000"),
        (-0.0, b"0.0000"),
        (0.00004, b"0.0000"),
        (0.00005, b"0.0000"),  # 0.00005 * 10**4 is 0.5 exactly: to even
        (2.5e-4, b"0.0002"),  # 2.5: to even
        (3.5e-4, b"0.0004"),  # 3.5: to even
        (1.00005, b"1.0001"),  # 10000.500000000002: up
        (0.00015, b"0.0001"),  # 1.4999999999999998: down
        (12.3456, b"12.3456"),
        (0.0123, b"0.0123"),
        (1e15, b"-922337203685477.5808"),  # past long long: llrint's LLONG_MIN
        (math.nan, b"-922337203685477.5808"),
    ],
)
def test_distances_print_as_fixedpoint_d2string(meters: float, text: bytes) -> None:
    assert format_distance(meters) == text


@settings(max_examples=500)
@given(st.floats(-180, 180) | st.floats(-1e-3, 1e-3))
def test_coordinates_print_as_the_exact_long_double_text(value: float) -> None:
    assert format_coordinate(value) == format_long_double_human(Fraction(value))


# -- the C sorts ----------------------------------------------------------------------------


def _points(distances: list[float]) -> list[Point]:
    return [Point(d, float(i), b"m%d" % i, 0.0, 0.0) for i, d in enumerate(distances)]


def _order(points: list[Point]) -> list[int]:
    return [int(point.score) for point in points]


NAN = math.nan
GOLDEN_FULL = [  # glibc 2.36 qsort with sort_gp_asc / sort_gp_desc
    ([3, NAN, 1, 3, NAN, 2, 1, 1, 0], False, [2, 0, 1, 3, 4, 8, 6, 7, 5]),
    ([3, NAN, 1, 3, NAN, 2, 1, 1, 0], True, [3, 5, 2, 6, 7, 8, 4, 1, 0]),
]
GOLDEN_PARTIAL = [  # Redis 7.0 pqsort(..., 0, returned - 1)
    ([5, 5, 5, 1, 5, 5, 1, 5, 1, 5, 5, 5], False, 3, [6, 3, 8]),
    ([5, 5, 5, 1, 5, 5, 1, 5, 1, 5, 5, 5], True, 4, [0, 1, 2, 9]),
    ([(i * 7) % 5 for i in range(50)], False, 5, [30, 45, 25, 5, 0]),
    (
        [NAN if i % 11 == 0 else (i * 3) % 4 for i in range(45)],
        True,
        7,
        [22, 37, 21, 13, 5, 17, 41],
    ),
]


@pytest.mark.parametrize(("distances", "descending", "expected"), GOLDEN_FULL)
def test_a_full_sort_is_glibc_s_merge_sort(
    distances: list[float], descending: bool, expected: list[int]
) -> None:
    assert _order(sort_points(_points(distances), descending, len(distances))) == expected


@pytest.mark.parametrize(("distances", "descending", "returned", "expected"), GOLDEN_PARTIAL)
def test_a_partial_sort_is_redis_s_pqsort(
    distances: list[float], descending: bool, returned: int, expected: list[int]
) -> None:
    assert _order(sort_points(_points(distances), descending, returned)[:returned]) == expected


@settings(max_examples=300)
@given(
    st.lists(st.sampled_from([0.0, 1.0, 2.0, 2.5, 7.0]) | st.floats(0, 100), max_size=120),
    st.booleans(),
    st.integers(1, 130),
)
def test_the_fast_paths_answer_as_the_c_sorts(
    distances: list[float], descending: bool, returned: int
) -> None:
    points = _points(distances)
    compare = geo._descending if descending else geo._ascending
    if returned >= len(points):
        exact = merge_sort(points, compare)
        assert _order(sort_points(points, descending, len(points))) == _order(exact)
        return
    exact = list(points)
    partial_quicksort(exact, compare, 0, returned - 1)
    fast = sort_points(points, descending, returned)
    assert _order(fast[:returned]) == _order(exact[:returned])
    by_distance = sorted(distances, reverse=descending)[:returned]
    assert [point.distance for point in exact[:returned]] == by_distance
    assert sorted(_order(exact)) == list(range(len(points)))  # a permutation


# -- commands on the state machine ----------------------------------------------------------


def test_geoadd_is_zadd_with_geohash_scores(node: Node) -> None:
    assert node.run("GEOADD", "g", *PALERMO, "Palermo", *CATANIA, "Catania") == 2
    assert node.read("ZSCORE", "g", "Palermo") == 3479099956230698.0
    version = node.version(b"g")
    assert node.run("GEOADD", "g", *PALERMO, "Palermo") == 0  # the same score
    assert node.run("GEOADD", "g", "NX", 1, 1, "Palermo") == 0
    assert node.run("GEOADD", "g", "XX", 1, 1, "nosuch") == 0
    assert node.version(b"g") == version  # nothing changed: no version bump
    assert node.run("GEOADD", "g", "CH", "XX", 1, 1, "Palermo", 2, 2, "new") == 1
    assert node.version(b"g") != version
    assert node.run("GEOADD", "missing", "XX", 1, 1, "a") == 0
    assert node.value(b"missing") is None
    assert node.run("GEOADD", "g", 200, 1, "bad") == ErrorReply(
        b"ERR invalid longitude,latitude pair 200.000000,1.000000"
    )
    assert node.run("GEOADD", "g", "NX", "XX", 1, 1, "a") == ErrorReply(b"ERR syntax error")
    node.run("SET", "s", "x")
    assert node.run("GEOADD", "s", 1, 1, "a") == WRONGTYPE


def test_positions_and_hashes_reply_per_protocol(sicily: Node) -> None:
    position = sicily.read("GEOPOS", "Sicily", "Palermo", "nosuch")
    assert position == [
        [HumanDouble(b"13.36138933897018433"), HumanDouble(b"38.11555639549629859")],
        NULL_ARRAY,
    ]
    assert encode_reply(position, 2) == (
        b"*2\r\n*2\r\n$20\r\n13.36138933897018433\r\n$20\r\n38.11555639549629859\r\n*-1\r\n"
    )
    assert encode_reply(position, 3) == (
        b"*2\r\n*2\r\n,13.36138933897018433\r\n,38.11555639549629859\r\n_\r\n"
    )
    assert sicily.read("GEOHASH", "Sicily", "Catania", "nosuch") == [b"sqdtr74hyu0", None]
    assert sicily.read("GEODIST", "Sicily", "Palermo", "Catania", "km") == b"166.2742"
    assert sicily.read("GEODIST", "Sicily", "Palermo", "nosuch") is None
    assert sicily.read("GEODIST", "nokey", "a", "b", "furlong") == ErrorReply(
        b"ERR unsupported unit provided. please use M, KM, FT, MI"
    )


def test_a_search_reply_carries_each_option_in_order(sicily: Node) -> None:
    reply = sicily.read(
        "GEOSEARCH",
        "Sicily",
        "FROMLONLAT",
        15,
        37,
        "BYRADIUS",
        200,
        "km",
        "WITHCOORD",
        "WITHHASH",
        "WITHDIST",
        "ASC",
    )
    assert reply == [
        [
            b"Catania",
            b"56.4413",
            3479447370796909,
            [HumanDouble(b"15.08726745843887329"), HumanDouble(b"37.50266842333162032")],
        ],
        [
            b"Palermo",
            b"190.4424",
            3479099956230698,
            [HumanDouble(b"13.36138933897018433"), HumanDouble(b"38.11555639549629859")],
        ],
    ]
    descending = sicily.read("GEORADIUS_RO", "Sicily", 15, 37, 200, "km", "DESC")
    assert descending == [b"Palermo", b"Catania"]
    assert sicily.read("GEORADIUS_RO", "Sicily", 15, 37, 200, "km", "COUNT", 1) == [b"Catania"]


def test_stored_results_replace_or_delete_the_destination(sicily: Node) -> None:
    sicily.run("SET", "dst", "x", "EX", 100)
    assert sicily.run("GEORADIUS", "Sicily", 15, 37, 200, "km", "STOREDIST", "dst") == 2
    stored = sicily.value(b"dst")
    assert isinstance(stored, ZSet)
    assert stored.listpack
    assert stored.scores == {b"Catania": 56.441257870158204, b"Palermo": 190.44242984775784}
    assert sicily.read("TTL", "dst") == -1
    version = sicily.version(b"dst")
    assert (
        sicily.run("GEOSEARCHSTORE", "dst", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", 1, "m")
        == 1
    )
    assert sicily.read("ZSCORE", "dst", "Palermo") == 3479099956230698.0
    assert sicily.version(b"dst") != version
    assert (
        sicily.run("GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", 0, 0, "BYRADIUS", 1, "m") == 0
    )
    assert sicily.value(b"dst") is None
    sicily.run("SET", "dst", "x")
    assert sicily.run("GEORADIUSBYMEMBER", "missing", "a", 1, "km", "STORE", "dst") == 0
    assert sicily.value(b"dst") is None
    assert (
        sicily.run("GEOSEARCHSTORE", "never", "missing", "FROMLONLAT", 0, 0, "BYRADIUS", 1, "m")
        == 0
    )
    assert sicily.version(b"never") is None  # nothing there, nothing deleted


def test_stored_results_get_redis_s_encoding(sicily: Node) -> None:
    sicily.configure(zset_max_listpack_entries=1)
    sicily.run(
        "GEOSEARCHSTORE", "one", "Sicily", "FROMLONLAT", 15, 37, "BYRADIUS", 200, "km", "COUNT", 1
    )
    sicily.run("GEOSEARCHSTORE", "two", "Sicily", "FROMLONLAT", 15, 37, "BYRADIUS", 200, "km")
    assert sicily.read("OBJECT", "ENCODING", "one") == b"listpack"
    assert sicily.read("OBJECT", "ENCODING", "two") == b"skiplist"


def test_a_large_sorted_set_is_searched_through_its_cells_only(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(7)
    size = 40_000
    points = [(rng.uniform(-180, 180), rng.uniform(-85, 85)) for _ in range(size)]
    for chunk in range(0, size, 5000):
        node.run(
            "GEOADD",
            "big",
            *[v for i in range(chunk, chunk + 5000) for v in (*points[i], b"m%d" % i)],
        )
    assert node.read("OBJECT", "ENCODING", "big") == b"skiplist"
    looked_at = 0

    def counting_decode(score: float) -> tuple[float, float]:
        nonlocal looked_at
        looked_at += 1
        return decode(score)

    monkeypatch.setattr(geo, "decode", counting_decode)
    center = (10.0, 40.0)
    found = node.read(
        "GEOSEARCH", "big", "FROMLONLAT", *center, "BYRADIUS", 300, "km", "WITHDIST", "ASC"
    )
    assert isinstance(found, list)
    expected = sorted(
        (d, b"m%d" % i)
        for i, point in enumerate(points)
        if (d := distance(*center, *decode(float(encode(*point) or 0)))) <= 300_000
    )
    assert [item[0] for item in found] == [member for _, member in expected]  # type: ignore[index]
    assert 0 < looked_at < size // 50  # the nine cells' members only, not the whole set
    # ANY stops at the third point inside: the first three of the first cell scanned (the
    # centre's, at step 1), in score order.
    cells = search_cells(Shape(*center, conversion=1000.0, radius=30_000))
    first = cells[0]
    assert first is not None
    assert first.step == 1
    low, high = first.score_range()
    scores = sorted((float(encode(*point) or 0), b"m%d" % i) for i, point in enumerate(points))
    looked_at = 0
    found = node.read(
        "GEOSEARCH", "big", "FROMLONLAT", *center, "BYRADIUS", 30_000, "km", "COUNT", 3, "ANY"
    )
    assert found == [member for score, member in scores if low <= score < high][:3]
    assert looked_at == 3


def test_a_retried_search_reply_survives_a_snapshot(sicily: Node) -> None:
    session = Session("client", 1, 1)
    argv = ("GEORADIUS", "Sicily", 15, 37, 200, "km", "WITHCOORD", "WITHDIST", "COUNT", 1)
    reply = sicily.run(*argv, session=session)
    restored = Node()
    records = cbor2.loads(cbor2.dumps(list(snapshot_records(sicily.machine))))
    restore_records(restored.machine, records)
    restored.index = sicily.index
    again = restored.run(*argv, session=session)  # answered from the session table
    assert encode_reply(again, 2) == encode_reply(reply, 2)
    assert encode_reply(again, 3) == encode_reply(reply, 3)  # coordinates stay doubles
    assert dataset_digest(restored.machine.keyspace) == dataset_digest(sicily.machine.keyspace)


def test_the_same_entries_give_the_same_state_on_every_replica() -> None:
    replicas = [Node(), Node()]
    rng = random.Random(3)
    script: list[list[bytes | str | float]] = [
        [
            "GEOADD",
            "g",
            *[v for i in range(300) for v in (rng.uniform(-10, 10), rng.uniform(-10, 10), f"p{i}")],
        ],
        ["GEORADIUS", "g", 0, 0, 500, "km", "STOREDIST", "d1", "COUNT", 50, "DESC"],
        ["GEOSEARCHSTORE", "d2", "g", "FROMMEMBER", "p7", "BYBOX", 900, 400, "km"],
        ["GEORADIUSBYMEMBER", "g", "p3", 2000, "km", "STORE", "d3", "COUNT", 10, "ANY"],
    ]
    replies = []
    for replica in replicas:
        replies.append([replica.run(*argv) for argv in script])
    assert replies[0] == replies[1]
    assert all(isinstance(count, int) and count > 0 for count in replies[0][1:])
    digests = {dataset_digest(replica.machine.keyspace) for replica in replicas}
    assert len(digests) == 1
