"""The dispatch pipeline: one batch of a client's requests in, the batch's replies out.

Checks run in Redis's order: lookup + arity -> loading -> MULTI queueing -> route. Routing
follows the command table: a `write` command becomes a proposal to the node (committed through
the log, answered once applied); any other pure command runs at once against the applied
state; connection-level commands (HELLO, CLIENT, MULTI, ...) run here.

A batch is everything one read from the socket produced (pipelining). Replies go, in request
order, into the connection's `ReplySink`: encoded bytes when known, a `Pending` for a write
(the sink sends it once the entry is applied, without waking the connection's task). Writes
are submitted without waiting, so a pipeline of writes shares one fsync; a command that reads
state first waits for this client's earlier writes, so a client always sees its own writes.

A handler that raises something other than `CommandError` is a bug: it is logged with its
traceback and the client gets `-ERR internal error`, and the server keeps serving everyone.
"""

from __future__ import annotations

import inspect
import logging
import random
import time
from collections.abc import Callable
from typing import Final, Protocol

from ..cluster import ClusterError, Proposal
from ..commands import OP_COMMAND, CommandError, CommandSpec, resolve_spec
from ..commands.errors import unknown_command
from ..metrics.info import ErrorStats
from ..resp import ErrorReply, encode_error, encode_reply
from .client import ClientState
from .state import ServerState

log = logging.getLogger("concord.server")

LOADING: Final = CommandError("LOADING Concord is loading the dataset in memory")
QUEUED_REPLY: Final = b"+QUEUED\r\n"
REMOVED: Final = CommandError("ERR this node was removed from the cluster")
NO_MULTI: Final = CommandError("ERR Command not allowed inside a transaction")
# What a removed node still answers: enough to see what happened to it.
SERVED_WHEN_REMOVED: Final = frozenset({"ping", "info", "quit", "hello", "reset", "raft.nodes"})

# Connection-level commands that read the keyspace (they need a read point first).
READS_STATE: Final = frozenset({"watch", "exec"})

# Keyspace commands that read no data: answered at once, even by a node far behind (a
# restarted follower answers PING while it catches up).
NO_READ_POINT: Final = frozenset({"ping", "echo", "select", "time", "object|help"})

# Commands that run at once even inside MULTI (Redis's processCommand list).
NOT_QUEUED: Final = frozenset({"exec", "discard", "quit", "reset", "multi", "watch"})


class Pending(Protocol):
    """A reply that is not known until `proposal` is applied (a write, or a transaction)."""

    proposal: Proposal

    @property
    def encoded(self) -> bytes:
        """The encoded reply; only once `proposal.done`."""
        ...


class ReplySink(Protocol):
    """Where a batch's replies go, in request order (a connection's outbox)."""

    def push(self, reply: bytes) -> None: ...

    def push_pending(self, pending: Pending) -> None: ...

    def unfinished(self) -> Pending | None:
        """The newest pending reply not applied yet, if any."""
        ...


class WriteReply:
    """The reply to one proposed write, once applied."""

    __slots__ = ("errors", "proposal", "spec")

    def __init__(self, proposal: Proposal, spec: CommandSpec, errors: ErrorStats) -> None:
        self.proposal = proposal
        self.spec = spec
        self.errors = errors

    @property
    def encoded(self) -> bytes:
        reply = self.proposal.reply
        assert isinstance(reply, bytes)
        spec = self.spec
        spec.usec += self.proposal.apply_us
        if reply[:1] == b"-":
            spec.failed_calls += 1
            self.errors.record(reply)
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

    def _reject(self, client: ClientState, argv: list[bytes], error: CommandError) -> bytes:
        """A command refused before it runs (Redis's `rejectCommand`); returns the error.

        A wrong arity counts as a rejected call of the command it names (an unknown command
        only as an error reply); inside MULTI the transaction is marked to fail; a refused
        EXEC discards the transaction (and the watches) at once, as `execCommandAbort` does.
        """
        message = error.message
        spec = self._by_name.get(argv[0]) or self.table.get(argv[0])
        if spec is not None and spec.is_container and len(argv) >= 2:
            spec = spec.subcommands.get(argv[1].lower())
        client.last_command = "NULL" if spec is None else spec.name  # CLIENT LIST's cmd=
        if spec is not None:
            spec.rejected_calls += 1
            if spec.name == "exec":
                client.reset_multi()
                reason = message[4:] if message.startswith(b"ERR ") else message
                message = b"EXECABORT Transaction discarded because of: " + reason
        if client.in_multi:
            client.multi_dirty = True
        self.state.errors.record(message)
        return message

    def now_us(self) -> int:
        return time.time_ns() // 1000

    async def run_batch(self, client: ClientState, commands: list[list[bytes]]) -> list[bytes]:
        """Execute a batch and wait for all of it; returns the encoded replies in order."""
        sink = CollectingSink()
        await self.dispatch(client, commands, sink)
        return await sink.replies()

    async def dispatch(
        self, client: ClientState, commands: list[list[bytes]], sink: ReplySink
    ) -> None:
        """Execute a batch of requests in order, pushing their replies into `sink`."""
        state = self.state
        push = sink.push
        read_point = False  # this batch has a linearizable read point already
        for argv in commands:
            try:
                spec = self.lookup(argv)
            except CommandError as error:
                push(encode_error(self._reject(client, argv, error)))
                continue
            client.last_command = spec.name
            if self.node.removed and spec.name not in SERVED_WHEN_REMOVED:
                push(encode_error(self._reject(client, argv, REMOVED)))
                continue
            if self.node.loading and not spec.ok_loading:
                # Refused like any rejected command (inside MULTI it makes EXEC fail).
                push(encode_error(self._reject(client, argv, LOADING)))
                continue
            if client.in_multi and "no_multi" in spec.flags:
                push(encode_error(self._reject(client, argv, NO_MULTI)))
                continue
            if client.in_multi and spec.name not in NOT_QUEUED:
                client.queued.append((spec, argv))
                push(QUEUED_REPLY)
                continue
            spec.calls += 1
            state.commands_processed += 1  # like Redis: commands run, not refused or queued
            if spec.is_write:
                proposal = Proposal(OP_COMMAND, client.db, argv, client.proto)
                sink.push_pending(WriteReply(proposal, spec, state.errors))
                self.node.submit(proposal)
                continue
            waiting = sink.unfinished()
            if waiting is not None:
                # Reads see this client's earlier writes (and so does everything else here).
                await waiting.proposal.wait()
            handler = self.control.get(spec.name)
            if not read_point and (
                (handler is None and spec.name not in NO_READ_POINT) or spec.name in READS_STATE
            ):
                # Linearizable reads: one read point (ReadIndex) per batch, unless the client
                # asked for local reads (READONLY).
                if not client.readonly:
                    try:
                        await self.node.read_barrier()
                    except ClusterError as error:
                        spec.failed_calls += 1
                        state.errors.record(error.message)
                        push(encode_error(error.message))
                        continue
                read_point = True
            if handler is not None:
                try:
                    result = handler(self, client, argv)
                    if inspect.iscoroutine(result):  # a command that waits (SAVE)
                        result = await result
                except CommandError as error:
                    spec.failed_calls += 1
                    state.errors.record(error.message)
                    push(encode_error(error.message))
                    continue
                except Exception:
                    push(self.internal_error(spec, argv))
                    continue
                if type(result) is Encoded:
                    push(bytes(result))
                elif isinstance(result, PENDING_TYPES):
                    pending: Pending = result  # type: ignore[assignment]
                    sink.push_pending(pending)
                    self.node.submit(pending.proposal)
                    if getattr(result, "barrier", False):
                        # The transaction changes the connection (SELECT, HELLO, ...): the rest
                        # of the batch must run after it.
                        await pending.proposal.wait()
                        pending.encoded  # noqa: B018  (completes it: runs its local commands)
                else:
                    push(encode_reply(result, client.proto))
                if client.closing:
                    break
                continue
            # A pure command that writes nothing: run it now on the applied state.
            started = time.perf_counter_ns()
            ctx = self.machine.read_context(client.db, self.now_us(), self.rng)
            try:
                reply = spec.handler(ctx, argv)  # type: ignore[misc]
            except CommandError as error:
                spec.failed_calls += 1
                state.errors.record(error.message)
                reply = ErrorReply(error.message)
            except Exception:
                push(self.internal_error(spec, argv))
                continue
            spec.usec += (time.perf_counter_ns() - started) // 1000
            client.db = ctx.db_index
            push(encode_reply(reply, client.proto))

    def internal_error(self, spec: CommandSpec, argv: list[bytes]) -> bytes:
        """A handler raised something unexpected (a bug): log it, answer an error."""
        log.exception("internal error running %s (%d arguments)", spec.name, len(argv))
        spec.failed_calls += 1
        message = b"ERR internal error while running '%s'" % spec.name.encode()
        self.state.errors.record(message)
        return encode_error(message)


class CollectingSink:
    """A sink that keeps every reply, for callers that want the whole batch at once."""

    def __init__(self) -> None:
        self.items: list[bytes | Pending] = []
        self.last: Pending | None = None

    def push(self, reply: bytes) -> None:
        self.items.append(reply)

    def push_pending(self, pending: Pending) -> None:
        self.items.append(pending)
        self.last = pending

    def unfinished(self) -> Pending | None:
        last = self.last
        return last if last is not None and not last.proposal.done else None

    async def replies(self) -> list[bytes]:
        if self.last is not None:
            await self.last.proposal.wait()
        return [item if type(item) is bytes else item.encoded for item in self.items]  # type: ignore[union-attr]


PENDING_TYPES: tuple[type, ...] = (WriteReply,)
"""Reply types that `run_batch` must wait for; the transactions module adds its own."""
