"""Per-command latency histograms as Prometheus buckets (`server/exposition.py`)."""

from __future__ import annotations

import math

from concord_resp.metrics.histogram import Histogram
from concord_resp.server.exposition import COMMAND_BOUNDS_USEC, command_buckets


def test_command_buckets_are_cumulative_and_exact_under_a_millisecond() -> None:
    histogram = Histogram()
    for usec in (0, 5, 10, 11, 500, 1023, 2000, 2_000_000):
        histogram.record(usec)
    buckets = dict(command_buckets(histogram))
    assert list(buckets) == [b / 1e6 for b in COMMAND_BOUNDS_USEC] + [math.inf]
    assert buckets[10e-6] == 3  # 0, 5, 10: a bound is inclusive
    assert buckets[20e-6] == 4  # 11
    assert buckets[640e-6] == 5  # 500
    assert buckets[1280e-6] == 6  # 1023
    assert buckets[2560e-6] == 7  # 2000
    # Over 1 s, Redis's histograms count it as 1 s: under the last bound (1.31 s).
    assert buckets[COMMAND_BOUNDS_USEC[-1] / 1e6] == 8
    assert buckets[math.inf] == 8 == histogram.total()
    counts = list(buckets.values())
    assert counts == sorted(counts)


def test_an_empty_histogram_has_zero_buckets() -> None:
    assert {count for _, count in command_buckets(Histogram())} == {0}
