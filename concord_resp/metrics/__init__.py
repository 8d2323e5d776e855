"""Counters, as a leaf registry every layer can count into (see `registry`), and the
per-node diagnostics built on them: latency histograms, SLOWLOG, the latency monitor."""

from .latency import LatencyMonitor
from .registry import NEVER, CommandStats, ErrorStats, Metrics
from .slowlog import SlowLog

__all__ = ["NEVER", "CommandStats", "ErrorStats", "LatencyMonitor", "Metrics", "SlowLog"]
