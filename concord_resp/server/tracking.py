"""Client-side caching on this node (CLIENT TRACKING): which keys each client may cache, and
the invalidation messages when they change.

The table is node-local memory, as in Redis: a tracking client's reads (the keys its
command's key specs name) are remembered here; invalidations come from this node's apply of
the replicated entries (`invalidate`, called by the node with every applied entry that
touched keys), so a key written through any node invalidates this node's clients, in the
log's order. The node calls it after the entry's own replies are made: a client that
changes a key it tracks gets its reply first, then the invalidation (Redis's pending keys).
A whole database touched (FLUSHDB, FLUSHALL, SWAPDB) sends every tracking client a null
invalidation and forgets the table. Keys are tracked by name, whatever the database, as
Redis does. The table holds at most `tracking-table-max-keys` keys: past it the oldest are
forgotten, and their clients told (Redis forgets random ones, from its cron).

RESP3 clients get `invalidate` pushes on their own connection (`Outbox.push_message`, ahead
of the replies not known yet); RESP2 clients need REDIRECT to a client in subscribed mode,
which gets them as messages on `__redis__:invalidate`. Costs: nothing per write while no
client tracks (the node's hook is None); one attribute test per read otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from ..commands import CommandError, CommandSpec
from ..commands.keyspecs import key_positions

if TYPE_CHECKING:
    from ..state import Applied
    from .client import ClientRegistry, ClientState

CHANNEL: Final = b"__redis__:invalidate"
_INVALIDATE_PUSH: Final = b">2\r\n$10\r\ninvalidate\r\n"
_INVALIDATE_MESSAGE: Final = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"
_NULLS: Final = {2: b"$-1\r\n", 3: b"_\r\n"}
# NOLOOP writes in flight remembered at most (those that failed are dropped past it; one
# applied out of order would then invalidate its own client once: harmless).
MAX_WRITERS: Final = 10_000


@dataclass(eq=False, slots=True)
class TrackingMode:
    """One client's CLIENT TRACKING state (`ClientState.tracking`; None when off)."""

    redirect: int = 0
    bcast: bool = False
    optin: bool = False
    optout: bool = False
    noloop: bool = False
    caching: bool = False  # CLIENT CACHING given for the next command
    caching_now: bool = False  # ... and for the command running now
    broken_redirect: bool = False
    prefixes: dict[bytes, None] = field(default_factory=dict)

    def flags(self) -> list[bytes]:
        """CLIENT TRACKINGINFO's flags, in Redis's order."""
        flags = [b"on"]
        if self.bcast:
            flags.append(b"bcast")
        if self.optin:
            flags.append(b"optin")
            if self.caching:
                flags.append(b"caching-yes")
        if self.optout:
            flags.append(b"optout")
            if self.caching:
                flags.append(b"caching-no")
        if self.noloop:
            flags.append(b"noloop")
        if self.broken_redirect:
            flags.append(b"broken_redirect")
        return flags


def _keys_array(keys: Iterable[bytes]) -> bytes:
    listed = list(keys)
    return b"*%d\r\n" % len(listed) + b"".join(b"$%d\r\n%s\r\n" % (len(key), key) for key in listed)


def _overlap(a: bytes, b: bytes) -> bool:
    return a.startswith(b) or b.startswith(a)


class Tracking:
    """This node's tracking table and broadcast prefixes, and the clients that track."""

    def __init__(self, clients: ClientRegistry) -> None:
        self.clients = clients
        self.max_keys = 1_000_000  # tracking-table-max-keys (0: no limit)
        self.table: dict[bytes, dict[int, None]] = {}  # key -> ids of clients that read it
        self.items = 0  # (key, client) pairs: INFO's tracking_total_items
        self.prefixes: dict[bytes, dict[int, ClientState]] = {}  # BCAST prefix -> clients
        self.tracking_clients = 0
        # The writes of NOLOOP clients in flight: this node's session seq -> client id.
        self.writers: dict[int, int] = {}
        self.session_of: Callable[[], str] = lambda: ""  # this node's session id (the server's)
        # Told True when the first client starts tracking, False when none is left: the
        # server sets (or clears) the node's hook, so writes cost nothing while none tracks.
        self.activate: Callable[[bool], None] | None = None

    # -- enabling (CLIENT TRACKING) ------------------------------------------------------

    def enable(
        self,
        client: ClientState,
        redirect: int,
        bcast: bool,
        optin: bool,
        optout: bool,
        noloop: bool,
        prefixes: list[bytes],
    ) -> None:
        """CLIENT TRACKING ON, its options checked already (by the handler, in Redis's
        order); again: the new options replace the old, and BCAST prefixes add up."""
        mode = client.tracking
        if mode is None:
            mode = client.tracking = TrackingMode()
            client.note_modes()
            self.tracking_clients += 1
            if self.tracking_clients == 1 and self.activate is not None:
                self.activate(True)
        mode.redirect = redirect
        mode.broken_redirect = False
        mode.bcast, mode.optin, mode.optout, mode.noloop = bcast, optin, optout, noloop
        if bcast:
            for prefix in prefixes or [b""]:
                self.prefixes.setdefault(prefix, {})[client.id] = client
                mode.prefixes[prefix] = None

    def disable(self, client: ClientState) -> None:
        """CLIENT TRACKING OFF, RESET, or the client gone."""
        mode = client.tracking
        if mode is None:
            return
        for prefix in mode.prefixes:
            clients = self.prefixes.get(prefix)
            if clients is not None:
                clients.pop(client.id, None)
                if not clients:
                    del self.prefixes[prefix]
        client.tracking = None
        client.note_modes()
        if self.writers:
            self.writers = {seq: id_ for seq, id_ in self.writers.items() if id_ != client.id}
        self.tracking_clients -= 1
        if not self.tracking_clients:
            self.table.clear()  # (no one left to tell)
            self.items = 0
            self.writers.clear()
            if self.activate is not None:
                self.activate(False)

    @staticmethod
    def check_prefixes(client: ClientState, prefixes: list[bytes]) -> None:
        """Redis's checkPrefixCollisionsOrReply: a client's prefixes must not overlap."""
        existing = client.tracking.prefixes if client.tracking is not None else {}
        for i, prefix in enumerate(prefixes):
            for old in sorted(existing):
                if _overlap(old, prefix):
                    raise CommandError(
                        b"ERR Prefix '%s' overlaps with an existing prefix '%s'. "
                        b"Prefixes for a single client must not overlap." % (prefix, old)
                    )
            for other in prefixes[i + 1 :]:
                if _overlap(prefix, other):
                    raise CommandError(
                        b"ERR Prefix '%s' overlaps with another provided prefix '%s'. "
                        b"Prefixes for a single client must not overlap." % (prefix, other)
                    )

    # -- reads (the dispatcher) ------------------------------------------------------------

    def remember(self, client: ClientState, spec: CommandSpec, argv: list[bytes]) -> None:
        """A tracking client ran a read: remember its keys (Redis's trackingRememberKeys),
        if it `wants` them."""
        if self.wants(client, spec):
            self.remember_keys(client, spec, argv)

    @staticmethod
    def wants(client: ClientState, spec: CommandSpec) -> bool:
        """Whether this command's keys are remembered for the client: a read, not in BCAST
        mode, and OPTIN/OPTOUT with CLIENT CACHING not saying otherwise."""
        mode = client.tracking
        assert mode is not None
        if mode.bcast or "readonly" not in spec.flags:
            return False
        caching = mode.caching_now
        return not ((mode.optin and not caching) or (mode.optout and caching))

    def remember_keys(self, client: ClientState, spec: CommandSpec, argv: list[bytes]) -> None:
        positions = key_positions(spec.key_specs, argv) if spec.key_specs else None
        if not positions:
            return
        table = self.table
        for position in positions:
            key = argv[position]
            ids = table.get(key)
            if ids is None:
                ids = table[key] = {}
            if client.id not in ids:
                ids[client.id] = None
                self.items += 1
        if self.max_keys and len(table) > self.max_keys:
            self._evict()

    def note_write(self, client: ClientState, seq: int) -> None:
        """A NOLOOP client submitted a write (seq in this node's session)."""
        self.writers[seq] = client.id

    @staticmethod
    def next_command(client: ClientState, mode: TrackingMode, spec: CommandSpec) -> None:
        """Before each command of a tracking client: CLIENT CACHING counts for one command
        (or a whole transaction), as Redis clears it after any command but CLIENT's."""
        mode.caching_now = mode.caching
        if not client.in_multi and not spec.name.startswith("client|"):
            mode.caching = False

    # -- invalidations (the node's apply) ----------------------------------------------

    def invalidate(self, applied: Applied) -> None:
        """An applied entry touched keys: tell the clients that cached them."""
        writer = 0
        session = applied.session
        if self.writers and session is not None and session.id == self.session_of():
            writer = self.writers.pop(session.seq, 0)
            if len(self.writers) > MAX_WRITERS:  # (writes that failed, never applied)
                self.writers = {s: c for s, c in self.writers.items() if s > session.seq}
        bcast: list[bytes] = []
        flushed = False
        for _db, key in applied.touched:
            if key is None:
                if not flushed:  # (one null per entry: FLUSHALL, SWAPDB touch several)
                    self._flushed()
                    flushed = True
                continue
            if self.prefixes:
                bcast.append(key)
            ids = self.table.pop(key, None)
            if ids is None:
                continue
            self.items -= len(ids)
            for client_id in ids:
                target = self.clients.get(client_id)
                if target is None or target.tracking is None or target.tracking.bcast:
                    continue
                if target.tracking.noloop and client_id == writer:
                    continue
                self._send(target, _keys_array((key,)))
        if bcast:
            self._broadcast(bcast, writer)

    def _broadcast(self, keys: list[bytes], writer: int) -> None:
        for prefix, clients in list(self.prefixes.items()):
            matched = sorted({key for key in keys if key.startswith(prefix)})
            if not matched:
                continue
            for client in list(clients.values()):
                mode = client.tracking
                if mode is None:
                    continue
                if mode.noloop and client.id == writer:
                    continue  # (its own writes; an entry has one writer)
                self._send(client, _keys_array(matched))

    def _flushed(self) -> None:
        """A database was flushed (or swapped): every tracking client is told, with a null."""
        for client in self.clients:
            if client.tracking is not None:
                self._send(client, _NULLS[3 if client.proto == 3 else 2])
        self.table.clear()
        self.items = 0

    def resize(self, max_keys: int) -> None:
        """CONFIG SET tracking-table-max-keys: a lower bound evicts at once."""
        self.max_keys = max_keys
        if max_keys and len(self.table) > max_keys:
            self._evict()

    def _evict(self) -> None:
        """Over tracking-table-max-keys: forget the oldest keys, telling their clients."""
        table = self.table
        while len(table) > self.max_keys:
            key = next(iter(table))
            ids = table.pop(key)
            self.items -= len(ids)
            for client_id in ids:
                target = self.clients.get(client_id)
                if target is not None and target.tracking is not None:
                    self._send(target, _keys_array((key,)))

    def _send(self, client: ClientState, keys: bytes) -> None:
        """Redis's sendTrackingMessage: to the client, or to the one it redirects to."""
        mode = client.tracking
        assert mode is not None
        target = client
        if mode.redirect:
            found = self.clients.get(mode.redirect)
            if found is None or found.closing:
                mode.broken_redirect = True
                if client.proto == 3 and client.send_push is not None:
                    client.send_push(
                        b">2\r\n$21\r\ntracking-redir-broken\r\n:%d\r\n" % mode.redirect
                    )
                return
            target = found
        if target.proto == 3:
            data = _INVALIDATE_PUSH + keys
        elif mode.redirect and target.subscribed:
            data = _INVALIDATE_MESSAGE + keys
        else:
            return  # (RESP2 without a redirect: nowhere to send it)
        if target.send_push is not None:
            target.send_push(data)

    # -- INFO --------------------------------------------------------------------------

    def total_keys(self) -> int:
        return len(self.table)

    def total_prefixes(self) -> int:
        return len(self.prefixes)
