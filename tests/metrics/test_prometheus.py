"""The text exposition format: what Prometheus's parser requires of `/metrics`."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from concord_resp.metrics.catalog import FAMILIES
from concord_resp.metrics.prometheus import (
    Buckets,
    Exposition,
    Family,
    escape_help,
    escape_label_value,
    exponential,
    format_value,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_]\w*="(?:[^"\\\n]|\\.)*",?)*\})? (\S+)$'
)


def test_label_values_are_escaped() -> None:
    assert escape_label_value('a"b') == 'a\\"b'
    assert escape_label_value("a\\b") == "a\\\\b"
    assert escape_label_value("a\nb") == "a\\nb"
    assert escape_label_value('\\"\n') == '\\\\\\"\\n'


def test_help_escapes_backslash_and_newline_only() -> None:
    assert escape_help('say "hi"\\now\nthen') == 'say "hi"\\\\now\\nthen'


def test_values() -> None:
    assert format_value(3) == "3"
    assert format_value(2.0) == "2"
    assert format_value(0.25) == "0.25"
    assert format_value(math.inf) == "+Inf"
    assert format_value(-math.inf) == "-Inf"
    assert format_value(math.nan) == "NaN"


def test_bucket_bounds_are_inclusive_and_counts_cumulative() -> None:
    histogram = Buckets((0.1, 0.2, 0.4))
    for value in (0.05, 0.1, 0.15, 0.2, 0.3, 5.0):
        histogram.observe(value)
    assert histogram.cumulative() == [(0.1, 2), (0.2, 4), (0.4, 5), (math.inf, 6)]
    assert histogram.count == 6
    assert histogram.sum == pytest.approx(5.8)


def test_exponential_bounds_print_short() -> None:
    bounds = exponential(0.0001, 2, 4)
    assert [format_value(b) for b in bounds] == ["0.0001", "0.0002", "0.0004", "0.0008"]


def test_a_histogram_renders_buckets_sum_and_count() -> None:
    out = Exposition([Family("x_seconds", "histogram", "time taken", ("op",))])
    histogram = Buckets((0.5, 1.0))
    histogram.observe(0.25)
    histogram.observe(2.0)
    out.buckets("x_seconds", histogram, ('a "b"',))
    assert out.render().splitlines() == [
        "# HELP x_seconds time taken",
        "# TYPE x_seconds histogram",
        'x_seconds_bucket{op="a \\"b\\"",le="0.5"} 1',
        'x_seconds_bucket{op="a \\"b\\"",le="1"} 1',
        'x_seconds_bucket{op="a \\"b\\"",le="+Inf"} 2',
        'x_seconds_sum{op="a \\"b\\""} 2.25',
        'x_seconds_count{op="a \\"b\\""} 2',
    ]


def test_families_render_once_in_declaration_order() -> None:
    out = Exposition(
        [
            Family("a_total", "counter", "first"),
            Family("b", "gauge", "second", ("peer",)),
            Family("c", "gauge", "never sampled"),
        ]
    )
    out.add("b", 1, ("n2",))
    out.add("a_total", 7)
    out.add("b", 0, ("n3",))
    assert out.render() == (
        "# HELP a_total first\n# TYPE a_total counter\na_total 7\n"
        '# HELP b second\n# TYPE b gauge\nb{peer="n2"} 1\nb{peer="n3"} 0\n'
    )


def test_undeclared_or_mislabelled_samples_are_refused() -> None:
    out = Exposition([Family("a_total", "counter", "a", ("x",)), Family("h", "histogram", "h")])
    with pytest.raises(KeyError):
        out.add("nope", 1)
    with pytest.raises(ValueError, match="takes labels"):
        out.add("a_total", 1)
    with pytest.raises(ValueError, match="is a histogram"):
        out.add("h", 1)
    with pytest.raises(ValueError, match="cumulative"):
        out.histogram("h", [(1.0, 2), (2.0, 1), (math.inf, 2)], 0.0)
    with pytest.raises(ValueError, match=r"\+Inf"):
        out.histogram("h", [(1.0, 2)], 0.0)


def test_the_catalog_follows_the_conventions() -> None:
    names = [family.name for family in FAMILIES]
    assert len(names) == len(set(names))
    for family in FAMILIES:
        assert re.fullmatch(r"concord_[a-z0-9_]+", family.name), family.name
        if family.kind == "counter":
            assert family.name.endswith("_total"), family.name
        if family.kind == "histogram":
            assert family.name.endswith("_seconds"), family.name
        assert family.help
        assert "\n" not in family.help
        for label in family.labels:
            assert re.fullmatch(r"[a-z_]+", label)
            assert label != "le"


def test_every_line_parses() -> None:
    out = Exposition(FAMILIES)
    out.add("concord_commands_total", 3, ("set",))
    out.add("concord_errors_total", 1, ('WEIRD"\\\n',))
    histogram = Buckets(exponential(0.0001, 2, 16))
    histogram.observe(0.003)
    out.buckets("concord_disk_wal_fsync_duration_seconds", histogram)
    for line in out.render().splitlines():
        if line.startswith("#"):
            assert re.fullmatch(r"# (HELP|TYPE) concord_\w+ .+", line), line
        else:
            assert SAMPLE.match(line), line


def test_the_readme_table_is_the_generated_one() -> None:
    script = ROOT / "scripts" / "dev" / "gen_metrics_table.py"
    result = subprocess.run(
        [sys.executable, str(script), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
