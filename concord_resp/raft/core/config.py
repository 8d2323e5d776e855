"""The Raft core's configuration, its injected randomness, and the refusal of a proposal.

`Config` is per node and frozen; `Bug` lists the known Raft bugs the simulator may switch
back on to prove its checks would catch them (never set outside the simulator). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol


class Rng(Protocol):
    def randrange(self, start: int, stop: int = ..., step: int = ...) -> int: ...


class Bug(Enum):
    """Known Raft bugs the simulator can switch back on, to prove it would catch them.

    Never set outside the simulator: `Config.bugs` is empty unless a test sets it.
    """

    COMMIT_PREVIOUS_TERM = "commit an earlier term's entry by counting replicas"
    READ_WITHOUT_QUORUM = "serve ReadIndex without a heartbeat round"
    VOTE_BEFORE_PERSIST = "answer a vote before the vote is durable"
    ACK_BEFORE_PERSIST = "acknowledge an entry before it is durable"
    TRUNCATE_ON_MATCH = "truncate the log on a matching append"


@dataclass(frozen=True, slots=True)
class Config:
    id: str
    election_tick: int = 10
    heartbeat_tick: int = 1
    max_size_per_msg: int = 1024 * 1024
    max_inflight_msgs: int = 256
    pre_vote: bool = True
    check_quorum: bool = True
    bugs: frozenset[Bug] = field(default_factory=frozenset)

    def validate(self) -> None:
        if not self.id:
            raise ValueError("a node needs an id")
        if self.heartbeat_tick <= 0 or self.election_tick <= self.heartbeat_tick:
            raise ValueError("election_tick must be greater than heartbeat_tick > 0")
        if self.max_inflight_msgs <= 0:
            raise ValueError("max_inflight_msgs must be positive")


class ProposalDropped(Exception):
    """A proposal was refused (not the leader, transferring leadership, removed, ...)."""
