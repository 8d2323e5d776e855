"""Linearizable reads: ReadIndex (Raft thesis 6.4), one heartbeat round per batch of reads.

`barrier()` returns once this node has applied everything committed when it was called: the
node asks the leader (itself, or over the peer link) for its commit index, the leader
confirms it still leads with a heartbeat round to a quorum, and the read waits until this
node has applied up to that index. The reads waiting at the same moment share one request
(`ReadBatch`), so one round serves them all. A single-voter cluster needs no round once its
leader has committed an entry of its own term.

A read that a client pipelines behind its own writes not applied yet is deferred (`defer`)
rather than awaited, so the rest of the pipeline is submitted at once. It runs, in the
node's apply loop, once its writes (`after`, the newest) are done, at the first of:
- this node has applied up to its read point;
- an entry of this node's that was submitted after the read (sequence number >=
  `barrier_seq`) is about to be applied: every write acknowledged before the read arrived
  has a lower index (it was committed before that entry was even proposed), so the state
  before it is a read point;
- if `after` had not left this node when the read arrived (the usual pipeline: both came in
  one batch), the state right after `after` is applied is a read point, for the same reason.
So it sees its own writes and none of the writes sent after it (linearizable and
read-your-writes), and costs no ReadIndex round when its writes were sent with it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import trio

from ..raft.core import ProposalDropped, RawNode, ReadState

if TYPE_CHECKING:
    from .node import RaftNode
    from .proposals import Proposal


class ClusterError(Exception):
    """A request the cluster could not serve: the error reply to send (Redis wording)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message.encode()


class ReadBatch:
    """The reads that share one read-index request."""

    __slots__ = ("context", "created", "done", "error", "index", "sent")

    def __init__(self, context: bytes) -> None:
        self.context = context
        self.created = trio.current_time()
        self.index = -1  # the read point, once known
        self.sent = False
        self.done = trio.Event()
        self.error: bytes | None = None


AFTER_APPLIED: Final = -2  # DeferredRead.point: the state once `after` is applied


class DeferredRead:
    """A read waiting for its client's writes and its read point (see the module doc)."""

    __slots__ = ("after", "barrier_seq", "batch", "fail", "point", "run")

    def __init__(
        self,
        run: Callable[[], None],
        fail: Callable[[bytes], None],
        after: Proposal,
        barrier_seq: int,
    ) -> None:
        self.run = run  # runs the read on the state as it is, and sends its reply
        self.fail = fail  # answers the error instead
        self.after = after  # the client's last write before the read
        self.barrier_seq = barrier_seq
        self.point = -1  # the read point, if known without a batch, or AFTER_APPLIED
        self.batch: ReadBatch | None = None  # times out with its batch; it has no other wait

    def read_point(self) -> int:
        if self.point >= 0 or self.batch is None:
            return self.point
        return self.batch.index


class Reads:
    def __init__(self, node: RaftNode) -> None:
        self.node = node
        self._batches: list[ReadBatch] = []
        self._next = 0
        self.deferred: deque[DeferredRead] = deque()

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
        batch = self._open_batch()
        with trio.move_on_after(self.node.config.read_timeout):
            await batch.done.wait()
        if not batch.done.is_set():
            if batch in self._batches:
                self._batches.remove(batch)
            raise ClusterError(self._failure().decode())
        if batch.error is not None:
            raise ClusterError(batch.error.decode())

    def _open_batch(self) -> ReadBatch:
        """The batch a new read joins: the last one, unless it was asked for already."""
        batch = self._batches[-1] if self._batches and not self._batches[-1].sent else None
        if batch is None:
            self._next += 1
            batch = ReadBatch(b"%s:%d" % (self.node.proposals.session.encode(), self._next))
            self._batches.append(batch)
            self.node.kick()
        return batch

    def _failure(self) -> bytes:
        return b"TIMEOUT no quorum for read" if self.node.leader else b"CLUSTERDOWN No raft leader"

    # -- deferred reads ---------------------------------------------------------------------

    def defer(
        self, run: Callable[[], None], fail: Callable[[bytes], None], after: Proposal, local: bool
    ) -> None:
        """Run `run` once `after` is done and at a read point (see the module docstring);
        `local` (READONLY): this node's state is the read point."""
        node = self.node
        read = DeferredRead(run, fail, after, node.proposals.next_seq)
        if local:
            read.point = 0
        elif self.alone_and_current():
            read.point = node.status.commit
        elif not after.appended:
            read.point = AFTER_APPLIED  # it will be proposed after the read arrived
        else:
            read.batch = self._open_batch()
        self.deferred.append(read)
        if len(self.deferred) == 1 and after.done:
            self.serve()  # its turn may have come already (reads deferred earlier go first)

    def serve(self) -> None:
        """Run the deferred reads whose writes are done and whose read point is applied."""
        if not self.deferred or self.node.applier.busy:
            return
        applied = self.node.machine.applied_index
        waiting: deque[DeferredRead] = deque()
        for read in self.deferred:
            after = read.after
            if not after.done:
                waiting.append(read)
                continue
            if read.point == AFTER_APPLIED:
                if after.applied:
                    read.run()
                    continue
                read.point, read.batch = -1, self._open_batch()  # it failed: ask for one
            point = read.read_point()
            if 0 <= point <= applied:
                read.run()
            else:
                waiting.append(read)
        self.deferred = waiting

    def serve_before(self, seq: int) -> None:
        """An entry this node proposed with sequence number `seq` is about to be applied:
        the reads deferred before it was submitted run now, on the state before it."""
        deferred = self.deferred
        if deferred[0].barrier_seq > seq:
            return  # the common case: the reads waiting came after this write
        # Barrier sequence numbers do not decrease along the queue: only a prefix is due.
        stuck: list[DeferredRead] = []  # due, but its writes are not applied (reordered)
        while deferred and deferred[0].barrier_seq <= seq:
            read = deferred.popleft()
            if read.after.done:
                read.run()
            else:
                stuck.append(read)
        deferred.extendleft(reversed(stuck))

    def expire(self, now: float) -> None:
        """Drop the batches (and fail the deferred reads waiting on them) that got no read
        point within the read timeout. (A deferred read without a batch knows its read
        point already: it waits only for its writes, which finish or fail on their own.)"""
        timeout = self.node.config.read_timeout
        expired = [b for b in self._batches if now - b.created >= timeout and b.index < 0]
        if not expired:
            return
        self._batches = [b for b in self._batches if b not in expired]
        failure = self._failure()
        waiting: deque[DeferredRead] = deque()
        for read in self.deferred:
            if read.batch in expired:
                read.fail(failure)
            else:
                waiting.append(read)
        self.deferred = waiting

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
        """Let go the reads whose read point this node has applied (not while a script
        holds the state machine: the applier lets them go when it is done)."""
        if self.node.applier.busy:
            return
        if self._batches:
            applied = self.node.machine.applied_index
            keep: list[ReadBatch] = []
            now = trio.current_time()
            durations = self.node.metrics.read_index
            for batch in self._batches:
                if 0 <= batch.index <= applied:
                    durations.observe(now - batch.created)
                    batch.done.set()
                else:
                    keep.append(batch)
            self._batches = keep
        self.serve()

    def leader_changed(self) -> None:
        """A request the old leader never answered is asked of the new one."""
        for batch in self._batches:
            if batch.index < 0:
                batch.sent = False
