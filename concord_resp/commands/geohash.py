"""Redis 7.0's geohash math (geohash.c, geohash_helper.c, geo.c's helpers), bit for bit.

A point is stored in a sorted set with the 52-bit interleaved geohash of its longitude and
latitude as its score (26 steps: latitude bits at the even positions, longitude bits at the odd
ones, latitude limited to +-85.05112878). A radius or box search covers its shape with the
geohash cell of the centre at an estimated step and the eight neighbours of that cell, drops the
neighbours the shape cannot reach, and scans each cell's score range. Every operation here is
done in the order and with the C types Redis uses (a double truncated to uint64_t or uint32_t,
wrapping unsigned arithmetic, libm's sin/cos/asin/sqrt with NaN where Python would raise), so
that scores, positions, distances and the cells scanned are exactly Redis's. Pure: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

STEP_MAX: Final = 26  # 26 * 2 = 52 bits, what a double score holds exactly
LAT_MIN: Final = -85.05112878  # EPSG:900913 limits: no geocoding at the poles
LAT_MAX: Final = 85.05112878
LONG_MIN: Final = -180.0
LONG_MAX: Final = 180.0
EARTH_RADIUS: Final = 6372797.560856  # meters, Redis's quadratic mean radius of WGS-84
MERCATOR_MAX: Final = 20037726.37

Range = tuple[float, float]
WORLD_LONG: Final[Range] = (LONG_MIN, LONG_MAX)
WORLD_LAT: Final[Range] = (LAT_MIN, LAT_MAX)
STANDARD_LAT: Final[Range] = (-90.0, 90.0)  # GEOHASH strings use the usual range

BASE32: Final = b"0123456789bcdefghjkmnpqrstuvwxyz"

_DEG_TO_RAD: Final = math.pi / 180.0  # geohash_helper.c's D_R
_MASK32: Final = (1 << 32) - 1
_MASK64: Final = (1 << 64) - 1
_EVEN: Final = 0x5555555555555555  # latitude bits
_ODD: Final = 0xAAAAAAAAAAAAAAAA  # longitude bits
_TWO_63: Final = 2.0**63
_CELLS: Final = float(1 << STEP_MAX)
_LONG_SCALE: Final = LONG_MAX - LONG_MIN
_LAT_SCALE: Final = LAT_MAX - LAT_MIN
_TWO_64: Final = 2.0**64
_SPREAD: Final = (
    (16, 0x0000FFFF0000FFFF),
    (8, 0x00FF00FF00FF00FF),
    (4, 0x0F0F0F0F0F0F0F0F),
    (2, 0x3333333333333333),
    (1, 0x5555555555555555),
)


# -- libm as C sees it (NaN instead of Python's ValueError) ----------------------------------


def _cos(x: float) -> float:
    return math.cos(x) if math.isfinite(x) else math.nan


def _asin(x: float) -> float:
    return math.asin(x) if -1.0 <= x <= 1.0 else math.nan


def _sqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0.0 else math.nan


def _radians(degrees: float) -> float:
    return degrees * _DEG_TO_RAD


def _degrees(radians: float) -> float:
    return radians / _DEG_TO_RAD


# -- bits -----------------------------------------------------------------------------------


def interleave(even: int, odd: int) -> int:
    """interleave64: the bits of `even` at the even positions, of `odd` at the odd ones
    (both below 2**32)."""
    for shift, mask in _SPREAD:
        even = (even | (even << shift)) & mask
        odd = (odd | (odd << shift)) & mask
    return even | (odd << 1)


def deinterleave(bits: int) -> int:
    """deinterleave64: the even bits of a uint64 in the low half, the odd ones in the high."""
    even, odd = _gather(bits)
    return even | (odd << 32)


def _gather(bits: int) -> tuple[int, int]:
    """The even bits and the odd bits of a uint64, each packed into 32 bits (unrolled: this
    runs for every point a search looks at)."""
    even = bits & 0x5555555555555555
    odd = (bits >> 1) & 0x5555555555555555
    even = (even | (even >> 1)) & 0x3333333333333333
    odd = (odd | (odd >> 1)) & 0x3333333333333333
    even = (even | (even >> 2)) & 0x0F0F0F0F0F0F0F0F
    odd = (odd | (odd >> 2)) & 0x0F0F0F0F0F0F0F0F
    even = (even | (even >> 4)) & 0x00FF00FF00FF00FF
    odd = (odd | (odd >> 4)) & 0x00FF00FF00FF00FF
    even = (even | (even >> 8)) & 0x0000FFFF0000FFFF
    odd = (odd | (odd >> 8)) & 0x0000FFFF0000FFFF
    return (even | (even >> 16)) & _MASK32, (odd | (odd >> 16)) & _MASK32


def score_bits(score: float) -> int:
    """`(uint64_t)score` as x86-64 code converts it: truncated toward zero, a negative value
    wrapped (-1 is all ones), 2**64 and above (and +inf) 0, below -2**63 (and -inf) 2**63."""
    if -_TWO_63 <= score < _TWO_63:
        return int(score) & _MASK64
    if score >= _TWO_63:
        return int(score) if score < _TWO_64 else 0
    return 1 << 63


# -- encoding and decoding ------------------------------------------------------------------


def encode(
    longitude: float,
    latitude: float,
    step: int = STEP_MAX,
    long_range: Range = WORLD_LONG,
    lat_range: Range = WORLD_LAT,
) -> int | None:
    """geohashEncode: the cell of a point at `step` bits per coordinate, or None for a point
    outside the limits or the ranges. A point on the upper edge of a range gets the offset
    2**step, one bit above the cell's bits, as in Redis."""
    if longitude > LONG_MAX or longitude < LONG_MIN or latitude > LAT_MAX or latitude < LAT_MIN:
        return None
    lat_min, lat_max = lat_range
    long_min, long_max = long_range
    if latitude < lat_min or latitude > lat_max or longitude < long_min or longitude > long_max:
        return None
    cells = float(1 << step)
    lat_offset = (latitude - lat_min) / (lat_max - lat_min) * cells
    long_offset = (longitude - long_min) / (long_max - long_min) * cells
    return interleave(int(lat_offset) & _MASK32, int(long_offset) & _MASK32)


@dataclass(frozen=True, slots=True)
class Area:
    """A decoded cell: its longitude and latitude ranges."""

    long_min: float
    long_max: float
    lat_min: float
    lat_max: float


def decode_area(
    bits: int, step: int, long_range: Range = WORLD_LONG, lat_range: Range = WORLD_LAT
) -> Area:
    """geohashDecode: the ranges of a cell (uint32 halves; `+ 1` wraps as in C)."""
    lat_cell, long_cell = _gather(bits)
    cells = float(1 << step)
    lat_min, lat_max = lat_range
    long_min, long_max = long_range
    lat_scale = lat_max - lat_min
    long_scale = long_max - long_min
    return Area(
        long_min + (long_cell / cells) * long_scale,
        long_min + (((long_cell + 1) & _MASK32) / cells) * long_scale,
        lat_min + (lat_cell / cells) * lat_scale,
        lat_min + (((lat_cell + 1) & _MASK32) / cells) * lat_scale,
    )


def decode(score: float) -> tuple[float, float]:
    """decodeGeohash: (longitude, latitude) of a score, the centre of its cell clamped to the
    limits. Any score decodes (Redis never fails here): a score that is no geohash gives
    whatever its bits say. `decode_area` and the centre, written out (every point a search
    looks at is decoded), with the same operations in the same order."""
    lat_cell, long_cell = _gather(score_bits(score))
    longitude = (
        LONG_MIN
        + (long_cell / _CELLS) * _LONG_SCALE
        + (LONG_MIN + (((long_cell + 1) & _MASK32) / _CELLS) * _LONG_SCALE)
    ) / 2
    if longitude > LONG_MAX:
        longitude = LONG_MAX
    elif longitude < LONG_MIN:
        longitude = LONG_MIN
    latitude = (
        LAT_MIN
        + (lat_cell / _CELLS) * _LAT_SCALE
        + (LAT_MIN + (((lat_cell + 1) & _MASK32) / _CELLS) * _LAT_SCALE)
    ) / 2
    if latitude > LAT_MAX:
        latitude = LAT_MAX
    elif latitude < LAT_MIN:
        latitude = LAT_MIN
    return longitude, latitude


def geohash_text(score: float) -> bytes:
    """GEOHASH's 11 characters: the point decoded, encoded again over the standard latitude
    range -90..90, 10 characters of 5 bits and a final '0' (52 bits only)."""
    longitude, latitude = decode(score)
    bits = encode(longitude, latitude, STEP_MAX, WORLD_LONG, STANDARD_LAT)
    assert bits is not None  # a decoded point is within the limits
    characters = bytes(BASE32[(bits >> (52 - (i + 1) * 5)) & 0x1F] for i in range(10))
    return characters + b"0"


# -- neighbours -----------------------------------------------------------------------------


def _move_x(bits: int, step: int, direction: int) -> int:
    """geohash_move_x: one cell east (+1) or west (-1), wrapping around."""
    x = bits & _ODD
    y = bits & _EVEN
    fill = _EVEN >> (64 - step * 2)
    x = x + (fill + 1) if direction > 0 else (x | fill) - (fill + 1)
    return (x & (_ODD >> (64 - step * 2))) | y


def _move_y(bits: int, step: int, direction: int) -> int:
    """geohash_move_y: one cell north (+1) or south (-1), wrapping around."""
    x = bits & _ODD
    y = bits & _EVEN
    fill = _ODD >> (64 - step * 2)
    y = y + (fill + 1) if direction > 0 else (y | fill) - (fill + 1)
    return x | (y & (_EVEN >> (64 - step * 2)))


@dataclass(slots=True)
class Neighbours:
    """geohashNeighbors: the eight cells around one (None once excluded from a search)."""

    north: int | None
    south: int | None
    east: int | None
    west: int | None
    north_east: int | None
    north_west: int | None
    south_east: int | None
    south_west: int | None


def neighbours(bits: int, step: int) -> Neighbours:
    east, west = _move_x(bits, step, 1), _move_x(bits, step, -1)
    return Neighbours(
        north=_move_y(bits, step, 1),
        south=_move_y(bits, step, -1),
        east=east,
        west=west,
        north_east=_move_y(east, step, 1),
        north_west=_move_y(west, step, 1),
        south_east=_move_y(east, step, -1),
        south_west=_move_y(west, step, -1),
    )


# -- distances ------------------------------------------------------------------------------


def lat_distance(lat1: float, lat2: float) -> float:
    """geohashGetLatDistance: meters between two latitudes on one meridian."""
    return EARTH_RADIUS * abs(_radians(lat2) - _radians(lat1))


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """geohashGetDistance: the haversine distance in meters between two positions (finite,
    within the limits); NaN where C's asin gives it (a rounding just past 1)."""
    lon1r = lon1 * _DEG_TO_RAD
    lon2r = lon2 * _DEG_TO_RAD
    v = math.sin((lon2r - lon1r) / 2)
    if v == 0.0:
        return lat_distance(lat1, lat2)  # the same meridian: no trigonometry needed
    lat1r = lat1 * _DEG_TO_RAD
    lat2r = lat2 * _DEG_TO_RAD
    u = math.sin((lat2r - lat1r) / 2)
    a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
    return 2.0 * EARTH_RADIUS * _asin(_sqrt(a))


# -- search shapes --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shape:
    """Redis's GeoShape: a circle of `radius`, or a box `width` x `height` (`box`), around
    (longitude, latitude), its sizes in units of `conversion` meters."""

    longitude: float
    latitude: float
    conversion: float
    radius: float = 0.0
    width: float = 0.0
    height: float = 0.0
    box: bool = False

    def distance_within(self, longitude: float, latitude: float) -> float | None:
        """geoWithinShape: the distance in meters from the centre to a point inside the
        shape, or None for a point outside."""
        if not self.box:
            found = distance(self.longitude, self.latitude, longitude, latitude)
            return None if found > self.radius * self.conversion else found
        # geohashGetDistanceIfInRectangle: the latitude test first, it is the cheapest.
        if lat_distance(latitude, self.latitude) > self.height * self.conversion / 2:
            return None
        if distance(longitude, latitude, self.longitude, latitude) > (
            self.width * self.conversion / 2
        ):
            return None
        return distance(self.longitude, self.latitude, longitude, latitude)

    def bounds(self) -> tuple[float, float, float, float]:
        """geohashBoundingBox: (min longitude, min latitude, max longitude, max latitude);
        the longitude span is taken at the edge nearer the pole."""
        if self.box:
            height = self.conversion * (self.height / 2)
            width = self.conversion * (self.width / 2)
        else:
            height = width = self.conversion * self.radius
        latitude = self.latitude
        lat_delta = _degrees(height / EARTH_RADIUS)
        long_delta_top = _degrees(width / EARTH_RADIUS / _cos(_radians(latitude + lat_delta)))
        long_delta_bottom = _degrees(width / EARTH_RADIUS / _cos(_radians(latitude - lat_delta)))
        long_delta = long_delta_bottom if latitude < 0 else long_delta_top
        return (
            self.longitude - long_delta,
            latitude - lat_delta,
            self.longitude + long_delta,
            latitude + lat_delta,
        )

    def radius_meters(self) -> float:
        """The radius the step is estimated from: a box's half diagonal."""
        if self.box:
            half_width, half_height = self.width / 2, self.height / 2
            radius = _sqrt(half_width * half_width + half_height * half_height)
        else:
            radius = self.radius
        return radius * self.conversion


def estimate_step(radius_meters: float, latitude: float) -> int:
    """geohashEstimateStepsByRadius: the step whose cells (and their neighbours) cover a
    radius; coarser near the poles."""
    if radius_meters == 0:
        return STEP_MAX
    step = 1
    while radius_meters < MERCATOR_MAX:
        radius_meters *= 2
        step += 1
    step -= 2  # so that the radius is inside in most cases
    if latitude > 66 or latitude < -66:
        step -= 1
        if latitude > 80 or latitude < -80:
            step -= 1
    return min(max(step, 1), STEP_MAX)


@dataclass(frozen=True, slots=True)
class Cell:
    """A cell to scan: its bits at `step`."""

    bits: int
    step: int

    def score_range(self) -> tuple[float, float]:
        """scoresOfGeoHashBox: the scores [low, high) of the points in the cell."""
        shift = 52 - self.step * 2
        return float(self.bits << shift), float((self.bits + 1) << shift)


def search_cells(shape: Shape) -> list[Cell | None]:
    """geohashCalculateAreasByShapeWGS84, in membersOfAllNeighbors's order: the centre's
    cell, then north, south, east, west, north-east, north-west, south-east, south-west (None
    for a neighbour the shape does not reach)."""
    min_lon, min_lat, max_lon, max_lat = shape.bounds()
    longitude, latitude = shape.longitude, shape.latitude
    step = estimate_step(shape.radius_meters(), latitude)
    center, around, area = _cells_at(longitude, latitude, step)
    # A shape near an edge of its cell may reach past the neighbours: one step coarser then.
    if step > 1 and (
        decode_area(_present(around.north), step).lat_max < max_lat
        or decode_area(_present(around.south), step).lat_min > min_lat
        or decode_area(_present(around.east), step).long_max < max_lon
        or decode_area(_present(around.west), step).long_min > min_lon
    ):
        step -= 1
        center, around, area = _cells_at(longitude, latitude, step)
    if step >= 2:  # drop the neighbours the shape does not reach
        if area.lat_min < min_lat:
            around.south = around.south_west = around.south_east = None
        if area.lat_max > max_lat:
            around.north = around.north_east = around.north_west = None
        if area.long_min < min_lon:
            around.west = around.south_west = around.north_west = None
        if area.long_max > max_lon:
            around.east = around.south_east = around.north_east = None
    order = (
        center,
        around.north,
        around.south,
        around.east,
        around.west,
        around.north_east,
        around.north_west,
        around.south_east,
        around.south_west,
    )
    return [None if bits is None else Cell(bits, step) for bits in order]


def _cells_at(longitude: float, latitude: float, step: int) -> tuple[int, Neighbours, Area]:
    center = encode(longitude, latitude, step)
    assert center is not None  # a search centre is always within the limits
    return center, neighbours(center, step), decode_area(center, step)


def _present(bits: int | None) -> int:
    assert bits is not None
    return bits


# -- numbers as Redis prints them -----------------------------------------------------------

_LLONG_MIN: Final = -(1 << 63)
_LLONG_MAX: Final = (1 << 63) - 1


def format_distance(meters: float) -> bytes:
    """addReplyDoubleDistance (fixedpoint_d2string, 4 digits): the value times 10**4 rounded
    half to even (llrint; NaN or out of range is LLONG_MIN, as x86-64 converts it)."""
    if meters == 0:
        return b"0.0000"
    scaled = meters * 10000.0
    number = round(scaled) if math.isfinite(scaled) else _LLONG_MIN
    if not _LLONG_MIN <= number <= _LLONG_MAX:
        number = _LLONG_MIN
    sign = b"-" if number < 0 else b""
    whole, fraction = divmod(abs(number), 10000)
    return b"%s%d.%04d" % (sign, whole, fraction)


def format_coordinate(value: float) -> bytes:
    """addReplyHumanLongDouble's text: `%.17Lf` of the double (exactly, as Python's `%.17f`
    prints it) without trailing zeros, -0 as 0."""
    text = (b"%.17f" % value).rstrip(b"0").rstrip(b".")
    return b"0" if text == b"-0" else text
