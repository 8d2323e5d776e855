"""Simulated clients: GET, SET, APPEND and INCR on a few keys, recorded in a history.

A client has one operation in flight (it is one "process" of the history). It sends the
operation to the node it believes leads (or, sometimes, to a random node: followers serve
reads through ReadIndex) and retries on a refusal or a timeout, at another node. A write
keeps its session sequence number across retries, so the state machine applies it once.
The history records the operation once, when the client starts it, and resolves it once:
ok (a reply), fail (an error reply, a read given up, or a write every attempt of which was
refused) or info (a write given up that some attempt may have made: indeterminate).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from concord_resp.checker import History, Value

from .config import Profile


@dataclass(frozen=True, slots=True)
class Request:
    client: int
    node: str
    op: int  # the history's operation id
    attempt: int
    kind: str  # "get", "set", "append", "incr"
    key: bytes
    value: bytes  # set/append argument; empty otherwise
    seq: int  # session sequence number (writes)

    def is_write(self) -> bool:
        return self.kind != "get"

    def describe(self) -> str:
        argument = f" {self.value.decode()}" if self.value else ""
        return f"c{self.client} {self.kind} {self.key.decode()}{argument} (op {self.op} try {self.attempt})"


@dataclass(frozen=True, slots=True)
class Response:
    client: int
    op: int
    attempt: int
    outcome: str  # "ok", "error" (no effect), "not_leader", "retry" (the proposal was lost)
    output: Value = None
    leader: str = ""

    def describe(self) -> str:
        if self.outcome in ("ok", "error"):
            return (
                f"c{self.client} {self.outcome} {self.output!r} (op {self.op} try {self.attempt})"
            )
        hint = f" leader={self.leader}" if self.leader else ""
        return f"c{self.client} {self.outcome}{hint} (op {self.op} try {self.attempt})"


@dataclass(slots=True)
class _Operation:
    op: int
    kind: str
    key: bytes
    value: bytes
    seq: int
    deadline: int
    attempt: int = 0
    node: str = ""
    attempt_deadline: int | None = None  # None while waiting to retry
    retry_at: int | None = None
    maybe_applied: bool = False  # a write attempt went unanswered
    ok_after_heal: bool = False
    answered: set[int] = field(default_factory=set)


class Client:
    def __init__(
        self, client_id: int, rng: random.Random, profile: Profile, history: History
    ) -> None:
        self.id = client_id
        self.rng = rng
        self.profile = profile
        self.history = history
        self.keys = [b"k%d" % n for n in range(profile.keys)]
        self.seq = 0
        self.leader = ""
        self.current: _Operation | None = None
        self.stopped = False  # quiescing: start no new operation
        self.completed_ok = 0

    def idle(self) -> bool:
        return self.current is None

    def act(self, now: int, nodes: list[str]) -> Request | None:
        """Start, retry or give up on an operation; returns a request to send, if any."""
        current = self.current
        rng = self.rng
        if current is None:
            if self.stopped or rng.random() >= self.profile.p_start_op:
                return None
            current = self._start(now)
            return self._attempt(now, current, nodes)
        if now >= current.deadline:
            self._give_up(current)
            return None
        if current.retry_at is not None and now >= current.retry_at:
            return self._attempt(now, current, nodes)
        if current.attempt_deadline is not None and now >= current.attempt_deadline:
            if current.kind != "get":
                current.maybe_applied = True
            self.leader = ""
            return self._attempt(now, current, nodes)
        return None

    def _start(self, now: int) -> _Operation:
        rng = self.rng
        key = rng.choice(self.keys)
        if rng.random() < self.profile.read_ratio:
            kind, value, seq = "get", b"", 0
        else:
            kind = rng.choice(("set", "append", "append", "incr"))
            value = {
                "set": b"%d" % rng.randint(1, 999),
                "append": b"%d" % rng.randint(1, 9),
                "incr": b"",
            }[kind]
            self.seq += 1
            seq = self.seq
        argument: Value = value if kind in ("set", "append") else None
        op = self.history.invoke(self.id, kind, key, argument)
        current = _Operation(op, kind, key, value, seq, now + self.profile.op_timeout)
        self.current = current
        return current

    def _attempt(self, now: int, current: _Operation, nodes: list[str]) -> Request:
        rng = self.rng
        if self.leader and self.leader in nodes and rng.random() >= self.profile.p_follower:
            node = self.leader
        else:
            node = rng.choice(nodes)
        current.attempt += 1
        current.node = node
        current.retry_at = None
        current.attempt_deadline = now + rng.randint(*self.profile.attempt_timeout)
        return Request(
            self.id,
            node,
            current.op,
            current.attempt,
            current.kind,
            current.key,
            current.value,
            current.seq,
        )

    def _give_up(self, current: _Operation) -> None:
        unanswered = current.attempt not in current.answered and current.retry_at is None
        if current.kind != "get" and (current.maybe_applied or unanswered):
            self.history.info(current.op)
        else:
            self.history.fail(current.op)
        self.current = None

    def receive(self, now: int, response: Response) -> None:
        current = self.current
        if current is None or response.op != current.op:
            return  # an answer to an operation already resolved
        if response.outcome == "ok":
            self.history.ok(current.op, response.output)
            self.completed_ok += 1
            self.current = None
        elif response.outcome == "error":
            self.history.fail(current.op)
            self.current = None
        elif response.attempt == current.attempt:
            # Refused or lost: this attempt definitely did nothing. Retry soon.
            current.answered.add(current.attempt)
            self.leader = response.leader
            current.attempt_deadline = None
            current.retry_at = now + self.rng.randint(1, 3)
