"""One test per rule of the Raft paper's Figure 2 ("The Raft consensus algorithm"), against
the pure core: small helpers build a node (or a few), step crafted messages into it and look
at the Ready it produces. Rules are quoted in each test's docstring."""

from __future__ import annotations

import random

import pytest

from concord_resp.raft.core import (
    Bug,
    Config,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    MemoryStorage,
    Message,
    MessageType,
    RawNode,
    Ready,
    Role,
)

VOTERS = ("1", "2", "3")


# -- helpers ------------------------------------------------------------------------------


def make_node(
    node_id: str = "1",
    *,
    voters: tuple[str, ...] = VOTERS,
    log: tuple[int, ...] = (),
    term: int = 0,
    vote: str | None = None,
    commit: int = 0,
    pre_vote: bool = False,
    check_quorum: bool = False,
    bugs: frozenset[Bug] = frozenset(),
) -> RawNode:
    """A node whose durable log holds entries 1.. of the terms in `log`. PreVote and
    CheckQuorum are off by default: Figure 2 is the paper's Raft without them."""
    storage = MemoryStorage(ConfState(voters))
    storage.append([Entry(i, t, EntryKind.NORMAL, b"") for i, t in enumerate(log, start=1)])
    storage.set_hard_state(HardState(term, vote, commit))
    config = Config(node_id, pre_vote=pre_vote, check_quorum=check_quorum, bugs=bugs)
    return RawNode(config, storage, random.Random(node_id))


def handle(rn: RawNode) -> Ready:
    """Do what a driver does with one Ready: persist, (send), apply, advance."""
    ready = rn.ready()
    storage = rn.storage
    if ready.snapshot is not None:
        storage.apply_snapshot(ready.snapshot)
    storage.append(ready.entries)
    if ready.hard_state is not None:
        storage.set_hard_state(ready.hard_state)
    rn.advance(ready)
    return ready


def handle_all(rn: RawNode) -> list[Message]:
    """Handle Readies until there are none; every message the node sent."""
    sent: list[Message] = []
    while rn.has_ready():
        ready = handle(rn)
        sent += ready.messages + ready.messages_after_persist
    return sent


def of_type(messages: list[Message], kind: MessageType) -> list[Message]:
    return [m for m in messages if m.type == kind]


def entries(*terms: int, start: int) -> tuple[Entry, ...]:
    return tuple(Entry(start + i, t, EntryKind.NORMAL, b"") for i, t in enumerate(terms))


def append_msg(
    term: int, index: int, log_term: int, new: tuple[Entry, ...] = (), commit: int = 0
) -> Message:
    return Message(
        MessageType.APP,
        to="1",
        sender="2",
        term=term,
        index=index,
        log_term=log_term,
        entries=new,
        commit=commit,
    )


def vote_msg(sender: str, term: int, last_index: int, last_term: int) -> Message:
    return Message(
        MessageType.VOTE, to="1", sender=sender, term=term, index=last_index, log_term=last_term
    )


def grant(sender: str, term: int) -> Message:
    return Message(MessageType.VOTE_RESP, to="1", sender=sender, term=term)


def log_terms(rn: RawNode) -> list[int]:
    log = rn.raft.log
    return [e.term for e in log.slice(log.first_index(), log.last_index() + 1)]


def leader(
    log: tuple[int, ...] = (),
    voters: tuple[str, ...] = VOTERS,
    bugs: frozenset[Bug] = frozenset(),
) -> RawNode:
    """Node 1, elected leader of term max(log)+1 by node 2's vote; its no-op is durable."""
    rn = make_node(voters=voters, log=log, term=max(log, default=0), bugs=bugs)
    rn.campaign()
    handle_all(rn)
    rn.step(grant("2", rn.raft.term))
    handle_all(rn)
    assert rn.raft.role == Role.LEADER
    return rn


def role(rn: RawNode) -> Role:
    return rn.raft.role


def ack(rn: RawNode, sender: str, index: int) -> None:
    rn.step(Message(MessageType.APP_RESP, to="1", sender=sender, term=rn.raft.term, index=index))


# -- all servers ----------------------------------------------------------------------------


def test_all_servers_apply_entries_once_committed() -> None:
    """If commitIndex > lastApplied: increment lastApplied, apply log[lastApplied]."""
    rn = make_node(log=(1, 1, 1), term=1)
    rn.step(append_msg(1, 3, 1, commit=2))
    ready = handle(rn)
    assert [e.index for e in ready.committed_entries] == [1, 2]
    assert rn.raft.log.applied == 2
    assert not rn.has_ready()
    rn.step(append_msg(1, 3, 1, commit=3))
    assert [e.index for e in handle(rn).committed_entries] == [3]


@pytest.mark.parametrize("role", [Role.FOLLOWER, Role.CANDIDATE, Role.LEADER])
@pytest.mark.parametrize("kind", [MessageType.APP, MessageType.VOTE, MessageType.APP_RESP])
def test_all_servers_follow_a_higher_term(role: Role, kind: MessageType) -> None:
    """If RPC request or response contains term T > currentTerm: set currentTerm = T,
    convert to follower."""
    if role == Role.LEADER:
        rn = leader(log=(1,))
    else:
        rn = make_node(log=(1,), term=1)
        if role == Role.CANDIDATE:
            rn.campaign()
            handle_all(rn)
    assert rn.raft.role == role
    higher = rn.raft.term + 1
    rn.step(Message(kind, to="1", sender="3", term=higher, index=9, log_term=9))
    assert (rn.raft.role, rn.raft.term) == (Role.FOLLOWER, higher)
    assert handle(rn).hard_state.term == higher  # type: ignore[union-attr]


# -- followers --------------------------------------------------------------------------------


def test_followers_respond_to_candidates_and_leaders() -> None:
    """Followers: respond to RPCs from candidates and leaders."""
    rn = make_node(log=(1,), term=1)
    rn.step(append_msg(1, 1, 1, entries(1, start=2)))
    rn.step(vote_msg("3", 2, 2, 1))
    responses = handle(rn).messages_after_persist
    assert [(m.type, m.to) for m in responses] == [
        (MessageType.APP_RESP, "2"),
        (MessageType.VOTE_RESP, "3"),
    ]


def test_followers_become_candidates_on_election_timeout() -> None:
    """Followers: if election timeout elapses without receiving AppendEntries from the
    current leader or granting a vote to a candidate: convert to candidate."""
    rn = make_node(log=(1,), term=1)
    rn.step(append_msg(1, 1, 1))  # a leader is known
    timeout = rn.raft.randomized_election_timeout
    for _ in range(timeout - 1):
        rn.tick()
    rn.step(append_msg(1, 1, 1))  # hearing from the leader restarts the timer
    for _ in range(timeout - 1):
        rn.tick()
    assert rn.raft.role == Role.FOLLOWER
    rn.tick()
    assert (rn.raft.role, rn.raft.term) == (Role.CANDIDATE, 2)


def test_followers_granting_a_vote_restart_the_election_timer() -> None:
    """... or granting a vote to a candidate."""
    rn = make_node(log=(1,), term=1)
    for _ in range(rn.raft.randomized_election_timeout - 1):
        rn.tick()
    rn.step(vote_msg("3", 2, 1, 1))
    for _ in range(rn.raft.randomized_election_timeout - 1):
        rn.tick()
    assert rn.raft.role == Role.FOLLOWER


def test_with_prevote_a_timed_out_follower_first_asks_for_prevotes() -> None:
    """(Thesis 9.6) With PreVote, the timeout first makes a pre-candidate, term unchanged."""
    rn = make_node(log=(1,), term=1, pre_vote=True)
    for _ in range(rn.raft.randomized_election_timeout):
        rn.tick()
    assert (rn.raft.role, rn.raft.term) == (Role.PRE_CANDIDATE, 1)
    assert {m.type for m in handle(rn).messages} == {MessageType.PRE_VOTE}


# -- candidates -------------------------------------------------------------------------------


def test_candidates_increment_the_term_and_vote_for_themselves() -> None:
    """Candidates: on conversion to candidate, start election: increment currentTerm, vote
    for self."""
    rn = make_node(log=(1, 2), term=2)
    rn.campaign()
    ready = handle(rn)
    assert ready.hard_state == HardState(3, "1", 0)
    assert ready.must_sync


def test_candidates_reset_the_election_timer() -> None:
    """... reset election timer."""
    rn = make_node(log=(1,), term=1)
    for _ in range(rn.raft.randomized_election_timeout - 1):
        rn.tick()
    rn.campaign()
    assert rn.raft.election_elapsed == 0
    for _ in range(rn.raft.randomized_election_timeout - 1):
        rn.tick()
    assert (rn.raft.role, rn.raft.term) == (Role.CANDIDATE, 2)


def test_candidates_send_request_vote_to_all_other_servers() -> None:
    """... send RequestVote RPCs to all other servers (the voters: learners do not vote)."""
    rn = make_node(voters=("1", "2", "3", "4"), log=(1, 2), term=2)
    rn.campaign()
    votes = of_type(handle(rn).messages, MessageType.VOTE)
    assert sorted(m.to for m in votes) == ["2", "3", "4"]
    assert {(m.term, m.index, m.log_term) for m in votes} == {(3, 2, 2)}


def test_candidates_become_leader_with_votes_from_a_majority() -> None:
    """Candidates: if votes received from majority of servers: become leader."""
    rn = make_node(voters=("1", "2", "3", "4", "5"), log=(1,), term=1)
    rn.campaign()
    handle_all(rn)  # its own vote, once durable
    rn.step(grant("2", 2))
    assert role(rn) == Role.CANDIDATE  # 2 of 5
    rn.step(Message(MessageType.VOTE_RESP, to="1", sender="3", term=2, reject=True))
    assert role(rn) == Role.CANDIDATE
    rn.step(grant("4", 2))
    assert role(rn) == Role.LEADER  # 3 of 5


def test_candidates_become_followers_on_append_from_a_new_leader() -> None:
    """Candidates: if AppendEntries RPC received from new leader: convert to follower."""
    rn = make_node(log=(1,), term=1)
    rn.campaign()
    handle_all(rn)
    rn.step(append_msg(2, 1, 1))  # node 2 won the same term
    assert (rn.raft.role, rn.raft.term, rn.raft.lead) == (Role.FOLLOWER, 2, "2")


def test_candidates_start_a_new_election_on_timeout() -> None:
    """Candidates: if election timeout elapses: start new election."""
    rn = make_node(log=(1,), term=1)
    rn.campaign()
    handle_all(rn)
    for _ in range(rn.raft.randomized_election_timeout):
        rn.tick()
    assert (rn.raft.role, rn.raft.term) == (Role.CANDIDATE, 3)
    assert of_type(handle(rn).messages, MessageType.VOTE)


# -- leaders ----------------------------------------------------------------------------------


def test_leaders_send_appends_on_election_and_heartbeats_when_idle() -> None:
    """Leaders: upon election: send initial empty AppendEntries RPCs (heartbeat) to each
    server; repeat during idle periods to prevent election timeouts. (Here the first append
    carries the leader's no-op, thesis 6.4.)"""
    rn = make_node(log=(1,), term=1)
    rn.campaign()
    handle_all(rn)
    rn.step(grant("2", 2))
    first = of_type(handle(rn).messages, MessageType.APP)
    assert sorted(m.to for m in first) == ["2", "3"]
    assert [e.kind for e in first[0].entries] == [EntryKind.NOOP]
    for _ in range(rn.raft.config.heartbeat_tick):
        rn.tick()
    beats = of_type(handle(rn).messages, MessageType.HEARTBEAT)
    assert sorted(m.to for m in beats) == ["2", "3"]


def test_leaders_append_commands_and_apply_them_once_committed() -> None:
    """Leaders: if command received from client: append entry to local log, respond after
    entry applied to state machine (the entry comes out for applying once committed)."""
    rn = leader(log=(1,))
    index = rn.propose(b"x")
    assert index == 3
    ready = handle(rn)
    assert [e.data for e in ready.entries] == [b"x"]
    assert ready.committed_entries == []
    ack(rn, "2", 3)
    committed = handle(rn).committed_entries
    assert [(e.index, e.data) for e in committed] == [(1, b""), (2, b""), (3, b"x")]


def test_leaders_retry_with_a_lower_next_index_after_a_rejection() -> None:
    """Leaders: if AppendEntries fails because of log inconsistency: decrement nextIndex
    and retry (with the follower's hint, skipping a whole term at a time)."""
    rn = leader(log=(1, 1, 1))
    handle_all(rn)
    rejection = Message(
        MessageType.APP_RESP,
        to="1",
        sender="2",
        term=rn.raft.term,
        index=3,
        reject=True,
        reject_hint=1,
        log_term=1,
    )
    rn.step(rejection)
    retry = of_type(handle(rn).messages, MessageType.APP)
    assert [(m.to, m.index, m.log_term) for m in retry] == [("2", 1, 1)]
    assert [e.index for e in retry[0].entries] == [2, 3, 4]


def test_leaders_update_match_and_next_index_on_success() -> None:
    """Leaders: if successful: update nextIndex and matchIndex for follower."""
    rn = leader(log=(1,))
    handle_all(rn)
    ack(rn, "2", 2)
    progress = rn.progress()["2"]
    assert (progress.match, progress.next) == (2, 3)


def test_leaders_commit_by_majority_only_entries_of_their_term() -> None:
    """Leaders: if there exists an N such that N > commitIndex, a majority of
    matchIndex[i] >= N, and log[N].term == currentTerm: set commitIndex = N (figure 8)."""
    rn = leader(log=(1, 1))  # leader of term 2, no-op at index 3
    ack(rn, "2", 2)  # a majority has index 2 (term 1): not enough
    assert rn.raft.log.committed == 0
    ack(rn, "3", 3)  # a majority has index 3, of term 2: 1..3 commit together
    assert rn.raft.log.committed == 3


# -- AppendEntries receiver -------------------------------------------------------------------


def test_append_receiver_refuses_a_stale_term() -> None:
    """AppendEntries receiver, rule 1: reply false if term < currentTerm (the answer carries
    the newer term, which makes the stale leader step down). As in etcd, the answer is sent
    when PreVote or CheckQuorum is on (the defaults); without either, a stale append is
    ignored and the stale leader learns the term from the next election."""
    rn = make_node(log=(1, 1), term=3, pre_vote=True, check_quorum=True)
    rn.step(append_msg(2, 2, 1, entries(2, start=3), commit=3))
    answer = handle(rn).messages_after_persist
    assert log_terms(rn) == [1, 1]
    assert [(m.type, m.term) for m in answer] == [(MessageType.APP_RESP, 3)]
    stale = leader(log=(1,))
    stale.step(answer[0])
    assert (stale.raft.role, stale.raft.term) == (Role.FOLLOWER, 3)


def test_append_receiver_refuses_when_the_previous_entry_does_not_match() -> None:
    """Rule 2: reply false if log does not contain an entry at prevLogIndex whose term
    matches prevLogTerm."""
    rn = make_node(log=(1, 1), term=2)
    rn.step(append_msg(2, 2, 2, entries(2, start=3)))
    rn.step(append_msg(2, 3, 1, entries(2, start=4)))
    answers = handle(rn).messages_after_persist
    assert [(m.reject, m.index) for m in answers] == [(True, 2), (True, 3)]
    assert log_terms(rn) == [1, 1]


def test_append_receiver_deletes_a_conflicting_entry_and_all_that_follow() -> None:
    """Rule 3: if an existing entry conflicts with a new one (same index but different
    terms), delete the existing entry and all that follow it."""
    rn = make_node(log=(1, 1, 1, 1), term=2)
    rn.step(append_msg(2, 1, 1, entries(2, start=2)))
    assert log_terms(rn) == [1, 2]


def test_append_receiver_appends_new_entries_keeping_matching_ones() -> None:
    """Rule 4: append any new entries not already in the log (matching entries are kept:
    an older, shorter append does not truncate)."""
    rn = make_node(log=(1, 1), term=2)
    rn.step(append_msg(2, 1, 1, entries(1, 2, 2, start=2)))
    assert log_terms(rn) == [1, 1, 2, 2]
    rn.step(append_msg(2, 1, 1, entries(1, 2, start=2)))  # stale
    assert log_terms(rn) == [1, 1, 2, 2]


def test_append_receiver_commits_up_to_the_last_new_entry() -> None:
    """Rule 5: if leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of
    last new entry)."""
    rn = make_node(log=(1, 1, 1, 1), term=1)
    rn.step(append_msg(1, 1, 1, entries(1, start=2), commit=4))
    assert rn.raft.log.committed == 2
    rn.step(append_msg(1, 4, 1, commit=3))
    assert rn.raft.log.committed == 3


# -- RequestVote receiver ---------------------------------------------------------------------


def test_vote_receiver_refuses_a_stale_term() -> None:
    """RequestVote receiver, rule 1: reply false if term < currentTerm."""
    rn = make_node(log=(1,), term=3)
    rn.step(vote_msg("2", 2, 5, 2))
    granted = [m for m in handle_all(rn) if m.type == MessageType.VOTE_RESP and not m.reject]
    assert granted == []
    assert rn.raft.vote == ""


@pytest.mark.parametrize(
    ("last_index", "last_term", "granted"),
    [
        (2, 2, True),  # as up to date
        (5, 2, True),  # longer
        (1, 3, True),  # higher last term
        (1, 2, False),  # shorter, same last term
        (9, 1, False),  # lower last term
    ],
)
def test_vote_receiver_grants_only_to_an_up_to_date_log(
    last_index: int, last_term: int, granted: bool
) -> None:
    """Rule 2: if votedFor is null or candidateId, and candidate's log is at least as
    up-to-date as receiver's log, grant vote (5.4.1)."""
    rn = make_node(log=(1, 2), term=2)
    rn.step(vote_msg("2", 3, last_index, last_term))
    answer = of_type(handle(rn).messages_after_persist, MessageType.VOTE_RESP)
    assert [not m.reject for m in answer] == [granted]


def test_vote_receiver_votes_once_per_term() -> None:
    """Rule 2: ... votedFor is null or candidateId: one vote per term, repeatable."""
    rn = make_node(log=(1,), term=1)
    rn.step(vote_msg("2", 2, 1, 1))
    rn.step(vote_msg("3", 2, 1, 1))
    rn.step(vote_msg("2", 2, 1, 1))  # a retry from the same candidate
    answers = of_type(handle(rn).messages_after_persist, MessageType.VOTE_RESP)
    assert [(m.to, not m.reject) for m in answers] == [("2", True), ("3", False), ("2", True)]


# -- persistence ------------------------------------------------------------------------------


def test_a_vote_is_durable_before_it_is_sent() -> None:
    """Persistent state (currentTerm, votedFor) is updated on stable storage before
    responding to RPCs: the vote leaves only after the Ready that persists it."""
    rn = make_node(log=(1,), term=1)
    rn.step(vote_msg("2", 2, 1, 1))
    ready = rn.ready()
    assert ready.hard_state == HardState(2, "2", 0)
    assert ready.must_sync
    assert of_type(ready.messages, MessageType.VOTE_RESP) == []
    assert [m.type for m in ready.messages_after_persist] == [MessageType.VOTE_RESP]


def test_entries_are_durable_before_they_are_acknowledged() -> None:
    """Persistent state (log[]) is updated on stable storage before responding."""
    rn = make_node(log=(1,), term=1)
    rn.step(append_msg(1, 1, 1, entries(1, start=2)))
    ready = rn.ready()
    assert [e.index for e in ready.entries] == [2]
    assert ready.must_sync
    assert of_type(ready.messages, MessageType.APP_RESP) == []
    assert [m.type for m in ready.messages_after_persist] == [MessageType.APP_RESP]


def test_a_candidate_counts_its_own_vote_only_once_durable() -> None:
    """The candidate's own vote is a response too: it counts after the Ready persisting it."""
    rn = make_node(log=(1,), term=1)
    rn.campaign()
    ready = rn.ready()
    rn.step(grant("2", 2))
    assert role(rn) == Role.CANDIDATE  # 1 of 3 so far: its own vote is not durable yet
    rn.storage.set_hard_state(ready.hard_state)  # type: ignore[arg-type]
    rn.advance(ready)
    assert role(rn) == Role.LEADER


def test_a_leader_counts_its_own_entry_only_once_durable() -> None:
    """The leader may send an entry before its own copy is durable, but counts itself only
    after (otherwise one follower plus a non-durable copy could commit a 3-node entry)."""
    rn = leader(log=(1,))
    ack(rn, "2", 2)
    handle_all(rn)
    rn.propose(b"x")
    ready = rn.ready()
    assert of_type(ready.messages, MessageType.APP)  # sent in parallel with the write
    ack(rn, "2", 3)
    assert rn.raft.log.committed == 2  # node 2's copy alone is not a majority
    rn.storage.append(ready.entries)
    rn.advance(ready)
    assert rn.raft.log.committed == 3


# -- the simulator's bug switches break exactly these rules -----------------------------------


def test_bug_vote_before_persist_sends_the_vote_at_once() -> None:
    rn = make_node(log=(1,), term=1, bugs=frozenset({Bug.VOTE_BEFORE_PERSIST}))
    rn.step(vote_msg("2", 2, 1, 1))
    assert [m.type for m in rn.ready().messages] == [MessageType.VOTE_RESP]


def test_bug_ack_before_persist_acknowledges_at_once() -> None:
    rn = make_node(log=(1,), term=1, bugs=frozenset({Bug.ACK_BEFORE_PERSIST}))
    rn.step(append_msg(1, 1, 1, entries(1, start=2)))
    assert [m.type for m in rn.ready().messages] == [MessageType.APP_RESP]


def test_bug_commit_previous_term_commits_by_counting_replicas() -> None:
    rn = leader(log=(1, 1), bugs=frozenset({Bug.COMMIT_PREVIOUS_TERM}))
    ack(rn, "2", 2)
    assert rn.raft.log.committed == 2  # an entry of term 1, committed by the leader of term 2


def test_bug_truncate_on_match_lets_a_stale_append_cut_the_log() -> None:
    rn = make_node(log=(1, 1, 2, 2), term=2, bugs=frozenset({Bug.TRUNCATE_ON_MATCH}))
    rn.step(append_msg(2, 1, 1, entries(1, start=2)))
    assert log_terms(rn) == [1, 1]


def test_bug_read_without_quorum_answers_without_a_heartbeat_round() -> None:
    rn = leader(log=(1,), bugs=frozenset({Bug.READ_WITHOUT_QUORUM}))
    ack(rn, "2", 2)
    handle_all(rn)
    rn.read_index(b"r")
    ready = rn.ready()
    assert [rs.context for rs in ready.read_states] == [b"r"]
    assert of_type(ready.messages, MessageType.HEARTBEAT) == []
