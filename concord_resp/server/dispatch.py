"""The dispatch pipeline: one batch of a client's requests in, the batch's replies out.

Checks run in Redis's order: lookup + arity -> loading -> MULTI queueing -> route. Routing
follows the command table: a `write` command becomes a proposal to the node (committed through
the log, answered once applied); any other pure command runs at once against the applied
state; connection-level commands (HELLO, CLIENT, MULTI, ...) run here.

A batch is everything one read from the socket produced (pipelining). Writes are submitted
without waiting, so a pipeline of writes shares one fsync; a command that reads state waits
for this client's earlier writes first, so a client always sees its own writes in order.
Replies are encoded as soon as they are known and sent in one piece by the caller.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Final, Protocol

from ..cluster import Proposal
from ..commands import OP_COMMAND, CommandError, CommandSpec, resolve_spec
from ..commands.errors import unknown_command
from ..resp import encode_error, encode_reply
from .client import ClientState
from .state import ServerState

LOADING_ERROR: Final = encode_error("LOADING Concord is loading the dataset in memory")
QUEUED_REPLY: Final = b"+QUEUED\r\n"

# Commands that run at once even inside MULTI (Redis's processCommand list).
NOT_QUEUED: Final = frozenset({"exec", "discard", "quit", "reset", "multi", "watch"})


class Pending(Protocol):
    """A reply that is not known yet: a write waiting for commit, or a transaction."""

    async def wait(self) -> None: ...

    @property
    def encoded(self) -> bytes: ...


class WriteReply:
    """The reply to one proposed write, once applied."""

    __slots__ = ("proposal", "spec")

    def __init__(self, proposal: Proposal, spec: CommandSpec) -> None:
        self.proposal = proposal
        self.spec = spec

    async def wait(self) -> None:
        await self.proposal.wait()

    @property
    def encoded(self) -> bytes:
        reply = self.proposal.reply
        assert isinstance(reply, bytes)
        spec = self.spec
        spec.usec += self.proposal.apply_us
        if reply[:1] == b"-":
            spec.failed_calls += 1
        return reply


class Encoded(bytes):
    """A reply a control handler already encoded; passed through as it is."""


ControlHandler = Callable[["Dispatcher", ClientState, list[bytes]], object]
"""A connection-level command: returns a reply value, or a `Pending` for a write."""


class Dispatcher:
    """Runs batches of requests for connections; one per server."""

    def __init__(self, state: ServerState, control: dict[str, ControlHandler]) -> None:
        self.state = state
        self.table = state.table
        self.node = state.node
        self.machine = state.machine
        self.control = control
        self.rng = random.Random()
        self._by_name: dict[bytes, CommandSpec] = {}
        for name, spec in self.table.specs.items():
            self._by_name[name] = spec
            self._by_name[name.upper()] = spec

    def lookup(self, argv: list[bytes]) -> CommandSpec:
        """Find the (sub)command for argv and check its arity. Raises CommandError."""
        spec = self._by_name.get(argv[0])
        if spec is None:
            spec = self.table.get(argv[0])
            if spec is None:
                raise unknown_command(argv)
        if spec.is_container or not spec.arity_ok(len(argv)):
            spec = resolve_spec(spec, argv)
        return spec

    def now_us(self) -> int:
        return time.time_ns() // 1000

    async def run_batch(self, client: ClientState, commands: list[list[bytes]]) -> list[bytes]:
        """Execute a batch of requests in order; returns their encoded replies in order."""
        out: list[bytes | Pending] = []
        unfinished: list[Pending] = []  # replies of this batch not known yet
        state = self.state
        for argv in commands:
            state.commands_processed += 1
            try:
                spec = self.lookup(argv)
            except CommandError as error:
                state.rejected_calls += 1
                if client.in_multi:
                    client.multi_dirty = True
                out.append(encode_error(error.message))
                continue
            client.last_command = spec.name
            if self.node.loading and not spec.ok_loading:
                spec.rejected_calls += 1
                out.append(LOADING_ERROR)
                continue
            if client.in_multi and spec.name not in NOT_QUEUED:
                client.queued.append((spec, argv))
                out.append(QUEUED_REPLY)
                continue
            spec.calls += 1
            if spec.is_write:
                proposal = Proposal(OP_COMMAND, client.db, argv, client.proto)
                self.node.submit(proposal)
                pending: Pending = WriteReply(proposal, spec)
                out.append(pending)
                unfinished.append(pending)
                continue
            if unfinished:
                # Reads see this client's earlier writes (and so does everything else here).
                await _wait_all(unfinished)
            handler = self.control.get(spec.name)
            if handler is not None:
                try:
                    result = handler(self, client, argv)
                except CommandError as error:
                    spec.failed_calls += 1
                    out.append(encode_error(error.message))
                    continue
                if type(result) is Encoded:
                    out.append(bytes(result))
                elif isinstance(result, PENDING_TYPES):
                    waiting: Pending = result  # type: ignore[assignment]
                    out.append(waiting)
                    unfinished.append(waiting)
                    if getattr(result, "barrier", False):
                        await _wait_all(unfinished)
                else:
                    out.append(encode_reply(result, client.proto))
                if client.closing:
                    break
                continue
            started = time.perf_counter()
            ctx = self.machine.read_context(client.db, self.now_us(), self.rng)
            reply = self.machine.run(ctx, argv)
            spec.usec += int((time.perf_counter() - started) * 1e6)
            client.db = ctx.db_index
            out.append(encode_reply(reply, client.proto))
        if unfinished:
            await _wait_all(unfinished)
        return [item if type(item) is bytes else item.encoded for item in out]  # type: ignore[union-attr]


async def _wait_all(pending: list[Pending]) -> None:
    for item in pending:
        await item.wait()
    pending.clear()


PENDING_TYPES: tuple[type, ...] = (WriteReply,)
"""Reply types that `run_batch` must wait for; the transactions module adds its own."""
