"""What `/metrics` shows: the declared families (`metrics/catalog.py`) filled from this node.

Every value comes from where INFO reads it, so the two never disagree: the consensus
counters from the node's `ClusterMetrics` (INFO raft), its state from the Raft status,
the command and error counters from the server's `Metrics` (INFO commandstats,
errorstats), and clients, memory and keys from INFO's own section functions. Runs once per
scrape; nothing here runs per request.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

import trio

from ..metrics.catalog import FAMILIES
from ..metrics.histogram import Histogram
from ..metrics.prometheus import Exposition
from .info import SECTIONS

if TYPE_CHECKING:
    from .state import ServerState


# Per-command histograms' upper bounds, in microseconds (10 us to 1.3 s, doubling).
COMMAND_BOUNDS_USEC: Final = tuple(10 * 2**i for i in range(18))


def command_buckets(histogram: Histogram) -> list[tuple[float, int]]:
    """A command's latency histogram (INFO latencystats') as cumulative counts under
    `COMMAND_BOUNDS_USEC`, in seconds. Durations under 1024 us are counted by the exact
    microsecond, so those buckets are exact; a longer one is in an HdrHistogram bucket (2
    significant digits), counted under a bound if its bucket starts at or under it."""
    exact = histogram.exact
    slow = sorted(histogram.slow.items())
    out: list[tuple[float, int]] = []
    seen = start = index = 0
    for bound in COMMAND_BOUNDS_USEC:
        stop = min(bound + 1, len(exact))
        if start < stop:
            seen += sum(exact[start:stop])
            start = stop
        limit = bound * 1000
        while index < len(slow) and slow[index][0] <= limit:
            seen += slow[index][1]
            index += 1
        out.append((bound / 1e6, seen))
    rest = sum(exact[start:]) + sum(count for _, count in slow[index:])
    out.append((math.inf, seen + rest))
    return out


def _section(state: ServerState, name: str) -> dict[str, object]:
    return dict(SECTIONS[name][1](state))


def _consensus(state: ServerState, out: Exposition) -> None:
    node = state.node
    metrics = node.metrics
    out.add("concord_server_leader_changes_seen_total", metrics.leader_changes)
    out.add("concord_server_proposals_pending", node.proposals.pending)
    out.add("concord_server_proposals_failed_total", metrics.proposals_failed)
    out.buckets("concord_server_commit_duration_seconds", metrics.commit)
    out.buckets("concord_server_read_index_duration_seconds", metrics.read_index)
    out.buckets("concord_disk_wal_fsync_duration_seconds", metrics.wal_fsync)
    snapshots = node.snapshots
    out.add("concord_server_snapshot_index", snapshots.index)
    out.add("concord_server_snapshots_taken_total", metrics.snapshots_taken)
    out.add("concord_server_snapshots_failed_total", metrics.snapshots_failed)
    out.buckets("concord_server_snapshot_save_duration_seconds", metrics.snapshot_take)
    out.add("concord_server_snapshots_installed_total", metrics.snapshots_installed)
    out.add("concord_network_snapshot_send_success_total", snapshots.sent)
    out.buckets("concord_network_snapshot_send_total_duration_seconds", metrics.snapshot_send)
    out.add("concord_network_snapshot_receive_success_total", snapshots.received)
    out.buckets("concord_network_snapshot_receive_total_duration_seconds", metrics.snapshot_receive)
    if node.rn is None:  # loading: no Raft state yet
        return
    status = node.refresh_status()
    applied = state.machine.applied_index
    out.add("concord_server_has_leader", int(bool(status.lead)))
    out.add("concord_server_is_leader", int(status.is_leader))
    out.add("concord_server_term", status.term)
    out.add("concord_server_proposals_committed_total", status.commit)
    out.add("concord_server_proposals_applied_total", applied)
    out.add("concord_server_apply_lag", max(0, status.commit - applied))
    out.add("concord_server_log_last_index", status.last_index)
    out.add("concord_cluster_members", len(status.voters) + len(status.learners))
    out.add("concord_cluster_voters", len(status.voters))
    out.add("concord_cluster_learners", len(status.learners))
    now = trio.current_time()
    for peer in sorted(status.members):
        if peer == node.name:
            continue
        labels = (peer,)
        out.add("concord_network_peer_reachable", int(node.links.get(peer, False)), labels)
        contact = node.last_contact.get(peer)
        if contact is not None:
            out.add("concord_network_peer_last_contact_seconds", round(now - contact, 3), labels)
        rtt = metrics.peer_rtt.get(peer)
        if rtt is not None:
            out.buckets("concord_network_peer_round_trip_time_seconds", rtt, labels)


def _commands(state: ServerState, out: Exposition) -> None:
    counted = state.metrics.commands
    for spec in state.table.all_specs():
        stats = counted.get(spec.name)
        if stats is None or not (stats.calls or stats.rejected_calls or stats.failed_calls):
            continue
        labels = (spec.name,)
        out.add("concord_commands_total", stats.calls, labels)
        out.add("concord_commands_failed_total", stats.failed_calls, labels)
        out.add("concord_commands_rejected_total", stats.rejected_calls, labels)
        if stats.latency:  # (empty while latency-tracking is off)
            out.histogram(
                "concord_command_duration_seconds",
                command_buckets(stats.latency),
                stats.usec / 1e6,
                labels,
            )
    errors = state.metrics.errors.counts
    for code in sorted(errors):
        out.add("concord_errors_total", errors[code], (code,))


def _server(state: ServerState, out: Exposition) -> None:
    metrics = state.metrics
    clients = _section(state, "clients")
    out.add("concord_connected_clients", int(str(clients["connected_clients"])))
    out.add("concord_blocked_clients", int(str(clients["blocked_clients"])))
    out.add("concord_connections_received_total", metrics.connections_received)
    out.add("concord_connections_rejected_total", metrics.connections_rejected)
    out.add("concord_net_input_bytes_total", metrics.net_input_bytes)
    out.add("concord_net_output_bytes_total", metrics.net_output_bytes)
    memory = _section(state, "memory")
    out.add("concord_memory_used_bytes", int(str(memory["used_memory"])))
    for name, value in _section(state, "keyspace").items():
        fields = dict(pair.split("=", 1) for pair in str(value).split(","))
        db = name.removeprefix("db")
        out.add("concord_keys", int(fields["keys"]), (db,))
        out.add("concord_expiring_keys", int(fields["expires"]), (db,))


def render_metrics(state: ServerState) -> str:
    """The node's metrics in Prometheus's text format."""
    out = Exposition(FAMILIES)
    _consensus(state, out)
    _commands(state, out)
    _server(state, out)
    return out.render()
