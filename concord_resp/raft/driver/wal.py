"""The write-ahead log: Raft's log and hard state, durable on disk (DESIGN.md section 5).

Layout: `<data dir>/wal/<first index, 20 digits>.wal` segments, each starting with an 8-byte
magic, then records `u32 length | u32 crc32c | CBOR payload` (little-endian). A payload is an
entry `[index, term, kind, data]` or a hard state `[term, voted_for, commit]`. Segments roll
at `segment_bytes` and are named by the index of the first entry they may hold.

The log is append-only. A Raft conflict does not rewrite the file: a later entry whose index is
at or below the last one replaces that suffix when the log is read back (`replay` yields
records in file order; the reader applies the rule).

Recovery (`replay`): every record's CRC is checked. Damage after which no intact record
follows, at the end of the last segment, is a torn write that was never acknowledged (a write
is acknowledged only after its fsync returned), so it is cut off with a warning. Damage
anywhere else (intact records after it, or in an earlier segment, or a record whose CRC
matches but which is not a log record) stops the node with `WalCorruptError` naming the file
and byte offset: silently dropping acknowledged data is never an option. A segment is synced
before the next one is started, whatever the fsync setting, so only the last one can be torn.

This module is synchronous on purpose; the driver calls `write` from a worker thread so the
fsync never blocks the event loop. Only one thread writes at a time.
"""

from __future__ import annotations

import logging
import os
import re
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
_SEGMENT_NAME: Final = re.compile(r"[0-9]{20}\.wal")


class WalCorruptError(Exception):
    """The log is damaged where no torn last write explains it: start-up must stop."""


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
        if _naturals(index, term, kind) and isinstance(data, bytes):
            return Entry(index, term, kind, data)
    if isinstance(record, list) and len(record) == 3:
        term, voted_for, commit = record
        if _naturals(term, commit) and (voted_for is None or isinstance(voted_for, str)):
            return HardState(term, voted_for, commit)
    raise ValueError(f"not a log record: {record!r:.80}")


def _naturals(*values: object) -> bool:
    return all(type(value) is int and value >= 0 for value in values)


# Where a payload may start: a CBOR array of 3 or 4 items whose first item is an unsigned int.
_PAYLOAD_START: Final = re.compile(rb"[\x83\x84][\x00-\x1b]")
_UINT, _BYTES, _TEXT = 0, 2, 3  # CBOR major types
_NULL: Final = 0xF6


def _check_record(data: bytes, pos: int) -> tuple[str | None, int]:
    """Is the record at `pos` whole, with a matching checksum? (problem or None, its end)."""
    end = len(data)
    if end - pos < HEADER.size:
        return "incomplete record header", end
    length, crc = HEADER.unpack_from(data, pos)
    record_end = pos + HEADER.size + length
    if length == 0:
        return "empty record", record_end  # never written: a zero-filled region
    if length > MAX_RECORD or record_end > end:
        return "record runs past the end of the file", end
    if crc32c(memoryview(data)[pos + HEADER.size : record_end]) != crc:
        return "checksum mismatch", record_end
    return None, record_end


def _find_intact_record(data: bytes, start: int) -> int | None:
    """The offset of the first intact record at or after `start`, if there is one.

    This tells a torn tail (nothing intact follows the damage: the last write was cut short)
    from damage in the middle (intact records follow; they may have been acknowledged, so
    cutting them off would lose data). A damaged length field is why the search cannot just
    jump to where the damaged record claims to end. Only places whose bytes parse as the CBOR
    shape of a record exactly as long as the header says get their checksum computed, so a
    torn tail of large random values costs one pass, not one checksum per byte.
    """
    for match in _PAYLOAD_START.finditer(data, start + HEADER.size):
        payload = match.start()
        offset = payload - HEADER.size
        length = HEADER.unpack_from(data, offset)[0]
        if _shape_end(data, payload) == payload + length and _check_record(data, offset)[0] is None:
            return offset
    return None


def _shape_end(data: bytes, pos: int) -> int | None:
    """Where a record payload starting at `pos` ends, judged by its CBOR heads; None if it
    does not have the shape of an entry or a hard state."""
    # An entry is [index, term, kind, data]; a hard state [term, voted_for or null, commit].
    kinds = (_UINT, _UINT, _UINT, _BYTES) if data[pos] == 0x84 else (_UINT, _TEXT, _UINT)
    pos += 1
    for kind in kinds:
        if kind == _TEXT and pos < len(data) and data[pos] == _NULL:
            pos += 1
            continue
        head = _cbor_head(data, pos)
        if head is None or head[0] != kind:
            return None
        value, pos = head[1], head[2]
        if kind in (_BYTES, _TEXT):
            pos += value
    return pos


def _cbor_head(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """(major type, argument, position after the head) of the CBOR item at `pos`."""
    if pos >= len(data):
        return None
    major, info = data[pos] >> 5, data[pos] & 0x1F
    if info < 24:
        return major, info, pos + 1
    size = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if size is None or pos + 1 + size > len(data):
        return None
    return major, int.from_bytes(data[pos + 1 : pos + 1 + size], "big"), pos + 1 + size


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
        self._first_index = 0  # the index the open segment is named by
        self.bytes_written = 0
        self.fsyncs = 0  # syncs made by `write` (one per group commit)
        try:
            directory.mkdir(parents=True)
        except FileExistsError:
            pass
        else:
            # The new directory's entry must be durable too, or a crash could lose the log.
            sync_directory(directory.parent)

    def segments(self) -> list[Path]:
        """The segment files, oldest first (names are zero-padded first indexes)."""
        paths = sorted(p for p in self.directory.iterdir() if p.name.endswith(SUFFIX))
        for path in paths:
            if not _SEGMENT_NAME.fullmatch(path.name):
                raise WalCorruptError(f"{path}: not a segment name (20 digits, then .wal)")
        return paths

    # -- reading -------------------------------------------------------------------------

    def replay(self) -> Iterator[Entry | HardState]:
        """Every record in order, checking CRCs and cutting off a torn tail."""
        segments = self.segments()
        for number, path in enumerate(segments):
            yield from self._replay_segment(path, last=number == len(segments) - 1)

    def _replay_segment(self, path: Path, *, last: bool) -> Iterator[Entry | HardState]:
        data = path.read_bytes()
        if not data.startswith(MAGIC):
            # A crash while the segment was being created leaves a prefix of the magic, or
            # zeros where the file system extended the file before writing its data.
            if last and (MAGIC.startswith(data) or not any(data)):
                self._cut(path, 0, len(data), "incomplete segment header")
                return
            raise WalCorruptError(f"{path}: byte offset 0: not a Concord log segment")
        pos = len(MAGIC)
        end = len(data)
        while pos < end:
            problem, record_end = _check_record(data, pos)
            if problem is not None:
                following = _find_intact_record(data, pos + 1)
                if last and following is None:
                    self._cut(path, pos, end, problem)
                    return
                where = "" if following is None else f" (an intact record follows at {following})"
                raise WalCorruptError(f"{path}: byte offset {pos}: {problem}{where}")
            try:
                yield _decode(data[pos + HEADER.size : record_end])
            except (ValueError, cbor2.CBORDecodeError) as error:
                # The checksum matched, so these bytes are what was written: not a torn write.
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
            self._first_index = int(path.name[: -len(SUFFIX)])
        else:
            self._start_segment(next_index)

    def write(self, records: bytes, next_index: int) -> None:
        """Append encoded records and make them durable (if fsync is on).

        `next_index` is the index the entry after these records will have; it names a new
        segment if this write fills the current one. Raises OSError on failure: the caller
        must stop, since an fsync that failed may have lost data the OS had accepted.
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
        # A segment that holds no entry yet is not rolled: the new one would have its name.
        if self._size >= self.segment_bytes and next_index > self._first_index:
            self._roll(fd, next_index)

    def _roll(self, fd: int, next_index: int) -> None:
        # Synced even with fsync off: replay forgives a torn tail only in the last segment,
        # so every earlier one must be whole on disk before a later one exists.
        os.fsync(fd)
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
        self._first_index = first_index

    def close(self) -> None:
        """Sync (whatever the fsync setting: a clean stop loses nothing) and close."""
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
