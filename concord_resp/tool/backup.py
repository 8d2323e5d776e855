"""`concord backup DIR` and `concord restore DIR`.

Backup: the node writes a snapshot now (`RAFT.BACKUP OPEN`: one applied index, so the backup
is consistent) and answers its name, size and SHA-256; the tool reads it in chunks
(`RAFT.BACKUP READ`, CHUNK bytes each, so neither side holds more than a chunk) into
`DIR/<name>.partial`, checks the SHA-256 of what arrived and every record's CRC (reading the
snapshot through), then renames it into place and writes `DIR/backup.json` (what, from where,
when, the digest). If the node replaced the snapshot meanwhile (two newer ones), it starts
over, a bounded number of times.

Restore: the backup's digest is checked again, then its records are streamed into a running
cluster (any node; normally a new, empty one) through the log: each key as a RESTORE of its
DUMP payload with its absolute expiry, the function libraries with FUNCTION RESTORE, the ACL
users with ACL SETUSER (reset first). The Raft metadata (members, terms, the session table)
is not restored: the new cluster keeps its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Final

from ..raft.driver.snapshot_file import SnapshotFileError, read_snapshot
from ..security.acl import rules_of
from ..server.resp_client import Connection, ToolError
from ..state.snapshot import MAGIC as STATE_MAGIC
from ..store.encoding import EncodingConfig
from ..store.rdb import dump_payload
from ..store.rdb.functions import dump_libraries
from ..store.types import type_for_tag
from .bulk_load import PASSING, BulkLoader
from .progress import Progress

CHUNK: Final = 1 << 20
ATTEMPTS: Final = 5
MANIFEST: Final = "backup.json"
RESET: Final = ("resetpass", "resetkeys", "resetchannels", "clearselectors", "-@all", "off")


def backup(
    connection: Connection, directory: Path, *, show_progress: bool | None = None
) -> dict[str, Any]:
    """Copy a fresh snapshot of the node into `directory`; returns the manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / MANIFEST).exists():
        raise ToolError(f"{directory} already holds a backup ({MANIFEST}): choose another")
    for attempt in range(ATTEMPTS):
        name, size, digest, index = _open(connection)
        partial = directory / f"{name}.partial"
        try:
            received = _copy(connection, name, size, partial, show_progress)
        except ToolError as error:
            partial.unlink(missing_ok=True)
            if "snapshot is gone" in str(error) and attempt + 1 < ATTEMPTS:
                continue
            raise
        if received != digest:
            partial.unlink(missing_ok=True)
            raise ToolError(f"{name}: SHA-256 {received} on arrival, the node said {digest}")
        keys = _count_keys(partial)
        final = directory / name
        os.replace(partial, final)
        manifest = {
            "file": name,
            "index": index,
            "size": size,
            "sha256": digest,
            "keys": keys,
            "source": connection.address,
            "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        return manifest
    raise ToolError("the node kept replacing its snapshot before it was copied")


def _open(connection: Connection) -> tuple[str, int, str, int]:
    for _ in range(ATTEMPTS * 10):  # a snapshot being written, no leader: wait, bounded
        reply = connection.pipeline([("RAFT.BACKUP", "OPEN")])[0]
        if isinstance(reply, ToolError) and (
            "in progress" in str(reply) or str(reply).startswith(PASSING)
        ):
            time.sleep(0.5)
            continue
        if isinstance(reply, ToolError):
            raise reply
        if not isinstance(reply, list) or len(reply) != 4:
            raise ToolError(f"unexpected RAFT.BACKUP OPEN reply {reply!r:.200}")
        name, size, digest, index = reply
        if not (isinstance(name, bytes) and isinstance(digest, bytes)):
            raise ToolError(f"unexpected RAFT.BACKUP OPEN reply {reply!r:.200}")
        return name.decode(), int(size), digest.decode(), int(index)
    raise ToolError(f"the node kept answering {reply}: try again later")


def _copy(
    connection: Connection, name: str, size: int, path: Path, show_progress: bool | None
) -> str:
    """Read the snapshot into `path`; returns the SHA-256 of what arrived."""
    digest = hashlib.sha256()
    progress = Progress(f"backing up {name}", size, show=show_progress)
    offset = 0
    with open(path, "wb") as file:
        while offset < size:
            chunk = connection.execute("RAFT.BACKUP", "READ", name, str(offset), str(CHUNK))
            if not isinstance(chunk, bytes) or not chunk:
                raise ToolError(f"{name} ended at byte {offset} of {size}")
            file.write(chunk)
            digest.update(chunk)
            offset += len(chunk)
            progress.update(offset, 0)
        file.flush()
        os.fsync(file.fileno())
    progress.finish()
    return digest.hexdigest()


def _count_keys(path: Path) -> int:
    """Read the copy through (every record's CRC is checked); returns how many keys it has."""
    keys = 0
    try:
        _, records = read_snapshot(path)
        for record in records:
            if record[0] == "keys":
                keys += len(record[1])
        return keys
    except SnapshotFileError as error:
        path.unlink(missing_ok=True)
        raise ToolError(f"the copied snapshot is damaged: {error}") from None


def read_manifest(directory: Path) -> tuple[dict[str, Any], Path]:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except OSError as error:
        raise ToolError(f"{directory}: no backup there ({error.strerror})") from None
    except ValueError as error:
        raise ToolError(f"{directory / MANIFEST}: {error}") from None
    return manifest, directory / str(manifest["file"])


def restore(
    directory: Path,
    connection: Connection,
    *,
    force: bool = False,
    show_progress: bool | None = None,
) -> int:
    """Load the backup in `directory` into the cluster; returns how many keys were sent.
    Refused if the cluster has keys already, unless `force` (its keys of the same names are
    then replaced, the others kept)."""
    manifest, path = read_manifest(directory)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            while chunk := file.read(CHUNK):
                digest.update(chunk)
    except OSError as error:
        raise ToolError(f"cannot read {path}: {error.strerror}") from None
    if digest.hexdigest() != manifest["sha256"]:
        raise ToolError(f"{path}: its SHA-256 is not the one {MANIFEST} records: damaged")
    if not force:
        _check_empty(connection)
    loader = BulkLoader(connection)
    total = int(manifest.get("keys", 0))
    progress = Progress(f"restoring {path.name}", total, show=show_progress, in_keys=True)
    try:
        _, records = read_snapshot(path)
        _restore_records(records, loader, progress)
    except SnapshotFileError as error:
        raise ToolError(f"the backup is damaged: {error}") from None
    loader.finish()
    progress.finish()
    return loader.keys


def _check_empty(connection: Connection) -> None:
    keyspace = connection.execute("INFO", "keyspace")
    text = keyspace.decode() if isinstance(keyspace, bytes) else ""
    databases = [line.split(":", 1)[0] for line in text.splitlines() if line.startswith("db")]
    if databases:
        raise ToolError(
            f"{connection.address} already has keys (in {', '.join(databases)}): restore seeds"
            " a new cluster; --force loads the backup anyway, replacing keys of the same names"
        )


def _restore_records(records: Any, loader: BulkLoader, progress: Progress) -> None:
    config = EncodingConfig()
    db = 0
    sent = 0
    for record in records:
        kind = record[0]
        if kind == STATE_MAGIC:
            continue
        if kind == "config":
            settings = [(n, v) for n, v in record[1] if hasattr(config, n) and type(v) is int]
            config = config.changed(settings)
        elif kind == "db":
            db = record[1]
        elif kind == "keys":
            for key, tag, payload, expires, _version, _override in record[1]:
                value = type_for_tag(tag).from_snapshot(payload)
                loader.restore(db, key, expires, dump_payload(value, config))
                sent += 1
            progress.update(sent, sent)
        elif kind == "functions":
            codes = [code for _name, code, _functions in record[1]]
            loader.command(
                "FUNCTION", "RESTORE", dump_libraries(codes), "REPLACE", label="functions"
            )
        elif kind == "acl-user":
            _, name, rules = record
            # `reset` without its sanitize-payload (which would add a flag the user lacks).
            loader.command("ACL", "SETUSER", name, *RESET, *rules_of(rules), label=f"user {name!r}")
