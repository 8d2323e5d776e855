"""The promise file: `<data dir>/promise`, the node's promise (raft/core/promise.py) on disk.

Kept outside `wal/` so that losing the log (a truncated or deleted segment, a deleted
directory) does not lose the record of how far the log went. The file is 4096 bytes, written
whole once when it is created (then the directory is synced); after that it is only
overwritten in place: an update is one `pwrite` of a 53-byte slot, through a descriptor
opened with O_DSYNC (the write returns once it is durable: measured here about half the
time of a `pwrite` and an `fdatasync`), with no change of size or allocation, so it writes
one block and no file system metadata. The log writer's promise thread does it right after a
batch's fsync (log_writer.py).

Two slots, at offsets 0 and 512 (different sectors), take turns; each holds a sequence
number, the promise (term, index, whether a vote was cast in the term), a digest of the node's name and cluster id, and a CRC. A write torn by a
crash damages only the slot being written; the other still holds the promise before it, and
since that write never completed, nothing that depended on it was sent. The digest makes a
promise file of another node or cluster put in this one's place an error, not a promise.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path
from typing import Final

from crc32c import crc32c

from ..core import NOTHING_PROMISED, Promise
from .wal import sync_directory

FILE_NAME: Final = "promise"
FILE_SIZE: Final = 4096
MAGIC: Final = b"CCPROM\x00\x01"
_SLOT: Final = struct.Struct("<8sQQQB16s")  # magic, sequence, term, index, flags, identity
_VOTED: Final = 1  # flags: a vote was cast in the term
_CRC: Final = struct.Struct("<I")
SLOT_OFFSETS: Final = (0, 512)


class PromiseFileError(Exception):
    """The promise file is missing, unreadable or another node's: start-up must stop."""


def identity(name: str, cluster_id: str) -> bytes:
    """What ties a promise file to one node of one cluster."""
    return hashlib.sha256(f"{cluster_id}\0{name}".encode()).digest()[:16]


def _open(path: Path, fsync: bool) -> int:
    """A descriptor whose writes are durable when they return (unless fsync is off)."""
    return os.open(path, os.O_RDWR | (os.O_DSYNC if fsync else 0))


def _encode_slot(sequence: int, promise: Promise, owner: bytes) -> bytes:
    flags = _VOTED if promise.voted else 0
    body = _SLOT.pack(MAGIC, sequence, promise.term, promise.index, flags, owner)
    return body + _CRC.pack(crc32c(body))


def _decode_slot(data: bytes) -> tuple[int, Promise, bytes] | None:
    """(sequence, promise, identity) of an intact slot, or None (never written, or torn)."""
    size = _SLOT.size
    if len(data) < size + _CRC.size:
        return None
    body = data[:size]
    if body[:8] != MAGIC or _CRC.unpack_from(data, size)[0] != crc32c(body):
        return None
    _, sequence, term, index, flags, owner = _SLOT.unpack(body)
    return sequence, Promise(term, index, bool(flags & _VOTED)), owner


class PromiseFile:
    """The open promise file of one data directory; `record` updates it (one thread)."""

    def __init__(
        self, path: Path, fd: int, owner: bytes, sequence: int, promise: Promise, *, fsync: bool
    ) -> None:
        self.path = path
        self._fd = fd
        self._owner = owner
        self._sequence = sequence
        self.promise = promise
        self.fsync = fsync
        self.created = False  # made at this start (a new or older data directory)
        self.writes = 0

    @classmethod
    def create(
        cls, path: Path, owner: bytes, promise: Promise = NOTHING_PROMISED, *, fsync: bool = True
    ) -> PromiseFile:
        """Write a new promise file (replacing any), durable with its directory entry."""
        temp = path.with_name(path.name + ".tmp")
        data = bytearray(FILE_SIZE)
        slot = _encode_slot(1, promise, owner)
        data[: len(slot)] = slot
        with open(temp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
        sync_directory(path.parent)
        made = cls(path, _open(path, fsync), owner, 1, promise, fsync=fsync)
        made.created = True
        return made

    @classmethod
    def open(cls, path: Path, owner: bytes, *, fsync: bool = True) -> PromiseFile:
        """Open an existing promise file; raises PromiseFileError if it is missing, has no
        intact slot, or belongs to another node or cluster."""
        try:
            fd = _open(path, fsync)
        except FileNotFoundError:
            raise PromiseFileError(f"{path} is missing") from None
        try:
            data = os.pread(fd, FILE_SIZE, 0)
            slots = [_decode_slot(data[offset:]) for offset in SLOT_OFFSETS]
            intact = [slot for slot in slots if slot is not None]
            if not intact:
                raise PromiseFileError(f"{path} is damaged (no intact record in it)")
            sequence, promise, found = max(intact, key=lambda slot: slot[0])
            if found != owner:
                raise PromiseFileError(
                    f"{path} belongs to another node or cluster than this data directory's"
                    " meta file says (one of the two was replaced)"
                )
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, owner, sequence, promise, fsync=fsync)

    def record(self, promise: Promise) -> None:
        """Make `promise` durable (the slot not holding the current one is overwritten).
        Raises OSError: the caller must stop, as after a failed log write."""
        sequence = self._sequence + 1
        slot = _encode_slot(sequence, promise, self._owner)
        os.pwrite(self._fd, slot, SLOT_OFFSETS[sequence % 2])  # durable on return (O_DSYNC)
        self._sequence = sequence
        self.promise = promise
        self.writes += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
