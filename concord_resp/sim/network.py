"""The simulated network: per-message delays, reordering, drops, duplicates, partitions.

Every message gets a delivery step when it is sent (a usual delay, or a slow one, which is
what reorders messages); it may be dropped or duplicated then. A partition is checked at
delivery time, so a partition also cuts messages already in flight. Partitions split the
nodes into sides; a bridge node belongs to no side and reaches everyone. Client traffic
(requests and replies) uses the same queue but is never dropped or partitioned: clients sit
outside the cluster and only feel crashed or paused nodes. A lost snapshot still comes out of
the queue (as `lost`) so that its sender hears the transfer failed, as from a transport. Delivery order is fixed: by
step, then by send order. `reliable` (after healing) turns off drops, duplicates and slow
messages.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from concord_resp.raft.core import Message, MessageType

from .config import Profile


@dataclass(frozen=True, slots=True)
class Partition:
    kind: str  # "split", "isolate_leader" or "bridge"
    sides: tuple[tuple[str, ...], ...]
    bridge: str = ""

    def blocked(self, a: str, b: str) -> bool:
        if a == self.bridge or b == self.bridge:
            return False
        return self._side(a) != self._side(b)

    def _side(self, node: str) -> int:
        for number, side in enumerate(self.sides):
            if node in side:
                return number
        return 0  # a node that joined during the partition lands on the first side

    def describe(self) -> str:
        text = " | ".join("{" + ",".join(side) + "}" for side in self.sides)
        return f"{self.kind}: {text}" + (f" bridge {self.bridge}" if self.bridge else "")


def make_partition(
    rng: random.Random, kind: str, nodes: list[str], leader: str | None
) -> Partition | None:
    """A random partition of `nodes` (sorted) of the given kind, or None if impossible."""
    if len(nodes) < 2:
        return None
    if kind == "isolate_leader":
        if leader is None:
            return None
        return Partition(kind, ((leader,), tuple(n for n in nodes if n != leader)))
    if kind == "bridge":
        if len(nodes) < 3:
            return None
        shuffled = list(nodes)
        rng.shuffle(shuffled)
        bridge = shuffled.pop()
        cut = rng.randint(1, len(shuffled) - 1)
        return Partition(
            kind, (tuple(sorted(shuffled[:cut])), tuple(sorted(shuffled[cut:]))), bridge
        )
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    cut = rng.randint(1, len(shuffled) - 1)
    return Partition(kind, (tuple(sorted(shuffled[:cut])), tuple(sorted(shuffled[cut:]))))


@dataclass(frozen=True, slots=True)
class Delivery:
    """A peer message due at `at` from the sender's `incarnation`; `copy` marks a duplicate."""

    at: int
    msg: Message
    incarnation: int
    copy: bool = False
    lost: bool = False  # a snapshot lost on the way: its sender learns the transfer failed


class Network:
    def __init__(self, rng: random.Random, profile: Profile) -> None:
        self.rng = rng
        self.profile = profile
        self.partition: Partition | None = None
        self.reliable = False
        self._queue: list[tuple[int, int, object]] = []
        self._sent = 0
        self.stats = {"sent": 0, "dropped": 0, "duplicated": 0, "delivered": 0, "cut": 0}

    def _push(self, at: int, item: object) -> None:
        self._sent += 1
        heapq.heappush(self._queue, (at, self._sent, item))

    def _delay(self) -> int:
        profile = self.profile
        rng = self.rng
        if not self.reliable and rng.random() < profile.p_slow:
            return rng.randint(*profile.slow_delay)
        return rng.randint(*profile.delay)

    def send(self, now: int, msg: Message, incarnation: int) -> bool:
        """Queue a peer message; False if it is dropped on the way."""
        self.stats["sent"] += 1
        profile = self.profile
        rng = self.rng
        if not self.reliable and rng.random() < profile.p_drop:
            self.stats["dropped"] += 1
            if msg.type == MessageType.SNAP:
                at = now + self._delay()
                self._push(at, Delivery(at, msg, incarnation, lost=True))
            return False
        at = now + self._delay()
        self._push(at, Delivery(at, msg, incarnation))
        if not self.reliable and rng.random() < profile.p_duplicate:
            self.stats["duplicated"] += 1
            at = now + self._delay()
            self._push(at, Delivery(at, msg, incarnation, copy=True))
        return True

    def send_client(self, now: int, item: object) -> None:
        """Queue a client request or reply (delay 1-2 steps, never lost by the network)."""
        self._push(now + self.rng.randint(1, 2), item)

    def due(self, now: int) -> list[object]:
        """Everything due by `now`, in delivery order."""
        queue = self._queue
        out: list[object] = []
        while queue and queue[0][0] <= now:
            out.append(heapq.heappop(queue)[2])
        return out

    def blocked(self, a: str, b: str) -> bool:
        partition = self.partition
        return partition is not None and partition.blocked(a, b)

    def in_flight(self) -> int:
        return len(self._queue)
