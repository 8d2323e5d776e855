"""Ending the waits of blocked clients that nobody else ends: timeouts and vanished nodes.

A blocked client's waiter (`state.blocked`) is replicated state and leaves it only through
the log. Served waiters leave in the entry that serves them; a client that disconnects or is
unblocked with CLIENT UNBLOCK has its own node propose the end (`Proposals.abandon`, the
server's CLIENT UNBLOCK). What is left for this loop:

- timeouts: the leader proposes an Unblock for the waiters whose deadline (log time) has
  passed; the entry checks the deadline again at its own time, so every replica agrees;
- the waiters of a node that is gone (removed from the cluster, or not heard from by the
  leader for GONE_AFTER_ELECTIONS election timeouts): the leader proposes their end, so that
  they swallow no element pushed meanwhile; if that node was only cut off, it sees its
  waiters end with BLOCK_AGAIN and blocks its clients again;
- a node's own waiters from before its restart (sessions of its name but not its current
  one): the node itself proposes their end once it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import trio

from ..state import OP_UNBLOCK
from ..state.entries import UNBLOCK_DISCONNECTED, UNBLOCK_NODE_GONE, UNBLOCK_TIMEOUT
from .proposals import Proposal

if TYPE_CHECKING:
    from .node import RaftNode

CHECK_INTERVAL: Final = 0.1  # seconds between two looks when no deadline is nearer
UNBLOCK_BATCH: Final = 512  # waiters ended by one entry
GONE_AFTER_ELECTIONS: Final = 3


class BlockedWaits:
    def __init__(self, node: RaftNode) -> None:
        self.node = node
        self._restart_checked = False
        self._leading_since: float | None = None  # (a new leader first hears from everyone)

    async def run(self) -> None:
        node = self.node
        while True:
            await trio.sleep(self._pause())
            if node.loading or node.removed or node.applier.busy:
                continue
            waiting: list[Proposal] = []
            if not self._restart_checked and node.leader:
                self._restart_checked = True
                waiting.extend(self._end_earlier_sessions())
            if node.is_leader:
                if self._leading_since is None:
                    self._leading_since = trio.current_time()
                waiting.extend(self._end_timed_out())
                waiting.extend(self._end_gone_nodes())
            else:
                self._leading_since = None
            for proposal in waiting:
                await proposal.wait()

    def _pause(self) -> float:
        """Until the next deadline, or CHECK_INTERVAL (leadership and nodes change too)."""
        node = self.node
        if node.applier.busy:
            return CHECK_INTERVAL
        deadline = node.machine.blocked.next_deadline()
        if deadline is None or not node.is_leader:
            return CHECK_INTERVAL
        now_ms = node.clock_us() // 1000
        return min(max((deadline - now_ms) / 1000, 0.001), CHECK_INTERVAL)

    def _propose(self, reason: int, waiters: list[tuple[str, int]]) -> list[Proposal]:
        proposals = []
        for start in range(0, len(waiters), UNBLOCK_BATCH):
            proposal = Proposal(
                OP_UNBLOCK, 0, waiters[start : start + UNBLOCK_BATCH], reason=reason
            )
            self.node.submit(proposal)
            proposals.append(proposal)
        return proposals

    def _end_timed_out(self) -> list[Proposal]:
        node = self.node
        now_ms = max(node.clock_us(), node.machine.last_time_us) // 1000
        due = node.machine.blocked.due(now_ms, UNBLOCK_BATCH)
        return self._propose(UNBLOCK_TIMEOUT, due) if due else []

    def _end_gone_nodes(self) -> list[Proposal]:
        node = self.node
        blocked = node.machine.blocked
        if not blocked.waiters:
            return []
        now = trio.current_time()
        gone_after = GONE_AFTER_ELECTIONS * node.election_timeout()
        if self._leading_since is None or now - self._leading_since < gone_after:
            return []  # a new leader has not heard from every member yet
        # (Session ids are "name:token", the token hex: the name is what precedes the last
        # colon.) Sorted: the order of proposals does not depend on the hash seed.
        owners = sorted({waiter_id[0].rsplit(":", 1)[0] for waiter_id in blocked.waiters})
        waiters: list[tuple[str, int]] = []
        for name in owners:
            if name == node.name:
                continue
            heard = node.last_contact.get(name)
            if name in node.members and heard is not None and now - heard < gone_after:
                continue
            waiters.extend(blocked.of_sessions(f"{name}:"))
        return self._propose(UNBLOCK_NODE_GONE, waiters) if waiters else []

    def _end_earlier_sessions(self) -> list[Proposal]:
        node = self.node
        mine = node.proposals.session
        earlier = [
            waiter_id
            for waiter_id in node.machine.blocked.of_sessions(f"{node.name}:")
            if waiter_id[0] != mine
        ]
        return self._propose(UNBLOCK_DISCONNECTED, earlier) if earlier else []
