"""SLOWLOG and the latency monitor as pure data: Redis's trimming, bounds and sampling rules,
with the time passed in."""

from __future__ import annotations

from concord_resp.metrics import LatencyMonitor, SlowLog
from concord_resp.metrics.latency import SAMPLES
from concord_resp.metrics.slowlog import MAX_ARGC, MAX_STRING, trimmed


def test_arguments_are_trimmed_as_redis_trims_them() -> None:
    assert trimmed([b"SET", b"k", b"v"]) == [b"SET", b"k", b"v"]
    long = b"x" * (MAX_STRING + 5)
    assert trimmed([b"SET", b"k", long])[2] == b"x" * MAX_STRING + b"... (5 more bytes)"
    exactly = [b"a"] * MAX_ARGC
    assert trimmed(exactly) == exactly
    many = [b"%d" % i for i in range(MAX_ARGC + 3)]
    kept = trimmed(many)
    assert len(kept) == MAX_ARGC
    assert kept[:-1] == many[: MAX_ARGC - 1]
    assert kept[-1] == b"... (4 more arguments)"


def test_the_log_keeps_the_newest_and_never_reuses_ids() -> None:
    log = SlowLog()
    log.max_len = 2
    for number in range(3):
        log.add([b"GET", b"%d" % number], 20_000, 1_700_000_000 + number, b"1.2.3.4:5", b"me")
    assert [(e.id, e.argv[1]) for e in log.entries] == [(2, b"2"), (1, b"1")]
    log.reset()
    log.add([b"GET"], 1, 0, b"", b"")
    assert log.entries[0].id == 3
    log.max_len = 0
    log.trim()
    assert not log.entries


def test_thresholds() -> None:
    log = SlowLog()
    assert log.wants(10_000)
    assert not log.wants(9_999)
    log.slower_than = 0
    assert log.wants(0)
    log.slower_than = -1
    assert not log.wants(10**9)
    monitor = LatencyMonitor()
    assert not monitor.wants(10**6)  # off by default
    monitor.threshold = 5
    assert monitor.wants(5)
    assert not monitor.wants(4)


def test_one_sample_per_second_the_worst_and_160_at_most() -> None:
    monitor = LatencyMonitor()
    monitor.threshold = 1
    monitor.add_if_needed("command", 7, 100)
    monitor.add_if_needed("command", 9, 100)
    monitor.add_if_needed("command", 8, 100)
    monitor.add_if_needed("command", 0, 101)  # under the threshold: not recorded
    series = monitor.events["command"]
    assert series.samples == [(100, 9)]
    for second in range(200):
        monitor.add("command", 3, 1000 + second)
    assert len(series.samples) == SAMPLES
    assert series.samples[-1] == (1199, 3)
    assert series.max == 9


def test_reset_names_events_case_insensitively() -> None:
    monitor = LatencyMonitor()
    monitor.add("command", 5, 1)
    monitor.add("fast-command", 5, 1)
    assert monitor.reset(["COMMAND", "nosuch"]) == 1
    assert list(monitor.events) == ["fast-command"]
    assert monitor.reset(None) == 1
    assert monitor.events == {}


def test_graph_and_report_describe_the_samples() -> None:
    monitor = LatencyMonitor()
    assert "off" in monitor.report()
    monitor.threshold = 1
    assert "No latency spike" in monitor.report()
    monitor.add("command", 10, 1000)
    monitor.add("command", 40, 1050)
    monitor.add("fast-command", 2, 1050)
    graph = monitor.graph("command", 1070)
    lines = graph.splitlines()
    assert lines[0] == "command - high 40 ms, low 10 ms (all time high 40 ms)"
    assert lines[1] == "-" * 80
    assert lines[2] == " #"  # the top row: only the highest sample reaches it
    assert lines[5] == "##"  # the bottom row: every sample
    assert lines[6:] == ["12", "m0", " s"]  # each column's age, downwards: "1m", "20s"
    report = monitor.report()
    assert (
        "1. command: 2 latency spikes (average 25ms, mean deviation 15ms, period 50.00 sec)"
        in report
    )
    assert "2. fast-command: 1 latency spikes" in report
    assert "O(1) commands were slow" in report
