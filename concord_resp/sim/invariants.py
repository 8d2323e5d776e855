"""Raft's safety properties, checked as the simulated cluster runs.

The checker keeps global records fed by the cluster at the moment things happen:
- election safety: at most one leader per term (`leader`), and each node grants at most one
  vote per term (`vote_granted`, figure 2's votedFor);
- log matching: every entry any node appends is recorded by (index, term) with its data and
  the term of the entry before it; a second entry with the same index and term must agree on
  both, which by induction makes the two logs identical up to it (`appended`);
- a committed entry is never lost or changed: every (index -> term, data) any node ever
  commits, with the lowest term in which a node saw it committed (`committed`); a node that
  becomes leader of term T holds every entry committed in an earlier term (`leader_complete`);
- state machine safety: one state digest per applied index (`applied`);
- a node's durable term never goes down, its commit and applied indexes never go back.
A broken property raises `SafetyViolation` at once, so the run stops where it went wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from concord_resp.raft.core import Entry


class SafetyViolation(AssertionError):
    """A Raft safety property does not hold."""


@dataclass(frozen=True, slots=True)
class CommittedEntry:
    term: int
    kind: int
    data: bytes
    commit_term: int  # the lowest term in which some node saw it committed


class Invariants:
    def __init__(self) -> None:
        self.leaders: dict[int, str] = {}
        self.votes: dict[tuple[str, int], str] = {}
        self.entries: dict[tuple[int, int], tuple[int, bytes, int]] = {}
        self.committed: dict[int, CommittedEntry] = {}
        self.max_committed = 0
        self.digests: dict[int, str] = {}
        self.durable_terms: dict[str, int] = {}

    # -- elections ---------------------------------------------------------------------

    def leader(self, node: str, term: int) -> None:
        other = self.leaders.setdefault(term, node)
        if other != node:
            raise SafetyViolation(f"two leaders in term {term}: {other} and {node}")

    def vote_granted(self, voter: str, term: int, candidate: str) -> None:
        other = self.votes.setdefault((voter, term), candidate)
        if other != candidate:
            raise SafetyViolation(
                f"{voter} voted twice in term {term}: for {other} and for {candidate}"
            )

    # -- logs --------------------------------------------------------------------------

    def appended(self, node: str, prev_term: int, entries: Sequence[Entry]) -> None:
        """`node` is writing `entries` (consecutive) after an entry of `prev_term`."""
        record = self.entries
        for entry in entries:
            fact = (entry.kind, entry.data, prev_term)
            seen = record.setdefault((entry.index, entry.term), fact)
            if seen != fact:
                what = "a different previous term" if seen[:2] == fact[:2] else "different data"
                raise SafetyViolation(
                    f"log matching: {node} has entry {entry.index}/t{entry.term} with {what} "
                    f"than another log (previous term {prev_term} vs {seen[2]})"
                )
            prev_term = entry.term

    def committed_entries(self, node: str, observer_term: int, entries: Sequence[Entry]) -> None:
        """`node`, in `observer_term`, now counts `entries` as committed."""
        record = self.committed
        for entry in entries:
            seen = record.get(entry.index)
            if seen is None:
                record[entry.index] = CommittedEntry(
                    entry.term, entry.kind, entry.data, observer_term
                )
                if entry.index > self.max_committed:
                    self.max_committed = entry.index
                continue
            if seen.term != entry.term or seen.data != entry.data or seen.kind != entry.kind:
                raise SafetyViolation(
                    f"committed entry {entry.index} changed: {node} commits "
                    f"t{entry.term} {entry.data!r}, committed before as t{seen.term} {seen.data!r}"
                )
            if observer_term < seen.commit_term:
                record[entry.index] = CommittedEntry(seen.term, seen.kind, seen.data, observer_term)

    def committed_at(self, node: str, index: int, term: int) -> None:
        """`node` holds a committed point (a snapshot) at `index` with `term`."""
        seen = self.committed.get(index)
        if seen is not None and seen.term != term:
            raise SafetyViolation(
                f"committed entry {index} changed: {node} has a snapshot at {index}/t{term}, "
                f"committed before as t{seen.term}"
            )

    def leader_complete(
        self, node: str, term: int, term_at: Callable[[int], int], first_index: int
    ) -> None:
        """A new leader of `term` must hold every entry committed in an earlier term (5.4).

        Checking the last such entry is enough: log matching makes the prefix equal."""
        record = self.committed
        index = self.max_committed
        while index > 0:
            seen = record.get(index)
            if seen is not None and seen.commit_term < term:
                break
            index -= 1
        if index < first_index - 1 or index == 0:
            return  # compacted away: its snapshot covers it
        have = term_at(index)
        if have != record[index].term:
            raise SafetyViolation(
                f"leader completeness: {node} leads term {term} without committed entry "
                f"{index}/t{record[index].term} (has t{have})"
            )

    # -- state machines and durability ---------------------------------------------------

    def applied(self, node: str, index: int, digest: str) -> None:
        seen = self.digests.setdefault(index, digest)
        if seen != digest:
            raise SafetyViolation(
                f"state machines differ at applied index {index}: {node} has {digest}, "
                f"another node had {seen}"
            )

    def disk_damaged(self, node: str) -> None:
        """`node`'s disk lost records (a damaged disk, not the software): its durable term is
        checked afresh from what is left."""
        self.durable_terms.pop(node, None)

    def durable_term(self, node: str, term: int) -> None:
        before = self.durable_terms.get(node, 0)
        if term < before:
            raise SafetyViolation(f"{node}'s durable term went down from {before} to {term}")
        self.durable_terms[node] = term


def check_monotonic(node: str, what: str, before: int, after: int) -> None:
    if after < before:
        raise SafetyViolation(f"{node}'s {what} went back from {before} to {after}")
