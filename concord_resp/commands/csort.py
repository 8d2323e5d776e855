"""The C library's sorts as Redis 7.0 runs them, step for step, where their order of ties
shows in a reply.

Redis sorts with glibc's `qsort` (a stable merge sort: `merge_sort`) and, when only some
ranks are wanted, with its own `pqsort` (Bentley & McIlroy's quicksort, sorting only the parts
that overlap those ranks: `partial_quicksort`), which is not stable. Where keys tie, which
tied item comes first is decided by these algorithms' exact comparisons and swaps; SORT and
the geo searches replay them, comparing with the same three-way function (`Compare`). Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
Compare = Callable[[T, T], int]
"""A three-way comparison: negative, zero or positive, as C's qsort callbacks return."""


def merge_sort(items: list[T], compare: Compare[T]) -> list[T]:
    """glibc's msort_with_tmp: halves (the smaller first), merged taking from the left while
    it is not greater."""
    if len(items) <= 1:
        return list(items)
    middle = len(items) // 2
    left, right = merge_sort(items[:middle], compare), merge_sort(items[middle:], compare)
    merged: list[T] = []
    i = j = 0
    while i < len(left) and j < len(right):
        if compare(left[i], right[j]) <= 0:
            merged.append(left[i])
            i += 1
        else:
            merged.append(right[j])
            j += 1
    return merged + left[i:] + right[j:]


def partial_quicksort(items: list[T], compare: Compare[T], low: int, high: int) -> None:
    """Redis's pqsort (Bentley & McIlroy's quicksort, sorting only the parts that overlap
    ranks low..high), in place, swap for swap. Each part is sorted on its own, so the parts
    waiting are kept on a list instead of C's recursion (no depth limit), with the same
    result."""
    parts = [(0, len(items))]
    while parts:
        base, n = parts.pop()
        parts += _partition(items, base, n, compare, low, high)


def _median_of_three(items: list[T], a: int, b: int, c: int, compare: Compare[T]) -> int:
    if compare(items[a], items[b]) < 0:
        if compare(items[b], items[c]) < 0:
            return b
        return c if compare(items[a], items[c]) < 0 else a
    if compare(items[b], items[c]) > 0:
        return b
    return a if compare(items[a], items[c]) < 0 else c


def _swap_runs(items: list[T], a: int, b: int, count: int) -> None:
    for offset in range(count):
        items[a + offset], items[b + offset] = items[b + offset], items[a + offset]


def _partition(
    items: list[T], base: int, n: int, compare: Compare[T], low: int, high: int
) -> list[tuple[int, int]]:
    """One step of `_pqsort` on the part [base, base + n): a small part is insertion sorted;
    a larger one is partitioned around a pseudo-median, returning its two sides still to
    sort (those that overlap ranks low..high and hold more than one item)."""
    if n < 7:
        for m in range(base + 1, base + n):
            position = m
            while position > base and compare(items[position - 1], items[position]) > 0:
                items[position], items[position - 1] = items[position - 1], items[position]
                position -= 1
        return []
    middle = base + n // 2
    if n > 7:
        first, last = base, base + n - 1
        if n > 40:
            d = n // 8
            first = _median_of_three(items, first, first + d, first + 2 * d, compare)
            middle = _median_of_three(items, middle - d, middle, middle + d, compare)
            last = _median_of_three(items, last - 2 * d, last - d, last, compare)
        middle = _median_of_three(items, first, middle, last, compare)
    items[base], items[middle] = items[middle], items[base]
    pa = pb = base + 1
    pc = pd = base + n - 1
    while True:
        while pb <= pc:
            result = compare(items[pb], items[base])
            if result > 0:
                break
            if result == 0:
                items[pa], items[pb] = items[pb], items[pa]
                pa += 1
            pb += 1
        while pb <= pc:
            result = compare(items[pc], items[base])
            if result < 0:
                break
            if result == 0:
                items[pc], items[pd] = items[pd], items[pc]
                pd -= 1
            pc -= 1
        if pb > pc:
            break
        items[pb], items[pc] = items[pc], items[pb]
        pb += 1
        pc -= 1
    end = base + n
    run = min(pa - base, pb - pa)
    _swap_runs(items, base, pb - run, run)
    run = min(pd - pc, end - pd - 1)
    _swap_runs(items, pb, end - run, run)
    sides = [(base, pb - pa), (end - (pd - pc), pd - pc)]
    return [
        (start, size) for start, size in sides if size > 1 and _overlaps(start, size, low, high)
    ]


def _overlaps(base: int, n: int, low: int, high: int) -> bool:
    """pqsort's test: the part [base, base + n) is sorted unless ranks low..high lie wholly
    before it or wholly after it."""
    return not ((low < base and high < base) or (low >= base + n and high >= base + n))
