"""The fault scheduler: partitions, crashes, pauses, clock skew, leadership transfers,
forced compactions and membership churn, drawn from one random stream and a `Profile`.

Each fault carries its own end (heal, restart, resume, skew over) scheduled in steps. At
most `max_down` nodes are down or paused at once so that the cluster keeps making progress
(a stalled cluster hides bugs). Membership changes go through `propose_conf_change` on the
leader like an operator's would, one at a time, retried while the leader refuses them; a
removed node is shut down once its removal is applied. A crash may also damage the node's
disk (`p_damage`: the end of its durable log is lost); a node that then refuses to start
is replaced as an operator would: removed first, whatever the faults, then a new node (an
empty data directory) added as a learner. `stop()` ends new faults; `heal()` undoes the ones
in force.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from concord_resp.raft.core import ConfChange, ConfChangeType, ProposalDropped, Raft

from .config import Profile
from .network import Network, make_partition
from .node import DOWN, PAUSED, REFUSED, REMOVED, UP, SimNode
from .trace import Trace


class World(Protocol):
    """What the nemesis acts on."""

    now: int
    nodes: dict[str, SimNode]
    network: Network
    founding_voters: int

    def leader(self) -> SimNode | None: ...

    def add_node(self) -> SimNode: ...


@dataclass(slots=True)
class PendingChange:
    change: ConfChange
    next_try: int
    attempts: int = 0
    proposed_at: int = 0


class Nemesis:
    def __init__(self, rng: random.Random, profile: Profile, world: World, trace: Trace) -> None:
        self.rng = rng
        self.profile = profile
        self.world = world
        self.trace = trace
        self.active = True
        self.partition_until = 0
        self.restarts: dict[str, int] = {}  # node -> step it comes back
        self.resumes: dict[str, int] = {}
        self.skews: dict[str, int] = {}
        self.removals: dict[str, int] = {}  # node -> step it is shut down
        self.change: PendingChange | None = None
        self.refusals: list[str] = []  # nodes that refused to start, to be removed
        self.replacements = 0  # removed refusing nodes whose replacement is still to add
        self.promotions: list[str] = []  # replacements to make voters once caught up
        self.leader_seen: tuple[str, int] = ("", 0)
        self.isolate_at: int | None = None
        self.stats = {
            "partitions": 0,
            "crashes": 0,
            "pauses": 0,
            "transfers": 0,
            "conf_changes": 0,
            "skews": 0,
            "damaged": 0,
            "refused": 0,
        }

    def _emit(self, text: str) -> None:
        if self.trace.enabled:
            self.trace.emit(text)

    # -- per step -------------------------------------------------------------------------

    def act(self, now: int) -> None:
        self._end_faults(now)
        self._drive_change(now)
        if not self.active:
            return
        profile = self.profile
        rng = self.rng
        on, off = profile.isolate_cycle
        if profile.p_isolate_new_leader and (not off or now % (on + off) < on):
            self._watch_elections(now)
        if rng.random() < profile.p_partition:
            self._partition(now)
        if rng.random() < profile.p_crash:
            self._crash(now)
        if profile.p_crash_term_fsync:
            self._crash_term_fsync(now)
        if rng.random() < profile.p_pause:
            self._pause(now)
        if rng.random() < profile.p_skew:
            self._skew(now)
        if rng.random() < profile.p_transfer:
            self._transfer()
        if rng.random() < profile.p_compact_leader:
            leader = self.world.leader()
            if leader is not None:
                leader.compact_soon = True
        if self.change is None and rng.random() < profile.p_membership:
            self._plan_change(now)

    def _end_faults(self, now: int) -> None:
        world = self.world
        network = world.network
        if network.partition is not None and now >= self.partition_until and self.active:
            network.partition = None
            self._emit("partition healed")
        for node_id, at in list(self.restarts.items()):
            if now >= at:
                node = world.nodes[node_id]
                if node.status in (UP, PAUSED) and node.crash_after_fsync:
                    self.restarts[node_id] = now + 5  # it has not crashed yet
                    continue
                del self.restarts[node_id]
                if node.status == DOWN:
                    node.start()
        for node_id, at in list(self.resumes.items()):
            if now >= at:
                del self.resumes[node_id]
                node = world.nodes[node_id]
                if node.status == PAUSED:
                    self._emit(f"resume {node_id} ({len(node.inbox)} queued inputs)")
                    node.resume()
        for node_id, at in list(self.skews.items()):
            if now >= at:
                del self.skews[node_id]
                node = world.nodes[node_id]
                node.tick_period = node.base_period
        for node_id, at in list(self.removals.items()):
            if now >= at:
                del self.removals[node_id]
                node = world.nodes[node_id]
                if node.status != REMOVED:
                    node.remove()

    def _live(self) -> list[SimNode]:
        return [
            n for n in self.world.nodes.values() if n.status == UP and n.id not in self.removals
        ]

    def _down_count(self) -> int:
        return sum(1 for n in self.world.nodes.values() if n.status in (DOWN, PAUSED, REFUSED))

    def _victim(self, p_leader: float) -> SimNode | None:
        live = self._live()
        if not live or self._down_count() >= self.profile.max_down:
            return None
        leader = self.world.leader()
        if leader is not None and self.rng.random() < p_leader:
            return leader
        return self.rng.choice(live)

    # -- faults ---------------------------------------------------------------------------

    def _watch_elections(self, now: int) -> None:
        """Cut a newly elected leader off soon after its election, replacing any partition
        in force: it then holds entries of its term that nobody else has, and the node cut
        off before rejoins (Raft figure 8's raw material)."""
        leader = self.world.leader()
        if leader is not None and leader.rn is not None:
            seen = (leader.id, leader.rn.raft.term)
            if seen != self.leader_seen:
                self.leader_seen = seen
                profile = self.profile
                if self.rng.random() < profile.p_isolate_new_leader:
                    at_once = self.rng.random() < profile.p_isolate_at_once
                    delay = 0 if at_once else self.rng.randint(*profile.isolate_delay)
                    self.isolate_at = now + delay
        if self.isolate_at is not None and now >= self.isolate_at:
            self.isolate_at = None
            self._partition(now, "isolate_leader", replace=True)

    def _partition(self, now: int, kind: str | None = None, *, replace: bool = False) -> None:
        network = self.world.network
        if network.partition is not None and not replace:
            return
        if kind is None:
            kind = self.rng.choice(self.profile.partition_kinds)
        nodes = sorted(n.id for n in self.world.nodes.values() if n.status != REMOVED)
        leader = self.world.leader()
        partition = make_partition(self.rng, kind, nodes, None if leader is None else leader.id)
        if partition is None:
            return
        network.partition = partition
        self.partition_until = now + self.rng.randint(*self.profile.partition_steps)
        self.stats["partitions"] += 1
        self._emit(f"partition {partition.describe()} until {self.partition_until}")
        if (
            kind == "isolate_leader"
            and leader is not None
            and leader.status == UP
            and self.profile.p_pause_isolated
            and self.rng.random() < self.profile.p_pause_isolated
        ):
            # A paused old leader, still cut off when it wakes up: stale reads bait.
            until = self.rng.randint(now + 1, max(now + 1, self.partition_until - 20))
            leader.pause()
            self.resumes[leader.id] = until
            self.stats["pauses"] += 1
            self._emit(f"pause {leader.id} until {until}")

    def _crash(self, now: int) -> None:
        profile = self.profile
        rng = self.rng
        if self._down_count() >= profile.max_down:
            return
        syncing = [n for n in self._live() if n.fsync_pending()]
        if syncing and rng.random() < profile.p_crash_pending_fsync:
            victim: SimNode | None = rng.choice(syncing)
        else:
            victim = self._victim(profile.p_crash_leader)
        if victim is None:
            return
        self.stats["crashes"] += 1
        self.restarts[victim.id] = now + rng.randint(*profile.down_steps)
        if victim.fsync_pending() and rng.random() < profile.p_crash_after_fsync:
            victim.crash_after_fsync = True  # dies once its fsync is done, before sending
            self._emit(f"{victim.id} will crash right after its fsync")
            return
        victim.crash(" (fsync in flight)" if victim.fsync_pending() else "")
        if profile.p_damage and self._may_damage() and rng.random() < profile.p_damage:
            lost = victim.disk.lose_tail(rng)
            if lost is not None:
                self.stats["damaged"] += 1
                self._emit(
                    f"{victim.id}'s disk loses the end of its log: entries {lost[0]}..{lost[1]}"
                )

    def _crash_term_fsync(self, now: int) -> None:
        """Crash nodes in the middle of making a new term or vote durable."""
        profile = self.profile
        for node in self._live():
            if self._down_count() >= profile.max_down:
                return
            if node.term_fsync_pending() and self.rng.random() < profile.p_crash_term_fsync:
                self.stats["crashes"] += 1
                self.restarts[node.id] = now + self.rng.randint(*profile.down_steps)
                node.crash(" (syncing a new term or vote)")

    def _pause(self, now: int) -> None:
        victim = self._victim(self.profile.p_pause_leader)
        if victim is None:
            return
        victim.pause()
        self.resumes[victim.id] = now + self.rng.randint(*self.profile.pause_steps)
        self.stats["pauses"] += 1
        self._emit(f"pause {victim.id} until {self.resumes[victim.id]}")

    def _skew(self, now: int) -> None:
        live = self._live()
        if not live:
            return
        node = self.rng.choice(live)
        node.tick_period = self.rng.randint(*self.profile.skew_period)
        self.skews[node.id] = now + self.rng.randint(*self.profile.skew_steps)
        self.stats["skews"] += 1
        self._emit(f"{node.id} now ticks every {node.tick_period} steps")

    def _transfer(self) -> None:
        leader = self.world.leader()
        if leader is None or leader.rn is None:
            return
        voters = [v for v in leader.rn.raft.voters if v != leader.id]
        if not voters:
            return
        target = self.rng.choice(voters)
        self.stats["transfers"] += 1
        self._emit(f"ask {leader.id} to transfer leadership to {target}")
        try:
            leader.rn.transfer_leadership(target)
        except ProposalDropped:
            pass

    # -- membership ----------------------------------------------------------------------

    def _plan_change(self, now: int) -> None:
        leader = self.world.leader()
        if leader is None or leader.rn is None:
            return
        raft = leader.rn.raft
        if raft.pending_conf_index > raft.log.applied:
            return  # its configuration may be about to change: plan from a settled one
        voters, learners = list(raft.voters), list(raft.learners)
        floor = self.world.founding_voters
        options: list[ConfChange] = []
        for learner in learners:
            progress = raft.progress.get(learner)
            if (
                len(voters) <= floor
                and progress is not None
                and progress.match + 5 >= raft.log.committed
            ):
                options.append(ConfChange(ConfChangeType.ADD_VOTER, learner))
        if len(voters) > floor:
            options.extend(ConfChange(ConfChangeType.REMOVE, v) for v in voters)
        if len(learners) < 2:
            options.append(ConfChange(ConfChangeType.ADD_LEARNER, ""))
        if learners:
            options.append(ConfChange(ConfChangeType.REMOVE, self.rng.choice(learners)))
        change = self.rng.choice(options)
        if change.type == ConfChangeType.ADD_LEARNER:
            node = self.world.add_node()
            change = ConfChange(ConfChangeType.ADD_LEARNER, node.id)
        self.change = PendingChange(change, now)
        self.stats["conf_changes"] += 1
        self._emit(f"operator: {change.type.name} {change.node}")

    def _may_damage(self) -> bool:
        """A disk is damaged only while the cluster can replace the node: no replacement
        under way, and at least 3 voters (the 2 left must still make a majority)."""
        if self.refusals or self.replacements or self.promotions or self.change is not None:
            return False
        leader = self.world.leader()
        return leader is not None and leader.rn is not None and len(leader.rn.raft.voters) >= 3

    def refused(self, node_id: str) -> None:
        """A node refused to start (its disk broke its promise): the operator replaces it."""
        self.stats["refused"] += 1
        self.restarts.pop(node_id, None)
        if node_id not in self.refusals:
            self.refusals.append(node_id)

    def _drive_change(self, now: int) -> None:
        if self.change is None and self.refusals:
            node_id = self.refusals.pop(0)
            self.change = PendingChange(ConfChange(ConfChangeType.REMOVE, node_id), now)
            self.stats["conf_changes"] += 1
            self._emit(f"operator: REMOVE {node_id} (it refused to start)")
        elif self.change is None and self.replacements and self.active:
            # A replacement: an empty data directory, added as a learner.
            self.replacements -= 1
            node = self.world.add_node()
            change = ConfChange(ConfChangeType.ADD_LEARNER, node.id)
            self.change = PendingChange(change, now)
            self.stats["conf_changes"] += 1
            self._emit(f"operator: ADD_LEARNER {node.id} (replaces a node that refused)")
            self.promotions.append(node.id)
        elif self.change is None and self.promotions:
            self._promote_replacement(now)
        pending = self.change
        if pending is None or now < pending.next_try:
            return
        leader = self.world.leader()
        if leader is None or leader.rn is None:
            pending.next_try = now + 10
            return
        raft = leader.rn.raft
        change = pending.change
        settled = raft.pending_conf_index <= raft.log.applied
        if settled and change.type != ConfChangeType.REMOVE and _reflected(change, raft):
            self._done(now)  # (a removal is done only once applied: then the node stops)
            return
        pending.attempts += 1
        if pending.attempts > 30:
            self._emit(f"operator gives up {change.type.name} {change.node}")
            self.change = None
            return
        try:
            index = leader.rn.propose_conf_change(change)
        except ProposalDropped as refused:
            pending.next_try = now + 10
            self._emit(f"operator: {leader.id} refuses {change.type.name} {change.node}: {refused}")
            return
        pending.next_try = now + 150  # then check again (and re-propose if it was lost)
        self._emit(f"operator: {leader.id} proposes {change.type.name} {change.node} at {index}")

    def _promote_replacement(self, now: int) -> None:
        leader = self.world.leader()
        if leader is None or leader.rn is None:
            return
        raft = leader.rn.raft
        node_id = self.promotions[0]
        if node_id not in raft.learners:
            if node_id not in raft.voters and self.world.nodes[node_id].status == REMOVED:
                self.promotions.pop(0)  # removed meanwhile (churn)
            elif node_id in raft.voters:
                self.promotions.pop(0)
            return
        progress = raft.progress.get(node_id)
        if progress is not None and progress.match + 5 >= raft.log.committed:
            self.promotions.pop(0)
            self.change = PendingChange(ConfChange(ConfChangeType.ADD_VOTER, node_id), now)
            self.stats["conf_changes"] += 1
            self._emit(f"operator: ADD_VOTER {node_id} (the replacement has caught up)")

    def conf_applied(self, change: ConfChange) -> None:
        """A node applied a committed change: the operator's change is done."""
        pending = self.change
        if pending is not None and pending.change == change:
            self._done(self.world.now)

    def _done(self, now: int) -> None:
        pending = self.change
        assert pending is not None
        self.change = None
        change = pending.change
        if change.type == ConfChangeType.REMOVE and change.node not in self.removals:
            self.removals[change.node] = now + self.rng.randint(0, 30)
            self.restarts.pop(change.node, None)
            if self.world.nodes[change.node].status == REFUSED:
                self.replacements += 1

    # -- the end ---------------------------------------------------------------------------

    def stop(self) -> None:
        """No new faults from now on (a pending membership change still completes)."""
        self.active = False

    def heal(self) -> None:
        """Undo every fault in force: partitions, crashes, pauses, skews."""
        world = self.world
        world.network.partition = None
        world.network.reliable = True
        self.restarts = {}
        for node in world.nodes.values():
            node.crash_after_fsync = False
            if node.status == DOWN:
                node.start()
            elif node.status == PAUSED:
                node.resume()
            node.tick_period = node.base_period
        self.resumes = {}
        self.skews = {}
        self._emit("heal: partitions healed, nodes restarted and resumed, network reliable")


def _reflected(change: ConfChange, raft: Raft) -> bool:
    if change.type == ConfChangeType.ADD_VOTER:
        return change.node in raft.voters
    return change.node in raft.learners or change.node in raft.voters
