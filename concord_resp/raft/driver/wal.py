"""The write-ahead log: Raft's log and hard state, durable on disk (DESIGN.md section 5).

Layout: `<data dir>/wal/<first index, 20 digits>.wal` segments, each starting with an 8-byte
magic, then records `u32 length | u32 crc32c | CBOR payload` (little-endian). A payload is an
entry `[index, term, kind, data]`, a hard state `[term, voted_for, commit]`, a snapshot mark
`[index, term]`, or a batch marker `[length]`: every `write` (one group commit, one fsync)
starts with a marker giving the byte length of the records after it. Segments roll at
`segment_bytes` and are named by the index of the first entry they may hold, so every entry
of a segment comes before the name of the next one.

A snapshot mark says a snapshot received from the leader replaced the whole log up to
`index`: the reader forgets every entry before it. Compaction deletes whole segments whose
entries a snapshot covers (`delete_through`); the log then starts after index 1.

The log is append-only. A Raft conflict does not rewrite the file: a later entry whose index is
at or below the last one replaces that suffix when the log is read back (`replay` yields
records in file order; the reader applies the rule).

A clean close ends the log with an empty batch (see `close`).

Recovery (`replay`): every record's CRC is checked. Batches are written one after another by
one thread, each only after the previous one's fsync returned, so damage is forgivable only
in the last batch: that one may not have been fully on disk when the machine stopped, and an
OS crash may leave any of its pages unwritten, not just the last. Damage in the last segment
with no intact batch marker after it is therefore taken for a write cut short: it is cut off
with a warning. Damage with a batch marker after it (a later write exists, so this one's
fsync had returned), in an earlier segment, or a record whose CRC matches but which is not a
log record stops the node with `WalCorruptError` naming the file and byte offset: silently
dropping acknowledged data is never an option. A segment is synced before the next one is
started, whatever the fsync setting, so only the last one can be torn. (With `--fsync never`
nothing orders batches on disk, so an OS crash can leave a hole that stops start-up; that
mode is documented as unsafe.)

Whether a cut-short write had been acknowledged, the log alone cannot tell: a truncated file
looks the same. `replay(cut=False)` leaves such a tail in place (`torn_tail`) for recovery to
compare with the node's promise (promise_file.py); `cut_torn_tail` then says which it was.

This module is synchronous on purpose; the driver calls `write` from a worker thread so the
fsync never blocks the event loop. Only one thread writes at a time.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cbor2
from crc32c import crc32c

from ...metrics.prometheus import Buckets
from ..core.types import Entry, HardState

log = logging.getLogger("concord.wal")

MAGIC: Final = b"CCWAL\x00\x00\x02"
HEADER: Final = struct.Struct("<II")
MAX_RECORD: Final = 1536 * 1024 * 1024  # larger than any request Concord accepts
DEFAULT_SEGMENT_BYTES: Final = 64 * 1024 * 1024
SUFFIX: Final = ".wal"
_SEGMENT_NAME: Final = re.compile(r"[0-9]{20}\.wal")


class WalCorruptError(Exception):
    """The log is damaged where no torn last write explains it: start-up must stop."""


@dataclass(frozen=True, slots=True)
class TornTail:
    """The end of the last segment, from `offset` to `size`, holds a write cut short."""

    path: Path
    offset: int
    size: int
    problem: str

    @property
    def discarded(self) -> int:
        return self.size - self.offset


@dataclass(frozen=True, slots=True)
class SnapshotMark:
    """The log up to `index` was replaced by an installed snapshot (see the module doc)."""

    index: int
    term: int


def encode_entry(index: int, term: int, kind: int, data: bytes) -> bytes:
    payload = cbor2.dumps([index, term, kind, data])
    return HEADER.pack(len(payload), crc32c(payload)) + payload


def encode_hard_state(state: HardState) -> bytes:
    payload = cbor2.dumps([state.term, state.voted_for, state.commit])
    return HEADER.pack(len(payload), crc32c(payload)) + payload


def encode_snapshot_mark(index: int, term: int) -> bytes:
    payload = cbor2.dumps([index, term])
    return HEADER.pack(len(payload), crc32c(payload)) + payload


def encode_batch_marker(length: int) -> bytes:
    payload = cbor2.dumps([length])
    return HEADER.pack(len(payload), crc32c(payload)) + payload


class _BatchMarker:
    """A decoded batch marker (consumed by `replay`, never yielded)."""

    __slots__ = ("length",)

    def __init__(self, length: int) -> None:
        self.length = length


def segment_name(first_index: int) -> str:
    return f"{first_index:020d}{SUFFIX}"


Record = Entry | HardState | SnapshotMark


def _decode(payload: bytes) -> Record | _BatchMarker:
    record = cbor2.loads(payload)
    if isinstance(record, list) and len(record) == 1 and _naturals(record[0]):
        return _BatchMarker(record[0])
    if isinstance(record, list) and len(record) == 2 and _naturals(*record):
        return SnapshotMark(record[0], record[1])
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
_MARKER_START: Final = re.compile(rb"\x81[\x00-\x1b]")
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


def _find_intact_marker(data: bytes, start: int) -> int | None:
    """The offset of the first intact batch marker at or after `start`, if there is one.

    A later batch proves the damage before it was fsynced (so acknowledged): see the module
    docstring. A damaged length field is why the search cannot just jump to where the damaged
    record claims to end. Only places whose bytes have the CBOR shape of a marker get their
    checksum computed, so a torn tail of large random values costs one pass.
    """
    for match in _MARKER_START.finditer(data, start + HEADER.size):
        payload = match.start()
        offset = payload - HEADER.size
        length = HEADER.unpack_from(data, offset)[0]
        head = _cbor_head(data, payload + 1)
        if (
            head is not None
            and head[0] == _UINT
            and head[2] == payload + length
            and _check_record(data, offset)[0] is None
        ):
            return offset
    return None


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
        self._wrote = False  # anything written since the log was opened
        self.torn_tail: TornTail | None = None  # found by `replay(cut=False)`, not cut yet
        self.bytes_written = 0
        self.fsyncs = 0  # syncs made by `write` (one per group commit)
        self.fsync_seconds: Buckets | None = None  # each of those syncs' duration
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

    def replay(self, *, cut: bool = True) -> Iterator[Record]:
        """Every record in order, checking CRCs. A torn tail is cut off (with a warning that
        cannot say whether it was acknowledged), or with `cut=False` left in `torn_tail`."""
        self.torn_tail = None
        segments = self.segments()
        for number, path in enumerate(segments):
            yield from self._replay_segment(path, last=number == len(segments) - 1)
        if cut:
            self.cut_torn_tail("a write cut short; whether it was acknowledged is not known")

    def _replay_segment(self, path: Path, *, last: bool) -> Iterator[Record]:
        data = path.read_bytes()
        if not data.startswith(MAGIC):
            # A crash while the segment was being created leaves a prefix of the magic, or
            # zeros where the file system extended the file before writing its data.
            if last and (MAGIC.startswith(data) or not any(data)):
                self.torn_tail = TornTail(path, 0, len(data), "incomplete segment header")
                return
            raise WalCorruptError(f"{path}: byte offset 0: not a Concord log segment")
        pos = len(MAGIC)
        end = len(data)
        batch_start = batch_end = pos  # the batch being read, by its marker
        batch: list[Record] = []  # its records, handed out once it is whole
        while pos < end:
            problem, record_end = _check_record(data, pos)
            if problem is None and batch_end < record_end and pos < batch_end:
                problem = "a record runs past the end of its batch"
            if problem is not None:
                following = _find_intact_marker(data, pos + 1)
                if last and following is None:
                    # The whole unacknowledged batch goes: a batch is all or nothing.
                    cut = batch_start if pos < batch_end else pos
                    self.torn_tail = TornTail(path, cut, end, problem)
                    return
                where = "" if following is None else f" (a later batch starts at {following})"
                raise WalCorruptError(f"{path}: byte offset {pos}: {problem}{where}")
            try:
                record = _decode(data[pos + HEADER.size : record_end])
            except (ValueError, cbor2.CBORDecodeError) as error:
                # The checksum matched, so these bytes are what was written: not a torn write.
                raise WalCorruptError(f"{path}: byte offset {pos}: {error}") from None
            if isinstance(record, _BatchMarker):
                if pos != batch_end:
                    raise WalCorruptError(
                        f"{path}: byte offset {pos}: a batch starts inside the previous one"
                        f" (which ends at {batch_end})"
                    )
                batch_start, batch_end = pos, record_end + record.length
            elif pos >= batch_end:
                raise WalCorruptError(f"{path}: byte offset {pos}: a record outside any batch")
            else:
                batch.append(record)
            pos = record_end
            if pos == batch_end:
                yield from batch
                batch = []
        if batch_end > end:
            # The file ends inside the last batch: its write was cut short.
            if not last:
                raise WalCorruptError(f"{path}: byte offset {batch_start}: a batch is cut short")
            self.torn_tail = TornTail(path, batch_start, end, "a batch cut short")

    def cut_torn_tail(self, what: str) -> None:
        """Cut off the torn tail `replay` found, if any, with a warning saying `what` it was."""
        torn, self.torn_tail = self.torn_tail, None
        if torn is None:
            return
        path, offset = torn.path, torn.offset
        log.warning(
            "%s: %s at byte offset %d; discarding the last %d bytes (%s)",
            path,
            torn.problem,
            offset,
            torn.discarded,
            what,
        )
        with open(path, "r+b") as file:
            if offset < len(MAGIC):
                file.truncate(0)
                file.write(MAGIC)
            else:
                file.truncate(offset)
            file.flush()
            os.fsync(file.fileno())

    # -- compaction ----------------------------------------------------------------------

    def delete_through(self, index: int) -> list[Path]:
        """Delete the segments whose entries all have an index at or below `index` (a
        snapshot covers them); returns them. The newest segment is always kept. Safe to call
        from another thread than the writer's: only closed segments are deleted."""
        segments = self.segments()
        doomed = [
            path
            for path, successor in itertools.pairwise(segments)
            if int(successor.name[: -len(SUFFIX)]) <= index + 1
        ]
        for path in doomed:
            path.unlink()
        if doomed:
            sync_directory(self.directory)
        return doomed

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
        marker = encode_batch_marker(len(records))
        written = os.writev(fd, [marker, records])
        if written < len(marker) + len(records):  # a short write: finish it
            rest = memoryview(marker + records)[written:]
            while rest:
                rest = rest[os.write(fd, rest) :]
        records_size = len(marker) + len(records)
        self._wrote = True
        if self.fsync:
            started = time.perf_counter()
            os.fdatasync(fd)
            self.fsyncs += 1
            if self.fsync_seconds is not None:  # (only this thread observes it)
                self.fsync_seconds.observe(time.perf_counter() - started)
        self._size += records_size
        self.bytes_written += records_size
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
        """Sync (whatever the fsync setting: a clean stop loses nothing) and close.

        If anything was written since the log was opened, an empty batch is added after the
        sync: it proves every batch before it complete, so damage found in them later is
        reported as corruption rather than forgiven as an unfinished last write.
        """
        if self._fd is not None:
            os.fsync(self._fd)
            if self._wrote:
                os.write(self._fd, encode_batch_marker(0))
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
