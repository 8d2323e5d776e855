"""The Raft state machine (etcd-io/raft's raft.go, in Python): pure and synchronous.

`Raft.step(msg)` and `Raft.tick()` are the only ways in; messages to send accumulate in
`msgs` (may leave at once) and `msgs_after_persist` (only once this node's new entries, term
and vote are durable: every response). Role behaviour lives in `_step_leader`,
`_step_candidate` and `_step_follower`, swapped in by `become_*`, so the hot path does not
branch on the role. No I/O, no clock (time is `tick()`), no randomness of its own (the
election timeout jitter comes from the injected `rng`).

Safety rules and where they are enforced (paper figure 2 / thesis sections):
- one vote per term, granted only to an up-to-date log (5.2, 5.4.1): `_step`'s vote branch;
- a candidate counts its own vote, and a leader its own copy of an entry, only after they are
  durable: both are messages to itself delivered by `RawNode.advance`;
- a leader commits only entries of its own term by counting replicas (5.4.2, figure 8):
  `RaftLog.maybe_commit`;
- an append never truncates matching entries, only a real conflict (figure 2, rule 3):
  `RaftLog.maybe_append`;
- PreVote and CheckQuorum (thesis 9.6): a node that heard from a leader within the election
  timeout ignores vote requests; a leader that lost its quorum steps down;
- ReadIndex (6.4): reads wait for a heartbeat round confirming leadership, and a new leader
  serves none before an entry of its term is committed;
- membership (4.1, 4.2.2): one change at a time, applied when committed; none until the leader
  has committed an entry of its term (the 2015 single-server change bug); no campaign while a
  committed change is unapplied; a removed leader steps down.
"""

from __future__ import annotations

from collections.abc import Callable

from .config import Bug, Config, ProposalDropped, Rng
from .log import RaftInvariantError, RaftLog
from .progress import Progress, ProgressState, VoteResult, committed_index, quorum, vote_result
from .read_only import ReadOnly
from .storage import Compacted, MemoryStorage
from .types import (
    NO_NODE,
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    Message,
    MessageType,
    ReadState,
    Role,
    Snapshot,
    SoftState,
    decode_conf_change,
    vote_response_type,
)

CAMPAIGN_TRANSFER = b"transfer"


class Raft:
    def __init__(self, config: Config, storage: MemoryStorage, rng: Rng) -> None:
        config.validate()
        self.config = config
        self.id = config.id
        self.rng = rng
        self.bugs = config.bugs
        self.log = RaftLog(storage)
        hard_state, conf_state = storage.initial_state()
        self.term = 0
        self.vote: str = NO_NODE
        self.lead: str = NO_NODE
        self.role = Role.FOLLOWER
        self.msgs: list[Message] = []
        self.msgs_after_persist: list[Message] = []
        self.read_states: list[ReadState] = []
        self.read_only = ReadOnly()
        self.pending_read_index: list[Message] = []
        self.progress: dict[str, Progress] = {}
        self.voters: tuple[str, ...] = ()
        self.learners: tuple[str, ...] = ()
        self.votes: dict[str, bool] = {}
        self.lead_transferee: str = NO_NODE
        self.pending_conf_index = 0
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.election_timeout = config.election_tick
        self.heartbeat_timeout = config.heartbeat_tick
        self.randomized_election_timeout = config.election_tick
        self._step_role: Callable[[Message], None] = self._step_follower
        self._tick_role: Callable[[], None] = self._tick_election
        self._apply_conf_state(conf_state)
        if hard_state.term or hard_state.voted_for or hard_state.commit:
            self._load_hard_state(hard_state)
        self.become_follower(self.term, NO_NODE)

    # -- state -----------------------------------------------------------------------------

    def soft_state(self) -> SoftState:
        return SoftState(self.lead, self.role)

    def hard_state(self) -> HardState:
        return HardState(self.term, self.vote or None, self.log.committed)

    def _load_hard_state(self, state: HardState) -> None:
        if state.commit < self.log.committed or state.commit > self.log.last_index():
            raise RaftInvariantError(
                f"hard state commit {state.commit} is out of range "
                f"[{self.log.committed}, {self.log.last_index()}]"
            )
        self.log.committed = state.commit
        self.term = state.term
        self.vote = state.voted_for or NO_NODE

    def promotable(self) -> bool:
        """Only a voter in the current configuration may campaign."""
        return self.id in self.voters

    def conf_state(self) -> ConfState:
        return ConfState(self.voters, self.learners)

    # -- sending ---------------------------------------------------------------------------

    def send(self, msg: Message) -> None:
        kind = msg.type
        # Vote messages carry the term they campaign for; everything else ours. A forwarded
        # request keeps its sender: a TRANSFER_LEADER names its target there.
        set_term = msg.term == 0 and kind not in (MessageType.PROP, MessageType.READ_INDEX)
        if set_term and not msg.sender:
            msg = msg.updated(term=self.term, sender=self.id)
        elif set_term:
            msg = msg.updated(term=self.term)
        elif not msg.sender:
            msg = msg.updated(sender=self.id)
        if kind in (
            MessageType.VOTE_RESP,
            MessageType.PRE_VOTE_RESP,
        ):
            if Bug.VOTE_BEFORE_PERSIST in self.bugs and msg.to != self.id:
                self.msgs.append(msg)
                return
            self.msgs_after_persist.append(msg)
        elif kind == MessageType.APP_RESP:
            if Bug.ACK_BEFORE_PERSIST in self.bugs:
                if msg.to == self.id:
                    self.step(msg)  # the leader counts its own copy at once
                else:
                    self.msgs.append(msg)
                return
            self.msgs_after_persist.append(msg)
        else:
            # Including heartbeat and read-index answers: they promise nothing about our disk,
            # and holding them behind a slow fsync made leaders fail CheckQuorum.
            self.msgs.append(msg)

    def _send_append(self, to: str) -> None:
        self._maybe_send_append(to, send_if_empty=True)

    def _maybe_send_append(self, to: str, *, send_if_empty: bool) -> bool:
        progress = self.progress[to]
        if progress.is_paused():
            return False
        log = self.log
        prev_index = progress.next - 1
        entries: list[Entry] = []
        compacted = prev_index < log.first_index() - 1
        if not compacted and (
            progress.state != ProgressState.REPLICATE or not progress.inflights.full()
        ):
            try:
                entries = log.entries_from(progress.next, self.config.max_size_per_msg)
            except Compacted:
                compacted = True
        if not entries and not send_if_empty and not compacted:
            return False
        if compacted:
            if not progress.recent_active:
                return False  # do not ship a snapshot to a node that may be down
            snapshot = log.snapshot()
            progress.become_snapshot(snapshot.meta.index)
            self.send(Message(MessageType.SNAP, to=to, snapshot=snapshot))
            return True
        self.send(
            Message(
                MessageType.APP,
                to=to,
                index=prev_index,
                log_term=log.term(prev_index),
                entries=tuple(entries),
                commit=log.committed,
            )
        )
        progress.sent_entries(entries[-1].index if entries else None)
        return True

    def _send_heartbeat(self, to: str, context: bytes) -> None:
        # A follower may not have the leader's committed entries yet: never tell it to commit
        # beyond what it has acknowledged.
        commit = min(self.progress[to].match, self.log.committed)
        self.send(Message(MessageType.HEARTBEAT, to=to, commit=commit, context=context))

    def broadcast_append(self) -> None:
        for node in self.progress:
            if node != self.id:
                self._send_append(node)

    def broadcast_heartbeat(self, context: bytes | None = None) -> None:
        if context is None:
            context = self.read_only.last_pending_context()
        for node in self.progress:
            if node != self.id:
                self._send_heartbeat(node, context)

    # -- role changes ------------------------------------------------------------------------

    def _reset(self, term: int) -> None:
        if self.term != term:
            if term < self.term:
                raise RaftInvariantError(f"term going down from {self.term} to {term}")
            self.term = term
            self.vote = NO_NODE
        self.lead = NO_NODE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.election_timeout + self.rng.randrange(
            self.election_timeout
        )
        self.lead_transferee = NO_NODE
        self.votes = {}
        last = self.log.last_index()
        for node, old in list(self.progress.items()):
            fresh = Progress(last + 1, self.config.max_inflight_msgs, is_learner=old.is_learner)
            if node == self.id:
                fresh.match = self.log.stable_last_index()
            self.progress[node] = fresh
        self.pending_conf_index = 0
        self.read_only = ReadOnly()

    def become_follower(self, term: int, lead: str) -> None:
        self._step_role = self._step_follower
        self._reset(term)
        self._tick_role = self._tick_election
        self.lead = lead
        self.role = Role.FOLLOWER

    def become_candidate(self) -> None:
        if self.role == Role.LEADER:
            raise RaftInvariantError("a leader cannot become a candidate")
        self._step_role = self._step_candidate
        self._reset(self.term + 1)
        self._tick_role = self._tick_election
        self.vote = self.id
        self.role = Role.CANDIDATE

    def become_pre_candidate(self) -> None:
        if self.role == Role.LEADER:
            raise RaftInvariantError("a leader cannot become a pre-candidate")
        # PreVote changes neither the term nor the vote (thesis 9.6).
        self._step_role = self._step_candidate
        self.votes = {}
        self._tick_role = self._tick_election
        self.lead = NO_NODE
        self.role = Role.PRE_CANDIDATE

    def become_leader(self) -> None:
        if self.role == Role.FOLLOWER:
            raise RaftInvariantError("a follower cannot become leader directly")
        self._step_role = self._step_leader
        self._reset(self.term)
        self._tick_role = self._tick_heartbeat
        self.lead = self.id
        self.role = Role.LEADER
        own = self.progress.get(self.id)
        if own is not None:
            own.become_replicate()
            own.match = self.log.stable_last_index()
            own.recent_active = True
        # Any entry in the log may be an unapplied configuration change.
        self.pending_conf_index = self.log.last_index()
        # Thesis 6.4 / 5.4.2: commit an entry of our own term to learn the commit index.
        self._append_entries([Entry(0, 0, EntryKind.NOOP, b"")])

    def _append_entries(self, entries: list[Entry]) -> None:
        last = self.log.last_index()
        stamped = [
            Entry(last + offset, self.term, entry.kind, entry.data)
            for offset, entry in enumerate(entries, start=1)
        ]
        last = self.log.append(stamped)
        # The leader's own acknowledgement, delivered once the entries are durable.
        self.send(Message(MessageType.APP_RESP, to=self.id, index=last))

    # -- elections ---------------------------------------------------------------------------

    def _hup(self, transfer: bool) -> None:
        if self.role == Role.LEADER:
            return
        if not self.promotable():
            return
        if self._has_unapplied_conf_changes():
            return
        self._campaign(pre_vote=self.config.pre_vote and not transfer, transfer=transfer)

    def _has_unapplied_conf_changes(self) -> bool:
        log = self.log
        if log.applied >= log.committed:
            return False
        low = max(log.applied + 1, log.first_index())
        try:
            entries = log.slice(low, log.committed + 1)
        except Compacted:
            return False
        return any(entry.kind == EntryKind.CONF_CHANGE for entry in entries)

    def _campaign(self, *, pre_vote: bool, transfer: bool) -> None:
        if pre_vote:
            self.become_pre_candidate()
            kind = MessageType.PRE_VOTE
            term = self.term + 1
        else:
            self.become_candidate()
            kind = MessageType.VOTE
            term = self.term
        last_index = self.log.last_index()
        last_term = self.log.last_term()
        for node in self.voters:
            if node == self.id:
                # Our own vote counts once it is durable (it arrives through advance()).
                self.send(Message(vote_response_type(kind), to=self.id, term=term))
                continue
            self.send(
                Message(
                    kind,
                    to=node,
                    term=term,
                    index=last_index,
                    log_term=last_term,
                    context=CAMPAIGN_TRANSFER if transfer else b"",
                )
            )

    def _poll(self, node: str, granted: bool) -> VoteResult:
        self.votes.setdefault(node, granted)
        return vote_result(self.voters, self.votes)

    # -- ticking -----------------------------------------------------------------------------

    def tick(self) -> None:
        self._tick_role()

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.promotable() and self.election_elapsed >= self.randomized_election_timeout:
            self.election_elapsed = 0
            self.step(Message(MessageType.HUP, sender=self.id))

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.election_timeout:
            self.election_elapsed = 0
            if self.config.check_quorum:
                self.step(Message(MessageType.CHECK_QUORUM, sender=self.id))
            # A transfer that did not finish within an election timeout is abandoned.
            if self.role == Role.LEADER and self.lead_transferee:
                self.lead_transferee = NO_NODE
        if self.role != Role.LEADER:
            return
        if self.heartbeat_elapsed >= self.heartbeat_timeout:
            self.heartbeat_elapsed = 0
            self.step(Message(MessageType.BEAT, sender=self.id))

    # -- stepping ------------------------------------------------------------------------

    def step(self, msg: Message) -> None:
        """Process one message (Raft's receiver rules); raises ProposalDropped for a
        refused proposal."""
        kind = msg.type
        if msg.term == 0 or kind in (MessageType.PROP, MessageType.READ_INDEX):
            pass  # local messages and forwarded requests carry no term
        elif msg.term > self.term:
            if kind in (MessageType.VOTE, MessageType.PRE_VOTE):
                forced = msg.context == CAMPAIGN_TRANSFER
                in_lease = (
                    self.config.check_quorum
                    and self.lead != NO_NODE
                    and self.election_elapsed < self.election_timeout
                )
                if not forced and in_lease:
                    # Thesis 4.2.3: a server that heard from a leader within the minimum
                    # election timeout ignores vote requests (this is what stops a node
                    # rejoining from a partition from deposing a healthy leader).
                    return
            if kind == MessageType.PRE_VOTE:
                pass  # never change our term for a pre-vote
            elif kind == MessageType.PRE_VOTE_RESP and not msg.reject:
                pass  # a granted pre-vote carries the future term we campaign for
            elif kind in (MessageType.APP, MessageType.HEARTBEAT, MessageType.SNAP):
                self.become_follower(msg.term, msg.sender)
            else:
                self.become_follower(msg.term, NO_NODE)
        elif msg.term < self.term:
            if (self.config.check_quorum or self.config.pre_vote) and kind in (
                MessageType.HEARTBEAT,
                MessageType.APP,
            ):
                # A stale leader: answer so that it learns our term and steps down.
                self.send(Message(MessageType.APP_RESP, to=msg.sender))
            elif kind == MessageType.PRE_VOTE:
                self.send(
                    Message(MessageType.PRE_VOTE_RESP, to=msg.sender, term=self.term, reject=True)
                )
            return

        if kind == MessageType.HUP:
            self._hup(transfer=False)
        elif kind in (MessageType.VOTE, MessageType.PRE_VOTE):
            can_vote = (
                self.vote == msg.sender
                or (self.vote == NO_NODE and self.lead == NO_NODE)
                or (kind == MessageType.PRE_VOTE and msg.term > self.term)
            )
            if can_vote and self.log.is_up_to_date(msg.index, msg.log_term):
                # Learners vote too: they may be voters in the candidate's configuration.
                self.send(Message(vote_response_type(kind), to=msg.sender, term=msg.term))
                if kind == MessageType.VOTE:
                    self.election_elapsed = 0
                    self.vote = msg.sender
            else:
                self.send(
                    Message(vote_response_type(kind), to=msg.sender, term=self.term, reject=True)
                )
        else:
            self._step_role(msg)

    # -- leader ------------------------------------------------------------------------------

    def _step_leader(self, msg: Message) -> None:
        kind = msg.type
        if kind == MessageType.BEAT:
            self.broadcast_heartbeat()
            return
        if kind == MessageType.CHECK_QUORUM:
            if not self._quorum_active():
                self.become_follower(self.term, NO_NODE)
            for node, peer in self.progress.items():
                if node != self.id:
                    peer.recent_active = False
            return
        if kind == MessageType.PROP:
            self._propose(list(msg.entries))
            return
        if kind == MessageType.READ_INDEX:
            self._read_index(msg)
            return
        progress = self.progress.get(msg.sender)
        if progress is None:
            return
        if kind == MessageType.APP_RESP:
            self._handle_append_response(msg, progress)
        elif kind == MessageType.HEARTBEAT_RESP:
            progress.recent_active = True
            progress.paused = False
            if progress.state == ProgressState.REPLICATE and progress.inflights.full():
                progress.inflights.free_first_one()
            if progress.match < self.log.last_index():
                self._send_append(msg.sender)
            if not msg.context:
                return
            acks = self.read_only.receive_ack(msg.sender, msg.context)
            if acks is None or vote_result(self.voters, acks) != VoteResult.WON:
                return
            for status in self.read_only.advance(msg.context):
                self._answer_read_index(status.request, status.index)
        elif kind == MessageType.SNAP_STATUS:
            if progress.state != ProgressState.SNAPSHOT:
                return
            if msg.reject:
                progress.pending_snapshot = 0
            progress.become_probe()
            # Wait for a heartbeat response before probing (the follower may be down).
            progress.paused = True
        elif kind == MessageType.UNREACHABLE:
            if progress.state == ProgressState.REPLICATE:
                progress.become_probe()
        elif kind == MessageType.TRANSFER_LEADER:
            self._handle_transfer(msg.sender, progress)

    def propose_batched(self, entries: list[Entry]) -> None:
        """Append proposals without sending them yet: `RawNode.ready()` sends everything
        proposed since the last Ready as one batch."""
        self._check_proposals(entries)
        self._append_entries(entries)

    def _propose(self, entries: list[Entry]) -> None:
        self._check_proposals(entries)
        self._append_entries(entries)
        self.broadcast_append()

    def _check_proposals(self, entries: list[Entry]) -> None:
        if self.id not in self.progress:
            raise ProposalDropped("this node was removed from the configuration")
        if self.lead_transferee:
            raise ProposalDropped("leadership is being transferred")
        for offset, entry in enumerate(entries, start=1):
            if entry.kind == EntryKind.CONF_CHANGE:
                self._check_conf_change(decode_conf_change(entry.data))
                self.pending_conf_index = self.log.last_index() + offset

    def _check_conf_change(self, change: ConfChange) -> None:
        if self.pending_conf_index > self.log.applied:
            raise ProposalDropped("a configuration change is already pending")
        if not self._committed_entry_in_current_term():
            # Ongaro 2015: a new leader must commit an entry of its term before it changes
            # the membership, or two configurations can each elect a leader.
            raise ProposalDropped("the leader has not committed an entry of its term yet")
        node = change.node
        if change.type == ConfChangeType.ADD_VOTER and node in self.voters:
            raise ProposalDropped(f"{node} is already a voter")
        if change.type == ConfChangeType.ADD_LEARNER and node in self.learners:
            raise ProposalDropped(f"{node} is already a learner")
        if change.type == ConfChangeType.REMOVE:
            if node not in self.voters and node not in self.learners:
                raise ProposalDropped(f"{node} is not a member")
            if self.voters == (node,):
                raise ProposalDropped("cannot remove the last voter")

    def _handle_append_response(self, msg: Message, progress: Progress) -> None:
        progress.recent_active = True
        if msg.reject:
            next_probe = msg.reject_hint
            if msg.log_term > 0:
                next_probe = self.log.find_conflict_by_term(msg.reject_hint, msg.log_term)
            if progress.maybe_decrease_to(msg.index, next_probe):
                if progress.state == ProgressState.REPLICATE:
                    progress.become_probe()
                self._send_append(msg.sender)
            return
        was_paused = progress.is_paused()
        if not progress.maybe_update(msg.index):
            return
        if progress.state == ProgressState.PROBE:
            progress.become_replicate()
        elif (
            progress.state == ProgressState.SNAPSHOT
            and progress.match + 1 >= self.log.first_index()
        ):
            progress.become_probe()
            progress.become_replicate()
        elif progress.state == ProgressState.REPLICATE:
            progress.inflights.free_le(msg.index)
        if self._maybe_commit():
            self._release_pending_read_index()
            self.broadcast_append()
        elif was_paused and msg.sender != self.id:
            self._send_append(msg.sender)
        if msg.sender != self.id:
            while self._maybe_send_append(msg.sender, send_if_empty=False):
                pass
        if msg.sender == self.lead_transferee and progress.match == self.log.last_index():
            self.send(Message(MessageType.TIMEOUT_NOW, to=msg.sender))

    def _maybe_commit(self) -> bool:
        index = committed_index(self.voters, {n: p.match for n, p in self.progress.items()})
        if Bug.COMMIT_PREVIOUS_TERM in self.bugs:
            if index > self.log.committed:
                self.log.commit_to(index)
                return True
            return False
        return self.log.maybe_commit(index, self.term)

    def _quorum_active(self) -> bool:
        active = sum(
            1
            for node in self.voters
            if node == self.id or (node in self.progress and self.progress[node].recent_active)
        )
        return active >= quorum(len(self.voters))

    def _committed_entry_in_current_term(self) -> bool:
        return self.log.term(self.log.committed) == self.term

    def _read_index(self, msg: Message) -> None:
        if self.voters == (self.id,) or Bug.READ_WITHOUT_QUORUM in self.bugs:
            self._answer_read_index(msg, self.log.committed)
            return
        if not self._committed_entry_in_current_term():
            # A new leader does not know the commit index until its no-op commits.
            self.pending_read_index.append(msg)
            return
        self._start_read_round(msg)

    def _start_read_round(self, msg: Message) -> None:
        self.read_only.add_request(self.log.committed, msg)
        self.read_only.receive_ack(self.id, msg.context)
        self.broadcast_heartbeat(msg.context)

    def _release_pending_read_index(self) -> None:
        if not self.pending_read_index or not self._committed_entry_in_current_term():
            return
        waiting, self.pending_read_index = self.pending_read_index, []
        for msg in waiting:
            self._start_read_round(msg)

    def _answer_read_index(self, request: Message, index: int) -> None:
        if request.sender in (NO_NODE, self.id):
            self.read_states.append(ReadState(index, request.context))
        else:
            self.send(
                Message(
                    MessageType.READ_INDEX_RESP,
                    to=request.sender,
                    index=index,
                    context=request.context,
                )
            )

    def _handle_transfer(self, target: str, progress: Progress) -> None:
        if progress.is_learner:
            return
        if self.lead_transferee:
            if self.lead_transferee == target:
                return
            self.lead_transferee = NO_NODE
        if target == self.id:
            return
        # The transfer must finish within one election timeout.
        self.election_elapsed = 0
        self.lead_transferee = target
        if progress.match == self.log.last_index():
            self.send(Message(MessageType.TIMEOUT_NOW, to=target))
        else:
            self._send_append(target)

    # -- candidate ---------------------------------------------------------------------------

    def _step_candidate(self, msg: Message) -> None:
        kind = msg.type
        expected = (
            MessageType.PRE_VOTE_RESP if self.role == Role.PRE_CANDIDATE else MessageType.VOTE_RESP
        )
        if kind == MessageType.PROP:
            raise ProposalDropped("no leader (election in progress)")
        if kind == MessageType.APP:
            self.become_follower(msg.term, msg.sender)
            self._handle_append_entries(msg)
        elif kind == MessageType.HEARTBEAT:
            self.become_follower(msg.term, msg.sender)
            self._handle_heartbeat(msg)
        elif kind == MessageType.SNAP:
            self.become_follower(msg.term, msg.sender)
            self._handle_snapshot(msg)
        elif kind == expected:
            result = self._poll(msg.sender, not msg.reject)
            if result == VoteResult.WON:
                if self.role == Role.PRE_CANDIDATE:
                    self._campaign(pre_vote=False, transfer=False)
                else:
                    self.become_leader()
                    self.broadcast_append()
            elif result == VoteResult.LOST:
                self.become_follower(self.term, NO_NODE)

    # -- follower ----------------------------------------------------------------------------

    def _step_follower(self, msg: Message) -> None:
        kind = msg.type
        if kind == MessageType.PROP:
            raise ProposalDropped("not the leader")
        if kind == MessageType.APP:
            self.election_elapsed = 0
            self.lead = msg.sender
            self._handle_append_entries(msg)
        elif kind == MessageType.HEARTBEAT:
            self.election_elapsed = 0
            self.lead = msg.sender
            self._handle_heartbeat(msg)
        elif kind == MessageType.SNAP:
            self.election_elapsed = 0
            self.lead = msg.sender
            self._handle_snapshot(msg)
        elif kind == MessageType.TRANSFER_LEADER:
            if self.lead != NO_NODE:
                self.send(msg.updated(to=self.lead, term=0))
        elif kind == MessageType.TIMEOUT_NOW:
            self._hup(transfer=True)
        elif kind == MessageType.READ_INDEX:
            if self.lead == NO_NODE:
                # Only a peer's request gets here (RawNode.read_index refuses local ones):
                # drop it, as etcd does; the peer times out or asks again.
                return
            self.send(msg.updated(to=self.lead))
        elif kind == MessageType.READ_INDEX_RESP:
            self.read_states.append(ReadState(msg.index, msg.context))

    def _handle_append_entries(self, msg: Message) -> None:
        log = self.log
        if msg.index < log.committed:
            self.send(Message(MessageType.APP_RESP, to=msg.sender, index=log.committed))
            return
        if (
            Bug.TRUNCATE_ON_MATCH in self.bugs
            and msg.entries
            and log.match_term(msg.index, msg.log_term)
        ):
            # The bug: replace everything after the matching entry with this append's
            # entries, even entries that matched (a stale, shorter append cuts the log).
            log.unstable.truncate_and_append(list(msg.entries))
            log.committed = min(log.committed, log.last_index())
            log.commit_to(min(msg.commit, log.last_index()))
            self.send(Message(MessageType.APP_RESP, to=msg.sender, index=log.last_index()))
            return
        last_new = log.maybe_append(msg.index, msg.log_term, msg.commit, msg.entries)
        if last_new is not None:
            self.send(Message(MessageType.APP_RESP, to=msg.sender, index=last_new))
            return
        # Tell the leader where our logs may diverge, so it can skip a whole term at a time.
        hint = min(msg.index, log.last_index())
        hint = log.find_conflict_by_term(hint, msg.log_term)
        self.send(
            Message(
                MessageType.APP_RESP,
                to=msg.sender,
                index=msg.index,
                reject=True,
                reject_hint=hint,
                log_term=log.term(hint),
            )
        )

    def _handle_heartbeat(self, msg: Message) -> None:
        self.log.commit_to(msg.commit)
        self.send(Message(MessageType.HEARTBEAT_RESP, to=msg.sender, context=msg.context))

    def _handle_snapshot(self, msg: Message) -> None:
        snapshot = msg.snapshot
        assert snapshot is not None
        # Acknowledge what we now hold: all of it after a restore, else up to the commit index.
        index = self.log.last_index() if self.restore(snapshot) else self.log.committed
        self.send(Message(MessageType.APP_RESP, to=msg.sender, index=index))

    def restore(self, snapshot: Snapshot) -> bool:
        """Install a snapshot from the leader; False if it brings nothing new."""
        meta = snapshot.meta
        if meta.index <= self.log.committed:
            return False
        if self.id not in meta.conf_state.members():
            return False  # defence in depth: a snapshot for a configuration without us
        if self.log.match_term(meta.index, meta.term):
            # Our log already has the snapshot's last entry: keep the matching suffix and
            # just fast-forward the commit index.
            self.log.commit_to(meta.index)
            return False
        self.log.restore(snapshot)
        self._apply_conf_state(meta.conf_state)
        return True

    # -- configuration -------------------------------------------------------------------------

    def _apply_conf_state(self, state: ConfState) -> None:
        last = self.log.last_index()
        members = set(state.voters) | set(state.learners)
        for node in list(self.progress):
            if node not in members:
                del self.progress[node]
        for node in state.members():
            if node not in self.progress:
                progress = Progress(last + 1, self.config.max_inflight_msgs)
                progress.recent_active = True
                self.progress[node] = progress
            self.progress[node].is_learner = node in state.learners
        self.voters = tuple(sorted(state.voters))
        self.learners = tuple(sorted(state.learners))

    def apply_conf_change(self, change: ConfChange) -> ConfState:
        """Make a committed membership change effective (called while applying it)."""
        voters = set(self.voters)
        learners = set(self.learners)
        node = change.node
        if change.type == ConfChangeType.ADD_VOTER:
            learners.discard(node)
            voters.add(node)
        elif change.type == ConfChangeType.ADD_LEARNER:
            voters.discard(node)
            learners.add(node)
        else:
            voters.discard(node)
            learners.discard(node)
        if not voters:
            raise RaftInvariantError("a configuration change left no voters")
        self._apply_conf_state(ConfState(tuple(voters), tuple(learners)))
        if self.role == Role.LEADER:
            if self.id not in self.voters:
                # Thesis 4.2.2: a leader removed from the configuration steps down.
                self.become_follower(self.term, NO_NODE)
            else:
                if self.lead_transferee and self.lead_transferee not in self.progress:
                    self.lead_transferee = NO_NODE
                if self._maybe_commit():
                    self.broadcast_append()
        return self.conf_state()
