"""What the server's parts share: configuration, command table, node, clients, counters."""

from __future__ import annotations

import os
import resource
import secrets
import time
from collections.abc import Callable
from typing import Final

from ..cluster import RaftNode
from ..commands import CommandSpec, CommandTable
from ..config import Config, RuntimeSettings
from ..metrics import NEVER, LatencyMonitor, Metrics, SlowLog
from ..security import Users
from ..security.log import AclLog
from ..state import StateMachine
from ..store.events import Message
from .client import ClientRegistry, ClientState
from .limits import ClientBuffers
from .monitor import Monitors, redacted
from .pause import ClientPause
from .pubsub import PubSub
from .tracking import Tracking

PAGE_SIZE: Final = os.sysconf("SC_PAGE_SIZE")
_statm: list[int] = []  # /proc/self/statm, kept open: maxmemory reads it a hundred times a second


def rss_bytes() -> int:
    """The process's resident set: what INFO memory reports as used_memory."""
    try:
        if not _statm:
            _statm.append(os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC))
        return int(os.pread(_statm[0], 128, 0).split()[1]) * PAGE_SIZE
    except OSError:  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class ServerState:
    def __init__(
        self, config: Config, table: CommandTable, machine: StateMachine, node: RaftNode
    ) -> None:
        self.config = config
        self.settings = RuntimeSettings.from_config(config)
        self.table = table
        self.machine = machine
        self.node = node
        self.clients = ClientRegistry()
        self.run_id = secrets.token_hex(20)
        self.pid = os.getpid()
        self.started = time.time()
        self.last_save = int(self.started)  # Redis counts start-up as a save
        self.started_monotonic = time.monotonic()
        self.metrics = Metrics()  # INFO's counters (commands, errors, traffic, connections)
        self.slowlog = SlowLog()  # this node's SLOWLOG
        self.slowlog.slower_than = config.slowlog_log_slower_than
        self.slowlog.max_len = config.slowlog_max_len
        self.latency = LatencyMonitor()  # this node's LATENCY events
        self.latency.threshold = config.latency_monitor_threshold
        self.metrics.track_latency(config.latency_tracking)
        self.metrics.latency_percentiles = config.latency_tracking_info_percentiles
        self.note_thresholds()
        self.started_rss = rss_bytes()  # INFO memory's used_memory_startup
        self.tcp_port = config.port
        self.tls_port = config.tls_port
        self._samples: list[tuple[float, int, int, int]] = []  # (time, commands, in, out)
        self.buffers = ClientBuffers()  # the clients' buffers the limits apply to
        # maxmemory: denyoom commands are refused while the last sample was over it
        # (sampled often by the server, and at once by CONFIG SET maxmemory).
        self.used_memory = 0
        self.over_maxmemory = False
        self.acl_log = AclLog()  # this node's ACL LOG
        self.pubsub = PubSub()  # this node's subscribers (messages come from every apply)
        self.pause = ClientPause()  # CLIENT PAUSE, on this node
        self.tracking = Tracking(self.clients)  # CLIENT TRACKING's table, on this node
        self.monitors = Monitors()  # MONITOR clients of this node
        # This node's start-up users (--aclfile/--requirepass) while the cluster's users were
        # never set: they guard this node until its bootstrap entry (or another's) is applied.
        self.provisional_users: Users | None = None
        # SHUTDOWN: stop this node as SIGTERM does (set by the server; None until it runs).
        self.request_shutdown: Callable[[], None] | None = None

    def deliver_now(self, messages: list[Message] | tuple[()]) -> None:
        """Messages published off the apply loop (a read's key misses): delivered and sent
        now, not with the next run of applies."""
        self.pubsub.deliver(messages)  # type: ignore[arg-type]
        if self.node.after_apply is not None:
            self.node.after_apply()

    def users(self) -> Users:
        """The users connections authenticate against and are checked with."""
        provisional = self.provisional_users
        if provisional is None or self.machine.users.configured:
            return self.machine.users
        return provisional

    def note_thresholds(self) -> None:
        """Keep the metrics' `slow_floor` the lower of the SLOWLOG and latency monitor
        thresholds (after CONFIG SET of either)."""
        floors = []
        if self.slowlog.slower_than >= 0:
            floors.append(self.slowlog.slower_than)
        if self.latency.threshold > 0:
            floors.append(self.latency.threshold * 1000)
        self.metrics.slow_floor = min(floors, default=NEVER)

    def note_slow(
        self, client: ClientState | None, spec: CommandSpec, argv: list[bytes], usec: int
    ) -> None:
        """A command took at least `metrics.slow_floor`: into SLOWLOG and the latency
        monitor if it reaches their thresholds (Redis's call(): the `fast-command` event for
        a command flagged fast, `command` otherwise)."""
        now = int(time.time())
        if self.slowlog.wants(usec) and "skip_slowlog" not in spec.flags:
            addr, name = (client.addr.encode(), client.name) if client is not None else (b"", b"")
            self.slowlog.add(redacted(argv), usec, now, addr, name)
        event = "fast-command" if "fast" in spec.flags else "command"
        self.latency.add_if_needed(event, usec // 1000, now)

    def sample_used_memory(self) -> int:
        """Read used_memory now and decide whether the node is over maxmemory."""
        self.used_memory = used = rss_bytes()
        maxmemory = self.settings.maxmemory
        self.over_maxmemory = bool(maxmemory) and used > maxmemory
        return used

    def sample_ops(self) -> None:
        """Called every 100 ms: keep 16 samples of the command rate and the traffic, as Redis
        does."""
        metrics = self.metrics
        self._samples.append(
            (
                time.monotonic(),
                metrics.commands_processed,
                metrics.net_input_bytes,
                metrics.net_output_bytes,
            )
        )
        del self._samples[:-16]

    def _rate(self, column: int) -> float:
        if len(self._samples) < 2:
            return 0.0
        first, last = self._samples[0], self._samples[-1]
        elapsed = last[0] - first[0]
        return (last[column] - first[column]) / elapsed if elapsed > 0 else 0.0

    def ops_per_sec(self) -> int:
        return int(self._rate(1))

    def input_kbps(self) -> float:
        return self._rate(2) / 1024

    def output_kbps(self) -> float:
        return self._rate(3) / 1024

    def uptime(self) -> float:
        return time.monotonic() - self.started_monotonic
