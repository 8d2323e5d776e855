"""LATENCY: the latency monitor, Redis's time series of latency spikes per event.

Pure: callers pass the time (unix seconds) and the latency (milliseconds). An event is
recorded only when monitoring is on (`threshold` > 0 ms) and the latency reaches it. Each
event keeps its last 160 samples, at most one per second (a second's worst), and its worst
ever. Events are named as Redis names them: `command` and `fast-command` (a command flagged
`fast`) are the ones Concord records; the monitor takes any name, so the log's and snapshots'
events can be added where those are timed.

`graph` and `report` are LATENCY GRAPH and LATENCY DOCTOR's texts: the same facts as
Redis's, in Concord's own wording and drawing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

SAMPLES: Final = 160  # Redis's LATENCY_TS_LEN
GRAPH_COLUMNS: Final = 80
GRAPH_ROWS: Final = 4


@dataclass(slots=True)
class LatencySeries:
    samples: list[tuple[int, int]] = field(default_factory=list)  # (time, ms), oldest first
    max: int = 0

    def add(self, ms: int, now: int) -> None:
        self.max = max(self.max, ms)
        samples = self.samples
        if samples and samples[-1][0] == now:
            if ms > samples[-1][1]:
                samples[-1] = (now, ms)
            return
        samples.append((now, ms))
        if len(samples) > SAMPLES:
            del samples[0]


class LatencyMonitor:
    """Every event's series, in the order each first happened."""

    def __init__(self) -> None:
        self.threshold = 0  # ms; 0: off (Redis's latency-monitor-threshold)
        self.events: dict[str, LatencySeries] = {}

    def wants(self, ms: int) -> bool:
        return 0 < self.threshold <= ms

    def add_if_needed(self, event: str, ms: int, now: int) -> None:
        if self.wants(ms):
            self.add(event, ms, now)

    def add(self, event: str, ms: int, now: int) -> None:
        series = self.events.get(event)
        if series is None:
            series = self.events[event] = LatencySeries()
        series.add(ms, now)

    def reset(self, names: list[str] | None = None) -> int:
        """Forget the named events (every event: None); how many were forgotten."""
        if names is None:
            count = len(self.events)
            self.events.clear()
            return count
        count = 0
        for name in list(self.events):
            if any(name.lower() == wanted.lower() for wanted in names):
                del self.events[name]
                count += 1
        return count

    def graph(self, event: str, now: int) -> str:
        """LATENCY GRAPH: the event's samples as columns of `#`, oldest on the left, each
        labelled below (vertically) with how long ago it happened."""
        series = self.events[event]
        samples = series.samples[-GRAPH_COLUMNS:]
        values = [ms for _, ms in samples]
        high, low = max(values), min(values)
        lines = [
            f"{event} - high {high} ms, low {low} ms (all time high {series.max} ms)",
            "-" * GRAPH_COLUMNS,
        ]
        span = high - low
        for row in range(GRAPH_ROWS, 0, -1):
            line = ""
            for ms in values:
                height = GRAPH_ROWS if span == 0 else 1 + (ms - low) * (GRAPH_ROWS - 1) // span
                line += "#" if height >= row else " "
            lines.append(line.rstrip() or "_")
        labels = [_ago(now - at) for at, _ in samples]
        width = max(len(label) for label in labels)
        for position in range(width):
            lines.append(
                "".join(
                    label[position] if position < len(label) else " " for label in labels
                ).rstrip()
            )
        return "\n".join(lines) + "\n"

    def report(self) -> str:
        """LATENCY DOCTOR: per event, its spikes and their statistics; then advice."""
        if not self.events:
            if self.threshold == 0:
                return (
                    "The latency monitor is off (latency-monitor-threshold is 0), so no latency "
                    "spike was recorded. Turn it on with CONFIG SET latency-monitor-threshold "
                    "<milliseconds>.\n"
                )
            return "No latency spike was observed since the monitor was turned on or reset.\n"
        lines = ["Latency spikes observed on this node:", ""]
        for number, (name, series) in enumerate(self.events.items(), start=1):
            values = [ms for _, ms in series.samples]
            average = sum(values) / len(values)
            deviation = sum(abs(v - average) for v in values) / len(values)
            times = [at for at, _ in series.samples]
            period = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 0
            lines.append(
                f"{number}. {name}: {len(values)} latency spikes (average {average:.0f}ms, "
                f"mean deviation {deviation:.0f}ms, period {period:.2f} sec). "
                f"Worst all time event {series.max}ms."
            )
        lines += ["", "Advice:"]
        names = set(self.events)
        if names & {"command", "fast-command"}:
            lines.append(
                "- Slow commands: SLOWLOG GET lists them; commands over big values (KEYS, "
                "SMEMBERS, HGETALL, SORT, Lua scripts) hold the node for their whole run."
            )
        if "fast-command" in names:
            lines.append(
                "- Even O(1) commands were slow: the node's process was probably starved of "
                "CPU (check the machine's load, and that it does not swap)."
            )
        return "\n".join(lines) + "\n"


def _ago(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
