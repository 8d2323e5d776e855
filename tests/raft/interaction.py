"""A text-driven runner for scripted Raft scenarios (etcd-io/raft's `testdata/` interaction tests).

A script is a sequence of steps; each step is one command line, a line `----`, and the output
the command is expected to print (the golden text), ending at a blank line. Lines starting with
`#` (and blank lines) between steps are comments and are kept as they are. The runner executes
every step against an in-memory cluster of `RawNode`s (one `MemoryStorage` per node, a
`random.Random` seeded from the node id, one message queue per recipient; nothing is delivered
unless the script says so) and compares what it prints with the golden text.

Set the environment variable `CONCORD_REWRITE_GOLDEN=1` to rewrite the scripts with the actual
output instead of failing (then read the diff: the golden output is only as good as its review).

Commands (ids are "1".."N"; `(a,b)` is a list):
  add-nodes N [voters=(..)] [learners=(..)] [index=I] [election=3] [heartbeat=1]
            [prevote=true] [checkquorum=true] [max-inflight=256] [max-size=N]
      new nodes; in an empty cluster the voters default to all of them; later nodes (joiners)
      default to the founding configuration, the base the log builds on; index=I starts
      from a snapshot at I (term 1).
  campaign ID | tick ID N | tick-election ID (tick until the election timer / CheckQuorum
      fires) | tick-heartbeat ID (heartbeat_tick ticks)
  propose ID DATA | propose-conf-change ID add-voter|add-learner|remove NODE | read-index ID CTX
  transfer-leadership from=ID to=ID (called on node `from`, leader or not)
  process-ready ID... (print, persist, send, apply, advance) | deliver-msgs [drop=(..)]
      [count=N] [type=APP] [from=ID] ID... (the filters pick which queued messages are
      delivered, or dropped) | stabilize [ID...] | duplicate-msgs ID (the queue twice)
  reorder-msgs ID [order=(3,1,2,3)] (reversed, or picked by 1-based position: repeats duplicate)
  raft-log ID | raft-state | status ID | compact ID INDEX | isolate ID | heal
  crash ID | restart ID | report-unreachable ID PEER | report-snapshot ID PEER ok|fail
  set-bugs ID BUG... (raft.Bug names)
  log-level none|info (none: print only "ok")
A node that hits a RaftInvariantError prints PANIC and stops (it is marked down). Nodes use
election_tick=3 and heartbeat_tick=1 unless told otherwise (short traces). `isolate` drops
messages to or from the node both when they are sent (marked in the Ready) and when they
would be delivered; `crash` loses the node's queue and everything it did not persist.
Messages print as `1->2 APP Term:1 Log:1/3 Commit:3 Entries:[1/4 NORMAL "foo"]` (Log is
log_term/index).
"""

from __future__ import annotations

import difflib
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from concord_resp.raft.core import (
    Bug,
    ConfChange,
    ConfChangeType,
    Config,
    ConfState,
    Entry,
    EntryKind,
    MemoryStorage,
    Message,
    MessageType,
    ProposalDropped,
    RaftInvariantError,
    RawNode,
    Ready,
    Role,
    Snapshot,
    SnapshotMeta,
    decode_conf_change,
)

REWRITE_ENV = "CONCORD_REWRITE_GOLDEN"

CONF_CHANGE_NAMES = {
    "add-voter": ConfChangeType.ADD_VOTER,
    "add-learner": ConfChangeType.ADD_LEARNER,
    "remove": ConfChangeType.REMOVE,
}
CONF_CHANGE_WORDS = {kind: word for word, kind in CONF_CHANGE_NAMES.items()}


# -- formatting -----------------------------------------------------------------------------


def format_entry(entry: Entry) -> str:
    head = f"{entry.term}/{entry.index} {EntryKind(entry.kind).name}"
    if entry.kind == EntryKind.CONF_CHANGE:
        change = decode_conf_change(entry.data)
        return f"{head} {CONF_CHANGE_WORDS[change.type]} {change.node}"
    if entry.kind == EntryKind.NOOP and not entry.data:
        return head
    return f"{head} {_quote(entry.data)}"


def format_conf_state(state: ConfState) -> str:
    return f"Voters:({','.join(state.voters)}) Learners:({','.join(state.learners)})"


def format_snapshot(snapshot: Snapshot) -> str:
    meta = snapshot.meta
    data = f" Data:{_quote(snapshot.data)}" if snapshot.data else ""
    return f"Index:{meta.index} Term:{meta.term} {format_conf_state(meta.conf_state)}{data}"


def format_message(msg: Message) -> str:
    kind = msg.type
    parts = [f"{msg.sender or '0'}->{msg.to or '0'} {kind.name} Term:{msg.term}"]
    if kind in (
        MessageType.APP,
        MessageType.APP_RESP,
        MessageType.VOTE,
        MessageType.PRE_VOTE,
    ) or (msg.log_term or msg.index):
        parts.append(f"Log:{msg.log_term}/{msg.index}")
    if kind in (MessageType.APP, MessageType.HEARTBEAT):
        parts.append(f"Commit:{msg.commit}")
    if msg.entries:
        parts.append(f"Entries:[{', '.join(format_entry(e) for e in msg.entries)}]")
    if msg.reject:
        parts.append(
            f"Rejected (Hint: {msg.reject_hint})" if kind == MessageType.APP_RESP else "Rejected"
        )
    if msg.context:
        parts.append(f"Context:{_quote(msg.context)}")
    if msg.snapshot is not None:
        parts.append(f"Snapshot: {format_snapshot(msg.snapshot)}")
    return " ".join(parts)


def format_ready(ready: Ready) -> list[str]:
    lines = [f"Ready MustSync={str(ready.must_sync).lower()}:"]
    if ready.soft_state is not None:
        lines.append(f"Lead:{ready.soft_state.leader or '0'} State:{ready.soft_state.role.name}")
    if ready.hard_state is not None:
        hard = ready.hard_state
        vote = f" Vote:{hard.voted_for}" if hard.voted_for else ""
        lines.append(f"HardState Term:{hard.term}{vote} Commit:{hard.commit}")
    if ready.snapshot is not None:
        lines.append(f"Snapshot {format_snapshot(ready.snapshot)}")
    if ready.entries:
        lines.append("Entries:")
        lines.extend(format_entry(e) for e in ready.entries)
    if ready.committed_entries:
        lines.append("CommittedEntries:")
        lines.extend(format_entry(e) for e in ready.committed_entries)
    if ready.read_states:
        lines.append("ReadStates:")
        lines.extend(f"Index:{rs.index} Context:{_quote(rs.context)}" for rs in ready.read_states)
    return lines


def _quote(data: bytes) -> str:
    return '"' + data.decode("utf-8", "backslashreplace") + '"'


# -- the cluster ----------------------------------------------------------------------------


class ScriptError(Exception):
    """A malformed command in a script (not a Raft failure)."""


@dataclass
class Node:
    id: str
    config: Config
    storage: MemoryStorage
    raw: RawNode | None  # None while crashed
    incarnation: int = 0
    # The toy state machine: (index, data) of each applied NORMAL entry.
    applied_data: list[tuple[int, str]] = field(default_factory=list)

    @property
    def rn(self) -> RawNode:
        if self.raw is None:
            raise ScriptError(f"node {self.id} is down")
        return self.raw


def node_rng(node_id: str, incarnation: int) -> random.Random:
    return random.Random(f"concord-raft-{node_id}-{incarnation}")


@dataclass
class Command:
    name: str
    positional: list[str]
    options: dict[str, str]
    line: int

    def ids(self) -> list[str]:
        return self.positional

    def one_id(self) -> str:
        if not self.positional:
            raise ScriptError(f"line {self.line}: {self.name} needs a node id")
        return self.positional[0]

    def option(self, key: str, default: str) -> str:
        return self.options.get(key, default)

    def option_list(self, key: str) -> list[str] | None:
        value = self.options.get(key)
        if value is None:
            return None
        value = value.strip("()")
        return [item for item in value.split(",") if item]


class InteractionEnv:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.queues: dict[str, list[Message]] = {}
        self.isolated: set[str] = set()
        self.quiet = False
        self.founding = ConfState(())  # the configuration the first nodes were created with
        self._handlers: dict[str, Callable[[Command, list[str]], None]] = {
            "add-nodes": self._add_nodes,
            "campaign": self._campaign,
            "tick": self._tick,
            "tick-election": self._tick_election,
            "tick-heartbeat": self._tick_heartbeat,
            "propose": self._propose,
            "propose-conf-change": self._propose_conf_change,
            "read-index": self._read_index,
            "transfer-leadership": self._transfer_leadership,
            "process-ready": self._process_ready_cmd,
            "deliver-msgs": self._deliver_msgs_cmd,
            "stabilize": self._stabilize,
            "reorder-msgs": self._reorder_msgs,
            "duplicate-msgs": self._duplicate_msgs,
            "raft-log": self._raft_log,
            "raft-state": self._raft_state,
            "status": self._status,
            "compact": self._compact,
            "isolate": self._isolate,
            "heal": self._heal,
            "crash": self._crash,
            "restart": self._restart,
            "set-bugs": self._set_bugs,
            "report-unreachable": self._report_unreachable,
            "report-snapshot": self._report_snapshot,
            "log-level": self._log_level,
        }

    def run(self, command: Command) -> str:
        handler = self._handlers.get(command.name)
        if handler is None:
            raise ScriptError(f"line {command.line}: unknown command {command.name!r}")
        out: list[str] = []
        handler(command, out)
        if self.quiet and command.name != "log-level":
            return "ok"
        return "\n".join(out) if out else "ok"

    # -- setup ----------------------------------------------------------------------------

    def _add_nodes(self, cmd: Command, out: list[str]) -> None:
        count = int(cmd.one_id())
        first = len(self.nodes) + 1
        new_ids = [str(n) for n in range(first, first + count)]
        voters = cmd.option_list("voters")
        learners = cmd.option_list("learners") or []
        if voters is None and not self.nodes:
            voters = new_ids
        # A joining node starts from the founding configuration: the base the log from index 1
        # builds on (a later configuration reaches it through the log or a snapshot).
        conf_state = self.founding if voters is None else ConfState(tuple(voters), tuple(learners))
        if not self.nodes:
            self.founding = conf_state
        index = int(cmd.option("index", "0"))
        for node_id in new_ids:
            config = Config(
                node_id,
                election_tick=int(cmd.option("election", "3")),
                heartbeat_tick=int(cmd.option("heartbeat", "1")),
                pre_vote=cmd.option("prevote", "true") == "true",
                check_quorum=cmd.option("checkquorum", "true") == "true",
                max_inflight_msgs=int(cmd.option("max-inflight", "256")),
                max_size_per_msg=int(cmd.option("max-size", str(1024 * 1024))),
            )
            storage = MemoryStorage(conf_state)
            if index > 0:
                storage.apply_snapshot(Snapshot(SnapshotMeta(index, 1, conf_state)))
            raw = RawNode(config, storage, node_rng(node_id, 0))
            self.nodes[node_id] = Node(node_id, config, storage, raw)
            self.queues[node_id] = []

    def _set_bugs(self, cmd: Command, out: list[str]) -> None:
        node_id, *names = cmd.ids()
        self.nodes[node_id].rn.raft.bugs = frozenset(Bug[name] for name in names)

    def _report_unreachable(self, cmd: Command, out: list[str]) -> None:
        node_id, peer = cmd.ids()
        node = self.nodes[node_id]
        self._observe(node, out, lambda: node.rn.report_unreachable(peer))

    def _report_snapshot(self, cmd: Command, out: list[str]) -> None:
        node_id, peer, outcome = cmd.ids()
        node = self.nodes[node_id]
        success = outcome == "ok"
        self._observe(node, out, lambda: node.rn.report_snapshot(peer, success=success))

    def _log_level(self, cmd: Command, out: list[str]) -> None:
        self.quiet = cmd.one_id() == "none"

    # -- inputs ---------------------------------------------------------------------------

    def _observe(self, node: Node, out: list[str], action: Callable[[], None]) -> None:
        """Run `action` on a node and print any change of role, term or leader it caused."""
        raft = node.rn.raft
        before = (raft.role, raft.term, raft.lead)
        try:
            action()
        except ProposalDropped as exc:
            out.append(f"error: ProposalDropped: {exc}")
        except RaftInvariantError as exc:
            # The node stops, as a real one must: going on could lose committed data.
            out.append(f"PANIC {node.id}: {exc}")
            node.raw = None
            return
        raft = node.rn.raft
        after = (raft.role, raft.term, raft.lead)
        if after != before:
            lead = f", lead {raft.lead}" if raft.lead and raft.role != Role.LEADER else ""
            out.append(f"INFO {node.id} is {raft.role.name} at term {raft.term}{lead}")

    def _campaign(self, cmd: Command, out: list[str]) -> None:
        node = self.nodes[cmd.one_id()]
        self._observe(node, out, node.rn.campaign)

    def _tick_n(self, node: Node, count: int, out: list[str]) -> None:
        for _ in range(count):
            self._observe(node, out, node.rn.tick)

    def _tick(self, cmd: Command, out: list[str]) -> None:
        node_id, count = cmd.ids()
        self._tick_n(self.nodes[node_id], int(count), out)

    def _tick_election(self, cmd: Command, out: list[str]) -> None:
        node = self.nodes[cmd.one_id()]
        raft = node.rn.raft
        if raft.role == Role.LEADER:
            remaining = raft.election_timeout - raft.election_elapsed
        else:
            remaining = raft.randomized_election_timeout - raft.election_elapsed
        self._tick_n(node, max(remaining, 1), out)

    def _tick_heartbeat(self, cmd: Command, out: list[str]) -> None:
        node = self.nodes[cmd.one_id()]
        self._tick_n(node, node.config.heartbeat_tick, out)

    def _propose(self, cmd: Command, out: list[str]) -> None:
        node_id, data = cmd.ids()
        node = self.nodes[node_id]

        def propose() -> None:
            index = node.rn.propose(data.encode())
            out.append(f"index {index}")

        self._observe(node, out, propose)

    def _propose_conf_change(self, cmd: Command, out: list[str]) -> None:
        node_id, kind, target = cmd.ids()
        node = self.nodes[node_id]
        change = ConfChange(CONF_CHANGE_NAMES[kind], target)

        def propose() -> None:
            index = node.rn.propose_conf_change(change)
            out.append(f"index {index}")

        self._observe(node, out, propose)

    def _read_index(self, cmd: Command, out: list[str]) -> None:
        node_id, context = cmd.ids()
        node = self.nodes[node_id]
        self._observe(node, out, lambda: node.rn.read_index(context.encode()))

    def _transfer_leadership(self, cmd: Command, out: list[str]) -> None:
        node = self.nodes[cmd.options["from"]]
        target = cmd.options["to"]
        self._observe(node, out, lambda: node.rn.transfer_leadership(target))

    # -- Ready ----------------------------------------------------------------------------

    def _process_ready_cmd(self, cmd: Command, out: list[str]) -> None:
        ids = cmd.ids()
        for node_id in ids:
            lines: list[str] = []
            self.process_ready(self.nodes[node_id], lines)
            if len(ids) > 1:
                out.append(f"> {node_id} handling Ready")
                out.extend("  " + line for line in lines)
            else:
                out.extend(lines)

    def process_ready(self, node: Node, out: list[str]) -> None:
        """One Ready, handled as the contract says: persist, send, apply, advance."""
        rn = node.rn
        if not rn.has_ready():
            out.append("<empty Ready>")
            return
        ready = rn.ready()
        out.extend(format_ready(ready))
        storage = node.storage
        if ready.snapshot is not None:
            storage.apply_snapshot(ready.snapshot)
            node.applied_data = _decode_state(ready.snapshot)
        storage.append(ready.entries)
        if ready.hard_state is not None:
            storage.set_hard_state(ready.hard_state)
        if ready.messages:
            out.append("Messages:")
            out.extend(self._send(ready.messages))
        if ready.messages_after_persist:
            out.append("MessagesAfterPersist:")
            out.extend(self._send(ready.messages_after_persist))

        def apply_and_advance() -> None:
            for entry in ready.committed_entries:
                if entry.kind == EntryKind.CONF_CHANGE:
                    change = decode_conf_change(entry.data)
                    state = rn.apply_conf_change(change)
                    out.append(
                        f"INFO {node.id} applied {CONF_CHANGE_WORDS[change.type]} "
                        f"{change.node}: {format_conf_state(state)}"
                    )
                elif entry.kind == EntryKind.NORMAL:
                    node.applied_data.append((entry.index, entry.data.decode()))
            rn.advance(ready)

        self._observe(node, out, apply_and_advance)

    def _send(self, messages: list[Message]) -> list[str]:
        lines = []
        for msg in messages:
            text = format_message(msg)
            reason = self._blocked(msg)
            if reason:
                text += f"  [dropped: {reason}]"
            else:
                self.queues[msg.to].append(msg)
            lines.append(text)
        return lines

    def _blocked(self, msg: Message) -> str:
        for node_id in (msg.sender, msg.to):
            if node_id in self.isolated:
                return f"{node_id} is isolated"
        target = self.nodes.get(msg.to)
        if target is None:
            return f"{msg.to} does not exist"
        if target.raw is None:
            return f"{msg.to} is down"
        return ""

    # -- the network ----------------------------------------------------------------------

    def _deliver_msgs_cmd(self, cmd: Command, out: list[str]) -> None:
        drop = cmd.option_list("drop") or []
        count = int(cmd.option("count", "0")) or None
        kind = cmd.options.get("type")
        sender = cmd.options.get("from")
        for node_id in drop:
            for msg in self._take(node_id, count, kind, sender):
                out.append(f"dropped: {format_message(msg)}")
        targets = cmd.ids()
        for node_id in targets:
            lines: list[str] = []
            self.deliver(node_id, lines, count, kind, sender)
            if len(targets) > 1 and lines:
                out.append(f"> {node_id} receiving messages")
                out.extend("  " + line for line in lines)
            else:
                out.extend(lines)

    def _take(
        self, node_id: str, count: int | None, kind: str | None, sender: str | None
    ) -> list[Message]:
        queue = self.queues[node_id]
        taken: list[Message] = []
        kept: list[Message] = []
        for msg in queue:
            wanted = (kind is None or msg.type.name == kind) and (
                sender is None or msg.sender == sender
            )
            if wanted and (count is None or len(taken) < count):
                taken.append(msg)
            else:
                kept.append(msg)
        self.queues[node_id] = kept
        return taken

    def deliver(
        self,
        node_id: str,
        out: list[str],
        count: int | None = None,
        kind: str | None = None,
        sender: str | None = None,
    ) -> None:
        node = self.nodes[node_id]
        for msg in self._take(node_id, count, kind, sender):
            text = format_message(msg)
            reason = self._blocked(msg)
            if reason:
                out.append(f"{text}  [dropped: {reason}]")
                continue
            out.append(text)
            self._observe(node, out, lambda m=msg: node.rn.step(m))  # type: ignore[misc]

    def _reorder_msgs(self, cmd: Command, out: list[str]) -> None:
        """Reverse a node's queue, or rebuild it from 1-based positions (repeats duplicate)."""
        node_id = cmd.one_id()
        queue = self.queues[node_id]
        order = cmd.option_list("order")
        if order is None:
            self.queues[node_id] = queue[::-1]
        else:
            self.queues[node_id] = [queue[int(position) - 1] for position in order]
        out.extend(format_message(m) for m in self.queues[node_id])

    def _duplicate_msgs(self, cmd: Command, out: list[str]) -> None:
        queue = self.queues[cmd.one_id()]
        queue.extend(list(queue))
        out.extend(format_message(m) for m in queue)

    def _stabilize(self, cmd: Command, out: list[str]) -> None:
        ids = cmd.ids() or list(self.nodes)
        for _ in range(1000):
            progressed = False
            for node_id in ids:
                node = self.nodes[node_id]
                if node.raw is not None and node.raw.has_ready():
                    progressed = True
                    lines: list[str] = []
                    self.process_ready(node, lines)
                    out.append(f"> {node_id} handling Ready")
                    out.extend("  " + line for line in lines)
            for node_id in ids:
                if self.queues[node_id]:
                    progressed = True
                    lines = []
                    self.deliver(node_id, lines)
                    out.append(f"> {node_id} receiving messages")
                    out.extend("  " + line for line in lines)
            if not progressed:
                return
        raise ScriptError(f"line {cmd.line}: stabilize did not converge")

    def _isolate(self, cmd: Command, out: list[str]) -> None:
        self.isolated.add(cmd.one_id())

    def _heal(self, cmd: Command, out: list[str]) -> None:
        self.isolated.clear()

    # -- faults ---------------------------------------------------------------------------

    def _crash(self, cmd: Command, out: list[str]) -> None:
        """The node loses everything it did not persist; messages to it are lost."""
        node = self.nodes[cmd.one_id()]
        node.raw = None
        node.applied_data = []
        for msg in self.queues[node.id]:
            out.append(f"dropped: {format_message(msg)}")
        self.queues[node.id] = []

    def _restart(self, cmd: Command, out: list[str]) -> None:
        """A new RawNode over what the node persisted (its MemoryStorage), nothing else."""
        node = self.nodes[cmd.one_id()]
        if node.raw is not None:
            raise ScriptError(f"line {cmd.line}: node {node.id} is not down")
        node.incarnation += 1
        node.raw = RawNode(node.config, node.storage, node_rng(node.id, node.incarnation))
        node.applied_data = _decode_state(node.storage.snapshot)
        hard = node.storage.hard_state
        vote = f" Vote:{hard.voted_for}" if hard.voted_for else ""
        out.append(
            f"restarted {node.id}: HardState Term:{hard.term}{vote} Commit:{hard.commit}, "
            f"log {node.storage.first_index()}..{node.storage.last_index()}"
        )

    # -- introspection --------------------------------------------------------------------

    def _raft_log(self, cmd: Command, out: list[str]) -> None:
        node = self.nodes[cmd.one_id()]
        log = node.rn.raft.log
        snapshot = log.snapshot()
        if snapshot.meta.index:
            out.append(f"snapshot {format_snapshot(snapshot)}")
        first, last = log.first_index(), log.last_index()
        if last < first:
            out.append(f"log is empty: first index={first}, last index={last}")
        stable = log.stable_last_index()
        for entry in log.slice(first, last + 1):
            suffix = " (unstable)" if entry.index > stable else ""
            out.append(format_entry(entry) + suffix)
        out.append(f"committed={log.committed} applied={log.applied}")
        out.append(f"state machine: [{' '.join(data for _, data in node.applied_data)}]")

    def _raft_state(self, cmd: Command, out: list[str]) -> None:
        for node_id, node in self.nodes.items():
            if node.raw is None:
                out.append(f"{node_id}: DOWN")
                continue
            raft = node.raw.raft
            if node_id in raft.voters:
                kind = "Voter"
            elif node_id in raft.learners:
                kind = "Learner"
            else:
                kind = "NonMember"
            out.append(
                f"{node_id}: {raft.role.name} ({kind}) Term:{raft.term} Lead:{raft.lead or '0'}"
            )

    def _status(self, cmd: Command, out: list[str]) -> None:
        node = self.nodes[cmd.one_id()]
        raft = node.rn.raft
        log = raft.log
        out.append(
            f"{node.id}: {raft.role.name} term={raft.term} lead={raft.lead or '0'} "
            f"commit={log.committed} applied={log.applied} last={log.last_index()}"
        )
        if raft.lead_transferee:
            out.append(f"transferring leadership to {raft.lead_transferee}")
        if raft.role != Role.LEADER:
            return
        for peer, pr in raft.progress.items():
            flags = []
            if pr.is_learner:
                flags.append("learner")
            if pr.is_paused():
                flags.append("paused")
            if pr.pending_snapshot:
                flags.append(f"pending_snapshot={pr.pending_snapshot}")
            if pr.inflights.count():
                full = "[full]" if pr.inflights.full() else ""
                flags.append(f"inflight={pr.inflights.count()}{full}")
            if peer != node.id and not pr.recent_active:
                flags.append("inactive")
            extra = (" " + " ".join(flags)) if flags else ""
            out.append(f"  {peer}: {pr.state.name} match={pr.match} next={pr.next}{extra}")

    def _compact(self, cmd: Command, out: list[str]) -> None:
        node_id, index = cmd.ids()
        node = self.nodes[node_id]
        data = _encode_state(node.applied_data, int(index))
        snapshot = node.rn.compact(int(index), data)
        out.append(f"snapshot {format_snapshot(snapshot)}")


def _encode_state(applied: list[tuple[int, str]], index: int) -> bytes:
    """The toy state machine as of `index` (a snapshot may be taken below the applied index)."""
    return ",".join(data for entry_index, data in applied if entry_index <= index).encode()


def _decode_state(snapshot: Snapshot) -> list[tuple[int, str]]:
    data = snapshot.data
    return [(snapshot.meta.index, item) for item in data.decode().split(",")] if data else []


# -- scripts --------------------------------------------------------------------------------


@dataclass
class Step:
    comments: list[str]
    command_line: str
    expected: str
    line: int


TOKEN = re.compile(r"\S+")


def parse_command(text: str, line: int) -> Command:
    tokens = TOKEN.findall(text)
    positional: list[str] = []
    options: dict[str, str] = {}
    for token in tokens[1:]:
        key, eq, value = token.partition("=")
        if eq:
            options[key] = value
        else:
            positional.append(token)
    return Command(tokens[0], positional, options, line)


def parse_script(text: str) -> tuple[list[Step], list[str]]:
    """Steps, and the comment lines after the last step."""
    lines = text.splitlines()
    steps: list[Step] = []
    comments: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            comments.append(line)
            i += 1
            continue
        command_line, number = line, i + 1
        if i + 1 >= len(lines) or lines[i + 1] != "----":
            raise ScriptError(f"line {number}: expected '----' after the command")
        i += 2
        expected: list[str] = []
        while i < len(lines) and lines[i].strip():
            expected.append(lines[i])
            i += 1
        steps.append(Step(comments, command_line, "\n".join(expected), number))
        comments = []
    return steps, comments


def run_script(path: Path) -> list[str]:
    """Run a script; returns a list of mismatch descriptions (empty when all steps match).

    With CONCORD_REWRITE_GOLDEN=1 the file is rewritten with the actual output instead."""
    steps, trailing = parse_script(path.read_text())
    env = InteractionEnv()
    rewrite = os.environ.get(REWRITE_ENV) == "1"
    failures: list[str] = []
    rendered: list[str] = []
    for step in steps:
        actual = env.run(parse_command(step.command_line, step.line))
        if actual != step.expected and not rewrite:
            diff = difflib.unified_diff(
                step.expected.splitlines(),
                actual.splitlines(),
                "expected",
                "actual",
                lineterm="",
            )
            failures.append(f"{path.name}:{step.line}: {step.command_line}\n" + "\n".join(diff))
            break  # later steps depend on this one
        rendered.extend(step.comments)
        rendered.extend([step.command_line, "----", actual])
    if rewrite:
        path.write_text("\n".join(rendered + trailing).rstrip("\n") + "\n")
    return failures
