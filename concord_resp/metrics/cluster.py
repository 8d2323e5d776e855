"""The consensus side's counters and histograms: what the node counts as it runs.

The node (`cluster/`) and the log writer (`raft/driver/`) count into one `ClusterMetrics`;
INFO raft and `/metrics` both read it, so they never disagree. What is a state rather than
an event (term, leader, commit and applied indexes, members) is not kept here: it is read
from the node when asked. Everything here is counted per round, per batch or per event, never
per request: durations are measured by the caller (this module has no clock) and observed
into fixed buckets (`prometheus.Buckets`), one bisect each.
"""

from __future__ import annotations

from typing import Final

from .prometheus import Buckets, exponential

# 100 us to 3.3 s, doubling: fsyncs, commit and read-index latency, peer round trips.
LATENCY_BOUNDS: Final = exponential(0.0001, 2, 16)
# 10 ms to 82 s, doubling: snapshots written, sent and received.
SNAPSHOT_BOUNDS: Final = exponential(0.01, 2, 14)


class ClusterMetrics:
    """The node's counters (see the module docstring). Never reset: Prometheus counters only
    go up (CONFIG RESETSTAT leaves them)."""

    def __init__(self) -> None:
        self.leader_changes = 0  # a new leader seen (not counted: none known)
        self.proposals_failed = 0  # writes that got an error instead of being applied
        self.wal_fsync = Buckets(LATENCY_BOUNDS)  # each group commit's fdatasync
        self.commit = Buckets(LATENCY_BOUNDS)  # a leader's batch: proposed to applied
        self.read_index = Buckets(LATENCY_BOUNDS)  # a ReadIndex batch: asked to confirmed
        self.snapshots_taken = 0
        self.snapshots_failed = 0
        self.snapshot_take = Buckets(SNAPSHOT_BOUNDS)
        self.snapshot_send = Buckets(SNAPSHOT_BOUNDS)  # streams sent whole (leader)
        self.snapshot_receive = Buckets(SNAPSHOT_BOUNDS)  # streams received whole
        self.snapshots_installed = 0
        self.peer_rtt: dict[str, Buckets] = {}  # heartbeat to its answer, by peer

    def rtt(self, peer: str) -> Buckets:
        found = self.peer_rtt.get(peer)
        if found is None:
            found = self.peer_rtt[peer] = Buckets(LATENCY_BOUNDS)
        return found
