"""Geo commands: GEOADD, GEOPOS, GEODIST, GEOHASH, GEOSEARCH, GEOSEARCHSTORE and GEORADIUS*.

A point is a member of a sorted set whose score is its 52-bit geohash (`geohash.py` has the
math). GEOADD is ZADD with the scores computed, so its options, replies, versions and encoding
changes are ZADD's. A search is Redis's georadiusGeneric step for step: the source key is looked
up first (WRONGTYPE before any argument error), the arguments are checked in Redis's order,
then the shape is covered by at most nine geohash cells and only their score ranges are
scanned (a `ZSet`'s range start, O(log n), then a walk while the scores stay in the cell).
Points are kept in the order found and sorted by distance as Redis sorts them: glibc's stable
merge sort when every point is returned, Redis's `pqsort` (a partial quicksort, not stable)
when COUNT returns fewer; where ties (or NaN) could make another sort answer differently, the
C algorithm itself runs. Distances print with 4 decimals, coordinates as `%.17Lf` without
trailing zeros (a RESP3 double), hashes as integers. A stored result (STORE, STOREDIST,
GEOSEARCHSTORE) is a skiplist that becomes a listpack if small enough, as in Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, NamedTuple

from ..resp import NULL_ARRAY, HumanDouble, Reply
from ..store.events import NOTIFY_GENERIC, NOTIFY_ZSET
from ..store.types.zset import ZSET, ScoreRange, ZSet
from .context import Context
from .csort import merge_sort, partial_quicksort
from .errors import SYNTAX, CommandError
from .geohash import (
    LAT_MAX,
    LAT_MIN,
    LONG_MAX,
    LONG_MIN,
    Cell,
    Shape,
    decode,
    distance,
    encode,
    format_coordinate,
    format_distance,
    geohash_text,
    search_cells,
)
from .lookup import lookup_read_typed, lookup_write
from .parse import option_name, parse_float, parse_int
from .spec import command
from .zsets import zadd

UNSUPPORTED_UNIT: Final = "ERR unsupported unit provided. please use M, KM, FT, MI"
NEED_RADIUS: Final = "ERR need numeric radius"
NEGATIVE_RADIUS: Final = "ERR radius cannot be negative"
NEED_WIDTH: Final = "ERR need numeric width"
NEED_HEIGHT: Final = "ERR need numeric height"
NEGATIVE_BOX: Final = "ERR height or width cannot be negative"
UNDECODABLE: Final = "ERR could not decode requested zset member"
COUNT_POSITIVE: Final = "ERR COUNT must be > 0"
ANY_NEEDS_COUNT: Final = "ERR the ANY argument requires COUNT argument"
WITH_AND_STORE: Final = b"ERR %s is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
NEEDS_FROM: Final = b"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for %s"
NEEDS_BY: Final = b"ERR exactly one of BYRADIUS and BYBOX can be specified for %s"
INVALID_POSITION: Final = b"ERR invalid longitude,latitude pair %f,%f"

UNITS: Final = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}  # meters per unit

# georadiusGeneric's flags: where the centre comes from, and which options are accepted.
RADIUS_COORDS: Final = 1  # GEORADIUS[_RO] key longitude latitude radius unit
RADIUS_MEMBER: Final = 2  # GEORADIUSBYMEMBER[_RO] key member radius unit
NO_STORE: Final = 4  # the _RO forms: no STORE/STOREDIST
SEARCH: Final = 8  # GEOSEARCH: FROMMEMBER/FROMLONLAT, BYRADIUS/BYBOX
SEARCH_STORE: Final = 16  # GEOSEARCHSTORE: the destination first, STOREDIST without a key

UNSORTED, ASCENDING, DESCENDING = 0, 1, 2


class Point(NamedTuple):
    """A point found by a search (Redis's geoPoint): its distance from the centre in
    meters, its score, member and position."""

    distance: float
    score: float
    member: bytes
    longitude: float
    latitude: float


# -- arguments ------------------------------------------------------------------------------


def parse_position(longitude: bytes, latitude: bytes) -> tuple[float, float]:
    """extractLongLatOrReply: two doubles, within the geohash limits."""
    position = parse_float(longitude), parse_float(latitude)
    if not (LONG_MIN <= position[0] <= LONG_MAX and LAT_MIN <= position[1] <= LAT_MAX):
        raise CommandError(INVALID_POSITION % position)
    return position


def parse_unit(arg: bytes) -> float:
    """extractUnitOrReply: meters per unit."""
    meters = UNITS.get(option_name(arg))
    if meters is None:
        raise CommandError(UNSUPPORTED_UNIT)
    return meters


def _parse_radius(radius_arg: bytes, unit: bytes) -> tuple[float, float]:
    """extractDistanceOrReply: (radius, meters per unit)."""
    radius = parse_float(radius_arg, NEED_RADIUS)
    if radius < 0:
        raise CommandError(NEGATIVE_RADIUS)
    return radius, parse_unit(unit)


def _parse_box(width_arg: bytes, height_arg: bytes, unit: bytes) -> tuple[float, float, float]:
    """extractBoxOrReply: (width, height, meters per unit)."""
    width = parse_float(width_arg, NEED_WIDTH)
    height = parse_float(height_arg, NEED_HEIGHT)
    if height < 0 or width < 0:
        raise CommandError(NEGATIVE_BOX)
    return width, height, parse_unit(unit)


def _member_position(zset: ZSet, member: bytes) -> tuple[float, float]:
    """longLatFromMember: the position of a member (any score decodes)."""
    score = zset.score(member)
    if score is None:
        raise CommandError(UNDECODABLE)
    return decode(score)


def _coordinates(longitude: float, latitude: float) -> list[Reply]:
    return [HumanDouble(format_coordinate(longitude)), HumanDouble(format_coordinate(latitude))]


# -- GEOADD, GEOPOS, GEODIST, GEOHASH -------------------------------------------------------


@command("geoadd")
def geoadd(ctx: Context, argv: list[bytes]) -> Reply:
    """GEOADD key [NX|XX] [CH] longitude latitude member ...: ZADD of the members at their
    geohash scores (Redis rewrites the command into a ZADD the same way)."""
    nx = xx = False
    at = 2
    while at < len(argv):
        option = option_name(argv[at])
        if option == b"nx":
            nx = True
        elif option == b"xx":
            xx = True
        elif option != b"ch":
            break
        at += 1
    if (len(argv) - at) % 3 or (xx and nx):
        raise CommandError(SYNTAX)
    zadd_argv = [b"zadd", *argv[1:at]]
    for position in range(at, len(argv), 3):
        longitude, latitude = parse_position(argv[position], argv[position + 1])
        bits = encode(longitude, latitude)
        assert bits is not None  # a position within the limits always encodes
        zadd_argv += (b"%d" % bits, argv[position + 2])
    return zadd(ctx, zadd_argv)


@command("geopos")
def geopos(ctx: Context, argv: list[bytes]) -> Reply:
    zset = lookup_read_typed(ctx, argv[1], ZSET)
    reply: list[Reply] = []
    for member in argv[2:]:
        score = None if zset is None else zset.score(member)
        reply.append(NULL_ARRAY if score is None else _coordinates(*decode(score)))
    return reply


@command("geohash")
def geohash(ctx: Context, argv: list[bytes]) -> Reply:
    zset = lookup_read_typed(ctx, argv[1], ZSET)
    reply: list[Reply] = []
    for member in argv[2:]:
        score = None if zset is None else zset.score(member)
        reply.append(None if score is None else geohash_text(score))
    return reply


@command("geodist")
def geodist(ctx: Context, argv: list[bytes]) -> Reply:
    """GEODIST key member1 member2 [unit]: the unit is checked before the key is read."""
    meters = 1.0
    if len(argv) == 5:
        meters = parse_unit(argv[4])
    elif len(argv) > 5:
        raise CommandError(SYNTAX)
    zset = lookup_read_typed(ctx, argv[1], ZSET)
    if zset is None:
        return None
    first, second = zset.score(argv[2]), zset.score(argv[3])
    if first is None or second is None:
        return None
    return format_distance(distance(*decode(first), *decode(second)) / meters)


# -- searches -------------------------------------------------------------------------------


@command("geosearch")
def geosearch(ctx: Context, argv: list[bytes]) -> Reply:
    return _search(ctx, argv, 1, SEARCH)


@command("geosearchstore")
def geosearchstore(ctx: Context, argv: list[bytes]) -> Reply:
    return _search(ctx, argv, 2, SEARCH | SEARCH_STORE)


@command("georadius")
def georadius(ctx: Context, argv: list[bytes]) -> Reply:
    return _search(ctx, argv, 1, RADIUS_COORDS)


@command("georadius_ro")
def georadius_ro(ctx: Context, argv: list[bytes]) -> Reply:
    return _search(ctx, argv, 1, RADIUS_COORDS | NO_STORE)


@command("georadiusbymember")
def georadiusbymember(ctx: Context, argv: list[bytes]) -> Reply:
    return _search(ctx, argv, 1, RADIUS_MEMBER)


@command("georadiusbymember_ro")
def georadiusbymember_ro(ctx: Context, argv: list[bytes]) -> Reply:
    return _search(ctx, argv, 1, RADIUS_MEMBER | NO_STORE)


def _search(ctx: Context, argv: list[bytes], source_at: int, flags: int) -> Reply:
    """Redis's georadiusGeneric. The commands that may store are write commands: their
    lookup of the source deletes it if it has expired."""
    may_store = not flags & (NO_STORE | SEARCH)
    zset = lookup_read_typed(
        ctx, argv[source_at], ZSET, purge=may_store or bool(flags & SEARCH_STORE)
    )
    center: tuple[float, float] | None = None
    radius = width = height = conversion = 0.0
    box = False
    store: bytes | None = None
    if flags & RADIUS_COORDS:
        at = 6
        center = parse_position(argv[2], argv[3])
        radius, conversion = _parse_radius(argv[4], argv[5])
    elif flags & RADIUS_MEMBER:
        at = 5
        if zset is not None:  # without a source only the options are checked
            center = _member_position(zset, argv[2])
            radius, conversion = _parse_radius(argv[3], argv[4])
    else:
        at = 2
        if flags & SEARCH_STORE:
            at, store = 3, argv[1]
    searching = bool(flags & SEARCH)
    withdist = withhash = withcoord = any_found = store_dist = False
    from_member = from_position = by_radius = by_box = False
    order = UNSORTED
    count = 0
    while at < len(argv):
        option = option_name(argv[at])
        following = len(argv) - at - 1  # arguments after this one
        if option == b"withdist":
            withdist = True
        elif option == b"withhash":
            withhash = True
        elif option == b"withcoord":
            withcoord = True
        elif option == b"any":
            any_found = True
        elif option == b"asc":
            order = ASCENDING
        elif option == b"desc":
            order = DESCENDING
        elif option == b"count" and following >= 1:
            count = parse_int(argv[at + 1])
            if count <= 0:
                raise CommandError(COUNT_POSITIVE)
            at += 1
        elif option in (b"store", b"storedist") and following >= 1 and may_store:
            store, store_dist = argv[at + 1], option == b"storedist"
            at += 1
        elif option == b"storedist" and flags & SEARCH_STORE:
            store_dist = True
        elif option == b"frommember" and following >= 1 and searching and not from_position:
            if zset is not None:
                center = _member_position(zset, argv[at + 1])
            from_member = True
            at += 1
        elif option == b"fromlonlat" and following >= 2 and searching and not from_member:
            center = parse_position(argv[at + 1], argv[at + 2])
            from_position = True
            at += 2
        elif option == b"byradius" and following >= 2 and searching and not by_box:
            radius, conversion = _parse_radius(argv[at + 1], argv[at + 2])
            box, by_radius = False, True
            at += 2
        elif option == b"bybox" and following >= 3 and searching and not by_radius:
            width, height, conversion = _parse_box(argv[at + 1], argv[at + 2], argv[at + 3])
            box, by_box = True, True
            at += 3
        else:
            raise CommandError(SYNTAX)
        at += 1
    if store is not None and (withdist or withhash or withcoord):
        name = b"GEOSEARCHSTORE" if flags & SEARCH_STORE else b"STORE option in GEORADIUS"
        raise CommandError(WITH_AND_STORE % name)
    if searching and not (from_member or from_position):
        raise CommandError(NEEDS_FROM % argv[0])
    if searching and not (by_radius or by_box):
        raise CommandError(NEEDS_BY % argv[0])
    if any_found and not count:
        raise CommandError(ANY_NEEDS_COUNT)
    if zset is None:
        if store is not None:
            if ctx.db.delete(store, ctx.index):
                ctx.notify(NOTIFY_GENERIC, b"del", store)
            return 0
        return []
    if count and order == UNSORTED and not any_found:
        order = ASCENDING  # the nearest COUNT: sorting is needed
    assert center is not None
    shape = Shape(center[0], center[1], conversion, radius, width, height, box)
    points = _points_in(zset, shape, count if any_found else 0)
    if not points and store is None:
        return []
    returned = len(points) if count == 0 or len(points) < count else count
    if order != UNSORTED:
        points = sort_points(points, order == DESCENDING, returned)
    del points[returned:]
    if store is not None:
        event = b"geosearchstore" if flags & SEARCH_STORE else b"georadiusstore"
        return _store(ctx, store, points, conversion, store_dist, event)
    if not (withdist or withhash or withcoord):
        return [point.member for point in points]
    reply: list[Reply] = []
    for point in points:
        item: list[Reply] = [point.member]
        if withdist:
            item.append(format_distance(point.distance / conversion))
        if withhash:
            item.append(int(point.score))  # (long long)score: scores scanned are >= 0
        if withcoord:
            item.append(_coordinates(point.longitude, point.latitude))
        reply.append(item)
    return reply


def _points_in(zset: ZSet, shape: Shape, limit: int) -> list[Point]:
    """membersOfAllNeighbors: the points inside the shape, cell after cell, each cell in
    score order; with `limit` (ANY), stop as soon as that many are found."""
    points: list[Point] = []
    cells = search_cells(shape)
    last = 0  # the last cell scanned; 0 also means none (Redis's test, kept as it is)
    for number, cell in enumerate(cells):
        if cell is None:
            continue
        if last and cell == cells[last]:
            continue  # a huge radius: a neighbour can be the cell just scanned
        if points and limit and len(points) >= limit:
            break
        _scan_cell(zset, cell, shape, points, limit)
        last = number
    return points


def _scan_cell(zset: ZSet, cell: Cell, shape: Shape, points: list[Point], limit: int) -> None:
    """geoGetPointsInRange: the members scored in [low, high) of the cell, those inside the
    shape appended to `points`."""
    low, high = cell.score_range()
    spec = ScoreRange(low, high, high_open=True)
    start = zset.first_in_score_range(spec)
    if start is None:
        return
    within = shape.distance_within
    for score, member in zset.walk(start):
        if score >= high:  # zslValueLteMax of [low, high)
            return
        longitude, latitude = decode(score)
        found = within(longitude, latitude)
        if found is not None:
            points.append(Point(found, score, member, longitude, latitude))
            if limit and len(points) >= limit:
                return


def _store(
    ctx: Context,
    key: bytes,
    points: list[Point],
    conversion: float,
    store_dist: bool,
    event: bytes,
) -> int:
    """The result stored at `key` (scores: geohashes, or distances in the unit; notified as
    `event`); no result deletes the key."""
    if not points:
        if ctx.db.delete(key, ctx.index):
            ctx.notify(NOTIFY_GENERIC, b"del", key)
        return 0
    scores = {
        point.member: point.distance / conversion if store_dist else point.score for point in points
    }
    result = ZSet.skiplist_of(scores)
    result.to_listpack_if_small(ctx.keyspace.config)
    lookup_write(ctx, key)
    ctx.db.set(key, result, ctx.index)
    ctx.notify(NOTIFY_ZSET, event, key)
    return len(points)


# -- ordering by distance, as Redis's C sorts do ------------------------------------------

Compare = Callable[[Point, Point], int]


def _ascending(a: Point, b: Point) -> int:
    """sort_gp_asc (NaN compares below everything, both ways, as in C)."""
    if a.distance > b.distance:
        return 1
    return 0 if a.distance == b.distance else -1


def _descending(a: Point, b: Point) -> int:
    return -_ascending(a, b)


def sort_points(points: list[Point], descending: bool, returned: int) -> list[Point]:
    """The points in Redis's order: qsort (glibc's stable merge sort) of all of them when all
    are returned, else `pqsort` of the first `returned` ranks. Python's own sort gives the
    same answer whenever the distances are totally ordered (no NaN) and, for a partial sort,
    no tie reaches the ranks returned; otherwise the C algorithms run as they are."""
    compare = _descending if descending else _ascending
    ordered = not any(point.distance != point.distance for point in points)
    if ordered:
        result = sorted(points, key=lambda point: point.distance, reverse=descending)
        if returned == len(points):
            return result
        if all(result[i].distance != result[i + 1].distance for i in range(returned)):
            return result
    if returned == len(points):
        return merge_sort(points, compare)
    result = list(points)
    partial_quicksort(result, compare, 0, returned - 1)
    return result
