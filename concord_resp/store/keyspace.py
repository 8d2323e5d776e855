"""The keyspace: 16 databases of typed values with expiry, deterministic by construction.

Every replica applies the same log to this structure and must end in the same state, so
nothing here reads a clock or draws a random number: the time of an operation (`now`, ms) and
the log index of the entry doing a write (`index`) are arguments. Invariants: every change to
a key bumps its version (WATCH), an in-place change happens only inside `Database.changing`,
and no empty collection is ever stored. Expiry, versions, tombstones and the node-local side
tables are described on `Database`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Final, TypeAlias, TypeVar, overload

from sortedcontainers import SortedList

from .encoding import EncodingConfig
from .events import NOTIFY_EXPIRED, NOTIFY_NEW, Events
from .types import value_type

Value: TypeAlias = object
"""A stored value: an instance of a class registered in `store.types` (strings are `bytes`,
or `bytearray` once changed in place)."""

V = TypeVar("V")

DATABASES: Final = 16
MAX_TOMBSTONES: Final = 100_000


class Database:
    """One numbered database: keys, their expiry times and their modification indexes.

    Expiry follows Redis: a key carries an absolute expiry time in ms and is logically absent
    once `now > when`. Reads never delete (a read changes no replicated state); a write that
    meets an expired key deletes it first, exactly as `expireIfNeeded` does on a Redis
    primary, and the node that leads proposes deletions for the rest (`expired_keys`).

    Each key also carries a modification index (the log index of the last write that changed
    it). WATCH records `(version, alive)` for a key and EXEC compares it at apply time
    (`watch_state`). Deleted keys keep their version in a bounded table of tombstones; when
    one is evicted `tombstone_floor` rises, so an absent key is never reported older than it
    may be (the check can abort spuriously after very many deletions, never miss a change).

    Two side tables hold what Redis keeps in its object headers. `access` (last access time,
    ms) is node-local, like Redis's LRU field: lookups record it, it is not replicated, not
    part of snapshots, and only OBJECT IDLETIME reads it. `encoding_overrides` records the few
    cases where OBJECT ENCODING/REFCOUNT is not what the value implies (a COPY of a shared
    integer, an INCRBYFLOAT result); the commands that write it derive it deterministically.

    Every change is also noted in `journal`, shared by the keyspace's databases: `(number,
    key)` for a key written, deleted or given an expiry, `(number, None)` for the whole
    database (FLUSHDB, SWAPDB). The state machine takes it after each entry: the keys an
    entry touched are one of its effects.
    """

    __slots__ = (
        "access",
        "clock",
        "data",
        "encoding_overrides",
        "events",
        "expired_deletions",
        "expires",
        "expiry_index",
        "journal",
        "number",
        "scan_index",
        "tombstone_floor",
        "tombstones",
        "versions",
    )

    def __init__(
        self,
        number: int = 0,
        journal: list[tuple[int, bytes | None]] | None = None,
        events: Events | None = None,
    ) -> None:
        self.number = number  # what SELECT names it (SWAPDB changes it)
        self.journal: list[tuple[int, bytes | None]] = [] if journal is None else journal
        self.events = Events() if events is None else events  # shared, as the journal
        self.data: dict[bytes, Value] = {}
        self.expires: dict[bytes, int] = {}
        self.expiry_index: SortedList = SortedList()  # (when, key), for active expiry
        self.versions: dict[bytes, int] = {}
        self.tombstones: dict[bytes, int] = {}  # deleted key -> version when deleted
        self.tombstone_floor = 0
        self.expired_deletions = 0  # keys deleted because they expired (INFO expired_keys)
        self.scan_index: SortedList | None = None  # (crc32(key), key), built by the first SCAN
        # Node-local, not replicated: last access time (ms) per key, and the time of the
        # latest write lookup, which `set` records for the key it stores.
        self.access: dict[bytes, int] = {}
        self.clock = 0
        self.encoding_overrides: dict[bytes, tuple[bytes, int]] = {}  # key -> (encoding, refcount)

    # -- reads (change no replicated state) --------------------------------------------

    def get(self, key: bytes, now: int) -> Value | None:
        """The value of a live key, or None if it is missing or expired. Records the access."""
        value = self.data.get(key)
        if value is not None:
            if self.expires:
                when = self.expires.get(key)
                if when is not None and when < now:
                    return None
            self.access[key] = now
        return value

    def peek(self, key: bytes, now: int) -> Value | None:
        """Like `get`, without recording an access (Redis's LOOKUP_NOTOUCH: TYPE, TTL, ...)."""
        value = self.data.get(key)
        if value is not None and self.expires:
            when = self.expires.get(key)
            if when is not None and when < now:
                return None
        return value

    def exists(self, key: bytes, now: int) -> bool:
        return self.peek(key, now) is not None

    def last_access(self, key: bytes) -> int | None:
        """When this node last looked the key up (ms), if it has (OBJECT IDLETIME)."""
        return self.access.get(key)

    def encoding_override(self, key: bytes) -> tuple[bytes, int] | None:
        """(encoding, refcount) recorded for a key whose bytes do not imply them."""
        return self.encoding_overrides.get(key) if self.encoding_overrides else None

    def ttl_ms(self, key: bytes) -> int | None:
        """The absolute expiry time of a key, or None if it has none."""
        return self.expires.get(key)

    def is_expired(self, key: bytes, now: int) -> bool:
        when = self.expires.get(key)
        return when is not None and when < now

    def live_count(self, now: int) -> int:
        """Keys not yet expired at `now` (DBSIZE)."""
        if not self.expires:
            return len(self.data)
        expired: int = self.expiry_index.bisect_left((now, b""))
        return len(self.data) - expired

    def live_keys(self, now: int) -> Iterator[bytes]:
        """Live keys in insertion order (deterministic across replicas)."""
        if not self.expires:
            yield from self.data
            return
        expires = self.expires
        for key in self.data:
            when = expires.get(key)
            if when is None or when >= now:
                yield key

    def expired_keys(self, now: int, limit: int) -> list[bytes]:
        """Up to `limit` keys whose expiry time has passed, oldest first."""
        out: list[bytes] = []
        for when, key in self.expiry_index:
            if when >= now or len(out) >= limit:
                break
            out.append(key)
        return out

    def watch_state(self, key: bytes, now: int) -> tuple[int, bool]:
        """(version, alive) of a key, what WATCH records and EXEC compares."""
        version = self.versions.get(key)
        if version is not None:
            return version, not self.is_expired(key, now)
        return self.tombstones.get(key, self.tombstone_floor), False

    # -- writes ----------------------------------------------------------------------

    def get_for_write(self, key: bytes, now: int) -> Value | None:
        """Like `get`, but an expired key is deleted first (Redis's `lookupKeyWrite`)."""
        self.clock = now
        value = self.data.get(key)
        if value is not None:
            if self.expires:
                when = self.expires.get(key)
                if when is not None and when < now:
                    self.expire_now(key)
                    return None
            self.access[key] = now
        return value

    def set(self, key: bytes, value: Value, index: int, *, keep_ttl: bool = False) -> None:
        """Store a value; the key's TTL is cleared unless `keep_ttl`."""
        data = self.data
        if key not in data:
            if self.events.flags & NOTIFY_NEW:
                self.events.notify(NOTIFY_NEW, b"new", key, self.number)
            if self.scan_index is not None:
                self.scan_index.add((zlib.crc32(key), key))
            if self.tombstones:
                self.tombstones.pop(key, None)
        data[key] = value
        self.versions[key] = index
        self.journal.append((self.number, key))
        self.access[key] = self.clock
        if self.encoding_overrides:
            self.encoding_overrides.pop(key, None)
        if not keep_ttl and self.expires and key in self.expires:
            self._drop_expiry(key)

    @overload
    def changing(self, key: bytes, index: int) -> AbstractContextManager[Value]: ...

    @overload
    def changing(
        self, key: bytes, index: int, create: Callable[[], V]
    ) -> AbstractContextManager[V]: ...

    def changing(
        self, key: bytes, index: int, create: Callable[[], Any] | None = None
    ) -> AbstractContextManager[Any]:
        """Change a stored value in place: `with db.changing(key, index) as value: ...`.

        Yields the live value; a missing key is first stored as `create()` (without `create`
        the key must exist). On leaving the block, even by an exception, the key counts as
        changed at `index` (its version, what WATCH compares, and its access time; the
        encoding override is cleared), and a collection left empty is deleted as DEL would.
        Look the key up for write first (an expired key must be gone); with `create`, a
        stored value must be of the class `create` makes (the caller checked the type).
        """
        value = self.data.get(key)
        if value is None:
            if create is None:
                raise KeyError(f"in-place change of {key!r}, which is not stored")
            value = create()
            self.set(key, value, index)
        return _Changing(self, key, index, value)

    def _changed(self, key: bytes, index: int) -> None:
        value = self.data.get(key)
        if value is None:
            return  # deleted inside the block: the deletion recorded the change
        if value_type(value).is_empty(value):
            self.delete(key, index)
            return
        self.versions[key] = index
        self.journal.append((self.number, key))
        self.access[key] = self.clock
        if self.encoding_overrides:
            self.encoding_overrides.pop(key, None)

    def override_encoding(self, key: bytes, encoding: bytes, refcount: int) -> None:
        """Record the OBJECT ENCODING/REFCOUNT of an existing key when its bytes do not imply
        them (call after `set`, which clears it)."""
        self.encoding_overrides[key] = (encoding, refcount)

    def transfer(self, key: bytes, target: Database, new_key: bytes, index: int) -> None:
        """Move a key with its expiry and encoding to `new_key` in `target` (RENAME, MOVE).

        `target` may be this database; `new_key` must be absent there. Both keys change at
        `index`. Call `target.get_for_write(new_key, now)` first, as Redis looks it up.
        """
        value = self.data[key]
        when = self.expires.get(key)
        override = self.encoding_override(key)
        self.delete(key, index)
        target.set(new_key, value, index)
        if when is not None:
            target.set_expiry(new_key, when, index)
        if override is not None:
            target.encoding_overrides[new_key] = override

    def delete(self, key: bytes, index: int) -> bool:
        """Delete a key as a write (DEL, RENAME's source, ...). True if it existed."""
        if key not in self.data:
            return False
        self._remove(key, index)
        return True

    def expire_now(self, key: bytes) -> None:
        """Delete an expired key. Logically it was already gone: its version is kept."""
        self.expired_deletions += 1
        self._remove(key, self.versions[key])
        self.events.notify(NOTIFY_EXPIRED, b"expired", key, self.number)

    def set_expiry(self, key: bytes, when: int, index: int) -> None:
        """Give an existing key an absolute expiry time (ms)."""
        old = self.expires.get(key)
        if old is not None:
            self.expiry_index.remove((old, key))
        self.expires[key] = when
        self.expiry_index.add((when, key))
        self.versions[key] = index
        self.journal.append((self.number, key))

    def persist(self, key: bytes, index: int) -> bool:
        """Remove a key's expiry. True if it had one."""
        if key not in self.expires:
            return False
        self._drop_expiry(key)
        self.versions[key] = index
        self.journal.append((self.number, key))
        return True

    def clear(self, index: int, now: int) -> None:
        """FLUSHDB: every live key is deleted at `index`; a key already expired at `now` was
        logically gone and keeps its version (as `expire_now` does)."""
        versions = self.versions
        for key in self.data:
            expired = self.expires and self.is_expired(key, now)
            self._add_tombstone(key, versions[key] if expired else index)
        if self.data:
            self.journal.append((self.number, None))
        self.data.clear()
        self.expires.clear()
        self.expiry_index.clear()
        self.versions.clear()
        self.access.clear()
        self.encoding_overrides.clear()
        if self.scan_index is not None:
            self.scan_index.clear()

    def replace_number_of(self, replaced: Database, index: int) -> None:
        """SWAPDB: this database now has the number `replaced` had (and its tombstones).
        Its own keys and the keys `replaced` held change at `index`."""
        versions, tombstones, data = self.versions, self.tombstones, self.data
        if data or replaced.data:
            self.journal.append((self.number, None))
        for key in data:
            versions[key] = index
            if tombstones:
                tombstones.pop(key, None)
        for key in replaced.data:
            if key not in data:
                self._add_tombstone(key, index)

    # -- SCAN support -----------------------------------------------------------------

    def scan_order(self) -> SortedList:
        """Keys ordered by crc32, built lazily and then kept up to date."""
        if self.scan_index is None:
            self.scan_index = SortedList((zlib.crc32(key), key) for key in self.data)
        return self.scan_index

    # -- internals -------------------------------------------------------------------

    def _drop_expiry(self, key: bytes) -> None:
        when = self.expires.pop(key)
        self.expiry_index.remove((when, key))

    def _remove(self, key: bytes, version: int) -> None:
        del self.data[key]
        del self.versions[key]
        self.journal.append((self.number, key))
        self.access.pop(key, None)
        if self.encoding_overrides:
            self.encoding_overrides.pop(key, None)
        if self.expires and key in self.expires:
            self._drop_expiry(key)
        if self.scan_index is not None:
            self.scan_index.remove((zlib.crc32(key), key))
        self._add_tombstone(key, version)

    def _add_tombstone(self, key: bytes, version: int) -> None:
        tombstones = self.tombstones
        tombstones.pop(key, None)
        tombstones[key] = version
        if len(tombstones) > MAX_TOMBSTONES:
            oldest = next(iter(tombstones))
            self.tombstone_floor = max(self.tombstone_floor, tombstones.pop(oldest))


class _Changing:
    """The context manager `Database.changing` returns (a class, not a generator: it is on
    the path of every collection write, and costs a third of one)."""

    __slots__ = ("db", "index", "key", "value")

    def __init__(self, db: Database, key: bytes, index: int, value: Value) -> None:
        self.db = db
        self.key = key
        self.index = index
        self.value = value

    def __enter__(self) -> Any:
        return self.value

    def __exit__(self, *exc: object) -> None:
        self.db._changed(self.key, self.index)


class Keyspace:
    """The 16 databases of a node's state machine, and the encoding thresholds their values
    are converted by (`config`, replicated: see `store.encoding`)."""

    __slots__ = ("_config", "dbs", "events", "journal")

    def __init__(self) -> None:
        self.journal: list[tuple[int, bytes | None]] = []  # see Database
        self.events = Events()  # what entries publish (see `store.events`)
        self.dbs: list[Database] = [
            Database(number, self.journal, self.events) for number in range(DATABASES)
        ]
        self._config = EncodingConfig()

    @property
    def config(self) -> EncodingConfig:
        return self._config

    @config.setter
    def config(self, config: EncodingConfig) -> None:
        self._config = config
        self.events.flags = config.notify_keyspace_events

    def take_touched(self) -> list[tuple[int, bytes | None]] | tuple[()]:
        """What was changed since the last call: (database, key, or None for all of it),
        in order, possibly repeated (an empty tuple if nothing was)."""
        journal = self.journal
        if not journal:
            return ()
        touched = journal[:]
        journal.clear()
        return touched

    def swap(self, a: int, b: int, index: int) -> None:
        """SWAPDB: exchange two databases; every key in either counts as changed.

        As in Redis (`touchAllWatchedKeysInDb`), a key absent from both is not changed: the
        tombstones, which describe absent keys of a database number, stay with the number.
        """
        if a == b:
            return
        dbs = self.dbs
        first, second = dbs[a], dbs[b]
        dbs[a], dbs[b] = second, first
        first.number, second.number = b, a
        first.tombstones, second.tombstones = second.tombstones, first.tombstones
        first.tombstone_floor, second.tombstone_floor = (
            second.tombstone_floor,
            first.tombstone_floor,
        )
        second.replace_number_of(first, index)
        first.replace_number_of(second, index)

    def expired_deletions(self) -> int:
        """Keys deleted because they expired, by a write meeting them or by active expiry."""
        return sum(db.expired_deletions for db in self.dbs)

    def reset_expired_deletions(self) -> None:
        for db in self.dbs:
            db.expired_deletions = 0

    def flush_all(self, index: int, now: int) -> None:
        for db in self.dbs:
            db.clear(index, now)
