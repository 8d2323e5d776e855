"""ReadIndex bookkeeping on the leader (thesis 6.4; etcd's readOnly, safe mode).

A read request records the commit index at the time it arrived and a heartbeat round is sent
carrying its context; once a quorum has answered that round the leader knows it was still the
leader when the request arrived, so the request (and every earlier one still waiting: they
share the round) may be served at the recorded index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .types import Message


@dataclass(slots=True)
class ReadIndexStatus:
    request: Message
    index: int
    acks: dict[str, bool] = field(default_factory=dict)


class ReadOnly:
    def __init__(self) -> None:
        self.pending: dict[bytes, ReadIndexStatus] = {}
        self.queue: list[bytes] = []

    def add_request(self, index: int, request: Message) -> None:
        context = request.context
        if context in self.pending:
            return
        self.pending[context] = ReadIndexStatus(request, index)
        self.queue.append(context)

    def receive_ack(self, node: str, context: bytes) -> dict[str, bool] | None:
        status = self.pending.get(context)
        if status is None:
            return None
        status.acks[node] = True
        return status.acks

    def advance(self, context: bytes) -> list[ReadIndexStatus]:
        """Release every request up to and including the one with `context`."""
        if context not in self.pending:
            return []
        position = self.queue.index(context)
        released = [self.pending.pop(ctx) for ctx in self.queue[: position + 1]]
        del self.queue[: position + 1]
        return released

    def last_pending_context(self) -> bytes:
        return self.queue[-1] if self.queue else b""
