"""The state machine's log entries, typed, and their one codec.

A committed Raft entry of kind NORMAL carries one of these, CBOR-encoded as a list whose first
element is its kind (the format every version has written, so old logs still load):

    [0, time_us, db, argv, session]                Command: one write command
    [0, time_us, db, argv, session, user]          ... that runs Lua, for a user whose ACL
                                                    rules its script's calls are checked with
    [1, time_us, db, [argv, ...], watches, session] Transaction: MULTI/EXEC, all or nothing;
                                                    watches = [[db, key, version, alive], ...]
    [1, time_us, db, [argv, ...], watches, session, user]  ... that runs Lua, for a user
    [2, time_us, db, [key, ...]]                   Expiry: active expiry, delete those of the
                                                    keys still expired at the entry's time
    [3, time_us, db, [[name, value], ...], session] Configure: set replicated parameters (the
                                                    encoding thresholds, `store.encoding`, and
                                                    requirepass)
    [4, time_us, db, reason, [[session id, seq], ...], session]
                                                    Unblock: end those blocked clients' waits
                                                    (`UNBLOCK_*`: timeout, disconnection,
                                                    CLIENT UNBLOCK, their node gone)
    [5, time_us, db, mode, [[name, [rule, ...]], ...], session]
                                                    SetUsers: every ACL user at once (ACL LOAD;
                                                    mode 1: a node's start-up users, applied
                                                    only if the users were never configured)

`time_us` is the leader's timestamp; `session` is None or [session id, sequence number, floor]
(`Session`). The classes are plain slotted dataclasses, not changed once proposed (not
frozen: a frozen one costs several times as much to create, and every write makes two; the
one change is the leader stamping the time of a write a follower forwarded without it). Decoding
checks every field: an entry that is not one of these is a bug or a damaged log, and stops
the node (`EntryError`) rather than be applied differently somewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeAlias

import cbor2

from ..store.encoding import FIELDS

OP_COMMAND: Final = 0
OP_MULTI: Final = 1
OP_EXPIRE: Final = 2
OP_CONFIGURE: Final = 3
OP_UNBLOCK: Final = 4
OP_SET_USERS: Final = 5

USERS_LOAD: Final = 0  # SetUsers modes: ACL LOAD
USERS_BOOTSTRAP: Final = 1  # a node's --requirepass/--aclfile, if nothing was configured

# Why an Unblock entry ends waits (see `state.blocked`):
UNBLOCK_TIMEOUT: Final = 0  # the deadline passed (proposed by the leader; checked at apply)
UNBLOCK_DISCONNECTED: Final = 1  # the client left: the waiter goes, nobody is answered
UNBLOCK_CLIENT_TIMEOUT: Final = 2  # CLIENT UNBLOCK [TIMEOUT]: answered as a timeout
UNBLOCK_CLIENT_ERROR: Final = 3  # CLIENT UNBLOCK ERROR: answered with -UNBLOCKED
UNBLOCK_NODE_GONE: Final = 4  # the client's node is gone: if it is not, it blocks again
UNBLOCK_REASONS: Final = frozenset(range(5))

Watch: TypeAlias = tuple[int, bytes, int, bool]
"""(db, key, version, alive) as recorded by WATCH."""


class EntryError(Exception):
    """A committed entry this version cannot read."""


@dataclass(slots=True)
class Session:
    """Who proposed a write (Raft thesis 6.3): a node's session id, the write's sequence
    number in it, and the lowest sequence number the proposer still waits for (`floor`):
    replies below it need not be kept."""

    id: str
    seq: int
    floor: int


@dataclass(slots=True)
class Command:
    KIND: ClassVar[int] = OP_COMMAND
    time_us: int
    db: int
    argv: list[bytes]
    session: Session | None = None
    user: bytes | None = None  # a restricted ACL user running a script (None: no checks)


@dataclass(slots=True)
class Transaction:
    KIND: ClassVar[int] = OP_MULTI
    time_us: int
    db: int
    commands: list[list[bytes]]
    watches: list[Watch]
    session: Session | None = None
    user: bytes | None = None  # as Command's


@dataclass(slots=True)
class Expiry:
    KIND: ClassVar[int] = OP_EXPIRE
    time_us: int
    db: int
    keys: list[bytes]

    @property
    def session(self) -> None:
        return None


@dataclass(slots=True)
class Configure:
    """CONFIG SET of replicated parameters: (field of `EncodingConfig`, value) pairs, and
    (`requirepass`, password)."""

    KIND: ClassVar[int] = OP_CONFIGURE
    time_us: int
    db: int
    settings: list[tuple[str, int | bytes]]
    session: Session | None = None


@dataclass(slots=True)
class Unblock:
    """End the waits of blocked clients, each named by (session id, sequence number)."""

    KIND: ClassVar[int] = OP_UNBLOCK
    time_us: int
    db: int
    reason: int
    waiters: list[tuple[str, int]]
    session: Session | None = None


@dataclass(slots=True)
class SetUsers:
    """Every ACL user at once: (name, rules) pairs; `mode` USERS_LOAD or USERS_BOOTSTRAP."""

    KIND: ClassVar[int] = OP_SET_USERS
    time_us: int
    db: int
    mode: int
    users: list[tuple[bytes, list[bytes]]]
    session: Session | None = None


Op: TypeAlias = Command | Transaction | Expiry | Configure | Unblock | SetUsers


def _session_wire(session: Session | None) -> list[Any] | None:
    return None if session is None else [session.id, session.seq, session.floor]


def encode_op(op: Op) -> bytes:
    """The entry payload of `op`."""
    if isinstance(op, Command):
        session = op.session
        wire = None if session is None else [session.id, session.seq, session.floor]
        if op.user is not None:
            return cbor2.dumps([OP_COMMAND, op.time_us, op.db, op.argv, wire, op.user])
        return cbor2.dumps([OP_COMMAND, op.time_us, op.db, op.argv, wire])
    if isinstance(op, Transaction):
        watches = [list(watch) for watch in op.watches]
        fields = [OP_MULTI, op.time_us, op.db, op.commands, watches, _session_wire(op.session)]
        if op.user is not None:
            fields.append(op.user)
        return cbor2.dumps(fields)
    if isinstance(op, Configure):
        settings = [list(pair) for pair in op.settings]
        return cbor2.dumps([OP_CONFIGURE, op.time_us, op.db, settings, _session_wire(op.session)])
    if isinstance(op, Unblock):
        waiters = [list(waiter) for waiter in op.waiters]
        return cbor2.dumps(
            [OP_UNBLOCK, op.time_us, op.db, op.reason, waiters, _session_wire(op.session)]
        )
    if isinstance(op, SetUsers):
        users = [[name, rules] for name, rules in op.users]
        return cbor2.dumps(
            [OP_SET_USERS, op.time_us, op.db, op.mode, users, _session_wire(op.session)]
        )
    return cbor2.dumps([OP_EXPIRE, op.time_us, op.db, op.keys])


LUA_COMMANDS: Final = frozenset(
    {b"eval", b"evalsha", b"fcall", b"eval_ro", b"evalsha_ro", b"fcall_ro", b"function"}
)
"""Commands that may run Lua when applied (EVAL, EVALSHA, FCALL and their read-only forms,
which a transaction may hold; FUNCTION LOAD and RESTORE run a library's code). `runs_lua`
may say yes for one that does not (FUNCTION DELETE)."""


LUA_INITIALS: Final = frozenset({b"e", b"E", b"f", b"F"})
"""The first bytes of those names: most commands are told apart by that alone. (A set of
one-byte strings: `b"S" in b"eEfF"` would first try b"S" as an integer and raise, inside,
on every write.)"""


def runs_lua(op: Op) -> bool:
    """Whether applying `op` may run Lua (so it may run as long as a script's budget)."""
    kind = type(op)
    if kind is Command:
        name = op.argv[0]  # type: ignore[union-attr]
        return name[:1] in LUA_INITIALS and name.lower() in LUA_COMMANDS
    if kind is Transaction:
        return any(
            argv[0][:1] in LUA_INITIALS and argv[0].lower() in LUA_COMMANDS
            for argv in op.commands  # type: ignore[union-attr]
        )
    return False


def decode_op(data: bytes) -> Op:
    """The op an entry payload holds; EntryError if it holds none."""
    try:
        wire = cbor2.loads(data)
        kind = wire[0]
        size = len(wire)
        if kind == OP_COMMAND and (size == 5 or size == 6):
            # Every write's entry on every follower: the checks are written out.
            if size == 5:
                _, time_us, db, argv, session = wire
                user = None
            else:
                _, time_us, db, argv, session, user = wire
                _user(user)
            if type(time_us) is not int or type(db) is not int or type(argv) is not list:
                raise ValueError("malformed command entry")
            for item in argv:
                if type(item) is not bytes:
                    raise ValueError("arguments must be bytes")
            if session is None:
                return Command(time_us, db, argv, None, user)
            session_id, seq, floor = session
            if type(session_id) is not str or type(seq) is not int or type(floor) is not int:
                raise ValueError("a session is [text, integer, integer]")
            return Command(time_us, db, argv, Session(session_id, seq, floor), user)
        if kind == OP_MULTI and len(wire) in (6, 7):
            commands = [_argv(argv) for argv in _list(wire[3])]
            watches = [_watch(watch) for watch in _list(wire[4])]
            return Transaction(
                _int(wire[1]),
                _int(wire[2]),
                commands,
                watches,
                _session(wire[5]),
                _user(wire[6]) if len(wire) == 7 else None,
            )

        if kind == OP_EXPIRE and len(wire) == 4:
            return Expiry(_int(wire[1]), _int(wire[2]), _argv(wire[3]))
        if kind == OP_UNBLOCK and len(wire) == 6:
            reason = _int(wire[3])
            if reason not in UNBLOCK_REASONS:
                raise ValueError(f"unknown unblock reason {reason}")
            waiters = checked_waiters(_list(wire[4]))
            return Unblock(_int(wire[1]), _int(wire[2]), reason, waiters, _session(wire[5]))
        if kind == OP_CONFIGURE and len(wire) == 5:
            settings = checked_settings(_list(wire[3]))
            return Configure(_int(wire[1]), _int(wire[2]), settings, _session(wire[4]))
        if kind == OP_SET_USERS and len(wire) == 6:
            mode, users = checked_users(wire[3], _list(wire[4]))
            return SetUsers(_int(wire[1]), _int(wire[2]), mode, users, _session(wire[5]))
    except (cbor2.CBORDecodeError, TypeError, IndexError, KeyError, ValueError) as error:
        raise EntryError(f"undecodable entry payload: {error}") from None
    raise EntryError(f"not an entry of this version: {data[:60]!r}")


def checked_users(mode: object, users: list[Any]) -> tuple[int, list[tuple[bytes, list[bytes]]]]:
    """SetUsers' mode and (name, rules) pairs, checked."""
    if mode not in (USERS_LOAD, USERS_BOOTSTRAP):
        raise ValueError(f"users mode must be 0 or 1, not {mode!r:.20}")
    checked: list[tuple[bytes, list[bytes]]] = []
    for pair in users:
        if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not bytes:
            raise ValueError("a user is [name, [rule, ...]]")
        checked.append((pair[0], _argv(pair[1])))
    return mode, checked


REQUIREPASS: Final = "requirepass"
"""Configure's one setting that is not an encoding threshold: the default user's password
(bytes; empty: none), as CONFIG SET requirepass sets it."""


def checked_settings(pairs: list[Any]) -> list[tuple[str, int | bytes]]:
    """Configure's (field, value) pairs, checked: fields of `EncodingConfig` with integers,
    or `requirepass` with bytes."""
    settings: list[tuple[str, int | bytes]] = []
    for pair in pairs:
        name, value = _list(pair)
        if name == REQUIREPASS and type(value) is bytes:
            settings.append((name, value))
            continue
        if name not in FIELDS or type(value) is not int:
            raise ValueError(f"not a replicated setting: {pair!r:.60}")
        settings.append((name, value))
    return settings


def checked_waiters(pairs: list[Any]) -> list[tuple[str, int]]:
    """Unblock's (session id, sequence number) pairs, checked."""
    waiters: list[tuple[str, int]] = []
    for pair in pairs:
        session_id, seq = _list(pair)
        if type(session_id) is not str or type(seq) is not int:
            raise ValueError(f"not a waiter: {pair!r:.60}")
        waiters.append((session_id, seq))
    return waiters


def _int(value: object) -> int:
    if type(value) is not int:
        raise ValueError(f"expected an integer, got {value!r:.40}")
    return value


def _list(value: object) -> list[Any]:
    if type(value) is not list:
        raise ValueError(f"expected a list, got {value!r:.40}")
    return value


def _argv(value: object) -> list[bytes]:
    items = _list(value)
    if not all(type(item) is bytes for item in items):
        raise ValueError("arguments must be bytes")
    return items


def _user(value: object) -> bytes:
    if type(value) is not bytes:
        raise ValueError("a user name is bytes")
    return value


def _session(value: object) -> Session | None:
    if value is None:
        return None
    session_id, seq, floor = _list(value)
    if type(session_id) is not str or type(seq) is not int or type(floor) is not int:
        raise ValueError("a session is [text, integer, integer]")
    return Session(session_id, seq, floor)


def _watch(value: object) -> Watch:
    db, key, version, alive = _list(value)
    if type(key) is not bytes or type(alive) is not bool:
        raise ValueError("malformed watch")
    return (_int(db), key, _int(version), alive)
