"""Values the Raft core and its storage share: log entries and the hard state."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import NewType

Term = NewType("Term", int)
Index = NewType("Index", int)
NodeId = NewType("NodeId", str)


class EntryKind(IntEnum):
    NORMAL = 0  # data is a state-machine command (commands.machine payload)
    NOOP = 1  # appended by a new leader; data is empty
    CONF_CHANGE = 2  # a membership change


@dataclass(frozen=True, slots=True)
class Entry:
    index: int
    term: int
    kind: int
    data: bytes


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be durable before a node answers a vote or acknowledges an append."""

    term: int
    voted_for: str | None
    commit: int
