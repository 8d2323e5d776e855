"""SORT and SORT_RO (Redis 7.0's sort.c): a list, set or sorted set sorted, ranged, fetched.

The elements are sorted by their own value or by the value of other keys (`BY` pattern:
`*` replaced by the element, `key->field` reads a hash field), numerically (a weight that is
not a double is an error) or by bytes (`ALPHA`), then `LIMIT`ed; `GET` patterns fetch other
keys per element (`#`: the element itself); `STORE` replaces the destination with a list (or
deletes it when the result is empty). Redis's exact orders are kept: equal weights order by the
element's bytes; ALPHA ties keep the input order (glibc's qsort is a stable merge sort), except
with `BY` and a `LIMIT`, where Redis's partial quicksort (`pqsort`) decides and is replayed
here; a constant `BY` (`nosort`) keeps a list's or sorted set's own order, reversed by `DESC`.
Lookups of pattern keys are reads of other keys, counted as Redis counts them; SORT, a write
in Redis, purges expired keys it meets, SORT_RO does not. No randomness: an unordered set
reads in its encoding's order (an intset ascending, a hashtable in insertion order).

Deliberate differences: Redis's SORT_RO, like SORT, converts a listpack sorted set to a
skiplist; SORT_RO is a read here and changes nothing. Redis tests `errno` after strtod without
clearing it, so after one weight out of range its later sorts fail until something else sets
errno; here each weight is judged alone. Where Redis's order is its hash tables' (an ALPHA tie
of a hashtable set or a sorted set, a hashtable set BY a constant), the order is insertion's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from ..resp import Reply
from ..store.events import NOTIFY_GENERIC, NOTIFY_LIST
from ..store.types import LIST, SET, ZSET, HashValue, ListValue, SetValue, ZSet
from .context import Context
from .csort import partial_quicksort
from .errors import SYNTAX, WRONGTYPE, CommandError
from .floats import strtod_checked
from .keyspecs import register_key_finder
from .lists import list_range
from .lookup import lookup_read, lookup_write
from .parse import option_name, parse_int
from .spec import command

NOT_DOUBLES: Final = "ERR One or more scores can't be converted into double"

SORTABLE: Final = LIST.classes + SET.classes + ZSET.classes


def c_string(data: bytes) -> bytes:
    """`data` as C's string functions see it: up to its first NUL byte."""
    nul = data.find(b"\0")
    return data if nul < 0 else data[:nul]


class Pattern:
    """A BY or GET pattern as Redis's `lookupKeyByPattern` reads it: `#` is the element
    itself; otherwise the first `*` (of the C string) is replaced by the element to name a
    key, a string whose value is the result, or with `->field` after the `*` (and something
    after the arrow) a hash whose field is. A pattern without `*` names no key: no value."""

    __slots__ = ("field", "is_element", "prefix", "suffix")

    def __init__(self, text: bytes) -> None:
        text_c = c_string(text)
        self.is_element = text_c == b"#"
        star = text_c.find(b"*")
        self.prefix: bytes | None = None if star < 0 else text[:star]
        self.field: bytes | None = None
        self.suffix = b""
        if star >= 0:
            arrow = text_c.find(b"->", star + 1)
            if arrow >= 0 and arrow + 2 < len(text_c):
                self.field = text[arrow + 2 :]  # to the end, NUL bytes included
                self.suffix = text[star + 1 : arrow]
            else:
                self.suffix = text[star + 1 :]

    def value(self, ctx: Context, element: bytes, purge: bool) -> bytes | None:
        """What the pattern gives for an element: None for no key, or a key (or field) that
        does not exist or is of another type."""
        if self.is_element:
            return element
        if self.prefix is None:
            return None
        found = lookup_read(ctx, self.prefix + element + self.suffix, purge=purge)
        if self.field is not None:
            return found.get(self.field) if type(found) is HashValue else None
        if type(found) is bytes or type(found) is bytearray:
            return bytes(found)  # a copy of a bytearray: stored values change in place
        return None


class SortRequest:
    """SORT's options, parsed as sortCommandGeneric parses them (the last of a repeated
    option wins; a constant BY turns sorting off for good, even if a later BY has a `*`)."""

    __slots__ = ("alpha", "by", "count", "desc", "dontsort", "gets", "offset", "store")

    def __init__(self, argv: list[bytes], readonly: bool) -> None:
        self.desc = False
        self.alpha = False
        self.offset = 0
        self.count = -1
        self.store: bytes | None = None
        self.by: Pattern | None = None
        self.dontsort = False
        self.gets: list[Pattern] = []
        i = 2
        while i < len(argv):
            name = option_name(argv[i])
            left = len(argv) - i - 1
            if name == b"asc":
                self.desc = False
            elif name == b"desc":
                self.desc = True
            elif name == b"alpha":
                self.alpha = True
            elif name == b"limit" and left >= 2:
                self.offset = parse_int(argv[i + 1])
                self.count = parse_int(argv[i + 2])
                i += 2
            elif name == b"store" and left >= 1 and not readonly:
                self.store = argv[i + 1]
                i += 1
            elif name == b"by" and left >= 1:
                self.by = Pattern(argv[i + 1])
                if self.by.prefix is None:
                    self.dontsort = True  # a constant: nothing to sort by
                i += 1
            elif name == b"get" and left >= 1:
                self.gets.append(Pattern(argv[i + 1]))
                i += 1
            else:
                raise CommandError(SYNTAX)
            i += 1


def output_range(request: SortRequest, size: int) -> tuple[int, int]:
    """(start, end), inclusive, of the sorted elements LIMIT selects (sort.c's checks:
    end < start when none)."""
    start = min(max(request.offset, 0), size)
    count = min(max(request.count, -1), size)
    end = size - 1 if count < 0 else start + count - 1
    if start >= size:
        return size - 1, size - 2
    return start, min(end, size - 1)


def _in_own_order(
    value: ListValue | ZSet, desc: bool, start: int, end: int
) -> tuple[list[bytes], int, int]:
    """A list's or sorted set's elements start..end in their own order (from the other end
    for DESC), loaded directly as Redis does for a constant BY; the range becomes 0-based."""
    if end < start:
        return [], start, end
    size = len(value)
    if isinstance(value, ZSet):
        if desc:
            items = value.items(size - 1 - end, size - start, reverse=True)
        else:
            items = value.items(start, end + 1)
        return [member for _, member in items], 0, end - start
    if desc:
        elements = list_range(value, size - 1 - end, size - 1 - start)
        elements.reverse()
    else:
        elements = list_range(value, start, end)
    return elements, 0, end - start


def _all_elements(value: ListValue | SetValue | ZSet | None) -> list[bytes]:
    if value is None:
        return []
    if isinstance(value, ZSet):
        return list(value.scores)  # Redis walks the sorted set's dict
    return list(value)


def sort_weights(
    ctx: Context, request: SortRequest, elements: list[bytes], purge: bool
) -> list[float] | None:
    """Each element's numeric weight (its BY value, or itself; 0 when the BY key is
    missing), or None if one is not a double. Every BY key is looked up, as Redis does."""
    weights: list[float] = []
    valid = True
    by = request.by
    for element in elements:
        text = element if by is None else by.value(ctx, element, purge)
        if text is None:
            weights.append(0.0)
            continue
        weight = strtod_checked(c_string(text))
        if weight is None:
            valid = False
            weight = 0.0
        weights.append(weight)
    return weights if valid else None


def sorted_order(
    ctx: Context, request: SortRequest, elements: list[bytes], start: int, end: int, purge: bool
) -> list[bytes]:
    """The elements in SORT's order (at least at positions start..end)."""
    if not request.alpha:
        weights = sort_weights(ctx, request, elements, purge)
        if weights is None:
            raise CommandError(NOT_DOUBLES)
        # Equal weights order by the element's bytes: a total order, so every sort (and
        # Redis's partial one) agrees; equal elements are indistinguishable.
        pairs = sorted(zip(weights, elements, strict=True), reverse=request.desc)
        return [element for _, element in pairs]
    # Without STORE Redis compares with strcoll, which stops at a NUL byte (C.UTF-8:
    # byte order); with STORE it compares all the bytes.
    whole = request.store is not None
    by = request.by
    if by is None:
        keys = [(1, element if whole else c_string(element)) for element in elements]
    else:
        keys = []
        for element in elements:
            text = by.value(ctx, element, purge)
            if text is None:
                keys.append((0, b""))  # a missing BY value sorts first
            else:
                keys.append((1, text if whole else c_string(text)))
    order = list(range(len(elements)))
    partial = start != 0 or end != len(elements) - 1
    if by is not None and partial and len(set(keys)) != len(keys):
        # Ties with a LIMIT: which tied elements land in the range, and in what order, is
        # what Redis's pqsort makes of them.
        partial_quicksort(order, _comparator(keys, request.desc), start, end)
    else:
        order.sort(key=keys.__getitem__, reverse=request.desc)  # stable, like glibc's
    return [elements[i] for i in order]


def _comparator(keys: list[tuple[int, bytes]], desc: bool) -> Callable[[int, int], int]:
    sign = -1 if desc else 1

    def compare(a: int, b: int) -> int:
        first, second = keys[a], keys[b]
        return sign * ((first > second) - (first < second))

    return compare


# -- the commands ----------------------------------------------------------------------------


def sort_generic(ctx: Context, argv: list[bytes], readonly: bool) -> Reply:
    request = SortRequest(argv, readonly)
    purge = not readonly  # SORT is a write: the keys it meets expired are deleted
    value = lookup_read(ctx, argv[1], purge=purge)
    if value is not None and type(value) not in SORTABLE:
        raise CommandError(WRONGTYPE)
    sortable: ListValue | SetValue | ZSet | None = value  # type: ignore[assignment]
    if request.dontsort and isinstance(sortable, SetValue) and request.store is not None:
        # An unordered set stored unsorted would differ between Redis replicas: sorted.
        request.dontsort, request.alpha, request.by = False, True, None
    if isinstance(sortable, ZSet) and sortable.listpack and not readonly:
        # Redis converts the sorted set to a skiplist for good (zsetConvert), as a change of
        # encoding only: no version bump (WATCH), no keyspace change recorded. SORT is applied
        # on every replica, so they all convert. SORT_RO is a read here and changes nothing.
        sortable.to_skiplist()
    size = 0 if sortable is None else len(sortable)
    start, end = output_range(request, size)
    if request.dontsort and isinstance(sortable, (ListValue, ZSet)):
        elements, start, end = _in_own_order(sortable, request.desc, start, end)
    else:
        elements = _all_elements(sortable)
        if not request.dontsort:
            elements = sorted_order(ctx, request, elements, start, end, purge)
    selected = elements[start : end + 1] if end >= start else []
    if not request.gets:
        results: list[bytes | None] = list(selected)
    else:
        results = [get.value(ctx, element, purge) for element in selected for get in request.gets]
    if request.store is None:
        return results
    destination = request.store
    if results:
        lookup_write(ctx, destination)
        stored = ListValue(b"" if result is None else result for result in results)
        ctx.db.set(destination, stored, ctx.index)
        ctx.notify(NOTIFY_LIST, b"sortstore", destination)
    elif ctx.db.delete(destination, ctx.index):  # (no lookup first, as in Redis)
        ctx.notify(NOTIFY_GENERIC, b"del", destination)
    return len(results)


@command("sort")
def sort(ctx: Context, argv: list[bytes]) -> Reply:
    return sort_generic(ctx, argv, readonly=False)


@command("sort_ro")
def sort_ro(ctx: Context, argv: list[bytes]) -> Reply:
    return sort_generic(ctx, argv, readonly=True)


def sort_keys(argv: list[bytes]) -> list[int]:
    """SORT's key positions (Redis's sortGetKeys): the sorted key, and the argument after
    the last STORE, scanning options as Redis does (LIMIT skips two, GET and BY one)."""
    positions = [1]
    store: int | None = None
    skips = {b"limit": 2, b"get": 1, b"by": 1}
    i = 2
    while i < len(argv):
        name = option_name(argv[i])
        if name in skips:
            i += skips[name]
        elif name == b"store" and i + 1 < len(argv):
            store = i + 1
        i += 1
    return positions if store is None else [*positions, store]


def sort_ro_keys(argv: list[bytes]) -> list[int]:
    """SORT_RO's key position (sortROGetKeys): the sorted key."""
    return [1]


register_key_finder("sort", sort_keys)
register_key_finder("sort_ro", sort_ro_keys)
