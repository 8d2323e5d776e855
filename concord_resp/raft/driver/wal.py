"""The write-ahead log: Raft's log and hard state, durable on disk (DESIGN.md section 5).

Layout: `<data dir>/wal/<first index, 20 digits>.wal` segments, each starting with an 8-byte
magic, then records `u32 length | u32 crc32c | CBOR payload` (little-endian). A payload is an
entry `[index, term, kind, data]` or a hard state `[term, voted_for, commit]`. Segments roll
at `segment_bytes` and are named by the index of the first entry they may hold.

The log is append-only. A Raft conflict does not rewrite the file: a later entry whose index is
at or below the last one replaces that suffix when the log is read back (`replay` yields
records in file order; the reader applies the rule).

Recovery (`replay`): every record's CRC is checked. A torn or corrupt record at the end of the
last segment was never acknowledged (a write is acknowledged only after its fsync returned), so
it is cut off with a warning. Damage anywhere else stops the node with `WalCorruptError` naming
the file and byte offset: silently dropping acknowledged data is never an option.

This module is synchronous on purpose; the driver calls `write` from a worker thread so the
fsync never blocks the event loop. Only one thread writes at a time.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import cbor2
from crc32c import crc32c

from ..core.types import Entry, HardState

log = logging.getLogger("concord.wal")

MAGIC: Final = b"CCWAL\x00\x00\x01"
HEADER: Final = struct.Struct("<II")
MAX_RECORD: Final = 1536 * 1024 * 1024  # larger than any request Concord accepts
DEFAULT_SEGMENT_BYTES: Final = 64 * 1024 * 1024
SUFFIX: Final = ".wal"


class WalCorruptError(Exception):
    """The log is damaged before its last record: start-up must stop."""


def encode_entry(index: int, term: int, kind: int, data: bytes) -> bytes:
    payload = cbor2.dumps([index, term, kind, data])
    return HEADER.pack(len(payload), crc32c(payload)) + payload


def encode_hard_state(state: HardState) -> bytes:
    payload = cbor2.dumps([state.term, state.voted_for, state.commit])
    return HEADER.pack(len(payload), crc32c(payload)) + payload


def segment_name(first_index: int) -> str:
    return f"{first_index:020d}{SUFFIX}"


def _decode(payload: bytes) -> Entry | HardState:
    record = cbor2.loads(payload)
    if isinstance(record, list) and len(record) == 4:
        index, term, kind, data = record
        if isinstance(index, int) and isinstance(term, int) and isinstance(data, bytes):
            return Entry(index, term, kind, data)
    if isinstance(record, list) and len(record) == 3:
        term, voted_for, commit = record
        if isinstance(term, int) and isinstance(commit, int):
            return HardState(term, voted_for, commit)
    raise ValueError(f"not a log record: {record!r:.80}")


class WriteAheadLog:
    """Segments of CRC-checked records in one directory."""

    def __init__(
        self,
        directory: Path,
        *,
        fsync: bool = True,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> None:
        self.directory = directory
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self._fd: int | None = None
        self._size = 0
        self.bytes_written = 0
        self.fsyncs = 0
        directory.mkdir(parents=True, exist_ok=True)

    def segments(self) -> list[Path]:
        return sorted(p for p in self.directory.iterdir() if p.name.endswith(SUFFIX))

    # -- reading -------------------------------------------------------------------------

    def replay(self) -> Iterator[Entry | HardState]:
        """Every record in order, checking CRCs and cutting off a torn tail."""
        segments = self.segments()
        for number, path in enumerate(segments):
            yield from self._replay_segment(path, last=number == len(segments) - 1)

    def _replay_segment(self, path: Path, *, last: bool) -> Iterator[Entry | HardState]:
        data = path.read_bytes()
        if not data.startswith(MAGIC):
            if last and MAGIC.startswith(data):
                self._cut(path, 0, len(data), "incomplete segment header")
                return
            raise WalCorruptError(f"{path}: byte offset 0: not a Concord log segment")
        pos = len(MAGIC)
        end = len(data)
        while pos < end:
            problem = None
            if end - pos < HEADER.size:
                problem = "incomplete record header"
                torn = True
            else:
                length, crc = HEADER.unpack_from(data, pos)
                record_end = pos + HEADER.size + length
                if length > MAX_RECORD or record_end > end:
                    problem = "record runs past the end of the file"
                    torn = True
                else:
                    payload = data[pos + HEADER.size : record_end]
                    if crc32c(payload) != crc:
                        problem = "checksum mismatch"
                        # A torn last write, or a zero-filled tail after a crash.
                        torn = record_end == end or not data[pos:].strip(b"\0")
            if problem is not None:
                if last and torn:
                    self._cut(path, pos, end, problem)
                    return
                raise WalCorruptError(f"{path}: byte offset {pos}: {problem}")
            try:
                yield _decode(payload)
            except (ValueError, cbor2.CBORDecodeError) as error:
                raise WalCorruptError(f"{path}: byte offset {pos}: {error}") from None
            pos = record_end

    def _cut(self, path: Path, offset: int, size: int, problem: str) -> None:
        log.warning(
            "%s: %s at byte offset %d; discarding the last %d bytes (a write that was never"
            " acknowledged)",
            path,
            problem,
            offset,
            size - offset,
        )
        with open(path, "r+b") as file:
            if offset < len(MAGIC):
                file.truncate(0)
                file.write(MAGIC)
            else:
                file.truncate(offset)
            file.flush()
            os.fsync(file.fileno())

    # -- writing -------------------------------------------------------------------------

    def open_for_append(self, next_index: int) -> None:
        """Append to the newest segment (or start the first). Call after `replay`."""
        segments = self.segments()
        if segments:
            path = segments[-1]
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            self._size = os.fstat(self._fd).st_size
        else:
            self._start_segment(next_index)

    def write(self, records: bytes, next_index: int) -> None:
        """Append encoded records and make them durable (if fsync is on).

        `next_index` is the index the next entry will have; it names a new segment if this
        write fills the current one. Raises OSError on failure: the caller must stop, since an
        fsync that failed may have lost data the OS had accepted.
        """
        fd = self._fd
        assert fd is not None, "open_for_append first"
        view = memoryview(records)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if self.fsync:
            os.fdatasync(fd)
            self.fsyncs += 1
        self._size += len(records)
        self.bytes_written += len(records)
        if self._size >= self.segment_bytes:
            os.close(fd)
            self._fd = None
            self._start_segment(next_index)

    def _start_segment(self, first_index: int) -> None:
        path = self.directory / segment_name(first_index)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, MAGIC)
        os.fsync(fd)
        sync_directory(self.directory)
        self._fd = fd
        self._size = len(MAGIC)

    def close(self) -> None:
        if self._fd is not None:
            if self.fsync:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
