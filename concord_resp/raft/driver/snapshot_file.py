"""Snapshot files: the state machine at one log index, durable and checked (issue 5).

Layout: `<data dir>/snapshots/snapshot-<index, 20 digits>-<term, 20 digits>.snap`, holding
framed records exactly like the log's (`u32 length | u32 crc32c | CBOR payload`, see wal.py).
The first record is the Raft metadata `["concord-snapshot-file", FORMAT, index, term, voters,
learners]`; the records after it are the state machine's (`state.snapshot`), whose last
record counts them, so a file cut short or with a record missing is detected even where every
CRC matches.

Writing is atomic: records go to a temporary file, which is fsynced, renamed to its final
name, and the directory fsynced; a crash at any point leaves either no new snapshot or a
complete one (temporary files are removed at the next write and ignored by readers). The
newest `keep` snapshots are kept, older ones deleted after the new one is durable. A snapshot
streamed from the leader (InstallSnapshot) goes to a `.received-` file first, and is published
the same way once it has been synced and read back whole.

Reading checks every record's length and CRC and raises `SnapshotFileError` naming the file
and byte offset; the caller decides what a damaged snapshot means (fall back to an older one
if the log still covers the gap, else stop).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

import cbor2
from crc32c import crc32c

from .wal import HEADER, MAX_RECORD, sync_directory

FILE_MAGIC: Final = "concord-snapshot-file"
FILE_FORMAT: Final = 1
DEFAULT_KEEP: Final = 2
_NAME: Final = re.compile(r"snapshot-([0-9]{20})-([0-9]{20})\.snap")
_TEMP_PREFIX: Final = ".tmp-"
_RECEIVE_PREFIX: Final = ".received-"
_WRITE_BUFFER: Final = 1 << 20


class SnapshotFileError(Exception):
    """A snapshot file is damaged or is not one."""


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    path: Path
    index: int
    term: int
    voters: tuple[str, ...] = ()
    learners: tuple[str, ...] = ()


def file_name(index: int, term: int) -> str:
    return f"snapshot-{index:020d}-{term:020d}.snap"


def list_snapshots(directory: Path) -> list[SnapshotInfo]:
    """The snapshot files in `directory` (by name only, not checked), newest first."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _NAME.fullmatch(path.name)
        if match:
            found.append(SnapshotInfo(path, int(match[1]), int(match[2])))
    return sorted(found, key=lambda info: (info.index, info.term), reverse=True)


def _frame(record: object) -> bytes:
    payload = cbor2.dumps(record)
    return HEADER.pack(len(payload), crc32c(payload)) + payload


def write_snapshot(
    directory: Path,
    index: int,
    term: int,
    voters: Iterable[str],
    learners: Iterable[str],
    records: Iterable[Any],
    *,
    keep: int = DEFAULT_KEEP,
) -> SnapshotInfo:
    """Write a snapshot durably and atomically; delete all but the newest `keep`."""
    if keep < 1:
        raise ValueError("keep at least one snapshot")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob(_TEMP_PREFIX + "*"):
        stale.unlink()  # an earlier write that did not finish
    final = directory / file_name(index, term)
    temp = directory / (_TEMP_PREFIX + final.name)
    voters, learners = tuple(voters), tuple(learners)
    with open(temp, "wb", buffering=_WRITE_BUFFER) as file:
        file.write(_frame([FILE_MAGIC, FILE_FORMAT, index, term, list(voters), list(learners)]))
        for record in records:
            file.write(_frame(record))
        file.flush()
        os.fsync(file.fileno())
    _publish(directory, temp, final, keep)
    return SnapshotInfo(final, index, term, voters, learners)


def _publish(directory: Path, temp: Path, final: Path, keep: int) -> None:
    """Make a durable temporary file the snapshot `final`; delete all but the newest `keep`."""
    os.replace(temp, final)
    sync_directory(directory)
    for old in list_snapshots(directory)[keep:]:
        # A snapshot child and a received snapshot may publish at the same time.
        with contextlib.suppress(FileNotFoundError):
            old.path.unlink()
    sync_directory(directory)


def receive_path(directory: Path, sender: str) -> Path:
    """Where a snapshot streamed from `sender` is written until it is checked (the name
    never matches a snapshot's, so readers ignore it)."""
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{_RECEIVE_PREFIX}{sender.encode().hex()}"


def remove_received(directory: Path) -> None:
    """Delete transfers that never finished (at start-up)."""
    if directory.is_dir():
        for stale in directory.glob(_RECEIVE_PREFIX + "*"):
            stale.unlink()


def publish_received(
    directory: Path, received: Path, info: SnapshotInfo, *, keep: int = DEFAULT_KEEP
) -> SnapshotInfo:
    """Install a received snapshot file, already synced and checked whole (`info` is what
    `read_snapshot` found in it), as the newest snapshot: renamed atomically, directory
    synced, older ones beyond `keep` deleted."""
    final = directory / file_name(info.index, info.term)
    _publish(directory, received, final, keep)
    return SnapshotInfo(final, info.index, info.term, info.voters, info.learners)


def _read_frames(file: BinaryIO, path: Path) -> Iterator[Any]:
    offset = 0
    while True:
        header = file.read(HEADER.size)
        if not header:
            return
        if len(header) < HEADER.size:
            raise SnapshotFileError(f"{path}: cut short at byte {offset}")
        length, checksum = HEADER.unpack(header)
        if length > MAX_RECORD:
            raise SnapshotFileError(f"{path}: impossible record length at byte {offset}")
        payload = file.read(length)
        if len(payload) < length:
            raise SnapshotFileError(f"{path}: cut short at byte {offset}")
        if crc32c(payload) != checksum:
            raise SnapshotFileError(f"{path}: checksum mismatch at byte {offset}")
        try:
            yield cbor2.loads(payload)
        except (cbor2.CBORDecodeError, ValueError) as error:
            raise SnapshotFileError(f"{path}: undecodable record at byte {offset}") from error
        offset += HEADER.size + length


def read_snapshot(path: Path) -> tuple[SnapshotInfo, Iterator[Any]]:
    """The metadata of a snapshot file and an iterator over the state machine's records,
    each checked as it is read (the iterator raises SnapshotFileError on damage)."""
    file = open(path, "rb", buffering=_WRITE_BUFFER)  # noqa: SIM115 - closed by `records`
    frames = _read_frames(file, path)
    try:
        meta = next(frames, None)
        if (
            type(meta) is not list
            or len(meta) != 6
            or meta[0] != FILE_MAGIC
            or meta[1] != FILE_FORMAT
            or type(meta[2]) is not int
            or type(meta[3]) is not int
        ):
            raise SnapshotFileError(f"{path}: not a Concord snapshot file of a known format")
        info = SnapshotInfo(path, meta[2], meta[3], tuple(meta[4]), tuple(meta[5]))
    except BaseException:
        file.close()
        raise

    def records() -> Iterator[Any]:
        with file:
            yield from frames

    return info, records()
