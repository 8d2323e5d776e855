"""Per-command latency histograms, as Redis 7.0 keeps them (INFO latencystats, LATENCY
HISTOGRAM).

Redis records each command's duration in nanoseconds into an HdrHistogram of 2 significant
digits (1 ns to 1 s): values under 256 ns are exact, and each power of two above that is cut
into 128 equal buckets. A `Histogram` here counts a duration under `EXACT_USEC` microseconds
in a list slot of its own (`exact[usec] += 1`: the common case, O(1) and cheap: the
dispatcher writes it out inline), and a longer one in a dict under the lowest nanosecond
value of its HdrHistogram bucket (`record_slow`). Percentiles and the power-of-two view are
computed when asked, with Redis's rules, so the numbers printed are those Redis prints for
the same microsecond durations.
"""

from __future__ import annotations

from typing import Final

EXACT_USEC: Final = 1024  # durations under this are counted by their exact microsecond
MAX_NS: Final = 1_000_000_000  # Redis's histograms stop at 1 s
SUB_BUCKET_BITS: Final = 8  # 2 significant digits: 256 sub-buckets, the upper half per power


def _bucket_low(ns: int) -> int:
    """The lowest value of the HdrHistogram bucket holding `ns`."""
    shift = ns.bit_length() - SUB_BUCKET_BITS
    return ns if shift <= 0 else (ns >> shift) << shift


def _bucket_high(low: int) -> int:
    """The highest value of the bucket starting at `low` (HdrHistogram's
    highest_equivalent_value)."""
    shift = low.bit_length() - SUB_BUCKET_BITS
    return low if shift <= 0 else low + (1 << shift) - 1


class Histogram:
    """One command's durations (see the module docstring)."""

    __slots__ = ("exact", "slow")

    def __init__(self) -> None:
        self.exact = [0] * EXACT_USEC  # by microsecond
        self.slow: dict[int, int] = {}  # by the lowest nanosecond of the bucket

    def record(self, usec: int) -> None:
        if usec < EXACT_USEC:
            self.exact[usec] += 1
        else:
            self.record_slow(usec)

    def record_slow(self, usec: int) -> None:
        """Count a duration of at least `EXACT_USEC`."""
        low = _bucket_low(min(usec * 1000, MAX_NS))
        self.slow[low] = self.slow.get(low, 0) + 1

    def clear(self) -> None:
        self.exact[:] = [0] * EXACT_USEC  # (in place: CommandStats.exact is this list)
        self.slow.clear()

    def __bool__(self) -> bool:
        return bool(self.slow) or any(self.exact)

    def total(self) -> int:
        return sum(self.exact) + sum(self.slow.values())

    def buckets(self) -> list[tuple[int, int]]:
        """(lowest nanosecond value of the bucket, count), ascending."""
        merged: dict[int, int] = {}
        for usec, count in enumerate(self.exact):
            if count:
                # Redis clamps to its lowest trackable value, 1 ns: 0 us counts as 1 ns.
                low = _bucket_low(max(usec * 1000, 1))
                merged[low] = merged.get(low, 0) + count
        for low, count in self.slow.items():
            merged[low] = merged.get(low, 0) + count
        return sorted(merged.items())

    def percentiles(self, wanted: tuple[float, ...]) -> list[float]:
        """The value at each percentile, in microseconds (hdr_value_at_percentile / 1000)."""
        ordered = self.buckets()
        count = sum(c for _, c in ordered)
        out: list[float] = []
        for percentile in wanted:
            target = max(1, int(min(percentile, 100.0) / 100 * count + 0.5))
            seen = 0
            value = 0
            for low, bucket_count in ordered:
                seen += bucket_count
                if seen >= target:
                    value = _bucket_high(low)
                    break
            out.append(value / 1000)
        return out

    def cumulative_powers_of_two(self) -> list[tuple[int, int]]:
        """LATENCY HISTOGRAM's view: (bucket's upper bound in microseconds, how many took at
        most that) for buckets of 1024 ns doubling each time, the empty ones left out."""
        out: list[tuple[int, int]] = []
        ordered = self.buckets()
        limit = 1024
        seen = previous = index = 0
        while index < len(ordered):
            while index < len(ordered) and ordered[index][0] < limit:
                seen += ordered[index][1]
                index += 1
            if seen > previous:
                out.append(((limit - 1) // 1000, seen))
                previous = seen
            limit *= 2
        return out
