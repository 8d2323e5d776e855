"""The dispatch pipeline: one batch of a client's requests in, the batch's replies out.

Checks run in Redis's order: lookup + arity -> authentication (NOAUTH) -> `no_multi` inside
MULTI -> ACL (NOPERM: the command, its keys; logged in ACL LOG) -> maxmemory (OOM) -> a
running script (BUSY) -> removed/loading -> a MONITOR client touching the keyspace -> CLIENT
PAUSE (the client waits: `pause`) -> MULTI queueing -> route. CLIENT REPLY OFF/SKIP sends a
command's replies to a `MutedSink`; CLIENT TRACKING remembers a read's keys (`tracking`);
MONITOR clients are shown what runs (`monitor`). While a connection has none of these on,
they cost one attribute test per command (`ClientState.special`). Over maxmemory, this node
(the one the client is connected to) refuses what Redis refuses, when the command arrives and
before anything is proposed: the log never holds a decision that depends on a node's memory,
so replicas never differ. Each command's route is declared in the command table
(`commands.registry`):

    LOG         a write: a `Proposal` to the node, answered once applied (no read point
                first: WATCH is checked when the entry is applied)
    READ        a linearizable read: one read point (ReadIndex) per batch, then the pure
                handler on the applied state
    LOCAL       at once, no read point: a pure handler that reads no data (PING, SELECT) or
                a connection-level one (HELLO, CLIENT, CONFIG, INFO)
    LOCAL_READ  a connection-level handler that reads the state, after a read point (WATCH)
    CLUSTER     a connection-level handler that waits for the cluster (RAFT.*, SAVE)

A batch is everything one read from the socket produced (pipelining). Replies go, in request
order, into the connection's `ReplySink`: encoded bytes when known, a `Pending` for a write
(the sink sends it once the entry is applied, without waking the connection's task). Writes
are submitted without waiting, so a pipeline of writes shares one fsync; a command that reads
state first waits for this client's earlier writes, so a client always sees its own writes.

The server encodes every reply value for the client's protocol here (or in `pending`), and
counts each command once it has run. A handler that raises something other than
`CommandError` is a bug: it is logged with its traceback, the client gets `-ERR internal
error`, and the server keeps serving everyone.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from time import perf_counter_ns
from typing import Final, Protocol

import trio

from ..cluster import ClusterError, Proposal
from ..commands import CommandError, CommandSpec, Route
from ..commands.registry import SERVE_CONNECTION, SERVE_READ, SERVE_READ_OR_BLOCK, SERVE_WRITE
from ..commands.streams import blocking_read
from ..resp import ErrorReply, Reply, encode_error, encode_reply
from ..scripting import sha1hex
from ..scripting.scripts import ALLOW_OOM, NO_WRITES, parse_shebang
from ..security import DENIED_CMD, DENIED_KEY, User
from ..state import OP_COMMAND
from ..store.events import Message
from .client import REPLY_ON, REPLY_SKIP, REPLY_SKIP_NEXT, ClientState
from .handlers import AtReadPoint, Submission
from .handlers.security import log_denial
from .pending import Pending, ReadReply, SubmittedReply, WriteReply
from .pubsub import SUBSCRIBED_MODE, subscribed_only
from .state import ServerState
from .tracking import Tracking

log = logging.getLogger("concord.server")

LOADING: Final = CommandError("LOADING Concord is loading the dataset in memory")
QUEUED_REPLY: Final = b"+QUEUED\r\n"
REMOVED: Final = CommandError("ERR this node was removed from the cluster")
NO_MULTI: Final = CommandError("ERR Command not allowed inside a transaction")
NOAUTH: Final = CommandError("NOAUTH Authentication required.")
BUSY: Final = CommandError(
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
)
# What a removed node still answers: enough to see what happened to it.
SERVED_WHEN_REMOVED: Final = frozenset({"ping", "info", "quit", "hello", "reset", "raft.nodes"})

# Commands that run at once even inside MULTI (Redis's processCommand list).
NOT_QUEUED: Final = frozenset({"exec", "discard", "quit", "reset", "multi", "watch"})
REPLICA_KEYSPACE: Final = CommandError("ERR Replica can't interact with the keyspace")
OOM: Final = CommandError(b"OOM command not allowed when used memory > 'maxmemory'.")
# Inside MULTI over maxmemory, Redis queues nothing more (queueing takes memory) but these.
QUEUED_DESPITE_OOM: Final = frozenset({"exec", "discard", "quit", "reset"})
SCRIPT_COMMANDS: Final = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro"})
FUNCTION_COMMANDS: Final = frozenset({"fcall", "fcall_ro"})
# Backpressure (see `connection`): a batch's replies are sent, and the socket waited for,
# each time they pass this many bytes. Reads deferred behind a client's writes run later
# (their replies' sizes unknown until then): a client may have this many owed before its
# batch waits for them to run and be sent; their replies are bounded by its limits.
OUTPUT_PAUSE_BYTES: Final = 256 * 1024
MAX_DEFERRED: Final = 1000


class ReplySink(Protocol):
    """Where a batch's replies go, in request order (a connection's outbox)."""

    def push(self, reply: bytes) -> None: ...

    def push_pending(self, pending: Pending) -> None: ...

    def push_silent(self, pending: Pending) -> None:
        """A reply owed but not to be sent (CLIENT REPLY OFF/SKIP): it still orders what
        comes after it (`unfinished`), and its bytes are dropped."""
        ...

    def unfinished(self) -> Pending | None:
        """The newest pending reply not applied yet, if any."""
        ...

    async def make_room(self) -> None:
        """Send the replies that are ready and wait until the client has taken them."""
        ...


class Dispatcher:
    """Runs batches of requests for connections; one per server."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.table = state.table
        self.node = state.node
        self.machine = state.machine
        self.metrics = state.metrics
        self.rng = random.Random()

    def lookup(self, argv: list[bytes]) -> CommandSpec:
        """The (sub)command for argv, arity checked. Raises CommandError."""
        return self.table.lookup(argv)

    def _reject(self, client: ClientState, argv: list[bytes], error: CommandError) -> bytes:
        """A command refused before it runs (Redis's `rejectCommand`); returns the reply.

        A wrong arity counts as a rejected call of the command it names (an unknown command
        only as an error reply); inside MULTI the transaction is marked to fail; a refused
        EXEC discards the transaction (and the watches) at once, as `execCommandAbort` does.
        """
        message = error.message
        spec = self.table.find(argv)
        client.last_command = "NULL" if spec is None else spec.name  # CLIENT LIST's cmd=
        if spec is not None and spec.name == "exec":
            client.reset_multi()
            reason = message[4:] if message.startswith(b"ERR ") else message
            message = b"EXECABORT Transaction discarded because of: " + reason
        if client.in_multi:
            client.multi_dirty = True
        self.metrics.rejected(spec.name if spec is not None else None, message)
        return encode_error(message)

    def _refusal(self, spec: CommandSpec) -> CommandError | None:
        """Why a loading or removed node refuses this command, if it does."""
        if self.node.membership.removed and spec.name not in SERVED_WHEN_REMOVED:
            return REMOVED
        if self.node.loading and not spec.ok_loading:
            return LOADING  # refused like any rejected command (in MULTI, EXEC then fails)
        return None

    def _needs_auth(self, spec: CommandSpec) -> bool:
        """An unauthenticated client may run only AUTH, HELLO and the like (`no_auth`), and
        only while the default user needs a password (Redis's authRequired)."""
        return "no_auth" not in spec.flags and self.state.users().auth_required()

    def _acl_refusal(
        self, client: ClientState, user: User, spec: CommandSpec, argv: list[bytes]
    ) -> CommandError | None:
        """Why the client's user may not run argv (the command, a key, a channel), logged
        in ACL LOG; None if it may."""
        denial = user.check(self.state.users().catalog, spec, argv)
        if denial is None:
            return None
        reason = denial.reason
        obj = spec.name.encode() if reason == DENIED_CMD else argv[denial.position]
        log_denial(self.state, client, reason, obj)
        if reason == DENIED_CMD:
            return CommandError(
                f"NOPERM this user has no permissions to run the '{spec.name}' command"
            )
        what = "keys" if reason == DENIED_KEY else "channels"
        return CommandError(
            f"NOPERM this user has no permissions to access one of the {what} used as arguments"
        )

    def now_us(self) -> int:
        return time.time_ns() // 1000

    def _refused_for_memory(
        self, client: ClientState, spec: CommandSpec, argv: list[bytes]
    ) -> bool:
        """Over maxmemory: whether Redis's processCommand refuses this command with -OOM
        (a `denyoom` command, a script whose flags make it one, EXEC of a transaction
        holding one, and anything to queue inside MULTI)."""
        name = spec.name
        if client.in_multi:
            if name == "exec":
                return any(self._grows_memory(queued, args) for queued, args in client.queued)
            return name not in QUEUED_DESPITE_OOM
        return self._grows_memory(spec, argv)

    def _grows_memory(self, spec: CommandSpec, argv: list[bytes]) -> bool:
        """Whether the command counts as `denyoom` (Redis's getCommandFlags): a script or
        function with declared flags does unless they say `allow-oom` or `no-writes`; a
        script without a shebang does not (Redis then refuses its first memory-growing call
        inside, which Concord does not: see README, Limits)."""
        flags = self._declared_flags(spec, argv)
        if flags is None:
            return "denyoom" in spec.flags
        return not flags & (ALLOW_OOM | NO_WRITES)

    def _declared_flags(self, spec: CommandSpec, argv: list[bytes]) -> int | None:
        """The flags a script (its shebang) or a function declares, which stand for the
        command's own; None for other commands, and scripts that declare none."""
        name = spec.name
        if name in SCRIPT_COMMANDS:
            if name.startswith("evalsha"):
                body = self.machine.scripting.scripts.bodies.get(argv[1].lower())
            else:
                body = argv[1]
            return _script_flags(body) if body is not None else None
        if name in FUNCTION_COMMANDS:
            found = self.machine.scripting.functions.find(argv[1])
            return found[1].flags if found is not None else None
        return None

    async def run_batch(self, client: ClientState, commands: list[list[bytes]]) -> list[bytes]:
        """Execute a batch and wait for all of it; returns the encoded replies in order."""
        sink = CollectingSink()
        await self.dispatch(client, commands, sink)
        return await sink.replies()

    async def _read_point(self, client: ClientState, spec: CommandSpec) -> bytes | None:
        """Wait for a linearizable read point (unless the client reads locally: READONLY);
        the error reply if there is none in time."""
        if client.readonly:
            return None
        try:
            await self.node.reads.barrier()
        except ClusterError as error:
            self.metrics.failed(spec.name, error.message)
            return encode_error(error.message)
        return None

    async def _until_free(self) -> CommandError | None:
        """Wait while a script holds the state machine; past busy-reply-threshold of its
        run, the BUSY error Redis gives (None once it is free)."""
        applier = self.node.applier
        threshold = self.state.settings.busy_reply_threshold_ms / 1000
        while applier.busy:
            remaining = threshold - applier.busy_for()
            if remaining <= 0:
                return BUSY
            with trio.move_on_after(remaining):
                await applier.idle()
        return None

    def _read_only_script(self, spec: CommandSpec, argv: list[bytes]) -> CommandSpec | None:
        """EVAL or EVALSHA of a script whose shebang says `no-writes` and which this node has
        cached: the spec of its read-only form (EVAL_RO, EVALSHA_RO), to run it as a read.
        (One not cached yet goes through the log, which caches it, as Redis's EVAL does.)"""
        name = spec.name
        if name not in ("eval", "evalsha") or len(argv) < 3:
            return None
        bodies = self.machine.scripting.scripts.bodies
        if name == "eval":
            body = argv[1]
            if not body.startswith(b"#!") or sha1hex(body) not in bodies:
                return None
        else:
            found = bodies.get(argv[1].lower())
            if found is None or not found.startswith(b"#!"):
                return None
            body = found
        try:
            read_only = parse_shebang(body).read_only
        except CommandError:
            return None  # (the log route answers the error)
        return self.table.by_name(name.encode() + b"_ro") if read_only else None

    async def _lua_read(
        self,
        client: ClientState,
        spec: CommandSpec,
        argv: list[bytes],
        sink: ReplySink,
        read_point: bool,
        counted_as: CommandSpec | None = None,
    ) -> bytes:
        """A read that runs Lua (EVAL_RO & co, or a `no-writes` script sent with EVAL or
        EVALSHA: `counted_as`): after this client's writes and a read point, in the worker
        thread, holding the state machine (see `cluster.applier`)."""
        waiting = sink.unfinished()
        if waiting is not None:
            await waiting.wait()
        if not read_point and not self.node.reads.alone_and_current():
            failure = await self._read_point(client, spec)
            if failure is not None:
                return failure
        busy = await self._until_free()
        if busy is not None:
            return self._reject(client, argv, busy)
        started = perf_counter_ns()
        ctx = self.machine.read_context(client.db, self.now_us(), self.rng)
        user = client.user
        if user is not None and user.restricted:
            ctx.user = user  # its script's calls are checked against its rules
        handler = spec.handler
        assert handler is not None

        events = self.machine.keyspace.events
        misses: list[Message] | tuple[()] = ()

        def run() -> Reply:
            nonlocal misses
            try:
                return handler(ctx, argv)
            except CommandError as error:
                return ErrorReply(error.message)
            finally:  # taken while the machine is held: no entry may collect them
                misses = events.take()

        try:
            reply = await self.node.applier.exclusive(run)
        except Exception:
            return self.internal_error(spec, argv)
        if misses:  # the script's key misses (class m): this node's
            self.state.deliver_now(misses)
        if self.state.monitors.clients:  # its commands, as MONITOR's `lua` lines
            self.state.monitors.feed_script(self.machine.scripting.take_calls())
        metrics = self.metrics
        counted = counted_as or spec
        usec = (perf_counter_ns() - started) // 1000
        error = reply if type(reply) is ErrorReply else None
        if metrics.counted(metrics.command(counted.name), usec, error):
            self.state.note_slow(client, counted, argv, usec)
        return encode_reply(reply, client.proto)

    async def dispatch(
        self, client: ClientState, commands: list[list[bytes]], outbox: ReplySink
    ) -> None:
        """Execute a batch of requests in order, pushing their replies into `outbox`."""
        sink = outbox
        push = sink.push
        node = self.node
        state = self.state
        paused = state.pause
        applier = node.applier
        machine, metrics = self.machine, self.metrics
        read_point = False  # this batch has a linearizable read point already
        over_maxmemory = self.state.over_maxmemory  # (sampled; one decision per batch)
        unsent = 0  # bytes of replies pushed since the batch last made room (backpressure)
        if client.deferred_reads and sink.unfinished() is None:
            client.deferred_reads = 0  # (they have all been run)
        monitors = state.monitors.clients  # (one dict for the server's life)
        muted = False  # this command's replies are dropped (CLIENT REPLY OFF, SKIP)
        for argv in commands:
            special = client.special  # CLIENT REPLY, TRACKING or MONITOR on this connection
            if special or muted:
                sink = _reply_sink(client, outbox) if client.reply_mode else outbox
                muted = sink is not outbox
                push = sink.push
            try:
                spec = self.table.lookup(argv)
            except CommandError as error:
                push(self._reject(client, argv, error))
                continue
            client.last_command = spec.name
            if special and client.tracking is not None:
                Tracking.next_command(client, client.tracking, spec)
            if not client.authenticated and self._needs_auth(spec):
                push(self._reject(client, argv, NOAUTH))
                continue
            if client.in_multi and spec.no_multi:
                push(self._reject(client, argv, NO_MULTI))
                continue
            user = client.user
            if user is not None and user.restricted:
                refusal = self._acl_refusal(client, user, spec, argv)
                if refusal is not None:
                    push(self._reject(client, argv, refusal))
                    continue
            if over_maxmemory and self._refused_for_memory(client, spec, argv):
                push(self._reject(client, argv, OOM))
                continue
            if special and client.subscribed and client.proto == 2:
                if spec.name not in SUBSCRIBED_MODE:
                    push(self._reject(client, argv, subscribed_only(spec.name)))
                    continue
                if spec.name == "ping" and len(argv) <= 2:  # (RESP2 subscribers get a pair)
                    push(encode_reply([b"pong", argv[1] if len(argv) == 2 else b""], 2))
                    continue
            if applier.busy and not spec.allow_busy:
                busy = await self._until_free()
                if busy is not None:
                    push(self._reject(client, argv, busy))
                    continue
            if node.loading or node.membership.removed:
                refusal = self._refusal(spec)
                if refusal is not None:
                    push(self._reject(client, argv, refusal))
                    continue
            if special and client.monitor and _touches_keyspace(spec):
                push(self._reject(client, argv, REPLICA_KEYSPACE))
                continue
            if paused.kind and paused.holds(writes := self._may_replicate(client, spec, argv)):
                await self._held(client, writes)
                if client.closing:
                    break
            if client.in_multi and spec.name not in NOT_QUEUED:
                client.queued.append((spec, argv))
                push(QUEUED_REPLY)
                continue
            # Shown to this node's monitors: a write or script as it is sent, the others
            # once they ran (as Redis shows a command after it: SELECT's new database).
            monitored = "admin" not in spec.flags if monitors else False
            serve = spec.serve
            if serve == SERVE_READ_OR_BLOCK:  # XREAD: with BLOCK through the log, to wait
                serve = SERVE_WRITE if blocking_read(argv) else SERVE_READ
            if monitored and (serve == SERVE_WRITE or spec.runs_lua):
                self._feed_monitors(client, spec, argv)
            if serve == SERVE_WRITE and spec.runs_lua:
                read_form = self._read_only_script(spec, argv)
                if read_form is not None:  # a cached `no-writes` script: a read, on any node
                    ran = await self._lua_read(client, read_form, argv, sink, read_point, spec)
                    unsent = await self._pushed(sink, ran, unsent)
                    read_point = not client.readonly
                    if client.closing:
                        break
                    continue
            if serve == SERVE_WRITE:
                proposal = Proposal(OP_COMMAND, client.db, argv)
                if user is not None and user.restricted and spec.runs_lua:
                    proposal.user = user.name  # its script's calls are checked as its
                stats = metrics.command(spec.name)
                owed = WriteReply(proposal, stats, client, spec, self)
                sink.push_pending(owed)
                node.proposals.submit(proposal)
                client.last_write = proposal
                if special and client.tracking is not None and client.tracking.noloop:
                    state.tracking.note_write(client, proposal.seq)
                if spec.blocks:
                    # The client waits (BLPOP): nothing after it runs until it has its
                    # reply, as a blocked Redis client's next commands wait.
                    await self._wait_unblocked(client, proposal, owed)
                    if client.closing:
                        break
                continue
            if serve == SERVE_READ and spec.runs_lua:
                ran = await self._lua_read(client, spec, argv, sink, read_point)
                unsent = await self._pushed(sink, ran, unsent)
                read_point = not client.readonly
                if client.closing:
                    break
                continue
            if serve == SERVE_READ:
                after = client.last_write
                if after is not None and (waiting := sink.unfinished()) is not None:
                    if client.deferred_reads < MAX_DEFERRED:
                        # Behind this client's writes not applied yet: the node runs it in
                        # its turn, and the rest of the pipeline is submitted meanwhile.
                        client.deferred_reads += 1
                        if monitored:
                            self._feed_monitors(client, spec, argv)
                        read = ReadReply(self, spec, argv, client)
                        if special and client.tracking is not None and Tracking.wants(client, spec):
                            read.tracked = client  # (its keys remembered when it runs)
                        sink.push_pending(read)
                        node.defer_read(read.run, read.fail, after, client.readonly)
                        continue
                    # As many owed as it may have: let them run and be sent first.
                    await waiting.wait()
                    await sink.make_room()
                    client.deferred_reads = unsent = 0
                    if client.closing:
                        break
                # One read point serves the batch; a lone leader is its own (no wait).
                if not read_point and not node.reads.alone_and_current():
                    failure = await self._read_point(client, spec)
                    if failure is not None:
                        push(failure)
                        continue
                    if applier.busy and not spec.allow_busy:  # (a script took the machine)
                        busy = await self._until_free()
                        if busy is not None:
                            push(self._reject(client, argv, busy))
                            continue
                read_point = True
            if serve != SERVE_CONNECTION:
                # A pure command that writes nothing, run now on the applied state (written
                # out here: it is the path of every read).
                started = perf_counter_ns()
                ctx = machine.read_context(client.db, self.now_us(), self.rng)
                try:
                    reply = spec.handler(ctx, argv)  # type: ignore[misc]
                except CommandError as error:
                    reply = ErrorReply(error.message)
                except Exception:
                    push(self.internal_error(spec, argv))
                    if machine.keyspace.events.messages:  # (none left for the next entry)
                        self.state.deliver_now(machine.keyspace.events.take())
                    continue
                usec = (perf_counter_ns() - started) // 1000
                failed = reply if type(reply) is ErrorReply else None
                if metrics.counted(metrics.command(spec.name), usec, failed):
                    state.note_slow(client, spec, argv, usec)
                client.db = ctx.db_index
                if special and client.tracking is not None:
                    state.tracking.remember(client, spec, argv)
                if ctx.notifying and machine.keyspace.events.messages:  # its key misses
                    self.state.deliver_now(machine.keyspace.events.take())
                push(encoded := encode_reply(reply, client.proto))
                if monitored:
                    self._feed_monitors(client, spec, argv)
                if (unsent := unsent + len(encoded)) > OUTPUT_PAUSE_BYTES:  # backpressure
                    unsent = 0
                    await sink.make_room()
                    if client.closing:
                        break
                continue
            waiting = sink.unfinished()
            if waiting is not None:
                # Connection-level commands see this client's earlier writes applied.
                await waiting.wait()
            if spec.route is Route.LOCAL_READ and not read_point:
                failure = await self._read_point(client, spec)
                if failure is not None:
                    push(failure)
                    continue
                read_point = True
            if applier.busy and not spec.allow_busy:
                busy = await self._until_free()
                if busy is not None:
                    push(self._reject(client, argv, busy))
                    continue
            if monitored and spec.name == "exec":  # (before it: its queued commands)
                self._feed_monitors(client, spec, argv)
                monitored = False
            local_reply = await self._run_local(client, spec, argv, sink, read_point)
            if muted and client.reply_mode == REPLY_ON:
                sink = outbox  # (CLIENT REPLY ON: its own OK is sent)
                push = sink.push
                muted = False
            if local_reply is not None:
                sink.push(local_reply)
                unsent += len(local_reply)
            if monitored:  # (after its reply, as Redis: a monitor's own PING)
                self._feed_monitors(client, spec, argv)
            if unsent > OUTPUT_PAUSE_BYTES:
                unsent = 0
                await sink.make_room()
            if client.closing:
                break

    def _may_replicate(self, client: ClientState, spec: CommandSpec, argv: list[bytes]) -> bool:
        """What a WRITE pause holds (Redis's is_may_replicate_command): a command flagged
        `write` or `may_replicate`, EXEC of a transaction holding one; a script or function
        that declares its flags counts as writing unless they say `no-writes`."""
        if spec.name == "exec":
            return any(self._may_replicate(client, queued, args) for queued, args in client.queued)
        flags = self._declared_flags(spec, argv)
        if flags is not None:
            return not flags & NO_WRITES
        return spec.is_write or "may_replicate" in spec.flags

    async def _held(self, client: ClientState, writes: bool) -> None:
        """CLIENT PAUSE holds this command (`writes`: it writes or may replicate): wait (the
        client is not refused, and keeps being read), then go in the order the held clients
        came (`pause.ClientPause`): the command is sent before this task's next checkpoint,
        the next one's after it."""
        pause = self.state.pause
        ticket = pause.enter()
        client.paused = True
        try:
            if client.wait_watching is not None:
                # (reading the socket meanwhile; its turn is kept until the command is
                # sent, so the watching's own checkpoints let no one else go first)
                await client.wait_watching(lambda: pause.wait_turn(ticket, writes))
            else:
                await pause.wait_turn(ticket, writes)
        finally:
            pause.leave(ticket)  # the next held client goes after this one's command
            client.paused = False

    def _feed_monitors(self, client: ClientState, spec: CommandSpec, argv: list[bytes]) -> None:
        """Show the command to this node's monitors (a transaction's, at EXEC: each queued
        command, then EXEC; an aborted one only EXEC)."""
        monitors = self.state.monitors
        if spec.name == "exec" and client.in_multi and not client.multi_dirty:
            for queued, args in client.queued:
                if "admin" not in queued.flags:
                    monitors.feed(client, args)
        monitors.feed(client, argv)

    async def _pushed(self, sink: ReplySink, reply: bytes, unsent: int) -> int:
        """Push a reply off the read path (a script's, a connection-level command's) and,
        past the bound, make room (see OUTPUT_PAUSE_BYTES); the batch's unsent bytes now."""
        sink.push(reply)
        unsent += len(reply)
        if unsent <= OUTPUT_PAUSE_BYTES:
            return unsent
        await sink.make_room()
        return 0

    async def _wait_unblocked(
        self, client: ClientState, proposal: Proposal, reply: Pending
    ) -> None:
        """Wait for a blocking command's reply. A client that leaves meanwhile (or is
        killed, or the server stops) has its wait ended, so it swallows no element."""
        client.blocking = proposal
        try:
            if client.wait_watching is not None:
                await client.wait_watching(proposal.wait)
            else:
                await reply.wait()
        finally:
            client.blocking = None
            if not proposal.done:
                self.node.proposals.abandon(proposal)
                client.closing = True

    async def _run_local(
        self,
        client: ClientState,
        spec: CommandSpec,
        argv: list[bytes],
        sink: ReplySink,
        read_point: bool,
    ) -> bytes | None:
        """A connection-level command; its reply, or None if it went to `sink` (a write)."""
        handler = spec.local_handler
        assert handler is not None
        started = time.perf_counter_ns()
        try:
            if spec.route is Route.CLUSTER:
                result = await handler(self, client, argv)
            else:
                result = handler(self, client, argv)
            if isinstance(result, AtReadPoint):
                if not read_point:
                    failure = await self._read_point(client, spec)
                    if failure is not None:
                        return failure
                result = result.read()
        except (CommandError, ClusterError) as error:
            result = ErrorReply(error.message)
        except Exception:
            return self.internal_error(spec, argv)
        if isinstance(result, Submission):
            finish = self._counted(client, spec, argv, result)
            pending = SubmittedReply(result.proposal, finish, client.proto)
            sink.push_pending(pending)
            self.node.submit(result.proposal)
            client.last_write = result.proposal
            if result.barrier:
                # The transaction changes the connection (SELECT, HELLO, ...): the rest of
                # the batch must run after it.
                await pending.wait()
            return None
        usec = (time.perf_counter_ns() - started) // 1000
        failed = result if isinstance(result, ErrorReply) else None
        if self.metrics.called(spec.name, usec, failed):
            self.state.note_slow(client, spec, argv, usec)
        return encode_reply(result, client.proto)

    def _counted(
        self, client: ClientState, spec: CommandSpec, argv: list[bytes], submission: Submission
    ) -> Callable[[Proposal], Reply]:
        """The submission's finish, then the command counted (once it has run)."""
        finish = submission.finish

        def finish_and_count(proposal: Proposal) -> Reply:
            reply = finish(proposal)
            error = reply if isinstance(reply, ErrorReply) else None
            if self.metrics.called(spec.name, proposal.apply_us, error):
                self.state.note_slow(client, spec, argv, proposal.apply_us)
            return reply

        return finish_and_count

    def run_local_in_transaction(
        self, spec: CommandSpec, client: ClientState, argv: list[bytes]
    ) -> Reply:
        """A connection-level command queued in a transaction, run in its place by EXEC
        (often in the node's apply loop: whatever it raises must not reach the node)."""
        handler = spec.local_handler
        try:
            if handler is None:
                raise TypeError(f"{spec.name} has no connection-level handler")
            # (Commands that wait, CLUSTER routes, are `no_multi`: never queued.)
            result = handler(self, client, argv)
            if isinstance(result, Submission):
                # (CONFIG SET of a replicated parameter: a log entry of its own.)
                raise CommandError(
                    f"ERR {spec.name.replace('|', ' ').upper()} of these parameters is not "
                    "allowed inside a transaction"
                )
            if isinstance(result, AtReadPoint):
                # A transaction runs at its place in the log: the state is as of there.
                result = result.read()
        except CommandError as error:
            return ErrorReply(error.message)
        except Exception:
            log.exception("internal error running %s inside a transaction", spec.name)
            return ErrorReply(b"ERR internal error while running '%s'" % spec.name.encode())
        return result

    def internal_error(self, spec: CommandSpec, argv: list[bytes]) -> bytes:
        """A handler raised something unexpected (a bug): log it, answer an error."""
        log.exception("internal error running %s (%d arguments)", spec.name, len(argv))
        message = b"ERR internal error while running '%s'" % spec.name.encode()
        self.metrics.failed(spec.name, message)
        return encode_error(message)


def _reply_sink(client: ClientState, outbox: ReplySink) -> ReplySink:
    """Where this command's replies go under CLIENT REPLY OFF or SKIP (Redis drops every
    reply, errors included, but pushed messages), moving SKIP on by one command."""
    mode = client.reply_mode
    if mode == REPLY_SKIP:
        client.reply_mode = REPLY_ON  # (the skipped command was the one before)
        client.note_modes()
        return outbox
    if mode == REPLY_SKIP_NEXT:
        client.reply_mode = REPLY_SKIP
    return MutedSink(outbox)


def _touches_keyspace(spec: CommandSpec) -> bool:
    """What a MONITOR client (a replica to Redis) may not run."""
    flags = spec.flags
    return spec.is_write or "readonly" in flags or "may_replicate" in flags


def _script_flags(body: bytes) -> int | None:
    """A script's declared flags; None without a shebang (or with a malformed one: the
    script's own run answers that error)."""
    try:
        shebang = parse_shebang(body)
    except CommandError:
        return None
    return shebang.flags if shebang.present else None


class MutedSink:
    """A sink that drops replies (CLIENT REPLY OFF/SKIP) but keeps the order of the writes
    it was given (`ReplySink.push_silent`)."""

    __slots__ = ("inner",)

    def __init__(self, inner: ReplySink) -> None:
        self.inner = inner

    def push(self, reply: bytes) -> None:
        pass

    def push_pending(self, pending: Pending) -> None:
        self.inner.push_silent(pending)

    def push_silent(self, pending: Pending) -> None:
        self.inner.push_silent(pending)

    def unfinished(self) -> Pending | None:
        return self.inner.unfinished()

    async def make_room(self) -> None:
        await self.inner.make_room()


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

    def push_silent(self, pending: Pending) -> None:
        self.last = pending

    def unfinished(self) -> Pending | None:
        last = self.last
        return last if last is not None and not last.done else None

    async def make_room(self) -> None:
        await trio.lowlevel.checkpoint()

    async def replies(self) -> list[bytes]:
        if self.last is not None:
            await self.last.wait()
        return [item if type(item) is bytes else item.encoded for item in self.items]  # type: ignore[union-attr]
