"""Replies owed to a client that are not known yet: a write's, a read queued behind writes.

The dispatcher puts one of these in the connection's outbox where the reply belongs:

- `WriteReply`: the node completes the proposal (`Proposal.finish`, in its apply loop) with
  the reply *value*; it is encoded for the client's protocol and the command counted (a
  command is counted once it has run).
- `SubmittedReply`: the same for a connection-level handler's write (EXEC), whose reply the
  handler builds from the applied value.
- `ReadReply`: a read that came behind this client's own writes not applied yet. It does not
  hold up the pipeline: the node runs it (`cluster.reads.DeferredRead`) once those writes are
  applied and a read point is reached, and before any write sent after it is applied.

Each then tells the outbox, which sends every reply that is ready, in order. Nothing here may
raise into the node's apply loop: a failure to build a reply is logged and answered as an
internal error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, cast

import trio

from ..cluster import Proposal
from ..commands import CommandError, CommandSpec
from ..metrics import CommandStats
from ..resp import OK, ErrorReply, Reply, encode_error, encode_reply

if TYPE_CHECKING:
    from .client import ClientState
    from .dispatch import Dispatcher

log = logging.getLogger("concord.server")

INTERNAL_ERROR: Final = b"-ERR internal error\r\n"
OK_REPLY: Final = b"+OK\r\n"  # the same in RESP2 and RESP3


class Pending:
    """A reply that is not known yet; `done` once it is, then `encoded` is its bytes."""

    __slots__ = ("_encoded", "_event", "done", "on_ready")

    def __init__(self) -> None:
        self.done = False
        self._encoded = b""
        # Called with the reply's size once it is ready (the outbox sets it, and then sends
        # the reply: at once if it is big, with the others after the run of applies otherwise).
        self.on_ready: Callable[[int], None] | None = None
        self._event: trio.Event | None = None

    @property
    def encoded(self) -> bytes:
        assert self.done, "a reply read before it was known"
        return self._encoded

    async def wait(self) -> None:
        if not self.done:
            if self._event is None:
                self._event = trio.Event()
            await self._event.wait()

    def _finish(self, encoded: bytes) -> None:
        self._encoded = encoded
        self.done = True
        if self._event is not None:
            self._event.set()
        callback, self.on_ready = self.on_ready, None
        if callback is not None:
            callback(len(encoded))


class _ProposalReply(Pending):
    """The reply to a proposal, once applied."""

    __slots__ = ("proposal",)

    def __init__(self, proposal: Proposal) -> None:
        super().__init__()
        self.proposal = proposal
        proposal.on_done = self._applied

    def _applied(self) -> None:
        try:
            encoded = self.complete(self.proposal)
        except Exception:
            log.exception("internal error completing a reply")
            encoded = INTERNAL_ERROR
        self._finish(encoded)

    def complete(self, proposal: Proposal) -> bytes:
        raise NotImplementedError


class WriteReply(Pending):
    """The reply to one write command (every write makes one: kept flat and small)."""

    __slots__ = ("client", "dispatcher", "proposal", "proto", "spec", "stats")

    def __init__(
        self,
        proposal: Proposal,
        stats: CommandStats,
        client: ClientState,
        spec: CommandSpec,
        dispatcher: Dispatcher,
    ) -> None:
        super().__init__()
        self.proposal = proposal
        self.stats = stats  # the command's counters (INFO commandstats)
        self.proto = client.proto  # as when sent: a HELLO after it does not change its reply
        self.client = client  # (for SLOWLOG)
        self.spec = spec
        self.dispatcher = dispatcher
        proposal.on_done = self._applied

    def _applied(self) -> None:
        proposal = self.proposal
        reply = proposal.reply
        try:
            error = reply if type(reply) is ErrorReply else None
            usec = proposal.apply_us
            if self.dispatcher.metrics.counted(self.stats, usec, error):
                argv = cast(list[bytes], proposal.body)  # (an OP_COMMAND's body)
                self.dispatcher.state.note_slow(self.client, self.spec, argv, usec)
            encoded = OK_REPLY if reply is OK else encode_reply(reply, self.proto)
        except Exception:
            log.exception("internal error completing a write's reply")
            encoded = INTERNAL_ERROR
        self._finish(encoded)


class SubmittedReply(_ProposalReply):
    """The reply a connection-level handler builds from its applied entry (EXEC)."""

    __slots__ = ("finish", "proto")

    def __init__(self, proposal: Proposal, finish: Callable[[Proposal], Reply], proto: int) -> None:
        super().__init__(proposal)
        self.finish = finish
        self.proto = proto

    def complete(self, proposal: Proposal) -> bytes:
        return encode_reply(self.finish(proposal), self.proto)


class ReadReply(Pending):
    """A pure read run by the node when its turn comes (see the module docstring)."""

    __slots__ = ("argv", "cancelled", "client", "db", "dispatcher", "proto", "spec", "tracked")

    def __init__(
        self, dispatcher: Dispatcher, spec: CommandSpec, argv: list[bytes], client: ClientState
    ) -> None:
        super().__init__()
        self.dispatcher = dispatcher
        self.spec = spec
        self.argv = argv
        self.client = client  # (for SLOWLOG)
        self.db = client.db  # as when sent: a SELECT after it does not change what it reads
        self.proto = client.proto
        self.cancelled = False  # its client is gone: nobody will read the reply
        self.tracked: ClientState | None = None  # a tracking client: remember its keys

    def run(self) -> None:
        """Run the read on the state as it is now (the node calls this at the read's turn)."""
        if self.cancelled:
            self._finish(b"")
            return
        d, spec = self.dispatcher, self.spec
        started = time.perf_counter_ns()
        ctx = d.machine.read_context(self.db, d.now_us(), d.rng)
        try:
            reply = spec.handler(ctx, self.argv)  # type: ignore[misc]
        except CommandError as refusal:
            reply = ErrorReply(refusal.message)
        except Exception:
            self._finish(d.internal_error(spec, self.argv))
            return
        finally:
            events = d.machine.keyspace.events
            if events.messages:  # its key misses (class m): this node's, not the next entry's
                d.state.deliver_now(events.take())
        tracked = self.tracked
        if tracked is not None and tracked.tracking is not None:
            d.state.tracking.remember_keys(tracked, spec, self.argv)
        failed = reply if isinstance(reply, ErrorReply) else None
        usec = (time.perf_counter_ns() - started) // 1000
        if d.metrics.called(spec.name, usec, failed):
            d.state.note_slow(self.client, spec, self.argv, usec)
        try:
            encoded = encode_reply(reply, self.proto)
        except Exception:
            log.exception("internal error encoding the reply of %s", spec.name)
            encoded = INTERNAL_ERROR
        self._finish(encoded)

    def fail(self, message: bytes) -> None:
        """No read point in time: the error reply (TIMEOUT, CLUSTERDOWN)."""
        self.dispatcher.metrics.failed(self.spec.name, message)
        self._finish(encode_error(message))
