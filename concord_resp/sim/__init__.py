"""A deterministic simulator of a whole Concord Raft cluster, driven by one seed.

`run(SimConfig.for_seed(seed))` builds 3 or 5 voters and a learner on simulated disks and a
simulated network, runs a client workload against a small key-value state machine under
partitions, crashes, pauses, clock skew, membership churn, leadership transfers and
compactions, checks Raft's safety properties at every step, liveness after healing and the
history's linearizability at the end, and returns a `SimResult`. Single-threaded, no I/O,
no clock: `python -m concord_resp.sim --seed S --trace` replays a run exactly.
"""

from .cluster import Cluster, LivenessFailure, SimResult, run
from .config import BUG_PROFILES, PROFILES, Profile, SimBug, SimConfig
from .invariants import Invariants, SafetyViolation

__all__ = [
    "BUG_PROFILES",
    "PROFILES",
    "Cluster",
    "Invariants",
    "LivenessFailure",
    "Profile",
    "SafetyViolation",
    "SimBug",
    "SimConfig",
    "SimResult",
    "run",
]
