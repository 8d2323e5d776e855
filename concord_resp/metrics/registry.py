"""The server's counters: commands by name, error replies by code, traffic, connections.

A leaf: it imports nothing of Concord's and does no I/O, so every layer can count into it and
INFO (`server/info.py`) renders it. Counts follow Redis's rules: a command is counted once it
has run (`called`), with its time and whether it answered an error (`failed_calls`); a
command refused before running (unknown, wrong arity, LOADING, ...) is `rejected`; every
error reply, whichever, counts in `errors` by its code (INFO errorstats). A command that has
run also counts in its latency histogram (INFO latencystats, LATENCY HISTOGRAM: see
`histogram`), and `counted` tells the caller whether it was slow enough for SLOWLOG or the
latency monitor (`slow_floor`), so the fast path pays one comparison for both.
"""

from __future__ import annotations

from typing import Final

from .histogram import EXACT_USEC, Histogram

ERROR_STATS_LIMIT: Final = 128  # Redis stops adding new error codes after this many
NEVER: Final = 1 << 62  # a `slow_floor` no duration reaches


class CommandStats:
    """One command's counters (INFO commandstats)."""

    __slots__ = ("calls", "exact", "failed_calls", "latency", "rejected_calls", "usec")

    def __init__(self) -> None:
        self.calls = 0
        self.usec = 0
        self.rejected_calls = 0
        self.failed_calls = 0
        self.latency = Histogram()  # its durations
        self.exact = self.latency.exact  # (the same list: one attribute less per command)


class ErrorStats:
    """Error replies by code (`ERR`, `WRONGTYPE`, ...), as Redis's `afterErrorReply` counts them."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.total = 0

    def record(self, message: bytes) -> None:
        """Count one error reply; `message` is its text, with or without the leading `-`."""
        if message[:1] == b"-":
            message = message[1:]
        self.total += 1
        # Redis looks for the code's end within the first 32 bytes of "-CODE ...".
        space = message.find(b" ", 0, 31)
        code = message[:space].decode("latin-1") if space > 0 else "ERR"
        counts = self.counts
        if code in counts:
            counts[code] += 1
        elif len(counts) < ERROR_STATS_LIMIT:
            counts[code] = 1

    def reset(self) -> None:
        self.counts.clear()
        self.total = 0


class Metrics:
    """Every counter the server keeps; `reset` is CONFIG RESETSTAT."""

    def __init__(self) -> None:
        self.commands: dict[str, CommandStats] = {}
        self.errors = ErrorStats()
        self.commands_processed = 0  # commands run (not refused, not queued)
        self.net_input_bytes = 0
        self.net_output_bytes = 0
        self.reads_processed = 0  # reads from client sockets (INFO total_reads_processed)
        self.writes_processed = 0  # sends to client sockets
        self.connections_received = 0
        self.connections_rejected = 0  # over maxclients
        self.latency_tracking = True  # Redis's latency-tracking: keep the histograms
        self.exact_below = EXACT_USEC  # (0 while latency-tracking is off: see `counted`)
        self.latency_percentiles: tuple[float, ...] = (50.0, 99.0, 99.9)  # INFO latencystats
        # The duration (us) from which a command is reported to SLOWLOG or the latency
        # monitor: the lower of their thresholds (the server keeps it current).
        self.slow_floor = NEVER

    def command(self, name: str) -> CommandStats:
        stats = self.commands.get(name)
        if stats is None:
            stats = self.commands[name] = CommandStats()
        return stats

    def track_latency(self, on: bool) -> None:
        """latency-tracking: keep the histograms or not."""
        self.latency_tracking = on
        self.exact_below = EXACT_USEC if on else 0

    def called(self, name: str, usec: int, error: bytes | None = None) -> bool:
        """A command ran, taking `usec`; `error` is its error reply, if it answered one.
        True if it was slow (see `counted`)."""
        return self.counted(self.command(name), usec, error)

    def counted(self, stats: CommandStats, usec: int, error: bytes | None = None) -> bool:
        """`called`, for a caller that holds the command's stats already (a write's reply).
        True if it took at least `slow_floor`: the caller then reports it to the server's
        SLOWLOG and latency monitor (which have the client and the clock)."""
        stats.calls += 1
        stats.usec += usec
        self.commands_processed += 1
        if usec < self.exact_below:  # Histogram.record, written out: it runs per command
            stats.exact[usec] += 1
        elif self.latency_tracking:
            stats.latency.record_slow(usec)
        if error is not None:
            stats.failed_calls += 1
            self.errors.record(error)
        return usec >= self.slow_floor

    def rejected(self, name: str | None, error: bytes) -> None:
        """A command refused before it ran (`name` None: an unknown command)."""
        if name is not None:
            self.command(name).rejected_calls += 1
        self.errors.record(error)

    def failed(self, name: str, error: bytes) -> None:
        """A command that could not run to a reply of its own (no read point, ...)."""
        self.command(name).failed_calls += 1
        self.errors.record(error)

    def reset(self) -> None:
        # Zeroed in place: whoever holds a command's CommandStats keeps counting into it.
        for stats in self.commands.values():
            stats.calls = stats.usec = stats.rejected_calls = stats.failed_calls = 0
            stats.latency.clear()
        self.errors.reset()
        self.commands_processed = 0
        self.net_input_bytes = self.net_output_bytes = 0
        self.reads_processed = self.writes_processed = 0
        self.connections_received = self.connections_rejected = 0
