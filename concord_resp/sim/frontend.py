"""A node's table of client calls waiting on Raft (what a server's connection layer keeps).

Writes wait, by (client, sequence number), for their command to be applied; the index each
was proposed at is remembered, so that if another entry is applied there the proposal is
known lost and the client is told to retry (it keeps its sequence number: the session table
makes the retry safe). Reads wait for their ReadIndex answer, then for the state machine to
reach that index; only then are they served from local state (thesis 6.4).
"""

from __future__ import annotations

from collections.abc import Callable

from concord_resp.checker import Value

from .kv import Reply
from .workload import Request

Respond = Callable[[Request, str, Value], None]
SessionKey = tuple[int, int]  # (client, sequence number)


class Frontend:
    def __init__(self, respond: Respond) -> None:
        self._respond = respond
        self.writes: dict[SessionKey, Request] = {}
        self.owners: dict[int, SessionKey] = {}  # index -> the write proposed there
        self.reads: dict[bytes, Request] = {}  # read context -> request
        self.ready_reads: list[tuple[int, Request]] = []  # (read index, request)

    def clear(self) -> None:
        """The node crashed: every call waiting here is forgotten (clients time out)."""
        self.writes = {}
        self.owners = {}
        self.reads = {}
        self.ready_reads = []

    # -- writes ----------------------------------------------------------------------------

    def proposed(self, index: int, request: Request) -> None:
        key = (request.client, request.seq)
        self.writes[key] = request
        self.owners[index] = key

    def applied(self, index: int, key: SessionKey | None, reply: Reply | None) -> None:
        """Entry `index` was applied: the write `key` (if a command) with `reply`."""
        if key is not None and reply is not None:
            request = self.writes.pop(key, None)
            if request is not None:
                self._respond(request, "ok" if reply.ok else "error", reply.output)
        owner = self.owners.pop(index, None)
        if owner is not None and owner != key:
            self._lost(owner)  # our proposal at this index was replaced

    def snapshot_installed(
        self, index: int, session_reply: Callable[[int, int], Reply | None]
    ) -> None:
        """The state jumped to `index`: writes proposed up to it are applied or lost."""
        for owned in sorted(i for i in self.owners if i <= index):
            owner = self.owners.pop(owned)
            reply = session_reply(*owner)
            if reply is None:
                self._lost(owner)
            else:
                request = self.writes.pop(owner, None)
                if request is not None:
                    self._respond(request, "ok" if reply.ok else "error", reply.output)

    def _lost(self, key: SessionKey) -> None:
        request = self.writes.pop(key, None)
        if request is not None:
            self._respond(request, "retry", None)

    # -- reads -----------------------------------------------------------------------------

    def read_requested(self, context: bytes, request: Request) -> None:
        self.reads[context] = request

    def read_state(self, index: int, context: bytes) -> None:
        request = self.reads.pop(context, None)
        if request is not None:
            self.ready_reads.append((index, request))

    def serve_reads(self, applied: int, get: Callable[[bytes], bytes | None]) -> None:
        """Answer every read whose index the state machine has reached."""
        if not self.ready_reads:
            return
        waiting: list[tuple[int, Request]] = []
        for index, request in self.ready_reads:
            if index <= applied:
                self._respond(request, "ok", get(request.key))
            else:
                waiting.append((index, request))
        self.ready_reads = waiting
