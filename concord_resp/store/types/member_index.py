"""Members ordered by (crc32, member): SCAN cursors and random picks for large collections.

A dict gives a deterministic order (insertion) but no position lookup and no way to resume
an iteration after changes. `MemberIndex` orders a collection's members by their crc32 and
then by their bytes, the same on every replica, in a `SortedList`: a SCAN cursor is the crc32
to resume from (`scan_batch`), and the i-th member is found in O(log n) for random picks. A
collection builds one lazily, the first time it is scanned or sampled while large, and keeps it
up to date in its own mutation methods from then on. The keyspace's SCAN uses `scan_batch` on
its own (crc32, key) order too. Pure: no clock, no randomness (positions are arguments).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from sortedcontainers import SortedList


class MemberIndex:
    """(crc32(member), member) for every member of one collection, sorted."""

    __slots__ = ("order",)

    def __init__(self, members: Iterable[bytes]) -> None:
        self.order = SortedList((zlib.crc32(member), member) for member in members)

    def __len__(self) -> int:
        return len(self.order)

    def add(self, member: bytes) -> None:
        """Note a new member (the caller knows it was not there)."""
        self.order.add((zlib.crc32(member), member))

    def discard(self, member: bytes) -> None:
        self.order.discard((zlib.crc32(member), member))

    def member_at(self, position: int) -> bytes:
        """The member at `position` (0 <= position < len) in the index's order."""
        member: bytes = self.order[position][1]
        return member

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """(next cursor, members) of one SCAN call from `cursor` (see `scan_batch`)."""
        next_cursor, batch = scan_batch(self.order, cursor, count)
        return next_cursor, [member for _, member in batch]


def scan_batch(order: SortedList, cursor: int, count: int) -> tuple[int, list[Any]]:
    """One SCAN step over `order`, a SortedList of (crc32, item) pairs: about `count` pairs
    from the first whose crc32 is at least `cursor`, and the cursor to resume from (0 once
    done). A batch always ends at a crc32 boundary, so iteration always progresses and every
    item present for the whole iteration is returned at least once, whatever is inserted or
    deleted meanwhile."""
    size = len(order)
    start = order.bisect_left((cursor, b""))
    end = min(start + count, size)
    if start < end < size:
        # Finish the batch's last crc32 group: the next cursor must be a new crc32 value.
        last = order[end - 1][0]
        while end < size and order[end][0] == last:
            end += 1
    next_cursor = order[end][0] if end < size else 0
    return next_cursor, list(order.islice(start, end))
