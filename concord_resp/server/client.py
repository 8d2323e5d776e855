"""Per-connection state and the registry of connected clients (CLIENT LIST, maxclients).

`ClientState` is what Redis keeps in its `client` struct that Concord has a use for: name,
protocol, selected db, the transaction being queued and the keys watched, flags. It renders
its own CLIENT LIST line with Redis's field names and flag letters. The registry keeps
clients in connection order (the order CLIENT LIST shows) and never reuses an id.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from ..cluster import Proposal
from ..commands import CommandSpec
from ..security import User
from ..state import Watch

if TYPE_CHECKING:
    from .tracking import TrackingMode

# CLIENT REPLY's states. SKIP_NEXT: CLIENT REPLY SKIP ran, the next command's reply is
# dropped; SKIP: this command's reply is dropped, the next one's is sent.
REPLY_ON: Final = 0
REPLY_OFF: Final = 1
REPLY_SKIP_NEXT: Final = 2
REPLY_SKIP: Final = 3


@dataclass(eq=False, slots=True)
class ClientState:
    id: int
    addr: str
    laddr: str
    fd: int
    created: float = field(default_factory=time.monotonic)
    last_active: float = field(default_factory=time.monotonic)
    name: bytes = b""
    lib_name: bytes = b""
    lib_ver: bytes = b""
    proto: int = 2
    db: int = 0
    in_multi: bool = False
    in_exec: bool = False  # running the connection-level commands of a transaction
    multi_dirty: bool = False  # a queued command was refused: EXEC answers EXECABORT
    queued: list[tuple[CommandSpec, list[bytes]]] = field(default_factory=list)
    watches: dict[tuple[int, bytes], Watch] = field(default_factory=dict)
    last_write: Proposal | None = None  # the newest write this client submitted
    blocking: Proposal | None = None  # a blocking command (BLPOP) it waits on
    # Set by the connection: wait for something (a blocking command's reply, the end of a
    # pause) while watching the socket (a client that leaves ends the wait).
    wait_watching: Callable[[Callable[[], Awaitable[None]]], Awaitable[None]] | None = None
    last_command: str = "NULL"
    query_buffer: int = 0
    deferred_reads: int = 0  # reads deferred behind its writes, since none were owed
    omem: int = 0  # bytes of replies its socket has not taken (CLIENT LIST omem)
    oll: int = 0  # in how many pieces (CLIENT LIST oll)
    closing: bool = False  # QUIT or CLIENT KILL: close after the reply is sent
    killed: bool = False  # CLIENT KILL by another client: closed at once
    no_evict: bool = False
    no_touch: bool = False
    readonly: bool = False
    cancel: Callable[[], None] | None = None  # closes the connection (CLIENT KILL)
    busy: bool = False  # running a batch: shutdown lets it finish
    replies_owed: Callable[[], bool] = lambda: False  # replies not sent yet (set by the connection)
    stop_requested: bool = False  # shutting down: stop after the current batch
    # Its channels, patterns and shard channels (`pubsub`: CHANNELS, PATTERNS, SHARD), each
    # in subscription order.
    subscriptions: tuple[dict[bytes, None], dict[bytes, None], dict[bytes, None]] = field(
        default_factory=lambda: ({}, {}, {})
    )
    subscribed: bool = False  # subscribed to anything: Redis's CLIENT_PUBSUB (`pubsub` keeps it)
    # How a pushed message reaches it (set by the connection: its outbox).
    send_push: Callable[[bytes], None] | None = None
    # CLIENT REPLY: REPLY_ON, REPLY_OFF, or the SKIP states (`dispatch`).
    reply_mode: int = 0
    tracking: TrackingMode | None = None  # CLIENT TRACKING's state; None while off
    monitor: bool = False  # MONITOR: it only receives the commands this node serves
    special: bool = False  # any of those, or subscribed: what the dispatcher tests per command
    paused: bool = False  # held by CLIENT PAUSE
    user: User | None = None  # None: the default user of a server without ACL (tests)
    authenticated: bool = True  # False until AUTH if the default user needed a password

    def reset_multi(self) -> None:
        self.in_multi = False
        self.multi_dirty = False
        self.queued = []
        self.watches = {}

    def flags(self, *, watch_broken: bool = False) -> str:
        """Redis's one-letter flags, in Redis's order (`N` when none applies)."""
        flags = "O" if self.monitor else ""
        if self.subscribed:
            flags += "P"
        if self.in_multi:
            flags += "x"
        if (self.blocking is not None and self.blocking.blocked) or self.paused:
            flags += "b"
        tracking = self.tracking
        if tracking is not None:
            flags += "t"
            if tracking.broken_redirect:
                flags += "R"
            if tracking.bcast:
                flags += "B"
        if watch_broken:
            flags += "d"  # a watched key changed: EXEC will fail (CLIENT_DIRTY_CAS)
        if self.closing:
            flags += "c"
        if self.killed:
            flags += "A"
        if self.readonly:
            flags += "r"
        if self.no_evict:
            flags += "e"
        if self.no_touch:
            flags += "T"
        return flags or "N"

    def note_modes(self) -> None:
        """Keep `special` true while CLIENT REPLY (OFF, SKIP), TRACKING or MONITOR is on, or
        the client is subscribed."""
        self.special = (
            bool(self.reply_mode) or self.tracking is not None or self.monitor or self.subscribed
        )

    def redirect(self) -> int:
        """CLIENT LIST's redir: the client it sends invalidations to (-1: not tracking)."""
        return -1 if self.tracking is None else self.tracking.redirect

    def user_name(self) -> str:
        user = self.user
        return "default" if user is None else user.name.decode("utf-8", "surrogateescape")

    def describe(self, now: float | None = None, *, watch_broken: bool = False) -> bytes:
        """One CLIENT LIST / CLIENT INFO line: Redis 7.0's fields, then 7.2's lib-name/ver.

        `omem`/`oll` are the replies its socket has not taken and `tot-mem` adds the query
        buffer; the other memory fields are fixed: Python gives no honest numbers for them.
        """
        now = time.monotonic() if now is None else now
        multi = len(self.queued) if self.in_multi else -1
        return (
            f"id={self.id} addr={self.addr} laddr={self.laddr} fd={self.fd} "
            f"name={self.name.decode('latin-1')} age={int(now - self.created)} "
            f"idle={int(now - self.last_active)} flags={self.flags(watch_broken=watch_broken)} "
            f"db={self.db} sub={len(self.subscriptions[0])} psub={len(self.subscriptions[1])} "
            f"ssub={len(self.subscriptions[2])} multi={multi} qbuf={self.query_buffer} "
            f"qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll={self.oll} "
            f"omem={self.omem} tot-mem={self.omem + self.query_buffer} "
            f"events=r cmd={self.last_command} user={self.user_name()} redir={self.redirect()} resp={self.proto} "
            f"lib-name={self.lib_name.decode('latin-1')} lib-ver={self.lib_ver.decode('latin-1')}"
        ).encode()


class ClientRegistry:
    """Connected clients by id; ids are never reused within a process."""

    def __init__(self) -> None:
        self._clients: dict[int, ClientState] = {}
        self._next_id = 0

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def add(self, client: ClientState) -> None:
        self._clients[client.id] = client

    def remove(self, client: ClientState) -> None:
        self._clients.pop(client.id, None)

    def close_now(self, client: ClientState) -> None:
        """Close a client at once, as Redis's freeClient: gone from CLIENT LIST, what it is
        owed dropped (CLIENT KILL, a deleted user, a channel its user may no longer use)."""
        client.closing = client.killed = True
        self.remove(client)
        if client.cancel is not None:
            client.cancel()

    def get(self, client_id: int) -> ClientState | None:
        return self._clients.get(client_id)

    def __iter__(self) -> Iterator[ClientState]:
        return iter(list(self._clients.values()))

    def __len__(self) -> int:
        return len(self._clients)
