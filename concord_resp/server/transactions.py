"""MULTI / EXEC / DISCARD / WATCH / UNWATCH with Redis semantics, built for a cluster.

Between MULTI and EXEC commands are queued (the dispatcher does that); a command refused while
queueing (unknown, wrong arity) marks the transaction dirty and EXEC answers EXECABORT.

WATCH records, per key, the `(version, alive)` pair the client observed (the key's last
modification index and whether it was live). EXEC sends those with the queued commands as one
log entry; the state machine compares them when the entry is applied and answers a null array
if any key changed, expired, or was deleted in between. The check therefore happens at the
one point every replica agrees on, whichever node the client is connected to.

A transaction that writes nothing runs locally at once (after this client's earlier writes);
connection-level commands inside a transaction (CLIENT SETNAME, CONFIG SET, ...) run locally
after the entry is applied, and only if it was not aborted.
"""

from __future__ import annotations

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


class TransactionReply:
    """EXEC's reply for a transaction that went through the log."""

    __slots__ = ("_encoded", "barrier", "client", "dispatcher", "layout", "proposal")

    def __init__(
        self,
        dispatcher: Dispatcher,
        client: ClientState,
        proposal: Proposal,
        layout: list[tuple[CommandSpec, list[bytes]] | None],
        barrier: bool,
    ) -> None:
        self.dispatcher = dispatcher
        self.client = client
        self.proposal = proposal
        self.layout = layout  # None: the next applied reply; else a local command to run
        self.barrier = barrier  # later commands must wait (the transaction SELECTs a db)
        self._encoded = b""

    async def wait(self) -> None:
        if self._encoded:
            return
        proposal = self.proposal
        await proposal.wait()
        self.client.db = proposal.db_after
        reply = proposal.reply
        if isinstance(reply, bytes):  # aborted by WATCH: the encoded null array
            self._encoded = reply
            return
        applied = iter(reply)
        parts = [
            next(applied) if local is None else _run_local(self.dispatcher, self.client, *local)
            for local in self.layout
        ]
        self._encoded = b"*%d\r\n" % len(parts) + b"".join(parts)

    @property
    def encoded(self) -> bytes:
        return self._encoded


dispatch.PENDING_TYPES = (*dispatch.PENDING_TYPES, TransactionReply)


def _run_local(d: Dispatcher, client: ClientState, spec: CommandSpec, argv: list[bytes]) -> bytes:
    handler = d.control[spec.name]
    try:
        result = handler(d, client, argv)
    except CommandError as error:
        spec.failed_calls += 1
        return encode_error(error.message)
    if isinstance(result, dispatch.PENDING_TYPES):  # pragma: no cover - never queued
        return encode_error("ERR command not allowed inside a transaction")
    return encode_reply(result, client.proto)


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
    for spec, _ in queued:
        spec.calls += 1
    if any(spec.is_write for spec, _ in queued):
        pure = [cmd_argv for spec, cmd_argv in queued if spec.handler is not None]
        layout = [None if spec.handler is not None else (spec, a) for spec, a in queued]
        proposal = Proposal(OP_MULTI, client.db, pure, client.proto, watches)
        d.node.submit(proposal)
        barrier = any(spec.name == "select" for spec, _ in queued)
        return TransactionReply(d, client, proposal, layout, barrier)
    return _exec_locally(d, client, queued, watches)


def _exec_locally(
    d: Dispatcher,
    client: ClientState,
    queued: list[tuple[CommandSpec, list[bytes]]],
    watches: list[Watch],
) -> object:
    """A transaction that writes nothing: check the watches and run it here and now."""
    machine = d.machine
    ctx = machine.read_context(client.db, d.now_us(), d.rng)
    dbs = machine.keyspace.dbs
    for db, key, version, alive in watches:
        if dbs[db].watch_state(key, ctx.now) != (version, alive):
            return NULL_ARRAY
    parts: list[bytes] = []
    for spec, cmd_argv in queued:
        if spec.handler is not None:
            parts.append(encode_reply(machine.run(ctx, cmd_argv), client.proto))
            client.db = ctx.db_index
        else:
            parts.append(_run_local(d, client, spec, cmd_argv))
    return dispatch.Encoded(b"*%d\r\n" % len(parts) + b"".join(parts))
