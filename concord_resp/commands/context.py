"""What a command handler sees: the keyspace, the selected database, the time and the index.

Handlers are pure functions `(ctx, argv) -> reply`. Everything that varies between runs is in
the context and is chosen by the caller: for a write, the state machine fills it from the log
entry (leader timestamp, entry index, a PRNG seeded from the entry), so every replica computes
the same result; for a read, the node fills in its own time.
"""

from __future__ import annotations

from typing import Protocol

from ..store import Database, Keyspace
from ..store.events import NOTIFY_GENERIC


class Rng(Protocol):
    """The slice of `random.Random` handlers may use; always seeded by the caller."""

    def randrange(self, start: int, stop: int = ..., step: int = ...) -> int: ...


class Context:
    """Per-command execution context. `db` is `keyspace.dbs[db_index]`."""

    __slots__ = (
        "acl",
        "db",
        "db_index",
        "deny_blocking",
        "in_script",
        "index",
        "keyspace",
        "logged",
        "notifying",
        "now",
        "now_us",
        "rng",
        "scripting",
        "stats",
        "user",
    )

    def __init__(
        self,
        keyspace: Keyspace,
        db_index: int,
        now_us: int,
        index: int,
        rng: Rng,
        stats: Stats,
        scripting: object = None,
        acl: object = None,
    ) -> None:
        self.keyspace = keyspace
        self.db_index = db_index
        self.db: Database = keyspace.dbs[db_index]
        self.now_us = now_us
        self.now = now_us // 1000  # ms, the unit of expiry times
        self.index = index  # log index of the entry being applied (writes); applied index (reads)
        self.rng = rng
        self.stats = stats
        self.scripting = scripting  # the state machine's `scripting.Scripting` (EVAL & co)
        self.acl = acl  # the state machine's `security.Users` (ACL SETUSER & co)
        self.user: object = None  # the restricted `security.User` running a script, if any
        # Inside MULTI (later: a script) a blocking command does not block: it answers as
        # if it had timed out (Redis's CLIENT_DENY_BLOCKING).
        self.deny_blocking = False
        self.in_script = False  # a script's redis.call (XREAD BLOCK refuses to run there)
        # Applying a log entry (every replica runs it), not a read on this node only.
        self.logged = False
        # The notification classes on (`store.events`), constant while a context is used
        # (only a Configure entry changes them): hot handlers test this before `notify`,
        # so notifications that are off cost one attribute test.
        self.notifying = keyspace.events.flags

    def notify(self, kind: int, event: bytes, key: bytes) -> None:
        """A keyspace notification (`store.events`: `kind` is a NOTIFY_* class) for a key of
        the selected database, published if its class is on."""
        events = self.keyspace.events
        if events.flags & kind:
            events.notify(kind, event, key, self.db.number)

    def notify_if_deleted(self, key: bytes) -> None:
        """`del` for a key of the selected database a command has just emptied (Redis
        publishes the command's own event first, then this)."""
        events = self.keyspace.events
        if events.flags & NOTIFY_GENERIC and key not in self.db.data:
            events.notify(NOTIFY_GENERIC, b"del", key, self.db.number)

    def select(self, db_index: int) -> None:
        self.db_index = db_index
        self.db = self.keyspace.dbs[db_index]


class Stats:
    """Counters the state machine keeps (INFO stats). Deterministic, but not replicated."""

    __slots__ = ("keyspace_hits", "keyspace_misses")

    def __init__(self) -> None:
        self.keyspace_hits = 0
        self.keyspace_misses = 0
