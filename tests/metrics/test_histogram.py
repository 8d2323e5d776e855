"""Per-command latency histograms: Redis 7.0's numbers for the same microsecond durations.

The expected values were read from a real redis-server 7.0.15 (INFO latencystats and LATENCY
HISTOGRAM after single commands of known duration); the bucket arithmetic is HdrHistogram's
with 2 significant digits.
"""

from __future__ import annotations

import pytest

from concord_resp.metrics import Metrics
from concord_resp.metrics.histogram import (
    EXACT_USEC,
    cumulative_powers_of_two,
    percentiles,
    record,
    total,
)

PERCENTILES = (50.0, 99.0, 99.9)


@pytest.mark.parametrize(
    ("usec", "printed"),
    [
        (0, 0.001),  # clamped to Redis's lowest trackable value, 1 ns
        (1, 1.003),
        (3, 3.007),
        (9, 9.023),
        (78, 78.335),
        (286, 286.719),
        (1163, 1163.263),
        (2_000_000, 1002438.655),  # over Redis's 1 s ceiling: clamped to it
    ],
)
def test_a_single_duration_prints_as_redis_prints_it(usec: int, printed: float) -> None:
    histogram: dict[int, int] = {}
    record(histogram, usec)
    assert percentiles(histogram, PERCENTILES) == [printed] * 3


def test_percentiles_follow_redis_rounding_of_the_rank() -> None:
    histogram: dict[int, int] = {}
    for _ in range(98):
        record(histogram, 1)
    record(histogram, 7)
    record(histogram, 10)
    # Ranks: p50 -> 50th, p99 -> 99th (7 us), p99.9 -> 100th (10 us, in a 64 ns bucket).
    assert percentiles(histogram, PERCENTILES) == [1.003, 7.007, 10.047]
    assert percentiles({}, (50.0,)) == [0.0]


def test_cumulative_buckets_double_from_1024_ns() -> None:
    histogram: dict[int, int] = {}
    for usec in (3, 3, 9, 40, 5000):
        record(histogram, usec)
    # Upper bounds 4, 16, 65 and 8388 us hold something; empty ones are left out.
    assert cumulative_powers_of_two(histogram) == [(4, 2), (16, 3), (65, 4), (8388, 5)]
    assert total(histogram) == 5
    assert cumulative_powers_of_two({}) == []


def test_keys_stay_few_whatever_the_durations() -> None:
    histogram: dict[int, int] = {}
    for usec in range(0, 5_000_000, 7):
        record(histogram, usec)
    # Exact keys under EXACT_USEC, then HdrHistogram's buckets: bounded, not per value.
    assert len(histogram) < EXACT_USEC + 128 * 12


def test_counted_keeps_histograms_and_says_when_a_command_was_slow() -> None:
    metrics = Metrics()
    stats = metrics.command("get")
    assert metrics.counted(stats, 5) is False  # no threshold: nothing is slow
    metrics.slow_floor = 100
    assert metrics.counted(stats, 99) is False
    assert metrics.counted(stats, 100) is True
    assert total(stats.latency) == 3
    metrics.latency_tracking = False
    metrics.counted(stats, 5)
    assert total(stats.latency) == 3
    assert stats.calls == 4
    metrics.reset()
    assert stats.latency == {}
