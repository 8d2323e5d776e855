"""MULTI / EXEC / DISCARD / WATCH / UNWATCH with Redis 7 semantics, built for a cluster.

Between MULTI and EXEC commands are queued (the dispatcher does that); a command refused while
queueing (unknown, wrong arity, `no_multi`) marks the transaction dirty and EXEC answers
EXECABORT. A command that fails when EXEC runs it does not stop the others. A nested MULTI and
a WATCH inside MULTI are errors that leave the transaction intact.

WATCH records, per key, the `(version, alive)` pair the client observed (the key's last
modification index and whether it was live), at a read point. EXEC of a transaction that
writes sends those with the queued commands as one log entry, with no read point first: the
state machine compares them when the entry is applied and answers a null array if any key
changed, expired, or was deleted in between, at the one point every replica agrees on,
whichever node the client is connected to. A key already expired when watched that is then
deleted by expiry keeps its version, so it does not abort (Redis 7).

A transaction that writes nothing runs here at a read point; connection-level commands inside
a transaction (CLIENT SETNAME, CONFIG SET, ...) run here after the entry is applied, in their
place in the reply, and only if it was not aborted. Each reply is encoded as its command runs,
so the parts after a HELLO inside the transaction use the new protocol, as in Redis. Commands
count in INFO (calls, failures, total_commands_processed) only if they ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from ...cluster import Proposal
from ...commands import CommandError, CommandSpec, Route
from ...resp import NULL_ARRAY, OK, ErrorReply, Raw, Reply, encode_reply
from ...security import DENIED_CHANNEL, DENIED_CMD, DENIED_KEY
from ...security.log import MULTI
from ...state import OP_MULTI, Watch
from ..client import ClientState
from .base import AtReadPoint, Submission, handler
from .security import log_denial

if TYPE_CHECKING:
    from ..dispatch import Dispatcher

EXECABORT: Final = "EXECABORT Transaction discarded because of previous errors."

Queued = list[tuple[CommandSpec, list[bytes]]]


@handler("multi")
def multi(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    if client.in_multi:
        raise CommandError("ERR MULTI calls can not be nested")
    client.in_multi = True
    client.multi_dirty = False
    client.queued = []
    return OK


@handler("discard")
def discard(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    if not client.in_multi:
        raise CommandError("ERR DISCARD without MULTI")
    client.reset_multi()
    return OK


@handler("watch", route=Route.LOCAL_READ)
def watch(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
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


@handler("unwatch")
def unwatch(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    client.watches = {}
    return OK


@handler("exec", route=Route.LOG)
def exec_(
    d: Dispatcher, client: ClientState, argv: list[bytes]
) -> Reply | Submission | AtReadPoint:
    if not client.in_multi:
        raise CommandError("ERR EXEC without MULTI")
    queued = client.queued
    dirty = client.multi_dirty
    watches: list[Watch] = list(client.watches.values())
    client.reset_multi()
    if dirty:
        raise CommandError(EXECABORT)
    denied = _denied_now(d, client, queued)
    runnable = [command for i, command in enumerate(queued) if i not in denied]
    # Through the log if any command is (EVAL may write without Redis's `write` flag), or
    # runs Lua (it runs off the event loop, as logged scripts do).
    if not any(spec.route is Route.LOG or spec.runs_lua for spec, _ in runnable):
        return AtReadPoint(lambda: _exec_locally(d, client, queued, watches, denied))
    local = [spec.handler is None for spec, _ in runnable]
    logged = [cmd for (_, cmd), is_local in zip(runnable, local, strict=True) if not is_local]
    proposal = Proposal(OP_MULTI, client.db, logged, watches)
    user = client.user
    if user is not None and user.restricted and any(spec.runs_lua for spec, _ in runnable):
        proposal.user = user.name  # its scripts' calls are checked as its
    barrier = any(local) or any(spec.name == "select" for spec, _ in queued)

    def finish(applied: Proposal) -> Reply:
        client.db = applied.db_after
        reply = applied.reply
        if not isinstance(reply, list):  # aborted by WATCH (a null array), or failed
            return reply
        return _finish(d, client, queued, iter(reply), denied)

    return Submission(proposal, finish, barrier)


_DENIED_REASONS: Final = {
    DENIED_CMD: "no permission to execute the command or subcommand",
    DENIED_KEY: "no permission to touch the specified keys",
    DENIED_CHANNEL: "no permission to access one of the channels used as arguments",
}


def _denied_now(d: Dispatcher, client: ClientState, queued: Queued) -> dict[int, ErrorReply]:
    """The queued commands the client's user may no longer run (its rules changed since
    they were queued), by position, with Redis's error; each is logged in ACL LOG."""
    user = client.user
    if user is None or not user.restricted:
        return {}
    catalog = d.state.users().catalog
    denied: dict[int, ErrorReply] = {}
    for i, (spec, argv) in enumerate(queued):
        denial = user.check(catalog, spec, argv)
        if denial is None:
            continue
        obj = spec.name.encode() if denial.reason == DENIED_CMD else argv[denial.position]
        log_denial(d.state, client, denial.reason, obj, context=MULTI)
        denied[i] = ErrorReply(
            b"NOPERM ACLs rules changed between the moment the transaction was accumulated"
            b" and the EXEC call. This command is no longer allowed for the following reason: "
            + _DENIED_REASONS[denial.reason].encode()
        )
    return denied


def _exec_locally(
    d: Dispatcher,
    client: ClientState,
    queued: Queued,
    watches: list[Watch],
    denied: dict[int, ErrorReply],
) -> Reply:
    """A transaction that writes nothing: check the watches and run it here and now."""
    machine = d.machine
    ctx = machine.read_context(client.db, d.now_us(), d.rng)
    dbs = machine.keyspace.dbs
    for db, key, version, alive in watches:
        if dbs[db].watch_state(key, ctx.now) != (version, alive):
            return NULL_ARRAY

    def applied() -> Iterator[Reply]:
        # Pure commands run in order against one context (one time, SELECT carries over).
        for i, (spec, cmd_argv) in enumerate(queued):
            if spec.handler is not None and i not in denied:
                reply = machine.run(ctx, cmd_argv)
                client.db = ctx.db_index
                yield reply

    try:
        return _finish(d, client, queued, applied(), denied)
    finally:
        if machine.keyspace.events.messages:  # its key misses (class m): this node's
            d.state.deliver_now(machine.keyspace.events.take())


def _finish(
    d: Dispatcher,
    client: ClientState,
    queued: Queued,
    applied: Iterator[Reply],
    denied: dict[int, ErrorReply],
) -> Raw:
    """EXEC's array: applied replies in order, local commands run in their place, each
    encoded as it comes and counted once it has run; a command the client's user may no
    longer run gets its error in its place."""
    metrics = d.state.metrics
    parts: list[bytes] = []
    for i, (spec, argv) in enumerate(queued):
        refused = denied.get(i)
        if refused is not None:
            parts.append(encode_reply(refused, client.proto))
            continue
        if spec.handler is None:
            client.in_exec = True
            try:
                reply = d.run_local_in_transaction(spec, client, argv)
            finally:
                client.in_exec = False
        else:
            reply = next(applied)
            if client.tracking is not None:  # a read inside: its keys may be cached
                d.state.tracking.remember(client, spec, argv)
        # (Each command's own time inside the entry is not measured: 0, the whole in EXEC's.)
        if metrics.called(spec.name, 0, reply if isinstance(reply, ErrorReply) else None):
            d.state.note_slow(client, spec, argv, 0)  # (a threshold of 0: every command)
        parts.append(encode_reply(reply, client.proto))
    return Raw(b"*%d\r\n" % len(parts) + b"".join(parts))
