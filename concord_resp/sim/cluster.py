"""The simulated cluster: one seed, one thread, every node, the network, clients and faults.

A run has three phases. Faults: `config.steps` steps of the workload under the nemesis.
Healing: every fault is undone and the network made reliable; within the profile's
`heal_bound` steps a leader must commit in its term and every client must complete an
operation. Quiescing: clients start nothing new; within `quiesce_bound` steps every
operation must be resolved and every member must have applied the leader's whole log. Then the logs are compared
directly and the history is checked for linearizability.

Each step runs in a fixed order: faults, deliveries (by due step, then send order), ticks,
clients, then each node's Ready cycle; nodes are visited in creation order. Nothing reads
a clock or an unseeded random source, so a seed replays bit for bit.
"""

from __future__ import annotations

import hashlib
import traceback
from dataclasses import dataclass, field

from concord_resp.checker import History, RedisStringModel, check
from concord_resp.raft.core import (
    BrokenPromise,
    ConfChange,
    ConfState,
    Message,
    MessageType,
    RaftInvariantError,
)

from .config import SimConfig, substream
from .invariants import Invariants, SafetyViolation
from .nemesis import Nemesis
from .network import Delivery, Network
from .node import PAUSED, REMOVED, UP, Report, SimNode
from .trace import Trace, describe_message
from .workload import Client, Request, Response

CHECK_BUDGET = 500_000  # linearizability search steps per key


class LivenessFailure(AssertionError):
    """The healed cluster did not make progress within its bound."""


@dataclass(frozen=True, slots=True)
class SimResult:
    config: SimConfig
    verdict: str  # "ok", "fail" or "unknown" (the linearizability search ran out of budget)
    failure: str  # "", "safety", "core", "liveness", "linearizability" or "error"
    detail: str
    steps: int
    digest: str
    operations: dict[str, int] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    trace: tuple[str, ...] = ()

    def summary(self) -> str:
        config = self.config
        bugs = ",".join(sorted(b.value for b in config.bugs)) or "none"
        ops = self.operations
        head = (
            f"seed {config.seed}: {self.verdict.upper()} "
            f"({config.nodes} voters, profile {config.profile.name}, bug {bugs}, "
            f"{self.steps} steps, {ops.get('total', 0)} ops: {ops.get('ok', 0)} ok "
            f"{ops.get('fail', 0)} fail {ops.get('info', 0)} info)"
        )
        if self.verdict == "ok":
            return head
        return (
            f"{head}\n  {self.failure}: {self.detail}\n  replay: {config.replay_command()} --trace"
        )


class Cluster:
    def __init__(self, config: SimConfig, *, echo: bool = False) -> None:
        self.config = config
        self.now = 0
        self.trace = Trace(enabled=config.trace, echo=echo)
        self.invariants = Invariants()
        self.network = Network(substream(config.seed, "network"), config.profile)
        self.history = History(lambda: self.now)
        self.founding_voters = config.nodes
        voters = tuple(f"n{i}" for i in range(1, config.nodes + 1))
        learners = (f"n{config.nodes + 1}",)
        self.initial = ConfState(voters, learners)
        self.next_id = config.nodes + 2
        self.nodes: dict[str, SimNode] = {}
        for node_id in voters + learners:
            self._create(node_id)
        rng = substream(config.seed, "clients")
        count = rng.randint(*config.profile.clients)
        self.clients = [
            Client(i, substream(config.seed, f"client/{i}"), config.profile, self.history)
            for i in range(count)
        ]
        self.nemesis = Nemesis(substream(config.seed, "nemesis"), config.profile, self, self.trace)

    # -- the world the nodes and the nemesis see ---------------------------------------------

    def _create(self, node_id: str) -> SimNode:
        node = SimNode(node_id, self.config, self.initial, self, self.invariants, self.trace)
        self.nodes[node_id] = node
        node.start()
        return node

    def add_node(self) -> SimNode:
        node_id = f"n{self.next_id}"
        self.next_id += 1
        return self._create(node_id)

    def leader(self) -> SimNode | None:
        best: SimNode | None = None
        for node in self.nodes.values():
            if (
                node.is_leader()
                and node.rn is not None
                and (best is None or node.rn.raft.term > best.lead_term)
            ):
                best = node
        return best

    def send_peer(self, node: SimNode, msg: Message) -> None:
        if msg.type == MessageType.VOTE_RESP and not msg.reject:
            self.invariants.vote_granted(node.id, msg.term, msg.to)
        if not self.network.send(self.now, msg, node.incarnation) and self.trace.enabled:
            self.trace.emit(f"lost {describe_message(msg)}")

    def respond(self, response: Response) -> None:
        self.network.send_client(self.now, response)

    def conf_applied(self, node: SimNode, index: int, change: ConfChange) -> None:
        self.nemesis.conf_applied(change)

    def refused(self, node: SimNode, broken: BrokenPromise) -> None:
        self.nemesis.refused(node.id)

    # -- stepping ---------------------------------------------------------------------------

    def step(self) -> None:
        self.now += 1
        now = self.now
        self.trace.now = now
        self.nemesis.act(now)
        for item in self.network.due(now):
            if isinstance(item, Delivery):
                self._deliver(item)
            elif isinstance(item, Request):
                self._deliver_request(item)
            elif isinstance(item, Response):
                if self.trace.enabled:
                    self.trace.emit(f"reply {item.describe()}")
                self.clients[item.client].receive(now, item)
        for node in self.nodes.values():
            if node.status == UP:
                node.tick(now)
        targets = [n.id for n in self.nodes.values() if n.status != REMOVED]
        for client in self.clients:
            request = client.act(now, targets)
            if request is not None:
                if self.trace.enabled:
                    self.trace.emit(f"{request.describe()} -> {request.node}")
                self.network.send_client(now, request)
        for node in self.nodes.values():
            node.process(now)

    def _deliver(self, delivery: Delivery) -> None:
        msg = delivery.msg
        to = self.nodes.get(msg.to)
        sender = self.nodes.get(msg.sender)
        reachable = (
            to is not None
            and to.status in (UP, PAUSED)
            and not self.network.blocked(msg.sender, msg.to)
        )
        # Reports go to the incarnation that sent the message (queued while it is paused).
        sender_alive = (
            sender is not None
            and sender.status in (UP, PAUSED)
            and sender.incarnation == delivery.incarnation
        )
        if delivery.lost or not reachable:
            if not delivery.lost:
                self.network.stats["cut"] += 1
                if self.trace.enabled:
                    self.trace.emit(f"cut {describe_message(msg)}")
            if sender_alive and sender is not None:
                if msg.type == MessageType.SNAP:
                    sender.report(Report(msg.to, snapshot=True, success=False))
                elif msg.type == MessageType.APP:
                    sender.report(Report(msg.to, snapshot=False))
            return
        assert to is not None
        self.network.stats["delivered"] += 1
        if self.trace.enabled:
            self.trace.emit(f"deliver {describe_message(msg)}{' (dup)' if delivery.copy else ''}")
        to.receive(msg)
        if msg.type == MessageType.SNAP and sender_alive and sender is not None:
            sender.report(Report(msg.to, snapshot=True, success=True))

    def _deliver_request(self, request: Request) -> None:
        node = self.nodes.get(request.node)
        if node is None or node.status not in (UP, PAUSED):
            if self.trace.enabled:
                self.trace.emit(f"{request.node} is down: {request.describe()} is lost")
            return
        node.handle_request(request)

    # -- the run ---------------------------------------------------------------------------------

    def run(self) -> SimResult:
        failure, detail = "", ""
        try:
            for _ in range(self.config.steps):
                self.step()
            self._heal()
            self._quiesce()
            self._compare_logs()
            result = check(self.history.operations(), RedisStringModel(), budget=CHECK_BUDGET)
            if result.verdict == "illegal":
                failure, detail = "linearizability", result.explain()
            elif result.verdict == "unknown":
                failure, detail = "unknown", result.explain()
        except SafetyViolation as violation:
            failure, detail = "safety", str(violation)
        except RaftInvariantError as error:
            failure, detail = "core", f"RaftInvariantError: {error}"
        except LivenessFailure as stuck:
            failure, detail = "liveness", str(stuck)
        except Exception as error:  # a crash of the core or the simulator is a finding too
            failure = "error"
            detail = f"{type(error).__name__}: {error}\n{traceback.format_exc()}"
        if failure and self.trace.enabled:
            self.trace.emit(f"FAILURE ({failure}): {detail}")
        verdict = "ok" if not failure else "unknown" if failure == "unknown" else "fail"
        return SimResult(
            self.config,
            verdict,
            "" if failure == "unknown" else failure,
            detail,
            self.now,
            self.digest(),
            self._operation_counts(),
            self._stats(),
            tuple(self.trace.lines),
        )

    def _heal(self) -> None:
        self.nemesis.stop()
        self.nemesis.heal()
        healed_at = self.now
        marks = [client.completed_ok for client in self.clients]
        led = False
        while True:
            self.step()
            led = led or self._stable_leader() is not None
            if led and all(
                c.completed_ok > mark for c, mark in zip(self.clients, marks, strict=True)
            ):
                return
            if self.now - healed_at > self.config.profile.heal_bound:
                waiting = [
                    c.id for c, m in zip(self.clients, marks, strict=True) if c.completed_ok <= m
                ]
                raise LivenessFailure(
                    f"{self.config.profile.heal_bound} steps after healing: "
                    + (
                        "no leader committed an entry of its term"
                        if not led
                        else f"clients {waiting} completed nothing"
                    )
                )

    def _quiesce(self) -> None:
        for client in self.clients:
            client.stopped = True
        start = self.now
        while True:
            self.step()
            lagging = self._lagging()
            if lagging is None:
                return
            if self.now - start > self.config.profile.quiesce_bound:
                raise LivenessFailure(
                    f"{self.config.profile.quiesce_bound} steps after quiescing: {lagging}"
                )

    def _stable_leader(self) -> SimNode | None:
        leader = self.leader()
        if leader is None or leader.rn is None:
            return None
        raft = leader.rn.raft
        return leader if raft.log.term(raft.log.committed) == raft.term else None

    def _lagging(self) -> str | None:
        """What is still unfinished, or None once everything is resolved and caught up."""
        busy = [c.id for c in self.clients if not c.idle()]
        if busy:
            return f"clients {busy} still have operations pending"
        leader = self._stable_leader()
        if leader is None or leader.rn is None:
            return "no leader"
        raft = leader.rn.raft
        last = raft.log.last_index()
        for member in raft.voters + raft.learners:
            node = self.nodes[member]
            if node.status != UP or node.kv.applied != last:
                return f"{member} ({node.status}) applied {node.kv.applied} of {last}"
        return None

    def _compare_logs(self) -> None:
        """Log matching, checked directly: two live logs agree up to their last common
        (index, term)."""
        live = [n for n in self.nodes.values() if n.status == UP and n.rn is not None]
        for position, a in enumerate(live):
            for b in live[position + 1 :]:
                assert a.rn is not None
                assert b.rn is not None
                log_a, log_b = a.rn.raft.log, b.rn.raft.log
                low = max(log_a.first_index(), log_b.first_index())
                high = min(log_a.last_index(), log_b.last_index())
                if high < low:
                    continue
                entries_a = log_a.slice(low, high + 1)
                entries_b = log_b.slice(low, high + 1)
                common = max(
                    (
                        i
                        for i, (x, y) in enumerate(zip(entries_a, entries_b, strict=True))
                        if x.term == y.term
                    ),
                    default=-1,
                )
                if entries_a[: common + 1] != entries_b[: common + 1]:
                    raise SafetyViolation(
                        f"log matching: {a.id} and {b.id} share entry {low + common} "
                        "but differ before it"
                    )

    # -- results ---------------------------------------------------------------------------------

    def _operation_counts(self) -> dict[str, int]:
        ops = self.history.operations()
        counts = {"total": len(ops), "ok": 0, "fail": 0, "info": 0}
        for op in ops:
            counts[op.status] += 1
        return counts

    def _stats(self) -> dict[str, int]:
        stats = dict(self.network.stats)
        stats.update(self.nemesis.stats)
        for key in ("crashes", "snapshots_in", "compactions", "elections_won"):
            stats[f"node_{key}"] = sum(n.stats[key] for n in self.nodes.values())
        stats["committed"] = self.invariants.max_committed
        return stats

    def digest(self) -> str:
        """A digest of everything the run produced: history, final node states, counters."""
        nodes = []
        for node in self.nodes.values():
            raft = node.rn.raft if node.rn is not None else None
            nodes.append(
                (
                    node.id,
                    node.status,
                    node.incarnation,
                    node.kv.applied,
                    node.kv.digest(),
                    None
                    if raft is None
                    else (raft.term, raft.log.committed, raft.log.last_index()),
                    len(node.disk.durable),
                )
            )
        history = [op.describe() for op in self.history.operations()]
        stats = sorted(self._stats().items())
        material = repr((self.now, nodes, history, stats)).encode()
        return hashlib.blake2b(material, digest_size=16).hexdigest()


def run(config: SimConfig, *, echo: bool = False) -> SimResult:
    """Run one simulated cluster to the end."""
    return Cluster(config, echo=echo).run()
