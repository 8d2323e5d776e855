"""Every metric `/metrics` serves, declared once: name, type, help, labels.

Names follow Prometheus's conventions (`_total` counters, `_seconds` and `_bytes` units) and
etcd's where etcd has the same metric (`concord_server_*`, `concord_disk_*`,
`concord_network_*` as `etcd_server_*`, ...), so dashboards written for etcd read Concord's
consensus the same way. Label values are bounded: command names come from the command table,
error codes are capped as INFO errorstats caps them, peers are the members, databases are
numbered. README's metrics table is generated from this list
(`scripts/dev/gen_metrics_table.py`).
"""

from __future__ import annotations

from typing import Final

from .prometheus import Family

FAMILIES: Final = (
    # -- consensus (etcd's names) ------------------------------------------------------------
    Family("concord_server_has_leader", "gauge", "1 if this node knows a leader, else 0"),
    Family("concord_server_is_leader", "gauge", "1 if this node is the leader, else 0"),
    Family(
        "concord_server_leader_changes_seen_total",
        "counter",
        "leaders this node has seen take over (since it started)",
    ),
    Family("concord_server_term", "gauge", "this node's Raft term"),
    Family(
        "concord_server_proposals_committed_total",
        "gauge",
        "the commit index: entries known committed (a gauge, as etcd's)",
    ),
    Family(
        "concord_server_proposals_applied_total",
        "gauge",
        "the applied index: entries applied to this node's state machine (a gauge, as etcd's)",
    ),
    Family(
        "concord_server_proposals_pending",
        "gauge",
        "this node's writes proposed or forwarded and not answered yet",
    ),
    Family(
        "concord_server_proposals_failed_total",
        "counter",
        "this node's writes answered with an error instead of being applied (timeout, no"
        " leader, too large, ...)",
    ),
    Family(
        "concord_server_apply_lag",
        "gauge",
        "entries committed but not applied yet here (commit index - applied index)",
    ),
    Family(
        "concord_server_commit_duration_seconds",
        "histogram",
        "on the leader: a batch of writes from its proposal to its entries applied",
    ),
    Family(
        "concord_server_read_index_duration_seconds",
        "histogram",
        "a batch of linearizable reads: from asking the leader for a read point to having it",
    ),
    Family(
        "concord_disk_wal_fsync_duration_seconds",
        "histogram",
        "the log's fdatasync, one per group commit",
    ),
    Family("concord_server_log_last_index", "gauge", "the last index in this node's log"),
    Family("concord_server_snapshot_index", "gauge", "the index of this node's newest snapshot"),
    Family("concord_server_snapshots_taken_total", "counter", "snapshots this node wrote"),
    Family(
        "concord_server_snapshots_failed_total", "counter", "snapshots this node failed to write"
    ),
    Family(
        "concord_server_snapshot_save_duration_seconds",
        "histogram",
        "writing a snapshot (in a forked child)",
    ),
    Family(
        "concord_server_snapshots_installed_total",
        "counter",
        "snapshots from the leader this node installed as its state",
    ),
    Family(
        "concord_network_snapshot_send_success_total",
        "counter",
        "snapshot streams sent whole to followers",
    ),
    Family(
        "concord_network_snapshot_send_total_duration_seconds",
        "histogram",
        "sending a snapshot stream to a follower, first chunk to last acknowledgement",
    ),
    Family(
        "concord_network_snapshot_receive_success_total",
        "counter",
        "snapshot streams received whole from the leader",
    ),
    Family(
        "concord_network_snapshot_receive_total_duration_seconds",
        "histogram",
        "receiving a snapshot stream, first chunk to last",
    ),
    Family(
        "concord_network_peer_round_trip_time_seconds",
        "histogram",
        "on the leader: a heartbeat to a peer and its answer",
        ("peer",),
    ),
    Family(
        "concord_network_peer_reachable",
        "gauge",
        "1 while this node's link to the peer is connected, else 0",
        ("peer",),
    ),
    Family(
        "concord_network_peer_last_contact_seconds",
        "gauge",
        "seconds since the last frame from the peer (absent: none yet)",
        ("peer",),
    ),
    Family(
        "concord_cluster_members", "gauge", "members in the configuration (voters and learners)"
    ),
    Family("concord_cluster_voters", "gauge", "voting members in the configuration"),
    Family("concord_cluster_learners", "gauge", "learners (catching up, not voting yet)"),
    # -- the Redis side (INFO's counters) -----------------------------------------------------
    Family(
        "concord_commands_total",
        "counter",
        "commands run, by name (INFO commandstats calls)",
        ("command",),
    ),
    Family(
        "concord_commands_failed_total",
        "counter",
        "commands that ran and answered an error (INFO commandstats failed_calls)",
        ("command",),
    ),
    Family(
        "concord_commands_rejected_total",
        "counter",
        "commands refused before running (INFO commandstats rejected_calls)",
        ("command",),
    ),
    Family(
        "concord_command_duration_seconds",
        "histogram",
        "how long commands took to run, by name (INFO latencystats)",
        ("command",),
    ),
    Family(
        "concord_errors_total",
        "counter",
        "error replies by code (INFO errorstats: the first 128 codes seen)",
        ("prefix",),
    ),
    Family("concord_connected_clients", "gauge", "client connections to this node"),
    Family(
        "concord_blocked_clients",
        "gauge",
        "this node's clients in a blocking command or held by CLIENT PAUSE",
    ),
    Family("concord_connections_received_total", "counter", "client connections accepted"),
    Family(
        "concord_connections_rejected_total", "counter", "client connections refused (maxclients)"
    ),
    Family("concord_net_input_bytes_total", "counter", "bytes read from clients"),
    Family("concord_net_output_bytes_total", "counter", "bytes sent to clients"),
    Family(
        "concord_memory_used_bytes", "gauge", "the process's resident memory (INFO used_memory)"
    ),
    Family("concord_keys", "gauge", "keys in a database (INFO keyspace)", ("db",)),
    Family("concord_expiring_keys", "gauge", "keys with a TTL in a database", ("db",)),
)
