"""The promise: how far this node's log reached, and in which term, when it last promised.

A node promises when it acknowledges entries (a follower's append response, a leader counting
its own fsync toward commit, a single node's reply to a client) or grants a vote. Raft's
safety rests on those promises outliving the node (thesis 3.8: what a response depends on is
durable before it is sent). A disk can still break them: a log that restarts shorter than it
was (a truncated tail, an emptied or deleted segment, a deleted `wal/`) would let the node vote
for a candidate that lacks entries committed only thanks to it. The driver keeps the promise
in a small file of its own (raft/driver/promise_file.py, the simulator on its disk); this
module decides, purely, what that record must say:

- before a write that shortens the log (a Raft conflict, an installed snapshot) it is lowered
  (`before_write`), so the log never ends before it while the write lands;
- after a batch's fsync, before anything the batch allows is sent, it is raised to the log's
  new end and term (`after_write`); never ahead of the durable log, so a crash that tears an
  unacknowledged tail never looks like lost data;
- at start-up, a log ending before it or a hard state of an older term is a broken promise
  (`check`): entries or a vote the rest of the cluster may count on are gone.
"""

from __future__ import annotations

from dataclasses import dataclass

from .types import hot_record


@hot_record
class Promise:
    """The node's log reached `index` (its last entry) and its hard state `term` (with a vote
    cast in it, if `voted`) when it last acknowledged or voted. (0, 0): nothing promised."""

    term: int
    index: int
    voted: bool = False

    def before_write(self, end: int | None) -> Promise | None:
        """What to make durable before a write after which the log ends at `end` (None: the
        write adds no entry and replaces none), if the promise must come down first."""
        if end is not None and end < self.index:
            return Promise(self.term, end, self.voted)
        return None

    def after_write(self, term: int, end: int | None, voted: bool = False) -> Promise | None:
        """What to make durable once a write is, before its acknowledgements or votes leave:
        the log's new end and the newest hard state written (`term` 0: none; `voted`: it
        holds a vote). None when the promise already says so (a write of a commit index
        alone costs nothing)."""
        if term > self.term:
            hard = (term, voted)
        else:  # a vote, once cast, stays for the term (figure 2: votedFor)
            hard = (self.term, self.voted or (voted and term == self.term))
        raised = Promise(hard[0], self.index if end is None else end, hard[1])
        return None if raised == self else raised


NOTHING_PROMISED = Promise(0, 0)


@dataclass(frozen=True, slots=True)
class BrokenPromise:
    """A recovered log that cannot keep `promise`: its hard state is of `term` (`voted`: with
    a vote), its last entry `last_index`."""

    promise: Promise
    term: int
    last_index: int
    voted: bool = False

    @property
    def lost_entries(self) -> int:
        """How many entries this node had acknowledged that its log no longer holds."""
        return max(0, self.promise.index - self.last_index)

    @property
    def lost_term(self) -> bool:
        """The hard state is older than a term this node acted in."""
        return self.term < self.promise.term

    @property
    def lost_vote(self) -> bool:
        """The term is the same, but the vote this node cast in it is gone (it could vote
        twice in one term)."""
        return self.term == self.promise.term and self.promise.voted and not self.voted

    def describe(self) -> str:
        parts = []
        if self.lost_entries:
            first, last = self.last_index + 1, self.promise.index
            span = f"entry {first}" if first == last else f"entries {first}..{last}"
            noun, verb = ("entry", "is") if self.lost_entries == 1 else ("entries", "are")
            parts.append(f"{span} ({self.lost_entries} acknowledged {noun}) {verb} missing")
        if self.lost_term:
            parts.append(
                f"the term is back at {self.term} from {self.promise.term}"
                " (a term or vote this node acted on is lost)"
            )
        if self.lost_vote:
            parts.append(f"the vote this node cast in term {self.term} is lost")
        return "; ".join(parts)


def check_promise(
    promise: Promise, term: int, last_index: int, voted: bool = False
) -> BrokenPromise | None:
    """Does a log recovered with hard state `term` (`voted`: holding a vote) and last entry
    `last_index` keep `promise`?"""
    broken = BrokenPromise(promise, term, last_index, voted)
    if broken.lost_entries or broken.lost_term or broken.lost_vote:
        return broken
    return None
