"""This node's writes: numbered, proposed or forwarded to the leader, resent, completed.

Every client write carries this node's session id and a sequence number, so it may be
proposed more than once and is applied once (Raft thesis 6.3; the session table is in the
state machine). The leader proposes it; a follower forwards it to the leader over the peer
link and, like every node, applies the entry itself, which is where its client's reply comes
from. A write that is not applied yet is sent again when the leader changes and every
`resend` interval. It fails with `-CLUSTERDOWN No raft leader` if no leader took it within the
write timeout (it was never appended), or `-TIMEOUT not committed yet` if it may have been
appended (outcome unknown). Active expiry's deletions carry no session: only a leader
proposes them, and only once.

A round's proposals go into the log as one batch (one append, one fsync, one broadcast); a
follower forwards a round's writes to the leader in one frame. The leader stamps them with one
time: the state machine's time never goes backwards.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import trio

from ..raft.core import ProposalDropped, RawNode, Status
from ..resp import ErrorReply, Reply
from ..state import (
    OP_COMMAND,
    OP_CONFIGURE,
    OP_EXPIRE,
    OP_MULTI,
    OP_SET_USERS,
    OP_UNBLOCK,
    Applied,
    Command,
    Configure,
    Expiry,
    Op,
    Session,
    SetUsers,
    Transaction,
    Unblock,
    Watch,
    decode_op,
    encode_op,
)
from ..state.blocked import BLOCK_AGAIN, BLOCKED
from ..state.entries import UNBLOCK_DISCONNECTED
from .peer_protocol import Forward, ForwardedWrite, forwarded_size_bound

if TYPE_CHECKING:
    from .node import RaftNode

log = logging.getLogger("concord.node")

CLUSTERDOWN: Final = ErrorReply(b"CLUSTERDOWN No raft leader")
WRITE_TIMEOUT: Final = ErrorReply(b"TIMEOUT not committed yet")


def too_large(size: int, limit: int) -> ErrorReply:
    return ErrorReply(
        b"ERR write of %d bytes is too large for the peer link (at most %d bytes:"
        b" see --cluster-max-frame)" % (size, limit)
    )


class Proposal:
    """A write waiting to be applied; `reply` holds its reply value once `done`."""

    __slots__ = (
        "_event",
        "abandoned",
        "appended",
        "applied",
        "apply_us",
        "blocked",
        "body",
        "db",
        "db_after",
        "deadline",
        "done",
        "index",
        "kind",
        "on_done",
        "reason",
        "reply",
        "seq",
        "user",
        "watches",
    )

    def __init__(
        self,
        kind: int,
        db: int,
        body: list[bytes]
        | list[list[bytes]]
        | list[tuple[str, int]]
        | list[tuple[str, int | bytes]]
        | list[tuple[bytes, list[bytes]]],
        watches: list[Watch] | None = None,
        *,
        reason: int = 0,
    ) -> None:
        self.kind = kind
        self.db = db
        self.body = body
        self.watches = watches or []
        self.reason = reason  # an Unblock's reason; a SetUsers' mode
        self.user: bytes | None = None  # a restricted user whose script runs (ACL checks)
        self.blocked = False  # applied, and its client waits (a blocking command)
        self.abandoned = False  # its client left while it was in flight or blocked
        self.index = 0
        self.seq = 0
        self.appended = False  # may be in some log: a failure is "outcome unknown"
        self.applied = False  # done because its entry was applied (not failed)
        self.deadline = 0.0
        self.reply: Reply = None
        self.db_after = db
        self.apply_us = 0  # time spent applying it (INFO commandstats)
        self.done = False
        self.on_done: Callable[[], None] | None = None  # called once applied (delivers replies)
        self._event: trio.Event | None = None

    def op(self, time_us: int, session: Session | None) -> Op:
        """The entry, stamped with the leader's time."""
        if self.kind == OP_COMMAND:
            return Command(time_us, self.db, self.body, session, self.user)  # type: ignore[arg-type]
        if self.kind == OP_MULTI:
            return Transaction(time_us, self.db, self.body, self.watches, session, self.user)  # type: ignore[arg-type]
        if self.kind == OP_CONFIGURE:
            return Configure(time_us, self.db, self.body, session)  # type: ignore[arg-type]
        if self.kind == OP_UNBLOCK:
            return Unblock(time_us, self.db, self.reason, self.body, session)  # type: ignore[arg-type]
        if self.kind == OP_SET_USERS:
            return SetUsers(time_us, self.db, self.reason, self.body, session)  # type: ignore[arg-type]
        return Expiry(time_us, self.db, self.body)  # type: ignore[arg-type]

    def forwarded_op(self, session: Session) -> ForwardedWrite:
        """The entry as a follower sends it to the leader, which stamps its time."""
        op = self.op(0, session)
        assert not isinstance(op, Expiry), "an expiry is never forwarded"
        return op

    def finish(self, reply: Reply, db_after: int) -> None:
        if self.done:
            return
        self.reply = reply
        self.db_after = db_after
        self.done = True
        if self._event is not None:
            self._event.set()
        on_done, self.on_done = self.on_done, None  # (it refers back to us: no cycle left)
        if on_done is not None:
            on_done()

    async def wait(self) -> None:
        if not self.done:
            if self._event is None:
                self._event = trio.Event()
            await self._event.wait()


class Proposals:
    """The writes this node's clients (and its active expiry) submitted."""

    def __init__(self, node: RaftNode) -> None:
        self.node = node
        self.session = f"{node.name}:{secrets.token_hex(8)}"  # this process's proposals
        self._waiting: deque[Proposal] = deque()  # to propose or forward this round
        self._pending: dict[int, Proposal] = {}  # seq -> submitted, not applied yet
        self._ops: dict[int, tuple[int, Op]] = {}  # index -> (term, op) we proposed
        # index -> an expiry we proposed (the apply loop tests it: entries of others need
        # no call here)
        self.sessionless: dict[int, Proposal] = {}
        self._blocked: dict[int, Proposal] = {}  # seq -> applied, its client still waits
        self._next_seq = 1
        self._last_stamp = 0
        self._write_timeout = node.config.write_timeout
        self._max_entry = node.config.max_entry_bytes  # 0: no limit
        # (Leader.) Batches proposed, as (last index, when): the commit latency histogram
        # observes each once it is applied. One pair per round, not per write.
        self._proposed: deque[tuple[int, float]] = deque()

    @property
    def pending(self) -> int:
        """This node's writes submitted and not answered yet."""
        return len(self._pending)

    def _proposed_batch(self, last: int) -> None:
        proposed = self._proposed
        if len(proposed) < 4096:  # (bounded: a leader whose entries never commit)
            proposed.append((last, trio.current_time()))

    def note_applied(self, applied: int) -> None:
        """(After each Ready.) The proposed batches now applied: their commit latency."""
        proposed = self._proposed
        if proposed and proposed[0][0] <= applied:
            now, histogram = trio.current_time(), self.node.metrics.commit
            while proposed and proposed[0][0] <= applied:
                histogram.observe(now - proposed.popleft()[1])

    def submit(self, proposal: Proposal) -> None:
        """A write to replicate; completed (reply or error) once applied or given up."""
        proposal.deadline = trio.current_time() + self._write_timeout
        if proposal.kind != OP_EXPIRE:
            proposal.seq = self._next_seq
            self._next_seq += 1
            self._pending[proposal.seq] = proposal
        self._waiting.append(proposal)
        runner = self.node.runner  # (`node.kick`, written out: once per write)
        if runner is not None:
            runner.kick()

    @property
    def next_seq(self) -> int:
        """The sequence number the next write will get."""
        return self._next_seq

    def started(self, last_time_us: int) -> None:
        self._last_stamp = last_time_us

    def stamp(self) -> int:
        """The leader's time for a batch: never behind what was applied or stamped."""
        now = max(self.node.clock_us(), self.node.machine.last_time_us, self._last_stamp)
        self._last_stamp = now
        return now

    def _floor(self) -> int:
        """The session's floor: its lowest unfinished sequence number. (They are handed out
        in increasing order and `_pending` keeps insertion order, so it is the first key.)
        A batch takes it once: a write failed meanwhile only leaves it lower than it could
        be, which keeps replies longer."""
        return next(iter(self._pending)) if self._pending else self._next_seq

    def propose_waiting(self, rn: RawNode, status: Status) -> None:
        waiting = self._waiting
        if not waiting:
            return
        leader, leading = status.lead, status.is_leader
        transport = self.node.transport
        keep: deque[Proposal] = deque()
        batch: list[tuple[Proposal, Op]] = []  # proposed together: one append, one broadcast
        forwards: list[Proposal] = []  # sent to the leader together: one frame
        stamp = self.stamp() if leading else 0  # one time for the batch
        floor = self._floor()
        session_id = self.session
        while waiting:
            proposal = waiting.popleft()
            if proposal.done:
                continue
            if leading:
                session = Session(session_id, proposal.seq, floor) if proposal.seq else None
                batch.append((proposal, proposal.op(stamp, session)))
            elif leader and proposal.seq and transport is not None:
                forwards.append(proposal)
            elif proposal.seq:
                keep.append(proposal)  # no leader yet: wait (until the write timeout)
            else:
                proposal.finish(CLUSTERDOWN, proposal.db)  # an expiry, and we are not leading
        if batch:
            datas = [encode_op(op) for _, op in batch]
            if self._max_entry and max(map(len, datas)) > self._max_entry:
                batch, datas = self._refuse_too_large(batch, datas)
        if batch:
            try:
                first = rn.propose_many(datas)
            except ProposalDropped:
                keep.extend(proposal for proposal, _ in batch)  # transferring: try later
            else:
                term = status.term
                self._proposed_batch(first + len(batch) - 1)
                for offset, (proposal, op) in enumerate(batch):
                    index = first + offset
                    self._ops[index] = (term, op)
                    proposal.index = index
                    proposal.appended = True
                    if not proposal.seq:
                        self.sessionless[index] = proposal
        if forwards:
            self._forward(leader, forwards)
        self._waiting = keep

    def _refuse_too_large(
        self, batch: list[tuple[Proposal, Op]], datas: list[bytes]
    ) -> tuple[list[tuple[Proposal, Op]], list[bytes]]:
        """(Leader.) Writes whose entry would not fit one peer frame fail; the rest go on."""
        kept: list[tuple[Proposal, Op]] = []
        kept_datas: list[bytes] = []
        for item, data in zip(batch, datas, strict=True):
            if len(data) > self._max_entry:
                self._fail_too_large(item[0], len(data))
            else:
                kept.append(item)
                kept_datas.append(data)
        return kept, kept_datas

    def _fail_too_large(self, proposal: Proposal, size: int) -> None:
        self.node.metrics.proposals_failed += 1
        self._pending.pop(proposal.seq, None)
        proposal.finish(too_large(size, self._max_entry), proposal.db)

    def _forward(self, leader: str, proposals: list[Proposal]) -> None:
        """(Follower.) Send a round's writes to the leader in as few frames as the peer
        link's frame limit allows; a write that fits none fails here."""
        limit = self._max_entry
        writes: list[ForwardedWrite] = []
        sending: list[Proposal] = []
        size = 0
        floor = self._floor()
        session_id = self.session
        for proposal in proposals:
            write = proposal.forwarded_op(Session(session_id, proposal.seq, floor))
            if limit:
                bound = forwarded_size_bound(write)
                if bound > limit:
                    self._fail_too_large(proposal, bound)
                    continue
                if writes and size + bound > limit:
                    self._send_forward(leader, writes, sending)
                    writes, sending, size = [], [], 0
                size += bound
            writes.append(write)
            sending.append(proposal)
        if writes:
            self._send_forward(leader, writes, sending)

    def _send_forward(
        self, leader: str, writes: list[ForwardedWrite], proposals: list[Proposal]
    ) -> None:
        if self.node.send_frame(leader, Forward(tuple(writes))):
            for proposal in proposals:
                proposal.appended = True  # the leader may append it

    def forwarded(self, rn: RawNode, sender: str, frame: Forward) -> None:
        """A follower's writes: propose them if we lead (it retries otherwise)."""
        status = rn.status()
        if not status.is_leader:
            return
        ops = frame.writes
        time_us = self.stamp()
        for op in ops:
            op.time_us = time_us  # (sent without it: see `Forward`)
        datas = [encode_op(op) for op in ops]
        if self._max_entry and datas and max(map(len, datas)) > self._max_entry:
            # Its node checks first: a member with a larger --cluster-max-frame sent it.
            log.warning("dropping writes from %s too large for the peer link", sender)
            fitting = [i for i, data in enumerate(datas) if len(data) <= self._max_entry]
            ops = tuple(ops[i] for i in fitting)
            datas = [datas[i] for i in fitting]
        if not datas:
            return
        try:
            first = rn.propose_many(datas)
        except ProposalDropped:
            return
        term = status.term
        self._proposed_batch(first + len(ops) - 1)
        for offset, op in enumerate(ops):
            self._ops[first + offset] = (term, op)

    def leader_changed(self) -> None:
        """Writes not applied yet may have been lost with the old leader: send them again
        (the session table applies each once)."""
        self._proposed.clear()
        for proposal in self._pending.values():
            if not proposal.done and proposal not in self._waiting:
                self._waiting.append(proposal)

    # -- applying ---------------------------------------------------------------------------

    def op_of(self, index: int, term: int, data: bytes) -> Op:
        """The payload of a committed entry: the op we encoded if we proposed it (decoding
        it gives it back), else decoded."""
        proposed = self._ops.pop(index, None)
        if proposed is not None and proposed[0] == term:
            return proposed[1]
        return decode_op(data)

    def forget_before(self, applied: int) -> None:
        """Ops proposed at indexes now behind the applied index were overwritten."""
        for index in [i for i in self._ops if i <= applied]:
            del self._ops[index]

    def applied(self, applied: Applied, elapsed_us: int) -> None:
        """An entry was applied: complete the proposals of ours it answers."""
        if self.sessionless:
            expiry = self.sessionless.pop(applied.index, None)
            if expiry is not None:
                expiry.finish(applied.reply, applied.db_after)
        session = applied.session
        if session is not None and session.id == self.session:
            self._complete(session, applied.reply, applied.db_after, elapsed_us)
        for completion in applied.completions:
            if completion.session.id == self.session:
                self._complete(completion.session, completion.reply, completion.db_after, 0)

    def _complete(self, session: Session, reply: Reply, db_after: int, elapsed_us: int) -> None:
        seq = session.seq
        proposal = self._pending.pop(seq, None)
        if proposal is None:
            proposal = self._blocked.pop(seq, None)
        if proposal is None or proposal.done:
            return
        if reply is BLOCKED:
            # Applied, and its client waits for a later entry: no write timeout, no resend,
            # and it no longer holds the session's floor (it will not be proposed again).
            proposal.blocked = True
            self._blocked[seq] = proposal
            if proposal.abandoned:
                self._unblock_abandoned(proposal)
            return
        if reply is BLOCK_AGAIN:
            self._resubmit(proposal)  # its waiter was dropped: its node was thought gone
            return
        proposal.apply_us = elapsed_us
        proposal.applied = True
        proposal.blocked = False
        proposal.finish(reply, db_after)

    # -- blocked clients -------------------------------------------------------------------

    def blocked_count(self) -> int:
        """This node's clients blocked in a registered wait (INFO's blocked_clients)."""
        return len(self._blocked)

    def abandon(self, proposal: Proposal) -> None:
        """The client of a blocking command left: end its wait (once it is registered),
        so that it swallows no element."""
        proposal.abandoned = True
        if proposal.blocked and proposal.seq in self._blocked:
            self._unblock_abandoned(proposal)

    def _unblock_abandoned(self, proposal: Proposal) -> None:
        del self._blocked[proposal.seq]
        waiter = [(self.session, proposal.seq)]
        self.submit(Proposal(OP_UNBLOCK, proposal.db, waiter, reason=UNBLOCK_DISCONNECTED))
        proposal.finish(None, proposal.db)  # (nobody reads it)

    def blocked_waiter(self, proposal: Proposal) -> tuple[str, int] | None:
        """The waiter a blocked proposal of ours registered (CLIENT UNBLOCK), if it has."""
        if proposal.blocked and self._blocked.get(proposal.seq) is proposal:
            return (self.session, proposal.seq)
        return None

    def _resubmit(self, proposal: Proposal) -> None:
        proposal.blocked = False
        proposal.appended = False
        proposal.index = 0
        self.submit(proposal)  # a new sequence number: a new waiter

    # -- the write timeout ------------------------------------------------------------------

    async def run_timeouts(self) -> None:
        """Fail writes nobody applied within the write timeout; resend the others."""
        config = self.node.config
        while True:
            await trio.sleep(min(config.resend_interval, config.write_timeout / 4))
            now = trio.current_time()
            for seq, proposal in list(self._pending.items()):
                if proposal.done:
                    del self._pending[seq]
                elif now >= proposal.deadline:
                    del self._pending[seq]
                    self.node.metrics.proposals_failed += 1
                    proposal.finish(
                        WRITE_TIMEOUT if proposal.appended else CLUSTERDOWN, proposal.db
                    )
                elif proposal not in self._waiting:
                    self._waiting.append(proposal)  # resend: it may have been lost
            for index, proposal in list(self.sessionless.items()):
                if now >= proposal.deadline:
                    del self.sessionless[index]
                    proposal.finish(WRITE_TIMEOUT, proposal.db)
            self.node.reads.expire(now)
            self.node.reads.serve()  # a write that failed may let a read behind it go on
            self.node.replies_ready()
            self.node.kick()
