"""Active expiry: the leader proposes the deletion of keys whose time has passed.

Reads never delete (a read changes no replicated state), so without this an expired key
would stay stored until a write met it. Like a Redis primary, only the leader deletes, and
through the log (an expire entry, applied on every replica, deletes those of its keys that are
still expired at the entry's time), `interval` seconds apart, at most EXPIRE_BATCH keys per
database per cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import trio

from ..state import OP_EXPIRE
from .proposals import Proposal

if TYPE_CHECKING:
    from .node import RaftNode

EXPIRE_BATCH: Final = 200


class ActiveExpiry:
    def __init__(self, node: RaftNode, interval: float) -> None:
        self.node = node
        self.interval = interval
        # Set by the server: CLIENT PAUSE on this node stops its proposals (as Redis's pause
        # stops active expiry).
        self.paused: Callable[[], bool] = lambda: False

    async def run(self) -> None:
        node = self.node
        while True:
            await trio.sleep(self.interval)
            if node.loading or not node.is_leader or node.applier.busy or self.paused():
                continue
            machine = node.machine
            now_ms = max(node.clock_us(), machine.last_time_us) // 1000
            waiting: list[Proposal] = []
            for number, db in enumerate(machine.keyspace.dbs):
                if not db.expires:
                    continue
                keys = db.expired_keys(now_ms, EXPIRE_BATCH)
                if keys:
                    proposal = Proposal(OP_EXPIRE, number, keys)
                    node.submit(proposal)
                    waiting.append(proposal)
            for proposal in waiting:
                await proposal.wait()
