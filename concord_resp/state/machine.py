"""The replicated state machine: applies committed log entries to the keyspace and sections.

`apply(index, op)` depends only on the entry and its index, never on the local clock, the node
or the hash seed, so every replica ends in the same state: time is the entry's leader
timestamp (never taken to go backwards), randomness a PRNG seeded by the entry index, and
every collection of replicated state is ordered (dicts, never sets). It returns an `Applied`:
the completions for client sessions (any node's: the node holding each client's connection
delivers its reply) and the entry's effects (the keys it touched). A retried write is applied
once (`Sessions`, Raft thesis 6.3). WATCH is checked here, at apply time, against the versions
the client observed, which makes it work unchanged when the client's node is not the leader.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from ..commands import CommandError, CommandSpec, CommandTable, Context, Stats
from ..commands.blocking import UNBLOCKED, serve, timed_out_reply
from ..commands.context import Rng
from ..commands.waits import WAITS_FOR_STREAM, Block
from ..resp import NULL_ARRAY, OK, ErrorReply, Reply
from ..scripting import Scripting
from ..security import Catalog, RuleError, Users
from ..store import Keyspace
from ..store.events import Message
from .blocked import BLOCK_AGAIN, BLOCKED, Blocked, Waiter
from .entries import (
    REQUIREPASS,
    UNBLOCK_CLIENT_ERROR,
    UNBLOCK_CLIENT_TIMEOUT,
    UNBLOCK_NODE_GONE,
    UNBLOCK_TIMEOUT,
    USERS_BOOTSTRAP,
    USERS_LOAD,
    Command,
    Configure,
    Expiry,
    Op,
    Session,
    SetUsers,
    Transaction,
    Unblock,
    Watch,
)
from .members import Members
from .sections import Section
from .sessions import SESSION_SWEEP_US, Sessions

log = logging.getLogger("concord.machine")

_NO_COMPLETIONS: list[Completion] = []  # what most entries answer (never appended to)


@dataclass(slots=True)
class Completion:
    """The reply to one client's write, for the node whose session proposed it."""

    session: Session
    reply: Reply
    db_after: int  # the database selected after it (a transaction may SELECT)


@dataclass(slots=True)
class Applied:
    """What applying one entry did: its reply, for the session that proposed it (`session`,
    None for an entry with no session, such as an expiry); the completions of other client
    sessions the entry answered (none yet: a blocked pop served by a push will be one); and
    the keys it touched as (database, key), or (database, None) for a whole database; and
    the messages it published (PUBLISH, keyspace notifications: `store.events`), in order,
    for every node to deliver to its own subscribers."""

    index: int
    reply: Reply
    db_after: int
    session: Session | None = None
    touched: list[tuple[int, bytes | None]] | tuple[()] = ()
    completions: tuple[Completion, ...] = ()
    messages: list[Message] | tuple[()] = ()


class _SeededRng:
    """A `random.Random` seeded by the entry index, created only if a command draws."""

    __slots__ = ("_rng", "_seed")

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng: random.Random | None = None

    def reseed(self, seed: int) -> None:
        """For the next entry (the machine keeps one and reseeds it per entry)."""
        self._seed = seed
        self._rng = None

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if self._rng is None:
            self._rng = random.Random(self._seed)
        if stop is None:
            return self._rng.randrange(start)
        return self._rng.randrange(start, stop, step)


class StateMachine:
    """Keyspace and sections, plus the rules for applying entries. Pure and deterministic."""

    def __init__(self, table: CommandTable) -> None:
        self.table = table
        self.keyspace = Keyspace()
        self.stats = Stats()
        self.applied_index = 0
        self.last_time_us = 0  # the newest leader timestamp applied
        self._rng = _SeededRng(0)  # an entry's: reseeded with its index
        self.sessions = Sessions()
        self.members = Members()
        self.blocked = Blocked()
        self.scripting = Scripting(table)
        self.users = Users(Catalog(table))
        self.sections: tuple[Section, ...] = (
            self.sessions,
            self.members,
            self.blocked,
            self.scripting.scripts,
            self.scripting.functions,
            self.users,
        )

    def reset(self) -> None:
        """Back to the empty state of index 0 (before a snapshot is restored)."""
        self.keyspace = Keyspace()
        self.applied_index = 0
        self.last_time_us = 0
        for section in self.sections:
            section.reset()

    def adopt(self, other: StateMachine) -> None:
        """Take over `other`'s replicated state (a snapshot restored beside this machine,
        off the event loop); counters such as INFO's stay this machine's."""
        self.keyspace = other.keyspace
        self.applied_index = other.applied_index
        self.last_time_us = other.last_time_us
        for mine, theirs in zip(self.sections, other.sections, strict=True):
            mine.adopt(theirs)

    # -- applying log entries ----------------------------------------------------------

    def apply(self, index: int, op: Op) -> Applied:
        """Apply one committed entry. (The hot path of every write: kept free of calls and
        allocations it does not need.)"""
        if index <= self.applied_index:
            raise AssertionError(f"entry {index} applied twice (applied {self.applied_index})")
        self.applied_index = index
        time_us = op.time_us
        if time_us > self.last_time_us:
            self.last_time_us = time_us
        else:
            time_us = self.last_time_us  # time never goes backwards in the state machine
        sessions = self.sessions
        if time_us - sessions.sweep_us >= SESSION_SWEEP_US:
            sessions.sweep(time_us)
        session = op.session
        if session is not None:
            first = sessions.first_reply(session, time_us)
            if first is not None:  # a retry: answered as the first time, applied once
                return Applied(index, first[0], first[1], session)
            if self.blocked.waiters and (session.id, session.seq) in self.blocked.waiters:
                return Applied(index, BLOCKED, op.db, session)  # a retry of a blocked command
        db_after = op.db
        rng = self._rng
        rng.reseed(index)
        keyspace = self.keyspace
        ctx = Context(
            keyspace, db_after, time_us, index, rng, self.stats, self.scripting, self.users
        )
        ctx.logged = True
        completions: list[Completion] = _NO_COMPLETIONS  # (a list of its own once one is made)
        if (type(op) is Command or type(op) is Transaction) and op.user is not None:
            ctx.user = self.users.script_user(op.user)
        if type(op) is Command:
            reply = self.run(ctx, op.argv)
            if type(reply) is Block:
                reply = self._block(ctx, op, reply)
        elif type(op) is Transaction:
            reply = self._transaction(ctx, op.commands, op.watches)
            db_after = ctx.db_index
        elif type(op) is Configure:
            reply = self._configure(op)
        elif type(op) is Unblock:
            completions = []
            reply = self._unblock(ctx, op, completions)
        elif type(op) is SetUsers:
            reply = self._set_users(op)
        else:
            reply = self._expiry(ctx, op)  # type: ignore[arg-type]
        touched = keyspace.take_touched()
        if touched and self.blocked.by_key:
            if completions is _NO_COMPLETIONS:
                completions = []
            touched = self._serve_waiters(index, time_us, touched, completions)
        if session is not None and reply is not BLOCKED:
            sessions.record(session, reply, db_after)
        if keyspace.events.messages:
            messages = keyspace.events.take()
            return Applied(index, reply, db_after, session, touched, tuple(completions), messages)
        if completions:
            return Applied(index, reply, db_after, session, touched, tuple(completions))
        return Applied(index, reply, db_after, session, touched)

    def apply_member_change(self, index: int, name: str, address: str | None) -> None:
        """A committed membership change: `name` joins (or moves) at `address`, or leaves
        (`address` None)."""
        self._advance(index)
        self.members.change(name, address)

    def apply_noop(self, index: int) -> None:
        """An entry with no command (a new leader's no-op) still advances the index."""
        self._advance(index)

    def _advance(self, index: int) -> None:
        if index <= self.applied_index:
            raise AssertionError(f"entry {index} applied twice (applied {self.applied_index})")
        self.applied_index = index

    def _transaction(
        self, ctx: Context, commands: list[list[bytes]], watches: list[Watch]
    ) -> Reply:
        now = ctx.now
        dbs = self.keyspace.dbs
        for db, key, version, alive in watches:
            if dbs[db].watch_state(key, now) != (version, alive):
                return NULL_ARRAY
        ctx.deny_blocking = True  # a blocking command in MULTI answers as a timeout
        return [self.run(ctx, argv) for argv in commands]

    # -- blocked clients ---------------------------------------------------------------

    def _block(self, ctx: Context, op: Command, block: Block) -> Reply:
        """Register the client of a blocking command that found nothing as a waiter."""
        session = op.session
        if session is None:  # (only clients block, and every client write has a session)
            return timed_out_reply(op.argv)
        deadline = ctx.now + block.timeout_ms if block.timeout_ms else 0
        self.blocked.add(
            Waiter(
                session.id,
                session.seq,
                op.db,
                block.keys,
                deadline,
                op.argv if block.argv is None else block.argv,
                block.waits_for,
            )
        )
        return BLOCKED

    def _unblock(self, ctx: Context, op: Unblock, completions: list[Completion]) -> Reply:
        """End the waits an Unblock entry names (those still waiting); the reply is how many
        ended. A timeout is checked against the entry's time, so it is decided alike on
        every replica whatever clock proposed it."""
        blocked, sessions = self.blocked, self.sessions
        ended = 0
        for waiter_id in op.waiters:
            waiter = blocked.waiters.get(waiter_id)
            if waiter is None:
                continue
            if op.reason == UNBLOCK_TIMEOUT and not 0 < waiter.deadline_ms <= ctx.now:
                continue
            blocked.remove(waiter)
            ended += 1
            if op.reason in (UNBLOCK_TIMEOUT, UNBLOCK_CLIENT_TIMEOUT):
                reply: Reply = timed_out_reply(waiter.argv)
            elif op.reason == UNBLOCK_CLIENT_ERROR:
                reply = UNBLOCKED
            elif op.reason == UNBLOCK_NODE_GONE:
                reply = BLOCK_AGAIN
            else:
                continue  # disconnected: nobody to answer
            completion = Completion(Session(waiter.session_id, waiter.seq, 0), reply, waiter.db)
            completions.append(completion)
            if reply is not BLOCK_AGAIN:
                sessions.record_completion(waiter.session_id, waiter.seq, reply, waiter.db)
        return ended

    def _serve_waiters(
        self,
        index: int,
        time_us: int,
        touched: list[tuple[int, bytes | None]] | tuple[()],
        completions: list[Completion],
    ) -> list[tuple[int, bytes | None]]:
        """Serve the clients blocked on keys the entry changed, as Redis does after a
        command (`handleClientsBlockedOnKeys`): for each such key that now holds elements,
        its waiters oldest first, while it holds any. Serving may change more keys (BLMOVE
        pushes): those are served in turn. Returns every key the entry touched."""
        blocked, keyspace = self.blocked, self.keyspace
        every = list(touched)
        ready: list[tuple[int, bytes]] = []
        for db, key in touched:
            if key is not None:
                ready.append((db, key))
            else:  # a whole database changed (SWAPDB): every key waited on in it
                ready.extend(db_key for db_key in blocked.by_key if db_key[0] == db)
        seen: set[tuple[int, bytes]] = set()  # (membership only: never iterated)
        position = 0
        while position < len(ready):
            db_key = ready[position]
            position += 1
            if db_key in seen or db_key not in blocked.by_key:
                continue
            seen.add(db_key)
            db, key = db_key
            queue = blocked.queue(db, key)
            if key not in keyspace.dbs[db].data:
                # A key deleted: only XREADGROUP's waiters hear of it (an error).
                queue = [waiter for waiter in queue if waiter.waits_for == WAITS_FOR_STREAM]
            for waiter in queue:
                ctx = Context(
                    keyspace, db, time_us, index, _SeededRng(index), self.stats, self.scripting
                )
                if key not in ctx.db.data and waiter.waits_for != WAITS_FOR_STREAM:
                    break  # emptied: the rest wait on
                reply = serve(ctx, waiter.argv, key)
                if reply is None:
                    continue  # it waits for another type: it waits on
                blocked.remove(waiter)
                completions.append(
                    Completion(Session(waiter.session_id, waiter.seq, 0), reply, waiter.db)
                )
                self.sessions.record_completion(waiter.session_id, waiter.seq, reply, waiter.db)
                more = keyspace.take_touched()
                every.extend(more)
                ready.extend((d, k) for d, k in more if k is not None and (d, k) != db_key)
        return every

    def _configure(self, op: Configure) -> Reply:
        encoding: list[tuple[str, int]] = []
        for name, value in op.settings:
            if name == REQUIREPASS:
                self.users.set_requirepass(value)  # type: ignore[arg-type]
            else:
                encoding.append((name, value))  # type: ignore[arg-type]
        if encoding:
            self.keyspace.config = self.keyspace.config.changed(encoding)
        return OK

    def _set_users(self, op: SetUsers) -> Reply:
        """ACL LOAD (every user at once) or a node's start-up users (ignored once the users
        were configured: the reply is then 0)."""
        try:
            applied = self.users.replace(op.users, bootstrap=op.mode == USERS_BOOTSTRAP)
        except RuleError as error:
            return ErrorReply(b"ERR " + error.reason.encode())
        return OK if op.mode == USERS_LOAD else int(applied)

    def _expiry(self, ctx: Context, op: Expiry) -> Reply:
        db = ctx.db
        deleted = 0
        for key in op.keys:
            if key in db.data and db.is_expired(key, ctx.now):
                db.expire_now(key)
                deleted += 1
        return deleted

    # -- running one command -----------------------------------------------------------

    def read_context(self, db: int, now_us: int, rng: Rng) -> Context:
        """A context for a command run locally (a read), at the node's time."""
        now_us = max(now_us, self.last_time_us)
        return Context(
            self.keyspace,
            db,
            now_us,
            self.applied_index,
            rng,
            self.stats,
            self.scripting,
            self.users,
        )

    def resolve(self, argv: list[bytes]) -> CommandSpec:
        """The spec of a command (or subcommand), checking arity. Raises CommandError."""
        return self.table.lookup(argv)

    def run(self, ctx: Context, argv: list[bytes]) -> Reply:
        """Run one pure command; errors become error replies.

        A handler raising anything but CommandError is a bug. It must not stop the node: the
        entry is already in the log, so the node would fail again at every restart. The reply
        is a fixed text (the same on every replica, so they stay identical) and the traceback
        is logged.
        """
        try:
            spec = self.table.lookup(argv)
            handler = spec.handler
            if handler is None:
                raise CommandError(f"ERR command '{spec.name}' is not allowed here")
            return handler(ctx, argv)
        except CommandError as error:
            return ErrorReply(error.message)
        except Exception:
            name = argv[0].decode("utf-8", "replace").lower()
            log.exception("internal error applying %s at index %d", name, ctx.index)
            return ErrorReply(b"ERR internal error while running '%s'" % name.encode())
