"""INFO: Redis's sections and field names, filled from the server's state and counters.

Field names follow Redis 7.0 so monitoring tools that parse INFO keep working: sections come
in Redis's fixed order whatever order they were asked in, and each field Concord reports has
Redis's name and meaning. Values Concord has no notion of (replication backlog, RDB child)
report what Redis reports when that feature is idle; fields Concord cannot measure honestly
are left out rather than invented. Concord-specific fields carry a `concord_`, `python_` or
`wal_` prefix (`CONCORD_FIELD_PREFIXES`).

The counters come from the server's `metrics` registry (a leaf), so INFO and any other view
of them never disagree.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, cast

import trio

from .. import REDIS_VERSION
from ..commands.blocking import has_timeout
from ..parameters import format_percentile
from .memory import memory_figures
from .pubsub import CHANNELS, PATTERNS, SHARD

if TYPE_CHECKING:
    from .state import ServerState

from .. import __version__

CONCORD_FIELD_PREFIXES: Final = ("concord_", "python_", "wal_")

# Redis's canonical order; a reply lists the requested sections in this order.
SECTION_ORDER: Final = (
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
    "raft",
)
DEFAULT_SECTIONS: Final = frozenset(SECTION_ORDER) - {"commandstats", "latencystats", "raft"}
ALL_SECTIONS: Final = frozenset(SECTION_ORDER)

LRU_CLOCK_MAX: Final = (1 << 24) - 1

Fields = list[tuple[str, object]]


def _human(size: int) -> str:
    """Redis's `bytesToHuman`."""
    value = float(size)
    for unit in ("B", "K", "M", "G", "T", "P"):
        if value < 1024 or unit == "P":
            return f"{int(value)}B" if unit == "B" else f"{value:.2f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _system_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):  # pragma: no cover - not POSIX
        return 0


def _server(state: ServerState) -> Fields:
    uptime = int(state.uptime())
    hz = round(1 / state.node.expiry.interval)
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
        ("atomicvar_api", "python-gil"),  # (one thread runs the event loop)
        ("gcc_version", "0.0.0"),  # what Redis prints when not built by GCC
        ("process_id", state.pid),
        ("process_supervised", "no"),
        ("run_id", state.run_id),
        ("tcp_port", state.tcp_port),
        ("server_time_usec", time.time_ns() // 1000),
        ("uptime_in_seconds", uptime),
        ("uptime_in_days", uptime // 86400),
        ("hz", hz),
        ("configured_hz", hz),
        ("lru_clock", (time.time_ns() // 1_000_000_000) & LRU_CLOCK_MAX),
        ("executable", os.path.abspath(sys.argv[0])),
        ("config_file", state.config.config_file),
        ("io_threads_active", 0),
        ("concord_version", __version__),
        ("python_version", platform.python_version()),
    ]


def _clients(state: ServerState) -> Fields:
    # This node's clients waiting in a registered wait (a blocking command), and those of
    # them with a timeout, as Redis counts its own.
    waiting = [c.blocking for c in state.clients if c.blocking is not None and c.blocking.blocked]
    blocked = len(waiting) + state.pause.held  # (Redis counts clients held by a pause)
    timed = sum(1 for proposal in waiting if has_timeout(cast(list[bytes], proposal.body)))
    return [
        ("connected_clients", len(state.clients)),
        ("cluster_connections", 0),
        ("maxclients", state.settings.maxclients),
        ("client_recent_max_input_buffer", 0),
        ("client_recent_max_output_buffer", state.buffers.biggest_output()),
        ("blocked_clients", blocked),
        ("tracking_clients", state.tracking.tracking_clients),
        ("clients_in_timeout_table", timed),
        # Every node's blocked clients, as this node has applied them (replicated state).
        ("concord_blocked_waiters", len(state.machine.blocked.waiters)),
    ]


def _memory(state: ServerState) -> Fields:
    # Python has no allocator statistics worth the name: the process's RSS stands in for
    # used_memory (it is what an operator sizing a machine cares about), and the derived
    # figures are MEMORY STATS's (`server.memory`).
    figures = dict(memory_figures(state))
    rss = cast(int, figures[b"total.allocated"])
    peak = cast(int, figures[b"peak.allocated"])
    startup = cast(int, figures[b"startup.allocated"])
    overhead = cast(int, figures[b"overhead.total"])
    dataset = cast(int, figures[b"dataset.bytes"])
    clients = cast(int, figures[b"clients.normal"])
    system = _system_memory()
    scripting = state.machine.scripting
    vm_eval = scripting.vm_memory()
    scripts_eval = scripting.scripts.body_bytes
    functions = scripting.functions
    functions_bytes = sum(len(library.code) for library in functions.libraries.values())
    return [
        ("used_memory", rss),
        ("used_memory_human", _human(rss)),
        ("used_memory_rss", rss),
        ("used_memory_rss_human", _human(rss)),
        ("used_memory_peak", peak),
        ("used_memory_peak_human", _human(peak)),
        ("used_memory_peak_perc", f"{rss * 100 / peak if peak else 0:.2f}%"),
        ("used_memory_overhead", overhead),
        ("used_memory_startup", startup),
        ("used_memory_dataset", dataset),
        ("used_memory_dataset_perc", f"{figures[b'dataset.percentage']:.2f}%"),
        ("allocator_allocated", rss),
        ("allocator_active", rss),
        ("allocator_resident", rss),
        ("total_system_memory", system),
        ("total_system_memory_human", _human(system)),
        # Lua: the one Lua state's heap serves scripts and functions alike (Redis 7.0 has one
        # each, so its vm_functions counts here as vm_eval); the script cache's bytes are the
        # bodies and their SHA1s, the libraries' their code. Libraries and cached scripts are
        # replicated state, the same on every node.
        ("used_memory_lua", vm_eval),
        ("used_memory_vm_eval", vm_eval),
        ("used_memory_lua_human", _human(vm_eval)),
        ("used_memory_scripts_eval", scripts_eval),
        ("number_of_cached_scripts", len(scripting.scripts.bodies)),
        ("number_of_functions", functions.function_count),
        ("number_of_libraries", len(functions.libraries)),
        ("used_memory_vm_functions", 0),
        ("used_memory_vm_total", vm_eval),
        ("used_memory_vm_total_human", _human(vm_eval)),
        ("used_memory_functions", functions_bytes),
        ("used_memory_scripts", scripts_eval + functions_bytes),
        ("used_memory_scripts_human", _human(scripts_eval + functions_bytes)),
        ("maxmemory", state.settings.maxmemory),
        ("maxmemory_human", _human(state.settings.maxmemory)),
        ("maxmemory_policy", "noeviction"),
        # No allocator to ask: the ratios are 1, not invented (see `server.memory`).
        ("allocator_frag_ratio", "1.00"),
        ("allocator_frag_bytes", 0),
        ("allocator_rss_ratio", "1.00"),
        ("allocator_rss_bytes", 0),
        ("rss_overhead_ratio", "1.00"),
        ("rss_overhead_bytes", 0),
        ("mem_fragmentation_ratio", "1.00"),
        ("mem_fragmentation_bytes", 0),
        ("mem_not_counted_for_evict", 0),
        ("mem_replication_backlog", 0),
        ("mem_total_replication_buffers", 0),
        ("mem_clients_slaves", 0),
        ("mem_clients_normal", clients),
        ("mem_cluster_links", 0),
        ("mem_aof_buffer", 0),
        ("mem_allocator", "pymalloc"),
        ("active_defrag_running", 0),
        ("lazyfree_pending_objects", 0),
        ("lazyfreed_objects", 0),
    ]


def _persistence(state: ServerState) -> Fields:
    node = state.node
    wal = node.wal
    snapshots = node.snapshots
    writer = node.runner.writer if node.runner is not None else None
    return [
        ("loading", int(node.loading)),
        ("async_loading", 0),
        # Snapshots are written by a forked child (`cluster.snapshots`), whose copy-on-write
        # Concord does not measure.
        ("current_cow_peak", 0),
        ("current_cow_size", 0),
        ("current_cow_size_age", 0),
        ("current_fork_perc", "0.00"),
        ("current_save_keys_processed", 0),
        ("current_save_keys_total", 0),
        ("rdb_changes_since_last_save", state.machine.applied_index - snapshots.index),
        ("rdb_bgsave_in_progress", int(snapshots.taking)),
        ("rdb_last_save_time", int(snapshots.time) or state.last_save),
        ("rdb_last_bgsave_status", "err" if snapshots.failed else "ok"),
        ("rdb_last_bgsave_time_sec", -1),
        ("rdb_current_bgsave_time_sec", -1),
        ("rdb_saves", 0),
        ("rdb_last_cow_size", 0),
        ("rdb_last_load_keys_expired", 0),
        ("rdb_last_load_keys_loaded", 0),
        ("aof_enabled", 1),
        ("aof_rewrite_in_progress", 0),
        ("aof_rewrite_scheduled", 0),
        ("aof_last_rewrite_time_sec", -1),
        ("aof_current_rewrite_time_sec", -1),
        ("aof_last_bgrewrite_status", "ok"),
        ("aof_rewrites", 0),
        ("aof_rewrites_consecutive_failures", 0),
        ("aof_last_write_status", "ok"),
        ("aof_last_cow_size", 0),
        ("module_fork_in_progress", 0),
        ("module_fork_last_cow_size", 0),
        ("wal_fsync", "always" if wal.fsync else "never"),
        ("wal_loaded_entries", node.loaded_entries),
        ("wal_last_index", node.status.last_index),
        ("wal_bytes_written", wal.bytes_written),
        ("wal_fsyncs", wal.fsyncs),
        ("wal_batches", writer.batches if writer is not None else 0),
        ("wal_entries_written", writer.entries if writer is not None else 0),
        ("wal_promise_index", node.promise.promise.index if node.promise is not None else 0),
        ("wal_promise_writes", node.promise.writes if node.promise is not None else 0),
    ]


def _stats(state: ServerState) -> Fields:
    stats = state.machine.stats
    metrics = state.metrics
    return [
        ("total_connections_received", metrics.connections_received),
        ("total_commands_processed", metrics.commands_processed),
        ("instantaneous_ops_per_sec", state.ops_per_sec()),
        ("total_net_input_bytes", metrics.net_input_bytes),
        ("total_net_output_bytes", metrics.net_output_bytes),
        ("total_net_repl_input_bytes", 0),
        ("total_net_repl_output_bytes", 0),
        ("instantaneous_input_kbps", f"{state.input_kbps():.2f}"),
        ("instantaneous_output_kbps", f"{state.output_kbps():.2f}"),
        ("instantaneous_input_repl_kbps", "0.00"),
        ("instantaneous_output_repl_kbps", "0.00"),
        ("rejected_connections", metrics.connections_rejected),
        ("sync_full", 0),
        ("sync_partial_ok", 0),
        ("sync_partial_err", 0),
        ("expired_keys", state.machine.keyspace.expired_deletions()),
        ("expired_stale_perc", "0.00"),
        ("expired_time_cap_reached_count", 0),
        ("expire_cycle_cpu_milliseconds", 0),
        ("evicted_keys", 0),
        ("evicted_clients", state.buffers.evicted),
        ("total_eviction_exceeded_time", 0),
        ("current_eviction_exceeded_time", 0),
        ("keyspace_hits", stats.keyspace_hits),
        ("keyspace_misses", stats.keyspace_misses),
        ("pubsub_channels", state.pubsub.count(CHANNELS)),
        ("pubsub_patterns", state.pubsub.count(PATTERNS)),
        ("pubsubshard_channels", state.pubsub.count(SHARD)),
        ("latest_fork_usec", 0),
        ("total_forks", 0),
        ("migrate_cached_sockets", 0),
        ("slave_expires_tracked_keys", 0),
        ("active_defrag_hits", 0),
        ("active_defrag_misses", 0),
        ("active_defrag_key_hits", 0),
        ("active_defrag_key_misses", 0),
        ("total_active_defrag_time", 0),
        ("current_active_defrag_time", 0),
        ("tracking_total_keys", state.tracking.total_keys()),
        ("tracking_total_items", state.tracking.items),
        ("tracking_total_prefixes", state.tracking.total_prefixes()),
        ("unexpected_error_replies", 0),
        ("total_error_replies", metrics.errors.total),
        ("dump_payload_sanitizations", 0),
        ("total_reads_processed", metrics.reads_processed),
        ("total_writes_processed", metrics.writes_processed),
        ("io_threaded_reads_processed", 0),
        ("io_threaded_writes_processed", 0),
        ("reply_buffer_shrinks", 0),
        ("reply_buffer_expands", 0),
    ]


def _replication(state: ServerState) -> Fields:
    """Concord's roles in Redis's terms. Every node is a `master` to its clients: each takes
    writes (a follower forwards them to the leader) and serves linearizable reads, so no
    client should treat one as a read-only replica. The leader lists the other members as
    its replicas (`slaveN`: their address, `online` once they answered, the log index they
    hold as `offset`, and seconds since they last answered as `lag`); a follower lists none.
    The offset is the applied log index. INFO raft has the Raft roles themselves."""
    node = state.node
    replicas: Fields = []
    now = trio.current_time()
    for name, progress in sorted(node.progress().items()):
        member = node.members.get(name)
        if name == node.name or member is None:
            continue
        contact = node.last_contact.get(name)
        online = "online" if contact is not None else "wait_bgsave"
        lag = int(now - contact) if contact is not None else -1
        replicas.append(
            (
                f"slave{len(replicas)}",
                f"ip={member.host},port={member.port},state={online},"
                f"offset={progress.match},lag={lag}",
            )
        )
    return [
        ("role", "master"),
        ("connected_slaves", len(replicas)),
        *replicas,
        ("master_failover_state", "no-failover"),
        ("master_replid", state.run_id),
        ("master_replid2", "0" * 40),
        ("master_repl_offset", state.machine.applied_index),
        ("second_repl_offset", -1),
        ("repl_backlog_active", 0),
        ("repl_backlog_size", 1048576),
        ("repl_backlog_first_byte_offset", 0),
        ("repl_backlog_histlen", 0),
    ]


def _cpu(state: ServerState) -> Fields:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    fields: Fields = [
        ("used_cpu_sys", f"{own.ru_stime:.6f}"),
        ("used_cpu_user", f"{own.ru_utime:.6f}"),
        ("used_cpu_sys_children", f"{children.ru_stime:.6f}"),
        ("used_cpu_user_children", f"{children.ru_utime:.6f}"),
    ]
    thread_usage = getattr(resource, "RUSAGE_THREAD", None)
    if thread_usage is not None:  # Linux: the event loop's thread (fsync runs in workers)
        main = resource.getrusage(thread_usage)
        fields.append(("used_cpu_sys_main_thread", f"{main.ru_stime:.6f}"))
        fields.append(("used_cpu_user_main_thread", f"{main.ru_utime:.6f}"))
    return fields


def _commandstats(state: ServerState) -> Fields:
    out: Fields = []
    counted = state.metrics.commands
    for spec in state.table.all_specs():
        stats = counted.get(spec.name)
        if stats is not None and (stats.calls or stats.rejected_calls or stats.failed_calls):
            per_call = stats.usec / stats.calls if stats.calls else 0.0
            out.append(
                (
                    f"cmdstat_{spec.name}",
                    f"calls={stats.calls},usec={stats.usec},usec_per_call={per_call:.2f},"
                    f"rejected_calls={stats.rejected_calls},failed_calls={stats.failed_calls}",
                )
            )
    return out


def _errorstats(state: ServerState) -> Fields:
    counts = state.metrics.errors.counts
    # Redis keeps them in a radix tree: listed in byte order of the code.
    return [(f"errorstat_{code}", f"count={counts[code]}") for code in sorted(counts)]


def _keyspace(state: ServerState) -> Fields:
    out: Fields = []
    now = max(time.time_ns() // 1000, state.machine.last_time_us) // 1000
    for number, db in enumerate(state.machine.keyspace.dbs):
        keys = db.live_count(now)
        if keys:
            expires = len(db.expires) - (len(db.data) - keys)
            out.append((f"db{number}", f"keys={keys},expires={expires},avg_ttl=0"))
    return out


def _latencystats(state: ServerState) -> Fields:
    """Each command's latency percentiles (latency-tracking-info-percentiles), as Redis
    prints them: `p50=1.003,p99=...` in microseconds."""
    wanted = state.metrics.latency_percentiles
    names = [f"p{format_percentile(p)}" for p in wanted]
    out: Fields = []
    counted = state.metrics.commands
    for spec in state.table.all_specs():
        stats = counted.get(spec.name)
        if stats is not None and stats.latency:
            values = stats.latency.percentiles(wanted)
            text = ",".join(f"{n}={v:.3f}" for n, v in zip(names, values, strict=True))
            out.append((f"latency_percentiles_usec_{spec.name}", text))
    return out


def _empty(state: ServerState) -> Fields:
    return []


def _cluster(state: ServerState) -> Fields:
    return [("cluster_enabled", 0)]


def _raft(state: ServerState) -> list[tuple[str, object]]:
    """Concord's consensus state: this node, and (on the leader) every member's replication."""
    node = state.node
    if node.rn is None:
        return [("raft_node", node.name), ("raft_role", "loading")]
    status = node.refresh_status()
    replication = node.progress()
    snapshots = node.snapshots
    counted = node.metrics  # (the counters /metrics shows too)
    now = trio.current_time()
    lines: list[tuple[str, object]] = [
        ("raft_node", node.name),
        ("raft_role", status.role.name.lower().replace("_", "-")),
        ("raft_term", status.term),
        ("raft_leader", status.lead or "none"),
        ("raft_commit_index", status.commit),
        ("raft_applied_index", state.machine.applied_index),
        ("raft_last_index", status.last_index),
        ("raft_first_index", status.first_index),
        ("raft_snapshot_index", snapshots.index),
        ("raft_snapshots_sent", snapshots.sent),
        ("raft_snapshots_received", snapshots.received),
        ("raft_log_segments_deleted", snapshots.segments_deleted),
        ("raft_leader_changes", counted.leader_changes),
        ("raft_apply_lag", max(0, status.commit - state.machine.applied_index)),
        ("raft_proposals_pending", node.proposals.pending),
        ("raft_proposals_failed", counted.proposals_failed),
        ("raft_snapshots_taken", counted.snapshots_taken),
        ("raft_snapshots_installed", counted.snapshots_installed),
        ("raft_cluster_id", node.cluster_id),
        ("raft_initial_cluster", node.initial_cluster),
        ("raft_voters", ",".join(status.voters)),
        ("raft_learners", ",".join(status.learners)),
    ]
    for name in sorted(status.members):
        member = node.members.get(name)
        address = f"{member.host}:{member.port}@{member.cluster_port}" if member else "?"
        progress = replication.get(name)
        match = progress.match if progress is not None else -1
        if name == node.name:
            contact = 0
        elif name in node.last_contact:
            contact = int((now - node.last_contact[name]) * 1000)
        else:
            contact = -1
        role = "learner" if name in status.learners else "voter"
        lines.append(
            (
                f"member_{name}",
                f"address={address},{role}=1,match={match},last_contact_ms={contact}",
            )
        )
    return lines


SECTIONS: Final[dict[str, tuple[str, Callable[[ServerState], Fields]]]] = {
    "server": ("Server", _server),
    "clients": ("Clients", _clients),
    "memory": ("Memory", _memory),
    "persistence": ("Persistence", _persistence),
    "stats": ("Stats", _stats),
    "replication": ("Replication", _replication),
    "cpu": ("CPU", _cpu),
    "modules": ("Modules", _empty),
    "commandstats": ("Commandstats", _commandstats),
    "errorstats": ("Errorstats", _errorstats),
    "latencystats": ("Latencystats", _latencystats),
    "cluster": ("Cluster", _cluster),
    "keyspace": ("Keyspace", _keyspace),
    "raft": ("Raft", _raft),
}


def requested_sections(arguments: list[bytes]) -> set[str]:
    """The sections INFO's arguments ask for (Redis's `genInfoSectionDict`).

    No argument means `default`; `all` and `everything` mean every section (Concord has no
    module sections to tell them apart); unknown names ask for nothing.
    """
    wanted: set[str] = set()
    for argument in arguments or [b"default"]:
        name = argument.decode("latin-1").lower()
        if name == "default":
            wanted |= DEFAULT_SECTIONS
        elif name in ("all", "everything"):
            wanted |= ALL_SECTIONS
        elif name in SECTIONS:
            wanted.add(name)
    return wanted


def render_info(state: ServerState, arguments: list[bytes]) -> bytes:
    """The INFO text: `# Title` then `field:value` lines, sections separated by a blank line."""
    wanted = requested_sections(arguments)
    parts: list[str] = []
    for name in SECTION_ORDER:
        if name not in wanted:
            continue
        title, render = SECTIONS[name]
        lines = [f"# {title}"] + [f"{key}:{value}" for key, value in render(state)]
        parts.append("\r\n".join(lines) + "\r\n")
    return "\r\n".join(parts).encode()
