"""What one simulated run is: its seed, its size, its fault mix, the bug switched on.

Everything a run does follows from a `SimConfig`: the seed fixes every random choice (each
component draws from its own `substream(seed, name)`, so adding draws in one component never
shifts another's), and `for_seed` derives the cluster size and fault profile from the seed
when they are not given, so `python -m concord_resp.sim --seed S` alone replays a sweep's
run. Profiles are plain data: probabilities per step and ranges in simulated steps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from enum import Enum

from concord_resp.raft.core import Bug


class SimBug(Enum):
    """The bugs a run may switch on: the core's `Bug` switches plus the simulator's own."""

    COMMIT_PREVIOUS_TERM = "COMMIT_PREVIOUS_TERM"
    READ_WITHOUT_QUORUM = "READ_WITHOUT_QUORUM"
    VOTE_BEFORE_PERSIST = "VOTE_BEFORE_PERSIST"
    ACK_BEFORE_PERSIST = "ACK_BEFORE_PERSIST"
    TRUNCATE_ON_MATCH = "TRUNCATE_ON_MATCH"
    APPLY_RETRY_TWICE = "APPLY_RETRY_TWICE"  # the key-value machine ignores its session table
    IGNORE_BROKEN_PROMISE = "IGNORE_BROKEN_PROMISE"  # a node whose disk lost acknowledged
    # entries starts anyway (the promise check of raft/core/promise.py switched off)
    PROMISE_BEFORE_FSYNC = "PROMISE_BEFORE_FSYNC"  # the promise is raised when a batch is
    # written, before its fsync: a crash then reads as a damaged disk (a false alarm)

    def core_bug(self) -> Bug | None:
        return Bug[self.value] if self.value in Bug.__members__ else None


def substream(seed: int, name: str) -> random.Random:
    """An independent random stream for one component (string seeds hash with SHA-512,
    so the stream is the same in every process whatever PYTHONHASHSEED is)."""
    return random.Random(f"concord-sim/{seed}/{name}")


@dataclass(frozen=True, slots=True)
class Profile:
    """A fault mix. Probabilities are per simulated step unless said otherwise."""

    name: str
    # network
    delay: tuple[int, int] = (1, 3)  # usual one-way delay, in steps
    slow_delay: tuple[int, int] = (4, 25)  # a slow message (this is what reorders)
    p_slow: float = 0.05
    p_drop: float = 0.02
    p_duplicate: float = 0.02
    # partitions
    p_partition: float = 0.004
    partition_steps: tuple[int, int] = (40, 200)
    partition_kinds: tuple[str, ...] = ("split", "isolate_leader", "bridge")
    p_isolate_new_leader: float = 0.0  # per election: cut the new leader off soon after
    isolate_delay: tuple[int, int] = (0, 12)
    p_isolate_at_once: float = 0.0  # ... before its first append leaves
    isolate_cycle: tuple[int, int] = (0, 0)  # (on, off) steps: new leaders are cut off in
    # bursts, and the cluster catches up in between (0, 0: always)
    p_pause_isolated: float = 0.0  # an isolated leader is also paused for part of it
    # crashes and pauses
    p_crash: float = 0.003
    p_crash_pending_fsync: float = 0.5  # a crash picks a node with an fsync in flight
    p_crash_after_fsync: float = 0.1  # crash right after the fsync, before sending
    p_crash_term_fsync: float = 0.0  # per step, per node syncing a new term or vote
    p_crash_leader: float = 0.3  # a crash picks the leader
    down_steps: tuple[int, int] = (10, 120)
    max_down: int = 1  # nodes down or paused at once (a minority, for progress)
    p_pause: float = 0.002
    p_pause_leader: float = 0.5
    pause_steps: tuple[int, int] = (20, 150)
    p_keep_unsynced: float = 0.3  # a crash keeps some unsynced records (page cache)
    p_damage: float = 0.0  # a crash also loses the end of the durable log (a damaged disk)
    fsync_steps: tuple[int, int] = (0, 4)
    # clocks: ticks every `tick_period` steps; skew changes one node's rate for a while
    tick_period: tuple[int, int] = (2, 4)
    p_skew: float = 0.002
    skew_period: tuple[int, int] = (1, 8)
    skew_steps: tuple[int, int] = (50, 300)
    # membership, leadership, compaction
    p_membership: float = 0.004
    p_transfer: float = 0.002
    compact_every: tuple[int, int] = (20, 80)  # applied entries between a node's compactions
    p_compact_leader: float = 0.003  # the leader compacts at once (lagging nodes need MsgSnap)
    max_size_per_msg: int = 400  # a few entries per append: batches are split
    max_inflight_msgs: int = 4
    # clients
    clients: tuple[int, int] = (3, 5)
    keys: int = 4
    p_start_op: float = 0.15  # an idle client starts an op
    read_ratio: float = 0.35
    p_follower: float = 0.3  # a client sends to a random node instead of the known leader
    attempt_timeout: tuple[int, int] = (60, 120)  # steps before a client retries elsewhere
    op_timeout: int = 500  # steps before a client gives up on an op
    # liveness bounds (steps)
    heal_bound: int = 400  # after healing: a leader and progress for every client by then
    quiesce_bound: int = 600  # then: every op resolved and every member caught up by then


DEFAULT = Profile("default")

PROFILES: dict[str, Profile] = {
    "default": DEFAULT,
    "calm": replace(
        DEFAULT,
        name="calm",
        p_drop=0.0,
        p_duplicate=0.0,
        p_partition=0.0,
        p_crash=0.0,
        p_pause=0.0,
        p_skew=0.0,
        p_membership=0.006,
        p_transfer=0.004,
    ),
    # Raft figure 8: leaders that come and go with entries only some followers have, and
    # appends split so an old entry can be acknowledged without the new leader's no-op.
    "figure8": replace(
        DEFAULT,
        name="figure8",
        p_crash=0.0,
        p_partition=0.004,
        partition_steps=(15, 60),
        partition_kinds=("isolate_leader", "split"),
        p_isolate_new_leader=1.0,
        p_isolate_at_once=0.6,
        isolate_delay=(3, 15),
        isolate_cycle=(1500, 200),
        heal_bound=1500,  # long divergent logs, one entry per append: catching up is slow
        op_timeout=1500,  # clients wait out the bursts instead of leaving writes indeterminate
        quiesce_bound=1800,
        tick_period=(1, 1),
        max_size_per_msg=30,  # one entry per append
        max_inflight_msgs=2,
        p_start_op=0.4,
        read_ratio=0.1,
        p_membership=0.0,
        p_compact_leader=0.0,
        compact_every=(200, 400),
    ),
    # Stale reads: an old leader cut off or paused while clients still talk to it.
    "stale_read": replace(
        DEFAULT,
        name="stale_read",
        p_partition=0.02,
        partition_steps=(60, 200),
        partition_kinds=("isolate_leader",),
        p_pause_isolated=1.0,
        p_pause=0.003,
        p_pause_leader=0.9,
        pause_steps=(40, 120),
        p_crash=0.0,
        keys=2,
        read_ratio=0.5,
        p_follower=0.3,
        p_start_op=0.3,
        attempt_timeout=(20, 50),
        tick_period=(2, 3),
    ),
    # Votes and acknowledgements must be durable before they are sent: crash in the window.
    "persist": replace(
        DEFAULT,
        name="persist",
        p_crash=0.02,
        p_crash_pending_fsync=0.95,
        p_crash_leader=0.3,
        p_crash_after_fsync=0.0,
        p_keep_unsynced=0.0,
        down_steps=(1, 10),
        max_down=2,
        fsync_steps=(3, 12),
        p_partition=0.006,
        partition_steps=(20, 80),
        p_transfer=0.01,
        p_start_op=0.4,
        read_ratio=0.1,
        tick_period=(2, 4),  # an election timeout well above the fsync time
    ),
    # ... and crashes while a new term or vote is being made durable.
    "vote": replace(
        DEFAULT,
        name="vote",
        p_crash=0.01,
        p_crash_term_fsync=0.1,
        p_crash_pending_fsync=0.9,
        p_keep_unsynced=0.0,
        down_steps=(1, 5),
        max_down=2,
        fsync_steps=(3, 12),
        p_partition=0.006,
        partition_steps=(20, 80),
        p_transfer=0.01,
        tick_period=(2, 4),  # an election timeout well above the fsync time
    ),
    # Stale, duplicated and reordered appends.
    "reorder": replace(
        DEFAULT,
        name="reorder",
        p_slow=0.3,
        slow_delay=(3, 40),
        p_duplicate=0.25,
        p_drop=0.05,
        p_crash=0.004,
        p_crash_leader=0.6,
        max_inflight_msgs=8,
        max_size_per_msg=100,
        p_start_op=0.4,
        read_ratio=0.1,
    ),
    # Retried writes: clients give up on an attempt quickly while appends are slow.
    "retry": replace(
        DEFAULT,
        name="retry",
        attempt_timeout=(8, 20),
        p_slow=0.2,
        slow_delay=(5, 30),
        p_crash=0.006,
        p_crash_leader=0.6,
        p_partition=0.006,
        p_start_op=0.5,
        read_ratio=0.2,
    ),
    # Damaged disks: crashes lose the end of the durable log, acknowledged entries included,
    # while partitions and slow links leave other members behind; the damaged node refuses
    # to start and the operator replaces it.
    "damage": replace(
        DEFAULT,
        name="damage",
        p_crash=0.01,
        p_damage=1.0,
        p_crash_leader=0.2,
        p_crash_pending_fsync=0.2,
        down_steps=(5, 40),
        p_partition=0.01,
        partition_steps=(30, 150),
        partition_kinds=("isolate_leader", "split"),
        p_slow=0.15,
        p_transfer=0.005,
        p_start_op=0.4,
        read_ratio=0.2,
    ),
}

# The profile each bug is hunted with (the no-bug sweep cycles through all of them).
BUG_PROFILES: dict[SimBug, str] = {
    SimBug.COMMIT_PREVIOUS_TERM: "figure8",
    SimBug.READ_WITHOUT_QUORUM: "stale_read",
    SimBug.VOTE_BEFORE_PERSIST: "vote",
    SimBug.ACK_BEFORE_PERSIST: "persist",
    SimBug.TRUNCATE_ON_MATCH: "reorder",
    SimBug.APPLY_RETRY_TWICE: "retry",
    SimBug.IGNORE_BROKEN_PROMISE: "damage",
    SimBug.PROMISE_BEFORE_FSYNC: "persist",
}

PROFILE_CYCLE: tuple[str, ...] = tuple(PROFILES)


@dataclass(frozen=True, slots=True)
class SimConfig:
    seed: int
    nodes: int = 3  # founding voters (3 or 5); one founding learner joins them
    steps: int = 2000  # steps of faults; healing and quiescing come after
    profile: Profile = DEFAULT
    bugs: frozenset[SimBug] = field(default_factory=frozenset)
    trace: bool = False
    election_tick: int = 10
    heartbeat_tick: int = 1

    @classmethod
    def for_seed(
        cls,
        seed: int,
        *,
        nodes: int | None = None,
        steps: int | None = None,
        profile: str | None = None,
        bug: SimBug | None = None,
        trace: bool = False,
    ) -> SimConfig:
        """The run a seed stands for: cluster size and fault profile derived from the seed
        unless given (a bug picks its own profile)."""
        if profile is None:
            if bug is not None:
                profile = BUG_PROFILES[bug]
            else:
                profile = PROFILE_CYCLE[seed % len(PROFILE_CYCLE)]
        if nodes is None:
            nodes = 3 if (seed // len(PROFILE_CYCLE)) % 2 == 0 else 5
        if nodes not in (3, 5):
            raise ValueError("a simulated cluster has 3 or 5 voters")
        return cls(
            seed=seed,
            nodes=nodes,
            steps=2000 if steps is None else steps,
            profile=PROFILES[profile],
            bugs=frozenset() if bug is None else frozenset({bug}),
            trace=trace,
        )

    def core_bugs(self) -> frozenset[Bug]:
        return frozenset(b for bug in self.bugs if (b := bug.core_bug()) is not None)

    def replay_command(self) -> str:
        """The command line that replays this run exactly."""
        parts = ["python -m concord_resp.sim", f"--seed {self.seed}", f"--nodes {self.nodes}"]
        parts.append(f"--steps {self.steps}")
        parts.append(f"--profile {self.profile.name}")
        parts.extend(f"--bug {bug.value}" for bug in sorted(self.bugs, key=lambda b: b.value))
        return " ".join(parts)
