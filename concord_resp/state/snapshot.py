"""The replicated state as a stream of CBOR-encodable records, and back.

A snapshot is everything a replica needs to continue from `applied_index` as if it had applied
the log up to there (keys with values, expiry times and versions, tombstones, encoding notes,
expired-key counters, and every section: the session table, membership changes); node-local
state (access times, statistics) is left out, as Redis does. Invariant: a restored replica is
indistinguishable from one that applied the log, so every order (keys, tombstones, sessions,
removed members) is kept. The record layout is on `snapshot_records`; this module does no
I/O (the writer and the reader live in the driver). Snapshots of FORMAT 1 (strings only, the
first release's) are still read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final

from ..store.keyspace import Database
from ..store.types import STRING, type_for_tag, value_type
from .entries import checked_settings
from .machine import StateMachine
from .sections import Section

MAGIC: Final = "concord-snapshot"
FORMAT: Final = 7
READABLE_FORMATS: Final = (1, 2, 3, 4, 5, 6, 7)
"""1: key rows `[key, bytes, raw, ...]` (strings only); 2: rows name the value's type;
3: the encoding thresholds (a "config" record) and the collection types; 4: the script cache
(a "scripts" section); 5: the function libraries (a "functions" section); 6: the ACL users;
7: streams (the "stream" type tag, stream-node-max-* in "config")."""
CHUNK: Final = 1024  # keys (or tombstones) per record


class SnapshotError(Exception):
    """The records do not form a snapshot this version can load."""


def _chunks(items: Iterable[Any], kind: str) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == CHUNK:
            yield [kind, chunk]
            chunk = []
    if chunk:
        yield [kind, chunk]


def _key_rows(db: Database) -> Iterator[list[Any]]:
    expires, versions, overrides = db.expires, db.versions, db.encoding_overrides
    for key, value in db.data.items():
        kind = value_type(value)
        override = overrides.get(key)
        yield [
            key,
            kind.tag,
            kind.to_snapshot(value),
            expires.get(key),
            versions[key],
            None if override is None else list(override),
        ]


def snapshot_records(machine: StateMachine) -> Iterator[list[Any]]:
    """The machine's replicated state as records. The machine must not change while the
    iterator runs (the driver takes the snapshot in a forked child, or between applies).

    Records, in order:

        ["concord-snapshot", FORMAT, applied_index, last_time_us, last_session_sweep]
        ["config", [[field, value], ...]]                         the encoding thresholds
        ["db", number, tombstone_floor, expired_deletions]       for each non-empty database
        ["keys", [[key, type tag, payload, expires_ms|None, version, override|None], ...]]
        ["tombstones", [[key, version], ...]]                     oldest first
        each section's records: ["sessions", ...], ["members", ...], ["blocked", ...],
                                ["scripts", ...], ["functions", ...], ["acl-configured"],
                                ["acl-user", name, rules] (see those modules)
        ["end", record_count]

    Keys and tombstones come in chunks of CHUNK. A key row's tag and payload come from the
    value's type (`ValueType.to_snapshot`: a string's payload keeps whether it is a bytearray,
    Redis's "raw" after an in-place change).
    """
    count = 1
    header = [MAGIC, FORMAT, machine.applied_index, machine.last_time_us]
    yield [*header, machine.sessions.sweep_us]
    yield ["config", [list(pair) for pair in machine.keyspace.config.as_pairs()]]
    count += 1
    for number, db in enumerate(machine.keyspace.dbs):
        if not (db.data or db.tombstones or db.tombstone_floor or db.expired_deletions):
            continue
        yield ["db", number, db.tombstone_floor, db.expired_deletions]
        count += 1
        for record in _chunks(_key_rows(db), "keys"):
            yield record
            count += 1
        for record in _chunks(([k, v] for k, v in db.tombstones.items()), "tombstones"):
            yield record
            count += 1
    for section in machine.sections:
        for record in section.snapshot_records():
            yield record
            count += 1
    yield ["end", count + 1]


def restore_records(machine: StateMachine, records: Iterable[Any]) -> None:
    """Replace the machine's replicated state with the snapshot in `records`. Raises
    SnapshotError (and leaves a half-built machine, to be discarded) if they are not one
    whole snapshot."""
    it = iter(records)
    header = next(it, None)
    if type(header) is not list or len(header) != 5 or header[0] != MAGIC:
        raise SnapshotError("not a Concord snapshot")
    snapshot_format = header[1]
    if type(snapshot_format) is not int or snapshot_format not in READABLE_FORMATS:
        raise SnapshotError(
            f"snapshot format {snapshot_format!r}, this version reads {list(READABLE_FORMATS)}"
        )
    machine.reset()
    machine.applied_index, machine.last_time_us, machine.sessions.sweep_us = header[2:5]
    owners: dict[str, Section] = {kind: s for s in machine.sections for kind in s.kinds}
    db: Database | None = None
    count = 1
    for record in it:
        count += 1
        if type(record) is not list or not record:
            raise SnapshotError(f"malformed record {count}")
        kind = record[0]
        if kind == "end":
            if record[1:] != [count]:
                raise SnapshotError(f"snapshot ends after {count} records, it says {record[1:]}")
            if next(it, None) is not None:
                raise SnapshotError("records after the end of the snapshot")
            return
        try:
            section = owners.get(kind) if isinstance(kind, str) else None
            if section is not None:
                section.restore(record)
            else:
                db = _restore_keyspace_record(machine, db, kind, record, snapshot_format)
        except (IndexError, KeyError, TypeError, ValueError) as error:
            raise SnapshotError(f"malformed {kind!r} record {count}: {error}") from None
    raise SnapshotError(f"snapshot cut short after {count} records (no end record)")


def _restore_keyspace_record(
    machine: StateMachine,
    db: Database | None,
    kind: object,
    record: list[Any],
    snapshot_format: int,
) -> Database | None:
    """Apply one keyspace record of a snapshot of `snapshot_format`; returns the database
    the records after it belong to."""
    if kind == "config":
        settings = [(n, v) for n, v in checked_settings(record[1]) if type(v) is int]
        machine.keyspace.config = machine.keyspace.config.changed(settings)
    elif kind == "db":
        if type(record[1]) is not int or record[1] < 0:
            raise ValueError(f"database {record[1]!r}")
        db = machine.keyspace.dbs[record[1]]
        db.tombstone_floor, db.expired_deletions = record[2], record[3]
    elif kind == "keys" and db is not None:
        for key, tag, payload, expires, version, override in record[1]:
            if snapshot_format == 1:  # [key, bytes, raw, ...]: every value was a string
                tag, payload = STRING.tag, [tag, payload]
            db.data[key] = type_for_tag(tag).from_snapshot(payload)
            db.versions[key] = version
            if expires is not None:
                db.expires[key] = expires
                db.expiry_index.add((expires, key))
            if override is not None:
                db.encoding_overrides[key] = (override[0], override[1])
    elif kind == "tombstones" and db is not None:
        db.tombstones.update((key, version) for key, version in record[1])
    else:
        raise ValueError("unexpected here")
    return db
