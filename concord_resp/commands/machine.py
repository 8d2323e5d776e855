"""The replicated state machine: applies committed log entries to the keyspace.

An entry's payload is CBOR (`Op` lists the kinds); applying it depends only on the payload and
the entry index, never on the local clock, the node or the hash seed, so every replica ends in
the same state: time is the leader's timestamp (never taken to go backwards), randomness a PRNG
seeded by the entry index, and every collection of replicated state is ordered (dicts, never
sets). A retried write is applied once (`Session`, Raft thesis 6.3). WATCH is checked
here, at apply time, against the versions the client observed, which is what makes it work
unchanged when the client's node is not the leader.
"""

from __future__ import annotations

import logging
import random
from typing import Any, Final

import cbor2

from ..resp import NULL_ARRAY, ErrorReply, Reply
from ..store import Keyspace
from .context import Context, Rng, Stats
from .errors import CommandError
from .spec import CommandSpec, CommandTable

log = logging.getLogger("concord.machine")

OP_COMMAND: Final = 0
OP_MULTI: Final = 1
OP_EXPIRE: Final = 2

SESSION_IDLE_US: Final = 3600 * 1_000_000
SESSION_SWEEP_US: Final = 60 * 1_000_000

Watch = tuple[int, bytes, int, bool]
"""(db, key, version, alive) as recorded by WATCH."""


Op = list[Any]
"""A decoded entry payload, one of:

    [OP_COMMAND, time_us, db, argv, session]                 one write command
    [OP_MULTI, time_us, db, [argv, ...], watches, session]   MULTI/EXEC: all or nothing, one
                                         entry; watches = [[db, key, version, alive], ...]
    [OP_EXPIRE, time_us, db, [key, ...]]                     active expiry: delete those still
                                                             expired
"""


Session = list[Any] | None
"""[session id, sequence number, floor], or None.

A node proposing a client's write may propose it again (after a leader change, or a timeout),
so an entry whose (session, sequence) was applied before is not applied again; its first reply
is returned. Replies are kept for sequence numbers at or above the session's `floor` (the
proposer's lowest unfinished one) and sessions silent for SESSION_IDLE_US of log time are
dropped. The session table is replicated state: every replica applies the same rules.
"""


def command_op(time_us: int, db: int, argv: list[bytes], session: Session = None) -> Op:
    return [OP_COMMAND, time_us, db, argv, session]


def multi_op(
    time_us: int,
    db: int,
    commands: list[list[bytes]],
    watches: list[Watch],
    session: Session = None,
) -> Op:
    return [OP_MULTI, time_us, db, commands, [list(w) for w in watches], session]


def expire_op(time_us: int, db: int, keys: list[bytes]) -> Op:
    return [OP_EXPIRE, time_us, db, keys]


def encode_op(op: Op) -> bytes:
    return cbor2.dumps(op)


def encode_command(time_us: int, db: int, argv: list[bytes]) -> bytes:
    return encode_op(command_op(time_us, db, argv))


def encode_multi(time_us: int, db: int, commands: list[list[bytes]], watches: list[Watch]) -> bytes:
    return encode_op(multi_op(time_us, db, commands, watches))


def encode_expire(time_us: int, db: int, keys: list[bytes]) -> bytes:
    return encode_op(expire_op(time_us, db, keys))


class _SeededRng:
    """A `random.Random` seeded by the entry index, created only if a command draws."""

    __slots__ = ("_rng", "_seed")

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng: random.Random | None = None

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if self._rng is None:
            self._rng = random.Random(self._seed)
        if stop is None:
            return self._rng.randrange(start)
        return self._rng.randrange(start, stop, step)


class SessionState:
    """One proposer's applied commands: replies by sequence number, at or above `floor`."""

    __slots__ = ("floor", "last_seen_us", "replies")

    def __init__(self) -> None:
        self.floor = 0
        self.last_seen_us = 0
        self.replies: dict[int, tuple[Reply, int]] = {}


class StateMachine:
    """Keyspace plus the rules for applying entries. Pure and deterministic."""

    def __init__(self, table: CommandTable) -> None:
        self.table = table
        self.keyspace = Keyspace()
        self.stats = Stats()
        self.applied_index = 0
        self.last_time_us = 0  # the newest leader timestamp applied
        self.sessions: dict[str, SessionState] = {}
        self.session_sweep = 0  # log time of the last sweep of idle sessions
        # Membership changes made through the log (the initial members come from the
        # command line, the same on every node): name -> "host:port@cluster-port", and the
        # names removed (a removed node learns it from here), in the order removed: a dict
        # used as an ordered set, so no hash-seed order can reach a snapshot.
        self.members: dict[str, str] = {}
        self.removed: dict[str, None] = {}

    def reset(self) -> None:
        """Back to the empty state of index 0 (before a snapshot is restored)."""
        self.keyspace = Keyspace()
        self.applied_index = 0
        self.last_time_us = 0
        self.sessions = {}
        self.session_sweep = 0
        self.members = {}
        self.removed = {}

    def adopt(self, other: StateMachine) -> None:
        """Take over `other`'s replicated state (a snapshot restored beside this machine,
        off the event loop); counters such as INFO's stay this machine's."""
        self.keyspace = other.keyspace
        self.applied_index = other.applied_index
        self.last_time_us = other.last_time_us
        self.sessions = other.sessions
        self.session_sweep = other.session_sweep
        self.members = other.members
        self.removed = other.removed

    # -- applying log entries ----------------------------------------------------------

    def apply(self, index: int, payload: bytes) -> tuple[Reply, int]:
        """Apply one committed entry. Returns (reply, db selected after it)."""
        return self.apply_op(index, cbor2.loads(payload))

    def apply_op(self, index: int, op: Op) -> tuple[Reply, int]:
        """Apply an entry whose payload is already decoded (the node that encoded it keeps
        the op, which is what decoding the payload gives back)."""
        kind, time_us, db = op[0], op[1], op[2]
        if index <= self.applied_index:
            raise AssertionError(f"entry {index} applied twice (applied {self.applied_index})")
        self.applied_index = index
        if time_us > self.last_time_us:
            self.last_time_us = time_us
        else:
            time_us = self.last_time_us  # time never goes backwards in the state machine
        if time_us - self.session_sweep >= SESSION_SWEEP_US:
            self._sweep_sessions(time_us)
        session = op[-1] if kind != OP_EXPIRE else None
        if session is not None:
            cached = self._session_reply(session, time_us)
            if cached is not None:
                return cached
        ctx = Context(self.keyspace, db, time_us, index, _SeededRng(index), self.stats)
        if kind == OP_COMMAND:
            result: tuple[Reply, int] = (self.run(ctx, op[3]), db)
        elif kind == OP_MULTI:
            result = (self._apply_multi(ctx, op[3], op[4]), ctx.db_index)
        elif kind == OP_EXPIRE:
            return self._apply_expire(ctx, op[3]), db
        else:
            raise AssertionError(f"unknown entry kind {kind} at index {index}")
        if session is not None:
            self.sessions[session[0]].replies[session[1]] = result
        return result

    def _session_reply(self, session: list[Any], time_us: int) -> tuple[Reply, int] | None:
        """The first reply of a retried command, or None if it was not applied yet."""
        session_id, seq, floor = session
        state = self.sessions.get(session_id)
        if state is None:
            state = self.sessions[session_id] = SessionState()
        state.last_seen_us = time_us
        if floor > state.floor:
            state.floor = floor
            for old in [s for s in state.replies if s < floor]:
                del state.replies[old]
        return state.replies.get(seq)

    def _sweep_sessions(self, time_us: int) -> None:
        self.session_sweep = time_us
        for session_id in [
            sid
            for sid, state in self.sessions.items()
            if time_us - state.last_seen_us > SESSION_IDLE_US
        ]:
            del self.sessions[session_id]

    def apply_member_change(self, index: int, name: str, address: str | None) -> None:
        """A committed membership change: `name` joins (or moves) at `address`, or leaves
        (`address` None)."""
        self.apply_noop(index)
        if address is None:
            self.members.pop(name, None)
            self.removed[name] = None
        else:
            self.members[name] = address
            self.removed.pop(name, None)

    def apply_noop(self, index: int) -> None:
        """An entry with no command (a new leader's no-op) still advances the index."""
        if index <= self.applied_index:
            raise AssertionError(f"entry {index} applied twice (applied {self.applied_index})")
        self.applied_index = index

    def _apply_multi(
        self, ctx: Context, commands: list[list[bytes]], watches: list[list[Any]]
    ) -> Reply:
        now = ctx.now
        dbs = self.keyspace.dbs
        for db, key, version, alive in watches:
            if dbs[db].watch_state(key, now) != (version, alive):
                return NULL_ARRAY
        return [self.run(ctx, argv) for argv in commands]

    def _apply_expire(self, ctx: Context, keys: list[bytes]) -> Reply:
        db = ctx.db
        deleted = 0
        for key in keys:
            if key in db.data and db.is_expired(key, ctx.now):
                db.expire_now(key)
                deleted += 1
        return deleted

    # -- running one command -----------------------------------------------------------

    def read_context(self, db: int, now_us: int, rng: Rng) -> Context:
        """A context for a command run locally (a read), at the node's time."""
        now_us = max(now_us, self.last_time_us)
        return Context(self.keyspace, db, now_us, self.applied_index, rng, self.stats)

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
            spec = self.resolve(argv)
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
