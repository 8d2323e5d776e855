"""Per-command latency histograms, as Redis 7.0 keeps them (INFO latencystats, LATENCY
HISTOGRAM).

Redis records each command's duration in nanoseconds into an HdrHistogram of 2 significant
digits (1 ns to 1 s): values under 256 ns are exact, and each power of two above that is cut
into 128 equal buckets. A histogram here is a plain dict, updated in O(1) by `record`: a
duration under `EXACT_USEC` microseconds counts under its own value (the common case costs
one comparison and one dict update); a longer one under its nanosecond bucket, negated so
the two kinds of key never meet. Percentiles and the power-of-two view are computed when
asked, with Redis's rules, so the numbers printed are those Redis prints for the same
microsecond durations.
"""

from __future__ import annotations

from typing import Final

EXACT_USEC: Final = 1024  # durations under this are kept by their exact microsecond value
MAX_NS: Final = 1_000_000_000  # Redis's histograms stop at 1 s
SUB_BUCKET_BITS: Final = 8  # 2 significant digits: 256 sub-buckets, the upper half per power

Histogram = dict[int, int]


def _bucket_low(ns: int) -> int:
    """The lowest value of the HdrHistogram bucket holding `ns`."""
    shift = ns.bit_length() - SUB_BUCKET_BITS
    return ns if shift <= 0 else (ns >> shift) << shift


def _bucket_high(low: int) -> int:
    """The highest value of the bucket starting at `low` (HdrHistogram's
    highest_equivalent_value)."""
    shift = low.bit_length() - SUB_BUCKET_BITS
    return low if shift <= 0 else low + (1 << shift) - 1


def slow_key(usec: int) -> int:
    """The key of a duration of at least `EXACT_USEC` (see the module docstring)."""
    return -_bucket_low(min(usec * 1000, MAX_NS))


def record(histogram: Histogram, usec: int) -> None:
    """Count one command that took `usec` microseconds."""
    key = usec if usec < EXACT_USEC else slow_key(usec)
    histogram[key] = histogram.get(key, 0) + 1


def buckets(histogram: Histogram) -> list[tuple[int, int]]:
    """(lowest nanosecond value of the bucket, count), ascending."""
    merged: dict[int, int] = {}
    for key, count in histogram.items():
        # Redis clamps to its lowest trackable value, 1 ns: a 0 us command counts as 1 ns.
        low = -key if key < 0 else _bucket_low(max(key * 1000, 1))
        merged[low] = merged.get(low, 0) + count
    return sorted(merged.items())


def total(histogram: Histogram) -> int:
    return sum(histogram.values())


def percentiles(histogram: Histogram, wanted: tuple[float, ...]) -> list[float]:
    """The value at each percentile, in microseconds (hdr_value_at_percentile / 1000)."""
    ordered = buckets(histogram)
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


def cumulative_powers_of_two(histogram: Histogram) -> list[tuple[int, int]]:
    """LATENCY HISTOGRAM's view: (bucket's upper bound in microseconds, how many took at most
    that) for buckets of 1024 ns doubling each time, the empty ones left out."""
    out: list[tuple[int, int]] = []
    ordered = buckets(histogram)
    if not ordered:
        return out
    limit = 1024
    seen = 0
    index = 0
    previous = 0
    while index < len(ordered):
        while index < len(ordered) and ordered[index][0] < limit:
            seen += ordered[index][1]
            index += 1
        if seen > previous:
            out.append(((limit - 1) // 1000, seen))
            previous = seen
        limit *= 2
    return out
