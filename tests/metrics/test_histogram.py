"""Per-command latency histograms: Redis 7.0's numbers for the same microsecond durations.

The expected values were read from a real redis-server 7.0.15 (INFO latencystats and LATENCY
HISTOGRAM after single commands of known duration); the bucket arithmetic is HdrHistogram's
with 2 significant digits.
"""

from __future__ import annotations

import pytest

from concord_resp.metrics import Metrics
from concord_resp.metrics.histogram import Histogram

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
    histogram = Histogram()
    histogram.record(usec)
    assert histogram.percentiles(PERCENTILES) == [printed] * 3


def test_percentiles_follow_redis_rounding_of_the_rank() -> None:
    histogram = Histogram()
    for _ in range(98):
        histogram.record(1)
    histogram.record(7)
    histogram.record(10)
    # Ranks: p50 -> 50th, p99 -> 99th (7 us), p99.9 -> 100th (10 us, in a 64 ns bucket).
    assert histogram.percentiles(PERCENTILES) == [1.003, 7.007, 10.047]
    assert Histogram().percentiles((50.0,)) == [0.0]


def test_cumulative_buckets_double_from_1024_ns() -> None:
    histogram = Histogram()
    for usec in (3, 3, 9, 40, 5000):
        histogram.record(usec)
    # Upper bounds 4, 16, 65 and 8388 us hold something; empty ones are left out.
    assert histogram.cumulative_powers_of_two() == [(4, 2), (16, 3), (65, 4), (8388, 5)]
    assert histogram.total() == 5
    assert Histogram().cumulative_powers_of_two() == []
    assert not Histogram()


def test_slow_buckets_stay_few_whatever_the_durations() -> None:
    histogram = Histogram()
    for usec in range(0, 5_000_000, 7):
        histogram.record(usec)
    # Over 1 ms, HdrHistogram's buckets (128 per power of two up to 1 s): not one per value.
    assert len(histogram.slow) <= 128 * 10


def test_counted_keeps_histograms_and_says_when_a_command_was_slow() -> None:
    metrics = Metrics()
    stats = metrics.command("get")
    assert metrics.counted(stats, 5) is False  # no threshold: nothing is slow
    metrics.slow_floor = 100
    assert metrics.counted(stats, 99) is False
    assert metrics.counted(stats, 100) is True
    assert stats.latency.total() == 3
    metrics.track_latency(False)
    metrics.counted(stats, 5)
    metrics.counted(stats, 5000)
    assert stats.latency.total() == 3
    assert stats.calls == 5
    metrics.track_latency(True)
    metrics.counted(stats, 5000)
    assert stats.latency.total() == 4
    metrics.reset()
    assert not stats.latency
