"""The sorted set type: a `ZSet` holds member -> score and the members in (score, member) order.

`scores` (a dict) answers ZSCORE in O(1); `order` (a SortedList of (score, member) tuples, the
two objects shared with the dict) gives ranks, positions and score ranges in O(log n). Equal
scores order by member bytes, as Redis's memcmp does; -0.0 and 0.0 are equal scores. NaN is
never stored. The encoding follows Redis 7.0: a ZSet is `listpack` until an insertion would
outgrow zset-max-listpack-entries/-value (then `skiplist` for good); a listpack stores a score
the way Redis's listpack does, so -0 becomes 0 there. The range helpers (`ScoreRange`,
`LexRange`, the first/last positions in a range) are the shared tools of every range command
(and of geo's, which are score ranges). Changes happen only inside `Database.changing`.
Pure: no clock, no randomness (random positions are chosen by the caller).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from sortedcontainers import SortedList

from ..encoding import EncodingConfig
from ..fingerprint import EMPTY_DIGEST, mix_digest, xor_digest
from .base import ValueType, register
from .member_index import MemberIndex
from .string import OBJECT_HEADER, as_long_long

LISTPACK_EMPTY: Final = 7  # a listpack's header (total bytes, element count) and end byte
LISTPACK_MAX_SAFETY_SIZE: Final = 1 << 30  # lpSafeToAdd: no listpack grows past 1 GB
LISTPACK_INTEGER_LIMIT: Final = float(2**62)  # double2ll: integral scores within stay integers


# -- ranges ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoreRange:
    """Redis's `zrangespec`: scores from `low` to `high`, each end open or closed."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def is_empty(self) -> bool:
        """True for a range no score can be in (zslIsInRange's first test)."""
        return self.low > self.high or (self.low == self.high and (self.low_open or self.high_open))

    def above_low(self, score: float) -> bool:
        return score > self.low if self.low_open else score >= self.low

    def below_high(self, score: float) -> bool:
        return score < self.high if self.high_open else score <= self.high


LexBound = tuple[int, bytes]
"""A lex range end: (0, member) for a member, and the two sentinels below, which compare as
Redis's shared minstring/maxstring do (below and above every member, equal to themselves)."""

LEX_MIN: Final[LexBound] = (-1, b"")  # "-"
LEX_MAX: Final[LexBound] = (1, b"")  # "+"


@dataclass(frozen=True, slots=True)
class LexRange:
    """Redis's `zlexrangespec`: members from `low` to `high` by bytes, each end open or closed.
    Meaningful when every score in the sorted set is equal (otherwise Redis leaves the result
    unspecified; a listpack is scanned as Redis scans it)."""

    low: LexBound
    high: LexBound
    low_open: bool = False
    high_open: bool = False

    def is_empty(self) -> bool:
        return self.low > self.high or (self.low == self.high and (self.low_open or self.high_open))

    def above_low(self, member: bytes) -> bool:
        value = (0, member)
        return value > self.low if self.low_open else value >= self.low

    def below_high(self, member: bytes) -> bool:
        value = (0, member)
        return value < self.high if self.high_open else value <= self.high


# -- listpack sizes (Redis's listpack.c) ------------------------------------------------------


def _backlen_size(size: int) -> int:
    if size <= 127:
        return 1
    if size < 16383:
        return 2
    if size < 2097151:
        return 3
    if size < 268435455:
        return 4
    return 5


def _integer_size(number: int) -> int:
    if 0 <= number <= 127:
        size = 1
    elif -4096 <= number <= 4095:
        size = 2
    elif -32768 <= number <= 32767:
        size = 3
    elif -8388608 <= number <= 8388607:
        size = 4
    elif -(2**31) <= number < 2**31:
        size = 5
    else:
        size = 9
    return size + 1  # one byte of back-length


def listpack_entry_size(data: bytes) -> int:
    """Bytes a listpack spends on one string (integer-like strings are stored as integers)."""
    number = as_long_long(data) if len(data) <= 20 else None
    if number is not None:
        return _integer_size(number)
    length = len(data)
    size = length + (1 if length < 64 else 2 if length < 4096 else 5)
    return size + _backlen_size(size)


def listpack_score_integer(score: float) -> int | None:
    """The integer a listpack stores a score as (Redis's double2ll), or None if it stores
    the score's text (infinities too). -0.0 is stored as the integer 0."""
    if -LISTPACK_INTEGER_LIMIT <= score <= LISTPACK_INTEGER_LIMIT and score == int(score):
        return int(score)
    return None


def format_score(score: float) -> bytes:
    """`%.17g` as glibc prints a double (`inf`, `-inf`): what DEBUG DIGEST mixes in, and
    what ZSCAN returns for a skiplist's scores (`%.17Lg` of the same value)."""
    if math.isinf(score):
        return b"inf" if score > 0 else b"-inf"
    return b"%.17g" % score


def listpack_score_text(score: float) -> bytes:
    """The score as a listpack holds it, which ZSCAN returns: an integer's digits, else
    `format_score`'s text."""
    number = listpack_score_integer(score)
    return format_score(score) if number is None else b"%d" % number


def _score_entry_size(score: float) -> int:
    number = listpack_score_integer(score)
    if number is not None:
        return _integer_size(number)
    return listpack_entry_size(listpack_score_text(score))


def _pair_size(member: bytes, score: float) -> int:
    return listpack_entry_size(member) + _score_entry_size(score)


# -- the value ------------------------------------------------------------------------------


class ZSet:
    """A sorted set. `scores`: member -> score; `order`: (score, member) sorted; `listpack`:
    the encoding (False: skiplist, for good); `listpack_bytes`: the size of the listpack Redis
    would hold (kept while listpack, for lpSafeToAdd and MEMORY USAGE); `scan_index`: the
    members by crc32 for ZSCAN, built by the first ZSCAN of a skiplist and kept up to date."""

    __slots__ = ("listpack", "listpack_bytes", "order", "scan_index", "scores")

    def __init__(self, listpack: bool = True) -> None:
        self.scores: dict[bytes, float] = {}
        self.order = SortedList()
        self.listpack = listpack
        self.listpack_bytes = LISTPACK_EMPTY if listpack else 0
        self.scan_index: MemberIndex | None = None

    @classmethod
    def skiplist_of(cls, scores: dict[bytes, float]) -> ZSet:
        """A skiplist-encoded ZSet of these scores (the dict is taken, not copied): a new
        result before `to_listpack_if_small`."""
        zset = cls(listpack=False)
        zset.scores = scores
        zset.order.update((score, member) for member, score in scores.items())
        return zset

    def __len__(self) -> int:
        return len(self.scores)

    def __repr__(self) -> str:
        encoding = "listpack" if self.listpack else "skiplist"
        return f"ZSet({encoding}, {list(self.order)!r:.200})"

    # -- changes (only inside Database.changing) --------------------------------------

    def insert(self, member: bytes, score: float, config: EncodingConfig) -> None:
        """Add a member that is not there, converting a listpack to a skiplist first if it
        would outgrow the thresholds (zsetAdd)."""
        if self.listpack and (
            len(self.scores) + 1 > config.zset_max_listpack_entries
            or len(member) > config.zset_max_listpack_value
            or self.listpack_bytes + len(member) > LISTPACK_MAX_SAFETY_SIZE
        ):
            self.to_skiplist()
        if self.listpack:
            score += 0.0  # a listpack stores -0 as the integer 0
            self.listpack_bytes += _pair_size(member, score)
        elif self.scan_index is not None:
            self.scan_index.add(member)
        self.scores[member] = score
        self.order.add((score, member))

    def update(self, member: bytes, score: float) -> None:
        """Give an existing member a new score (a different one: the caller compared)."""
        old = self.scores[member]
        self.order.remove((old, member))
        if self.listpack:
            score += 0.0
            self.listpack_bytes += _score_entry_size(score) - _score_entry_size(old)
        self.scores[member] = score
        self.order.add((score, member))

    def remove(self, member: bytes) -> bool:
        """Remove a member; False if it was not there."""
        score = self.scores.pop(member, None)
        if score is None:
            return False
        self.order.remove((score, member))
        self._forget(member, score)
        return True

    def pop(self, highest: bool) -> tuple[bytes, float]:
        """Remove and return the (member, score) with the lowest or highest rank."""
        score, member = self.order.pop(-1 if highest else 0)
        del self.scores[member]
        self._forget(member, score)
        return member, score

    def remove_positions(self, start: int, stop: int) -> int:
        """Remove the members at ranks start..stop-1; returns how many."""
        removed = list(self.order.islice(start, stop))
        del self.order[start:stop]
        for score, member in removed:
            del self.scores[member]
            self._forget(member, score)
        return len(removed)

    def to_skiplist(self) -> None:
        self.listpack = False
        self.listpack_bytes = 0

    def to_listpack_if_small(self, config: EncodingConfig) -> None:
        """zsetConvertToListpackIfNeeded, for a new result (ZUNIONSTORE and the like):
        listpack if it is within the thresholds; its scores then become what a listpack
        holds (-0 is 0)."""
        if self.listpack or len(self.scores) > config.zset_max_listpack_entries:
            return
        lengths = [len(member) for member in self.scores]
        if (
            max(lengths, default=0) <= config.zset_max_listpack_value
            and sum(lengths) <= LISTPACK_MAX_SAFETY_SIZE
        ):
            self.listpack = True
            self.scan_index = None
            self.scores = {member: score + 0.0 for member, score in self.scores.items()}
            self.order = SortedList((score, member) for member, score in self.scores.items())
            self.listpack_bytes = LISTPACK_EMPTY + sum(
                _pair_size(member, score) for member, score in self.scores.items()
            )

    def _forget(self, member: bytes, score: float) -> None:
        if self.listpack:
            self.listpack_bytes -= _pair_size(member, score)
        elif self.scan_index is not None:
            self.scan_index.discard(member)

    # -- reading ------------------------------------------------------------------------

    def score(self, member: bytes) -> float | None:
        return self.scores.get(member)

    def rank(self, member: bytes) -> int | None:
        """The member's 0-based rank, lowest score first; None if it is not there."""
        score = self.scores.get(member)
        if score is None:
            return None
        rank: int = self.order.index((score, member))
        return rank

    def at(self, position: int) -> tuple[float, bytes]:
        """The (score, member) at a rank (0 <= position < len)."""
        item: tuple[float, bytes] = self.order[position]
        return item

    def items(self, start: int, stop: int, reverse: bool = False) -> Iterator[tuple[float, bytes]]:
        """(score, member) at ranks start..stop-1, lowest first (or highest, `reverse`)."""
        return self.order.islice(start, stop, reverse=reverse)  # type: ignore[no-any-return]

    def walk(self, start: int, reverse: bool = False) -> Iterator[tuple[float, bytes]]:
        """(score, member) from rank `start` to the end, or down to rank 0 (`reverse`)."""
        if reverse:
            return self.order.islice(0, start + 1, reverse=True)  # type: ignore[no-any-return]
        return self.order.islice(start)  # type: ignore[no-any-return]

    def first_in_score_range(self, spec: ScoreRange) -> int | None:
        """The lowest rank whose score is in the range (zslFirstInRange), or None."""
        if spec.is_empty():
            return None
        low = spec.low
        if spec.low_open:
            if low == math.inf:
                return None
            low = math.nextafter(low, math.inf)
        position: int = self.order.bisect_left((low,))
        if position == len(self.order) or not spec.below_high(self.order[position][0]):
            return None
        return position

    def last_in_score_range(self, spec: ScoreRange) -> int | None:
        """The highest rank whose score is in the range (zslLastInRange), or None."""
        if spec.is_empty():
            return None
        high = spec.high
        if spec.high_open:
            position: int = self.order.bisect_left((high,)) - 1
        elif high == math.inf:
            position = len(self.order) - 1
        else:
            position = self.order.bisect_left((math.nextafter(high, math.inf),)) - 1
        if position < 0 or not spec.above_low(self.order[position][0]):
            return None
        return position

    def score_range_positions(self, spec: ScoreRange) -> tuple[int, int]:
        """The ranks [start, stop) of the scores in the range (empty: start == stop)."""
        first = self.first_in_score_range(spec)
        if first is None:
            return 0, 0
        last = self.last_in_score_range(spec)
        return first, (first if last is None else last + 1)

    def first_in_lex_range(self, spec: LexRange) -> int | None:
        """The rank where a forward lex range starts (zzlFirstInLexRange: a listpack is
        scanned; a skiplist is searched, which assumes equal scores), or None."""
        if not self._may_hold(spec):
            return None
        order = self.order
        if self.listpack:
            position = next(
                (i for i, (_, member) in enumerate(order) if spec.above_low(member)), len(order)
            )
        else:
            position = self._search(spec.above_low)
        if position == len(order) or not spec.below_high(order[position][1]):
            return None
        return position

    def last_in_lex_range(self, spec: LexRange) -> int | None:
        """The rank where a reverse lex range starts (zzlLastInLexRange), or None."""
        if not self._may_hold(spec):
            return None
        order = self.order
        if self.listpack:
            position = next(
                (i for i in range(len(order) - 1, -1, -1) if spec.below_high(order[i][1])), -1
            )
        else:
            position = self._search(lambda member: not spec.below_high(member)) - 1
        if position < 0 or not spec.above_low(order[position][1]):
            return None
        return position

    def lex_run_end(self, spec: LexRange, start: int) -> int:
        """The rank after the run of members below the range's high end from `start` (a
        rank in the range): where ZLEXCOUNT and ZREMRANGEBYLEX stop."""
        if not self.listpack:
            return self._search(lambda member: not spec.below_high(member), start)
        order, position = self.order, start
        while position < len(order) and spec.below_high(order[position][1]):
            position += 1
        return position

    def lex_range_positions(self, spec: LexRange) -> tuple[int, int]:
        """The ranks [start, stop) of a forward lex range (ZLEXCOUNT, ZREMRANGEBYLEX)."""
        first = self.first_in_lex_range(spec)
        if first is None:
            return 0, 0
        return first, self.lex_run_end(spec, first)

    def _may_hold(self, spec: LexRange) -> bool:
        """zslIsInLexRange: the range is not empty, the last member is not below it and the
        first is not above it."""
        order = self.order
        return (
            bool(order)
            and not spec.is_empty()
            and spec.above_low(order[-1][1])
            and spec.below_high(order[0][1])
        )

    def _search(self, reached: Callable[[bytes], bool], low: int = 0) -> int:
        """The lowest rank from `low` whose member satisfies `reached` (False, then True
        along the order, as when every score is equal), or len."""
        order = self.order
        high = len(order)
        while low < high:
            middle = (low + high) // 2
            if reached(order[middle][1]):
                high = middle
            else:
                low = middle + 1
        return low

    def scan(self, cursor: int, count: int) -> tuple[int, list[tuple[bytes, float]]]:
        """One ZSCAN step of a skiplist: (next cursor, (member, score) pairs); see
        `member_index.scan_batch` for the guarantees."""
        if self.scan_index is None:
            self.scan_index = MemberIndex(self.scores)
        next_cursor, members = self.scan_index.scan(cursor, count)
        scores = self.scores
        return next_cursor, [(member, scores[member]) for member in members]


# -- the type -------------------------------------------------------------------------------

SDS_HEADER: Final = ((32, 1), (256, 3), (65536, 5))  # sdsReqType: header bytes by length
ZSET_HEADERS: Final = 16 + 32 + 56  # sizeof(zset), sizeof(zskiplist), sizeof(dict)
SKIPLIST_HEAD_NODE: Final = 24 + 32 * 16  # the header node has all 32 levels
DICT_ENTRY: Final = 24
SKIPLIST_NODE: Final = 24 + 16 * 4 // 3  # element, score, backward; 4/3 levels on average
MEMORY_SAMPLES: Final = 5  # MEMORY USAGE's default SAMPLES


def _sds_size(length: int) -> int:
    header = next((size for limit, size in SDS_HEADER if length < limit), 9)
    return header + length + 1


class ZSetType(ValueType[ZSet]):
    name = b"zset"
    redis_type = 3  # OBJ_ZSET
    tag = "zset"
    classes = (ZSet,)

    def encoding(self, value: ZSet) -> tuple[bytes, int]:
        return (b"listpack" if value.listpack else b"skiplist"), 1

    def mix_digest(self, digest: bytes, value: ZSet) -> bytes:
        # debug.c: each (member, "%.17g" score) pair digested alone, XORed in: any order.
        for member, score in value.scores.items():
            element = mix_digest(mix_digest(EMPTY_DIGEST, member), format_score(score))
            digest = xor_digest(digest, element)
        return digest

    def to_snapshot(self, value: ZSet) -> Any:
        flat: list[Any] = []
        for score, member in value.order:
            flat += (member, score)
        return [value.listpack, flat]

    def from_snapshot(self, payload: Any) -> ZSet:
        if type(payload) is not list or len(payload) != 2:
            raise TypeError(f"zset payload {payload!r:.60}")
        listpack, flat = payload
        if type(listpack) is not bool or type(flat) is not list or not flat or len(flat) % 2:
            raise TypeError(f"zset payload {payload!r:.60}")
        value = ZSet(listpack)
        pairs = list(zip(flat[::2], flat[1::2], strict=True))
        for member, score in pairs:
            if type(member) is not bytes or type(score) is not float or math.isnan(score):
                raise TypeError(f"zset element {member!r:.60} {score!r:.20}")
            if listpack:
                score += 0.0
                value.listpack_bytes += _pair_size(member, score)
            value.scores[member] = score
        if len(value.scores) != len(pairs):
            raise ValueError("zset payload repeats a member")
        value.order.update((score, member) for member, score in value.scores.items())
        return value

    def duplicate(self, value: ZSet) -> ZSet:
        copy = ZSet(value.listpack)
        copy.scores = value.scores.copy()
        copy.order = SortedList(value.order)  # tuples of immutable members and floats: shared
        copy.listpack_bytes = value.listpack_bytes
        return copy

    def estimated_size(self, value: ZSet) -> int:
        if value.listpack:
            return OBJECT_HEADER + value.listpack_bytes
        # objectComputeSize: the fixed parts, then the first few elements' average (member,
        # dict entry, node) times the count, so the estimate costs no more for a big set.
        size = len(value.scores)
        slots = 4
        while slots < size:
            slots *= 2
        sample = [member for _, member in value.order.islice(0, MEMORY_SAMPLES)]
        members = sum(_sds_size(len(member)) for member in sample)
        elements = (members + len(sample) * (DICT_ENTRY + SKIPLIST_NODE)) * size // len(sample)
        return OBJECT_HEADER + ZSET_HEADERS + 8 * slots + SKIPLIST_HEAD_NODE + elements

    def is_empty(self, value: ZSet) -> bool:
        return not value.scores


ZSET: Final = register(ZSetType())
