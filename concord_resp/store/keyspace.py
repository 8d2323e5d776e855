"""The keyspace: 16 databases of typed values with expiry, deterministic by construction.

Every replica applies the same log to this structure and must end in the same state, so
nothing here reads a clock or draws a random number: the time of an operation (`now`, ms) and
the log index of the entry doing a write (`index`) are arguments.

Expiry follows Redis: a key carries an absolute expiry time in ms and is logically absent once
`now > when`. Reads never delete (a read changes no replicated state); a write that meets an
expired key deletes it first, exactly as `expireIfNeeded` does on a Redis primary, and the node
that leads proposes deletions for the rest (active expiry, `expired_keys`).

Each key also carries a modification index (the log index of the last write that changed it).
WATCH records `(version, alive)` for a key and EXEC compares it at apply time (`watch_state`).
Deleted keys keep their version in a bounded table of tombstones; when one is evicted the
database's `tombstone_floor` rises, so an absent key is never reported older than it may be
(the check can abort spuriously after very many deletions, never miss a change).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Final, TypeAlias

from sortedcontainers import SortedList

Value: TypeAlias = bytes | bytearray
"""A stored value. Strings are `bytes` (or `bytearray` once modified in place)."""

DATABASES: Final = 16
MAX_TOMBSTONES: Final = 100_000


class Database:
    """One numbered database: keys, their expiry times and their modification indexes."""

    __slots__ = (
        "data",
        "expires",
        "expiry_index",
        "scan_index",
        "tombstone_floor",
        "tombstones",
        "versions",
    )

    def __init__(self) -> None:
        self.data: dict[bytes, Value] = {}
        self.expires: dict[bytes, int] = {}
        self.expiry_index: SortedList = SortedList()  # (when, key), for active expiry
        self.versions: dict[bytes, int] = {}
        self.tombstones: dict[bytes, int] = {}  # deleted key -> version when deleted
        self.tombstone_floor = 0
        self.scan_index: SortedList | None = None  # (crc32(key), key), built by the first SCAN

    # -- reads (never change anything) ------------------------------------------------

    def get(self, key: bytes, now: int) -> Value | None:
        """The value of a live key, or None if it is missing or expired."""
        value = self.data.get(key)
        if value is not None and self.expires:
            when = self.expires.get(key)
            if when is not None and when < now:
                return None
        return value

    def exists(self, key: bytes, now: int) -> bool:
        return self.get(key, now) is not None

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
        value = self.data.get(key)
        if value is not None and self.expires:
            when = self.expires.get(key)
            if when is not None and when < now:
                self.expire_now(key)
                return None
        return value

    def set(self, key: bytes, value: Value, index: int, *, keep_ttl: bool = False) -> None:
        """Store a value; the key's TTL is cleared unless `keep_ttl`."""
        data = self.data
        if key not in data:
            if self.scan_index is not None:
                self.scan_index.add((zlib.crc32(key), key))
            if self.tombstones:
                self.tombstones.pop(key, None)
        data[key] = value
        self.versions[key] = index
        if not keep_ttl and self.expires and key in self.expires:
            self._drop_expiry(key)

    def touch(self, key: bytes, index: int) -> None:
        """Record that a value was changed in place (APPEND on a bytearray, say)."""
        self.versions[key] = index

    def delete(self, key: bytes, index: int) -> bool:
        """Delete a key as a write (DEL, RENAME's source, ...). True if it existed."""
        if key not in self.data:
            return False
        self._remove(key, index)
        return True

    def expire_now(self, key: bytes) -> None:
        """Delete an expired key. Logically it was already gone: its version is kept."""
        self._remove(key, self.versions[key])

    def set_expiry(self, key: bytes, when: int, index: int) -> None:
        """Give an existing key an absolute expiry time (ms)."""
        old = self.expires.get(key)
        if old is not None:
            self.expiry_index.remove((old, key))
        self.expires[key] = when
        self.expiry_index.add((when, key))
        self.versions[key] = index

    def persist(self, key: bytes, index: int) -> bool:
        """Remove a key's expiry. True if it had one."""
        if key not in self.expires:
            return False
        self._drop_expiry(key)
        self.versions[key] = index
        return True

    def clear(self, index: int) -> None:
        """FLUSHDB: every key is deleted at `index`."""
        for key in self.data:
            self._add_tombstone(key, index)
        self.data.clear()
        self.expires.clear()
        self.expiry_index.clear()
        self.versions.clear()
        if self.scan_index is not None:
            self.scan_index.clear()

    def touch_all(self, index: int) -> None:
        """Every key counts as changed (SWAPDB, MOVE into a swapped db)."""
        versions = self.versions
        for key in self.data:
            versions[key] = index
        self.tombstone_floor = index
        self.tombstones.clear()

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


class Keyspace:
    """The 16 databases of a node's state machine."""

    __slots__ = ("dbs",)

    def __init__(self) -> None:
        self.dbs: list[Database] = [Database() for _ in range(DATABASES)]

    def swap(self, a: int, b: int, index: int) -> None:
        """SWAPDB: exchange two databases; every key in both counts as changed."""
        dbs = self.dbs
        dbs[a], dbs[b] = dbs[b], dbs[a]
        if a != b:
            dbs[a].touch_all(index)
            dbs[b].touch_all(index)

    def flush_all(self, index: int) -> None:
        for db in self.dbs:
            db.clear(index)

    def key_count(self, now: int) -> int:
        return sum(db.live_count(now) for db in self.dbs)
