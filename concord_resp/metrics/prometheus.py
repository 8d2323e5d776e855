"""Prometheus's text exposition format (0.0.4), rendered from declared metric families.

Every metric is declared once as a `Family` (name, type, help, label names): the
declarations (`catalog.FAMILIES`) are what `/metrics` may print and what README's table is
generated from. An `Exposition` collects samples for declared families only, checks that
each carries the family's labels, and renders them grouped by family, in declaration order:
`# HELP`, `# TYPE`, then the samples; a histogram as cumulative `_bucket{le="..."}` lines
ending with `le="+Inf"`, then `_sum` and `_count`. Label values and help texts are escaped
as the format says (backslash, double quote, newline).

`Buckets` is a histogram with fixed upper bounds (seconds) that callers observe into: one
bisect and three adds per observation. Pure: no clock (callers measure), no I/O.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

Kind = Literal["counter", "gauge", "histogram"]
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Family:
    """One metric's declaration. A counter's name ends in `_total`; a histogram's samples
    are `<name>_bucket`, `<name>_sum` and `<name>_count`."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()


def exponential(start: float, factor: float, count: int) -> tuple[float, ...]:
    """`count` upper bounds: `start`, then each `factor` times the one before."""
    return tuple(start * factor**i for i in range(count))


class Buckets:
    """A histogram over fixed upper bounds (`le`, inclusive, ascending), in seconds."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last: above every bound
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or under it), the last bound +Inf."""
        out: list[tuple[float, int]] = []
        seen = 0
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            seen += count
            out.append((bound, seen))
        return out

    def clear(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        self.count = 0


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value: integers as integers, floats as Python's shortest repr, and the
    format's spellings of infinity and NaN."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    pairs = [
        f'{name}="{escape_label_value(value)}"' for name, value in zip(names, values, strict=True)
    ]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


class Exposition:
    """Samples of declared families, rendered in the text format (see the module)."""

    def __init__(self, families: Iterable[Family]) -> None:
        self._families = {family.name: family for family in families}
        self._lines: dict[str, list[str]] = {}

    def _family(self, name: str, kinds: tuple[Kind, ...], labels: tuple[str, ...]) -> Family:
        family = self._families.get(name)
        if family is None:
            raise KeyError(f"metric {name} is not declared")
        if family.kind not in kinds:
            raise ValueError(f"metric {name} is a {family.kind}")
        if len(labels) != len(family.labels):
            raise ValueError(f"metric {name} takes labels {family.labels}, got {labels}")
        return family

    def add(self, name: str, value: float, labels: tuple[str, ...] = ()) -> None:
        """A counter's or a gauge's sample."""
        family = self._family(name, ("counter", "gauge"), labels)
        line = f"{name}{_labels(family.labels, labels)} {format_value(value)}"
        self._lines.setdefault(name, []).append(line)

    def histogram(
        self,
        name: str,
        cumulative: Iterable[tuple[float, int]],
        total: float,
        labels: tuple[str, ...] = (),
    ) -> None:
        """A histogram's samples: (upper bound, cumulative count) ascending, ending with
        +Inf (whose count is the histogram's count), and the sum of what was observed."""
        family = self._family(name, ("histogram",), labels)
        lines = self._lines.setdefault(name, [])
        count = 0
        last = -math.inf
        for bound, seen in cumulative:
            if bound <= last or seen < count:
                raise ValueError(f"metric {name}: buckets not ascending and cumulative")
            le = 'le="' + format_value(float(bound)) + '"'
            lines.append(f"{name}_bucket{_labels(family.labels, labels, le)} {seen}")
            last, count = bound, seen
        if last != math.inf:
            raise ValueError(f"metric {name}: the last bucket must be +Inf")
        plain = _labels(family.labels, labels)
        lines.append(f"{name}_sum{plain} {format_value(total)}")
        lines.append(f"{name}_count{plain} {count}")

    def buckets(self, name: str, histogram: Buckets, labels: tuple[str, ...] = ()) -> None:
        self.histogram(name, histogram.cumulative(), histogram.sum, labels)

    def render(self) -> str:
        out: list[str] = []
        for name, family in self._families.items():
            lines = self._lines.get(name)
            if lines is None:
                continue
            out.append(f"# HELP {name} {escape_help(family.help)}")
            out.append(f"# TYPE {name} {family.kind}")
            out.extend(lines)
        return "\n".join(out) + "\n" if out else ""
