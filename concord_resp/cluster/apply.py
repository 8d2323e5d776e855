"""Applying committed entries: the bridge from the Raft log to the state machine.

Each NORMAL entry is decoded (or taken as this node proposed it) and applied; the `Applied`
it returns completes this node's proposals it answers (`Proposals.applied`), whichever node
proposed the entry: a follower's client gets its reply from its own node's apply. Effects
beyond replies (the keys an entry touched; later messages, notifications, woken waiters) are
in the same `Applied`, and this is where the node hands them on. A membership change goes to
the state machine and to the core. A long run of entries yields to the event loop now and
then, so clients are served while a follower catches up.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

import trio

from ..raft.core import ConfChangeType, Entry, EntryKind, decode_conf_change

if TYPE_CHECKING:
    from .node import RaftNode

APPLY_CHUNK: Final = 512  # entries applied between two checkpoints


async def apply_entries(node: RaftNode, entries: list[Entry]) -> None:
    machine, rn, proposals, reads = node.machine, node.rn, node.proposals, node.reads
    assert rn is not None
    ours = proposals.session
    for count, entry in enumerate(entries, start=1):
        if count % APPLY_CHUNK == 0:
            node.replies_ready()
            await trio.lowlevel.checkpoint()
        if entry.index <= machine.applied_index:
            # In the snapshot restored at start-up; only membership lives in the core.
            if entry.kind == EntryKind.CONF_CHANGE:
                rn.apply_conf_change(decode_conf_change(entry.data))
            continue
        if entry.kind == EntryKind.NORMAL and entry.data:
            node.snapshots.bytes_since += len(entry.data)
            op = proposals.op_of(entry.index, entry.term, entry.data)
            if reads.deferred and op.session is not None and op.session.id == ours:
                reads.serve_before(
                    op.session.seq
                )  # reads deferred before it see the state without it
            started = time.perf_counter_ns()
            applied = machine.apply(entry.index, op)
            proposals.applied(applied, (time.perf_counter_ns() - started) // 1000)
        elif entry.kind == EntryKind.CONF_CHANGE:
            change = decode_conf_change(entry.data)
            address = None if change.type == ConfChangeType.REMOVE else change.context
            machine.apply_member_change(
                entry.index, change.node, address.decode() if address is not None else None
            )
            rn.apply_conf_change(change)
            node.membership.changed()
        else:
            machine.apply_noop(entry.index)
    proposals.forget_before(machine.applied_index)
