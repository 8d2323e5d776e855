"""Clients blocked by BLPOP and friends, as replicated state: the waiters.

A blocking command that finds nothing registers a `Waiter` for its client (the proposer's
session id and sequence number, the database, the keys, the deadline in log time, the
command itself). Every replica holds the same waiters in the same order, so the entry that
gives a key elements serves the same waiters, oldest first, on every replica, and each
element goes to exactly one client, whichever node it is connected to and whichever node
leads. A waiter leaves by being served, by an `Unblock` entry (its deadline passed, its
client left or was unblocked with CLIENT UNBLOCK, its node is gone), never otherwise.
A `Section` of the state machine; pure.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from sortedcontainers import SortedList

WaiterId = tuple[str, int]
"""(session id, sequence number) of the blocking command that registered a waiter."""


class WaitState:
    """What a blocking command's proposer gets instead of a reply while it waits."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


BLOCKED: Final = WaitState("blocked")
"""The command blocked: its reply comes later, as a completion of another entry."""
BLOCK_AGAIN: Final = WaitState("block again")
"""The waiter was dropped because its node seemed gone: if the node is there, it proposes
the command again (its client is still waiting)."""


@dataclass(slots=True)
class Waiter:
    session_id: str
    seq: int
    db: int
    keys: list[bytes]
    deadline_ms: int  # log time; 0: no timeout
    argv: list[bytes]  # the blocking command, run again to serve it
    waits_for: str  # the value type it pops from ("list")

    @property
    def id(self) -> WaiterId:
        return (self.session_id, self.seq)


class Blocked:
    kinds: tuple[str, ...] = ("blocked",)

    def __init__(self) -> None:
        self.waiters: dict[WaiterId, Waiter] = {}  # in the order they blocked
        self.by_key: dict[tuple[int, bytes], dict[WaiterId, Waiter]] = {}  # FIFO per key
        self.deadlines: SortedList = SortedList()  # (deadline_ms, session id, seq)

    def add(self, waiter: Waiter) -> None:
        self.waiters[waiter.id] = waiter
        for key in waiter.keys:
            self.by_key.setdefault((waiter.db, key), {})[waiter.id] = waiter
        if waiter.deadline_ms:
            self.deadlines.add((waiter.deadline_ms, waiter.session_id, waiter.seq))

    def remove(self, waiter: Waiter) -> None:
        del self.waiters[waiter.id]
        for key in waiter.keys:
            queue = self.by_key.get((waiter.db, key))
            if queue is not None:
                queue.pop(waiter.id, None)
                if not queue:
                    del self.by_key[(waiter.db, key)]
        if waiter.deadline_ms:
            self.deadlines.discard((waiter.deadline_ms, waiter.session_id, waiter.seq))

    def queue(self, db: int, key: bytes) -> list[Waiter]:
        """The waiters blocked on a key, oldest first (a copy: serving changes the queue)."""
        queue = self.by_key.get((db, key))
        return list(queue.values()) if queue else []

    def due(self, now_ms: int, limit: int) -> list[WaiterId]:
        """Up to `limit` waiters whose deadline is at or before `now_ms`, earliest first."""
        out: list[WaiterId] = []
        for deadline, session_id, seq in self.deadlines:
            if deadline > now_ms or len(out) >= limit:
                break
            out.append((session_id, seq))
        return out

    def next_deadline(self) -> int | None:
        return self.deadlines[0][0] if self.deadlines else None

    def of_sessions(self, prefix: str) -> list[WaiterId]:
        """The waiters of the sessions whose id starts with `prefix` (a node's: `name:`)."""
        return [waiter_id for waiter_id in self.waiters if waiter_id[0].startswith(prefix)]

    # -- the Section interface --------------------------------------------------------------

    def reset(self) -> None:
        self.waiters = {}
        self.by_key = {}
        self.deadlines = SortedList()

    def adopt(self, other: Blocked) -> None:
        self.waiters, self.by_key, self.deadlines = other.waiters, other.by_key, other.deadlines

    def snapshot_records(self) -> Iterator[list[Any]]:
        """["blocked", [[session id, seq, db, keys, deadline_ms, argv, waits for], ...]], in
        the order the waiters blocked (which is each key's serving order)."""
        if self.waiters:
            yield [
                "blocked",
                [
                    [w.session_id, w.seq, w.db, w.keys, w.deadline_ms, w.argv, w.waits_for]
                    for w in self.waiters.values()
                ],
            ]

    def restore(self, record: list[Any]) -> None:
        for session_id, seq, db, keys, deadline, argv, waits_for in record[1]:
            if not (type(session_id) is str and type(seq) is int and type(db) is int):
                raise ValueError("malformed waiter")
            if not all(type(item) is bytes for item in [*keys, *argv]) or not keys or not argv:
                raise ValueError("malformed waiter keys or command")
            if type(deadline) is not int or type(waits_for) is not str:
                raise ValueError("malformed waiter deadline")
            self.add(Waiter(session_id, seq, db, keys, deadline, argv, waits_for))
