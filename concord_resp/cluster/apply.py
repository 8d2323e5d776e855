"""Applying committed entries: the bridge from the Raft log to the state machine.

Each NORMAL entry is decoded (or taken as this node proposed it) and applied; the `Applied`
it returns completes this node's proposals it answers (`Proposals.applied`), whichever node
proposed the entry: a follower's client gets its reply from its own node's apply. Effects
beyond replies (the keys an entry touched; later messages, notifications, woken waiters) are
in the same `Applied`, and this is where the node hands them on. A membership change goes to
the state machine and to the core. A long run of entries yields to the event loop now and
then, so clients are served while a follower catches up.

An entry that may run Lua is applied in a worker thread, with the entries behind it, by the
`Applier` (see `applier.py`): from there on the runner hands entries to its backlog instead
of applying them, until the backlog is empty again.
"""

from __future__ import annotations

import logging
from time import perf_counter_ns
from typing import TYPE_CHECKING, Final

import trio

from ..raft.core import ConfChangeType, Entry, EntryKind, decode_conf_change
from ..state import Applied, Command, Op, runs_lua
from ..state.entries import LUA_INITIALS
from .applier import Pending, results_of
from .telemetry import event

if TYPE_CHECKING:
    from .node import RaftNode

APPLY_CHUNK: Final = 512  # entries applied between two checkpoints
NORMAL: Final = int(EntryKind.NORMAL)  # (plain ints: compared once per entry)
CONF_CHANGE: Final = int(EntryKind.CONF_CHANGE)

log = logging.getLogger("concord.node")


async def apply_entries(node: RaftNode, entries: list[Entry]) -> None:
    """The runner's apply: in order, here, unless a script holds (or will hold) the state
    machine, in which case the entries go to the applier's backlog."""
    machine, rn, proposals = node.machine, node.rn, node.proposals
    assert rn is not None
    applier = node.applier
    if applier.busy or applier.backlog or applier.running_task:
        await _behind_backlog(node, entries, 0, None)
        return
    op_of = proposals.op_of
    for position, entry in enumerate(entries):
        if position and position % APPLY_CHUNK == 0:
            node.replies_ready()
            await trio.lowlevel.checkpoint()
        if entry.index <= machine.applied_index:
            # In the snapshot restored at start-up; only membership lives in the core.
            if entry.kind == CONF_CHANGE:
                rn.apply_conf_change(decode_conf_change(entry.data))
            continue
        if entry.kind == NORMAL and entry.data:
            op = op_of(entry.index, entry.term, entry.data)
            # (`runs_lua`, its first test written out: most entries are not a Lua command)
            lua = (type(op) is not Command or op.argv[0][:1] in LUA_INITIALS) and runs_lua(op)
            if lua and node.nursery is not None:  # (at start-up: here, at once)
                await _behind_backlog(node, entries, position, op)
                return
            apply_normal(node, entry, op)
        else:
            apply_other(node, entry)
    proposals.forget_before(machine.applied_index)


async def _behind_backlog(
    node: RaftNode, entries: list[Entry], start: int, first_op: Op | None
) -> None:
    """Queue entries[start:] for the applier (`first_op`: the first one's, decoded already).
    The runner goes on at once, except past a membership change, which it waits for: the
    core must not act on a configuration the state machine has not applied."""
    applier = node.applier
    queued = [Pending(entry) for entry in entries[start:]]
    if first_op is not None:
        queued[0].op = first_op
    applier.defer(queued)
    if any(entry.kind == EntryKind.CONF_CHANGE for entry in entries[start:]):
        await applier.drained()


def apply_normal(node: RaftNode, entry: Entry, op: Op) -> None:
    """Apply a NORMAL entry here, on the event loop. (Every write on every node comes
    through here: what most entries do not need costs one test.)"""
    node.snapshots.bytes_since += len(entry.data)
    proposals = node.proposals
    session = op.session
    mine = False  # a write of this node's clients: its time counts in INFO commandstats
    if session is not None and session.id == proposals.session:
        mine = True
        if node.reads.deferred:  # reads deferred before it see the state without it
            node.reads.serve_before(session.seq)
    if mine:
        started = perf_counter_ns()
        applied = node.machine.apply(entry.index, op)
        elapsed_us = (perf_counter_ns() - started) // 1000
    else:
        applied = node.machine.apply(entry.index, op)
        elapsed_us = 0
    if node.script_calls is not None:
        node.script_calls(applied, node.machine.scripting.take_calls())
    if applied.messages and node.deliver_messages is not None:
        node.deliver_messages(applied.messages)  # (first: PUBLISH's reply counts receivers)
    if mine or applied.completions or proposals.sessionless:
        proposals.applied(applied, elapsed_us)
    if applied.touched and node.invalidate_keys is not None:
        node.invalidate_keys(applied)  # (after: a writer gets its reply, then invalidations)


# A membership change's telemetry event, and what it says.
MEMBER_EVENTS: Final = {
    ConfChangeType.ADD_VOTER: ("member_voter", "is a voter"),
    ConfChangeType.ADD_LEARNER: ("member_added", "joined as a learner"),
    ConfChangeType.REMOVE: ("member_removed", "was removed"),
}


def apply_other(node: RaftNode, entry: Entry) -> None:
    """A membership change, or an entry with no command (a new leader's no-op)."""
    machine, rn = node.machine, node.rn
    assert rn is not None
    if entry.index <= machine.applied_index:
        if entry.kind == EntryKind.CONF_CHANGE:
            rn.apply_conf_change(decode_conf_change(entry.data))
        return
    if entry.kind == EntryKind.CONF_CHANGE:
        change = decode_conf_change(entry.data)
        address = None if change.type == ConfChangeType.REMOVE else change.context
        machine.apply_member_change(
            entry.index, change.node, address.decode() if address is not None else None
        )
        if address is None:
            node.membership.note_removal(change.node, entry.index, entry.term)
        rn.apply_conf_change(change)
        node.membership.changed()
        name, says = MEMBER_EVENTS[change.type]
        event(
            log,
            name,
            f"membership: {change.node} {says} (entry {entry.index})",
            member=change.node,
            address=address.decode(errors="replace") if address is not None else "",
            index=entry.index,
            voters=len(node.refresh_status().voters),
        )
    else:
        machine.apply_noop(entry.index)


def deferred_reads_due(node: RaftNode, op: Op) -> bool:
    """Whether reads deferred behind this node's writes must run before `op` is applied
    (so `op` cannot join a worker run after other entries)."""
    reads, session = node.reads, op.session
    return bool(
        reads.deferred
        and session is not None
        and session.id == node.proposals.session
        and reads.deferred[0].barrier_seq <= session.seq
    )


async def apply_in_worker(node: RaftNode, run: list[tuple[Entry, Op]]) -> None:
    """Apply a run of NORMAL entries in the worker thread (one hop), then complete their
    proposals here, in order."""
    machine, proposals = node.machine, node.proposals
    ops = [(entry.index, op) for entry, op in run]
    node.snapshots.bytes_since += sum(len(entry.data) for entry, _ in run)
    calls: dict[int, list[tuple[int, list[bytes]]]] = {}  # each entry's scripts' commands

    def apply_noting_calls(index: int, op: Op) -> Applied:
        applied = machine.apply(index, op)
        calls[index] = machine.scripting.take_calls()
        return applied

    monitored = node.script_calls is not None
    apply = apply_noting_calls if monitored else machine.apply
    results = await node.applier.exclusive(lambda: results_of(apply, ops))
    deliver = node.deliver_messages
    for applied, elapsed_us in results:
        if monitored and node.script_calls is not None:
            node.script_calls(applied, calls.get(applied.index, []))
        if applied.messages and deliver is not None:
            deliver(applied.messages)
        proposals.applied(applied, elapsed_us)
        if node.invalidate_keys is not None and applied.touched:
            node.invalidate_keys(applied)
    proposals.forget_before(machine.applied_index)


async def apply_backlog(node: RaftNode) -> None:
    """Apply the applier's backlog in order: entries that may run Lua in the worker, each
    with the NORMAL entries right behind it (one hop), the others here."""
    applier, machine, proposals = node.applier, node.machine, node.proposals
    backlog = applier.backlog
    while backlog:
        await applier.idle()  # a read-only script may hold the machine
        if not backlog:
            break
        head = backlog.popleft()
        entry = head.entry
        if entry.index <= machine.applied_index and entry.kind == EntryKind.NORMAL:
            continue  # (in a snapshot restored meanwhile)
        if entry.kind != EntryKind.NORMAL or not entry.data:
            apply_other(node, entry)
            continue
        op = head.decoded(proposals)
        if not runs_lua(op):
            apply_normal(node, entry, op)
            await trio.lowlevel.checkpoint()
            continue
        if deferred_reads_due(node, op):
            node.reads.serve_before(op.session.seq)  # type: ignore[union-attr]
        run = [(entry, op)]
        while backlog and backlog[0].entry.kind == EntryKind.NORMAL and backlog[0].entry.data:
            following = backlog[0]
            following_op = following.decoded(proposals)
            if deferred_reads_due(node, following_op):
                break  # its deferred reads run first, on the state before it
            backlog.popleft()
            run.append((following.entry, following_op))
        await apply_in_worker(node, run)
        node.replies_ready()
        node.reads.release()
    proposals.forget_before(machine.applied_index)
