"""INFO: Redis's sections and field names, filled from the server's state and counters.

Field names follow Redis 7 so monitoring tools that parse INFO keep working; values Concord
does not have a notion of (replication backlog, RDB child) report what Redis reports when the
feature is idle. Concord-specific fields carry a `concord_` or `wal_` prefix.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..server.state import ServerState

from .. import __version__

REDIS_VERSION = "7.0.15"
DEFAULT_SECTIONS = [
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
]
ALL_SECTIONS = [*DEFAULT_SECTIONS[:9], "commandstats", "cluster", "keyspace"]


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{value:.2f}{unit}" if unit != "B" else f"{int(value)}B"
        value /= 1024
    return f"{size}B"  # pragma: no cover


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _server(state: ServerState) -> list[tuple[str, object]]:
    uptime = int(state.uptime())
    return [
        ("redis_version", REDIS_VERSION),
        ("redis_git_sha1", "00000000"),
        ("redis_git_dirty", 0),
        ("redis_build_id", "0"),
        ("redis_mode", "standalone"),
        ("os", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("arch_bits", 64),
        ("monotonic_clock", "POSIX clock_gettime"),
        ("multiplexing_api", "epoll"),
        ("process_id", state.pid),
        ("process_supervised", "no"),
        ("run_id", state.run_id),
        ("tcp_port", state.tcp_port),
        ("server_time_usec", time.time_ns() // 1000),
        ("uptime_in_seconds", uptime),
        ("uptime_in_days", uptime // 86400),
        ("hz", round(1 / state.node.expire_interval)),
        ("configured_hz", state.config.hz),
        ("executable", sys.argv[0]),
        ("config_file", ""),
        ("concord_version", __version__),
        ("python_version", platform.python_version()),
    ]


def _clients(state: ServerState) -> list[tuple[str, object]]:
    return [
        ("connected_clients", len(state.clients)),
        ("cluster_connections", 0),
        ("maxclients", state.settings.maxclients),
        ("client_recent_max_input_buffer", 0),
        ("client_recent_max_output_buffer", 0),
        ("blocked_clients", 0),
        ("tracking_clients", 0),
        ("clients_in_timeout_table", 0),
    ]


def _memory(state: ServerState) -> list[tuple[str, object]]:
    rss = _rss_bytes()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return [
        ("used_memory", rss),
        ("used_memory_human", _human(rss)),
        ("used_memory_rss", rss),
        ("used_memory_rss_human", _human(rss)),
        ("used_memory_peak", peak),
        ("used_memory_peak_human", _human(peak)),
        ("maxmemory", 0),
        ("maxmemory_human", "0B"),
        ("maxmemory_policy", "noeviction"),
        ("mem_allocator", "pymalloc"),
    ]


def _persistence(state: ServerState) -> list[tuple[str, object]]:
    node = state.node
    wal = node.wal
    return [
        ("loading", int(node.loading)),
        ("async_loading", 0),
        ("loading_loaded_entries", node.loaded_entries),
        ("rdb_changes_since_last_save", node.last_index),
        ("rdb_bgsave_in_progress", 0),
        ("rdb_last_save_time", state.last_save),
        ("rdb_last_bgsave_status", "ok"),
        ("aof_enabled", 1),
        ("aof_rewrite_in_progress", 0),
        ("aof_last_write_status", "ok"),
        ("wal_fsync", "always" if wal.fsync else "never"),
        ("wal_last_index", node.last_index),
        ("wal_bytes_written", wal.bytes_written),
        ("wal_fsyncs", wal.fsyncs),
        ("wal_batches", node.batches),
        ("wal_entries_written", node.entries_written),
    ]


def _stats(state: ServerState) -> list[tuple[str, object]]:
    stats = state.machine.stats
    return [
        ("total_connections_received", state.clients.total_connections),
        ("total_commands_processed", state.commands_processed),
        ("instantaneous_ops_per_sec", state.ops_per_sec()),
        ("total_net_input_bytes", state.net_input_bytes),
        ("total_net_output_bytes", state.net_output_bytes),
        ("rejected_connections", state.clients.rejected_connections),
        ("expired_keys", stats.expired_keys),
        ("evicted_keys", 0),
        ("keyspace_hits", stats.keyspace_hits),
        ("keyspace_misses", stats.keyspace_misses),
        ("pubsub_channels", 0),
        ("pubsub_patterns", 0),
        (
            "total_error_replies",
            state.rejected_calls + sum(s.failed_calls for s in state.table.all_specs()),
        ),
    ]


def _replication(state: ServerState) -> list[tuple[str, object]]:
    return [
        ("role", "master"),
        ("connected_slaves", 0),
        ("master_failover_state", "no-failover"),
        ("master_replid", state.run_id),
        ("master_repl_offset", state.machine.applied_index),
    ]


def _cpu(state: ServerState) -> list[tuple[str, object]]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return [
        ("used_cpu_sys", f"{own.ru_stime:.6f}"),
        ("used_cpu_user", f"{own.ru_utime:.6f}"),
        ("used_cpu_sys_children", f"{children.ru_stime:.6f}"),
        ("used_cpu_user_children", f"{children.ru_utime:.6f}"),
    ]


def _commandstats(state: ServerState) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for spec in state.table.all_specs():
        if spec.calls or spec.rejected_calls or spec.failed_calls:
            per_call = spec.usec / spec.calls if spec.calls else 0.0
            out.append(
                (
                    f"cmdstat_{spec.name}",
                    f"calls={spec.calls},usec={spec.usec},usec_per_call={per_call:.2f},"
                    f"rejected_calls={spec.rejected_calls},failed_calls={spec.failed_calls}",
                )
            )
    return out


def _keyspace(state: ServerState) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    now = max(time.time_ns() // 1000, state.machine.last_time_us) // 1000
    for number, db in enumerate(state.machine.keyspace.dbs):
        keys = db.live_count(now)
        if keys:
            expires = len(db.expires) - (len(db.data) - keys)
            out.append((f"db{number}", f"keys={keys},expires={expires},avg_ttl=0"))
    return out


def _empty(state: ServerState) -> list[tuple[str, object]]:
    return []


SECTIONS: dict[str, tuple[str, Callable[[ServerState], list[tuple[str, object]]]]] = {
    "server": ("Server", _server),
    "clients": ("Clients", _clients),
    "memory": ("Memory", _memory),
    "persistence": ("Persistence", _persistence),
    "stats": ("Stats", _stats),
    "replication": ("Replication", _replication),
    "cpu": ("CPU", _cpu),
    "modules": ("Modules", _empty),
    "errorstats": ("Errorstats", _empty),
    "commandstats": ("Commandstats", _commandstats),
    "cluster": ("Cluster", lambda state: [("cluster_enabled", 0)]),
    "keyspace": ("Keyspace", _keyspace),
}


def render_info(state: ServerState, requested: list[str]) -> bytes:
    names: list[str] = []
    for name in requested or ["default"]:
        if name == "default":
            names.extend(DEFAULT_SECTIONS)
        elif name in ("all", "everything"):
            names.extend(ALL_SECTIONS)
        elif name in SECTIONS:
            names.append(name)
    seen: set[str] = set()
    parts: list[str] = []
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        title, render = SECTIONS[name]
        lines = [f"# {title}"] + [f"{key}:{value}" for key, value in render(state)]
        parts.append("\r\n".join(lines) + "\r\n")
    return "\r\n".join(parts).encode()
