"""MULTI / EXEC / DISCARD / WATCH / UNWATCH with Redis 7 semantics, built for a cluster.

Between MULTI and EXEC commands are queued (the dispatcher does that); a command refused while
queueing (unknown, wrong arity) marks the transaction dirty and EXEC answers EXECABORT. A
command that fails when EXEC runs it does not stop the others. A nested MULTI and a WATCH inside
MULTI are errors that leave the transaction intact.

WATCH records, per key, the `(version, alive)` pair the client observed (the key's last
modification index and whether it was live). EXEC sends those with the queued commands as one
log entry; the state machine compares them when the entry is applied and answers a null array
if any key changed, expired, or was deleted in between. The check therefore happens at the
one point every replica agrees on, whichever node the client is connected to. A key already
expired when watched that is then deleted by expiry keeps its version, so it does not abort
(Redis 7).

A transaction that writes nothing runs locally at once (after this client's earlier writes);
connection-level commands inside a transaction (CLIENT SETNAME, CONFIG SET, ...) run locally
after the entry is applied, in their place in the reply, and only if it was not aborted.
Commands count in INFO (calls, failures, total_commands_processed) only if they ran.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from ..cluster import Proposal
from ..commands import OP_MULTI, CommandError, CommandSpec, Watch
from ..resp import NULL_ARRAY, OK, encode_error, encode_reply
from . import dispatch
from .client import ClientState
from .control import control

if TYPE_CHECKING:
    from .dispatch import Dispatcher

EXECABORT: Final = "EXECABORT Transaction discarded because of previous errors."

Queued = list[tuple[CommandSpec, list[bytes]]]


class TransactionReply:
    """EXEC's reply for a transaction that went through the log."""

    __slots__ = ("_encoded", "barrier", "client", "dispatcher", "proposal", "queued")

    def __init__(
        self,
        dispatcher: Dispatcher,
        client: ClientState,
        proposal: Proposal,
        queued: Queued,
        barrier: bool,
    ) -> None:
        self.dispatcher = dispatcher
        self.client = client
        self.proposal = proposal
        self.queued = queued
        # Later commands of the batch must wait: the transaction changes the connection
        # (SELECT, or a connection-level command such as HELLO or CLIENT SETNAME).
        self.barrier = barrier
        self._encoded = b""

    @property
    def encoded(self) -> bytes:
        """The EXEC reply, once the entry is applied; the first call runs the local commands."""
        if self._encoded:
            return self._encoded
        proposal = self.proposal
        assert proposal.done, "EXEC reply read before the transaction was applied"
        self.client.db = proposal.db_after
        reply = proposal.reply
        if isinstance(reply, bytes):  # aborted by WATCH: the encoded null array
            self._encoded = reply
        else:
            self._encoded = _finish(self.dispatcher, self.client, self.queued, iter(reply))
        return self._encoded


dispatch.PENDING_TYPES = (*dispatch.PENDING_TYPES, TransactionReply)


def _is_local(d: Dispatcher, spec: CommandSpec) -> bool:
    """Connection-level commands run on this node, not in the state machine."""
    return spec.name in d.control


def _run_local(d: Dispatcher, client: ClientState, spec: CommandSpec, argv: list[bytes]) -> bytes:
    try:
        result = d.control[spec.name](d, client, argv)
        if inspect.iscoroutine(result) or isinstance(result, dispatch.PENDING_TYPES):
            # Commands that wait (SAVE, RAFT.*) are `no_multi`, refused when queued; one
            # that is not answers an internal error here rather than take the node down.
            if inspect.iscoroutine(result):
                result.close()
            raise TypeError(f"{spec.name} cannot be answered inside a transaction")
    except CommandError as error:
        return encode_error(error.message)
    except Exception:
        # Often run from the node's apply loop (the EXEC reply is completed there): a bug in
        # one command must not take the node down.
        return d.internal_error(spec, argv)
    if type(result) is dispatch.Encoded:
        return bytes(result)
    return encode_reply(result, client.proto)


def _finish(d: Dispatcher, client: ClientState, queued: Queued, applied: Iterator[bytes]) -> bytes:
    """EXEC's array: applied replies in order, local commands run in their place; counts."""
    state = d.state
    parts: list[bytes] = []
    for spec, argv in queued:
        # Counted before running, as the dispatcher counts commands outside transactions.
        spec.calls += 1
        state.commands_processed += 1
        if _is_local(d, spec):
            client.in_exec = True
            try:
                part = _run_local(d, client, spec, argv)
            finally:
                client.in_exec = False
        else:
            part = next(applied)
        if part[:1] == b"-":
            spec.failed_calls += 1
            state.errors.record(part)
        parts.append(part)
    return b"*%d\r\n" % len(parts) + b"".join(parts)


@control("multi")
def multi(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    if client.in_multi:
        raise CommandError("ERR MULTI calls can not be nested")
    client.in_multi = True
    client.multi_dirty = False
    client.queued = []
    return OK


@control("discard")
def discard(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    if not client.in_multi:
        raise CommandError("ERR DISCARD without MULTI")
    client.reset_multi()
    return OK


@control("watch")
def watch(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    if client.in_multi:
        raise CommandError("ERR WATCH inside MULTI is not allowed")
    now = d.machine.read_context(client.db, d.now_us(), d.rng).now
    db = d.machine.keyspace.dbs[client.db]
    for key in argv[1:]:
        slot = (client.db, key)
        if slot not in client.watches:
            version, alive = db.watch_state(key, now)
            client.watches[slot] = (client.db, key, version, alive)
    return OK


@control("unwatch")
def unwatch(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    client.watches = {}
    return OK


@control("exec")
def exec_(d: Dispatcher, client: ClientState, argv: list[bytes]) -> object:
    if not client.in_multi:
        raise CommandError("ERR EXEC without MULTI")
    queued = client.queued
    dirty = client.multi_dirty
    watches: list[Watch] = list(client.watches.values())
    client.reset_multi()
    if dirty:
        raise CommandError(EXECABORT)
    if not any(spec.is_write for spec, _ in queued):
        return _exec_locally(d, client, queued, watches)
    local = [_is_local(d, spec) for spec, _ in queued]
    logged = [
        cmd_argv for (_, cmd_argv), is_local in zip(queued, local, strict=True) if not is_local
    ]
    proposal = Proposal(OP_MULTI, client.db, logged, client.proto, watches)
    barrier = any(local) or any(spec.name == "select" for spec, _ in queued)
    return TransactionReply(d, client, proposal, queued, barrier)


def _exec_locally(
    d: Dispatcher, client: ClientState, queued: Queued, watches: list[Watch]
) -> object:
    """A transaction that writes nothing: check the watches and run it here and now."""
    machine = d.machine
    ctx = machine.read_context(client.db, d.now_us(), d.rng)
    dbs = machine.keyspace.dbs
    for db, key, version, alive in watches:
        if dbs[db].watch_state(key, ctx.now) != (version, alive):
            return NULL_ARRAY

    def applied() -> Iterator[bytes]:
        # Pure commands run in order against one context (one time, SELECT carries over).
        for spec, cmd_argv in queued:
            if not _is_local(d, spec):
                reply = encode_reply(machine.run(ctx, cmd_argv), client.proto)
                client.db = ctx.db_index
                yield reply

    return dispatch.Encoded(_finish(d, client, queued, applied()))
