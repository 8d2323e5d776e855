"""A node's tunables, in one frozen object (the server fills it from its configuration)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .snapshot_transfer import CHUNK_BYTES


def wall_clock_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Timing (ticks, timeouts; an election timeout is `tick_seconds * election_ticks`),
    active expiry, and when to snapshot (0: no limit) and how far behind one to keep the
    log in memory (`catch_up_entries`)."""

    name: str
    tick_seconds: float = 0.1
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    write_timeout: float = 5.0
    read_timeout: float = 5.0
    resend_interval: float = 1.0
    expire_interval: float = 0.1
    rng_seed: int | None = None
    snapshot_dir: Path | None = None
    snapshot_entries: int = 0  # 0: no limit
    snapshot_bytes: int = 0  # 0: no limit
    catch_up_entries: int = 1000
    snapshot_timeout: float = 30.0
    snapshot_chunk_bytes: int = CHUNK_BYTES
    max_entry_bytes: int = 0  # a write must fit one peer frame: larger is refused; 0: no limit
