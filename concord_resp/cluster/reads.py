"""Linearizable reads: ReadIndex (Raft thesis 6.4), one heartbeat round per batch of reads.

`barrier()` returns once this node has applied everything committed when it was called: the
node asks the leader (itself, or over the peer link) for its commit index, the leader
confirms it still leads with a heartbeat round to a quorum, and the read waits until this
node has applied up to that index. The reads waiting at the same moment share one request
(`ReadBatch`), so one round serves them all. A single-voter cluster needs no round once its
leader has committed an entry of its own term.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from ..raft.core import ProposalDropped, RawNode, ReadState

if TYPE_CHECKING:
    from .node import RaftNode


class ClusterError(Exception):
    """A request the cluster could not serve: the error reply to send (Redis wording)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message.encode()


class ReadBatch:
    """The reads that share one read-index request."""

    __slots__ = ("context", "done", "error", "index", "sent")

    def __init__(self, context: bytes) -> None:
        self.context = context
        self.index = -1  # the read point, once known
        self.sent = False
        self.done = trio.Event()
        self.error: bytes | None = None


class Reads:
    def __init__(self, node: RaftNode) -> None:
        self.node = node
        self._batches: list[ReadBatch] = []
        self._next = 0

    def alone_and_current(self) -> bool:
        """A single-voter leader that has applied everything committed in its own term: its
        state is a read point by itself (everything committed is durable here and applied
        in order, and a write is answered only after it is applied). Not before the leader
        committed an entry of its own term, though: until then, entries of earlier terms in
        its log (written before a restart) may be committed without being known to be."""
        status = self.node.status
        return (
            status.is_leader
            and status.voters == (self.node.name,)
            and status.commit_term == status.term
            and self.node.machine.applied_index >= status.commit
        )

    async def barrier(self) -> None:
        """Return once this node has applied everything committed at the time of the call.
        Raises ClusterError with the reply to send otherwise."""
        if self.alone_and_current():
            return
        batch = self._batches[-1] if self._batches and not self._batches[-1].sent else None
        if batch is None:
            self._next += 1
            batch = ReadBatch(b"%s:%d" % (self.node.proposals.session.encode(), self._next))
            self._batches.append(batch)
            self.node.kick()
        with trio.move_on_after(self.node.config.read_timeout):
            await batch.done.wait()
        if not batch.done.is_set():
            if batch in self._batches:
                self._batches.remove(batch)
            raise ClusterError(
                "TIMEOUT no quorum for read" if self.node.leader else "CLUSTERDOWN No raft leader"
            )
        if batch.error is not None:
            raise ClusterError(batch.error.decode())

    def request(self, rn: RawNode) -> None:
        """Ask the core for the read points not asked for yet (one per batch)."""
        for batch in self._batches:
            if batch.sent:
                continue
            try:
                rn.read_index(batch.context)
            except ProposalDropped:
                continue  # no leader: sent again when one is known
            batch.sent = True

    def confirmed(self, states: list[ReadState]) -> None:
        for state in states:
            for batch in self._batches:
                if batch.context == state.context and batch.index < 0:
                    batch.index = state.index

    def release(self) -> None:
        """Let go the reads whose read point this node has applied."""
        if not self._batches:
            return
        applied = self.node.machine.applied_index
        keep: list[ReadBatch] = []
        for batch in self._batches:
            if 0 <= batch.index <= applied:
                batch.done.set()
            else:
                keep.append(batch)
        self._batches = keep

    def leader_changed(self) -> None:
        """A request the old leader never answered is asked of the new one."""
        for batch in self._batches:
            if batch.index < 0:
                batch.sent = False
