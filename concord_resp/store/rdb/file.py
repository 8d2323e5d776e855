"""A whole RDB file (what Redis's SAVE writes) as the DUMP payloads of its keys.

An RDB file is the header `REDIS` + a 4-digit version (1 to 10 here, Redis 7.0's), then
records each opened by a byte: AUX fields (two strings, skipped), SELECTDB (the database the
keys after it are in), RESIZEDB (two sizes, a hint), EXPIRETIME (seconds) and EXPIRETIME_MS
(the next key's expiry), IDLE and FREQ (eviction hints, skipped), FUNCTION2 (a library's
code), MODULE_AUX (refused: Concord has no modules), or a key: its value's object type byte,
the key, the value exactly as a DUMP payload holds it. EOF ends the file, followed from
version 5 by the CRC-64 of everything before it (0: not computed).

`read_rdb` yields each key as a DUMP payload (the value's bytes as found, the file's version
and their CRC-64), so RESTORE loads it as Redis would; each value is read through (`load`)
to find where it ends, which also refuses a value RESTORE would refuse before anything is
sent. `file_checksum` checks the trailer. Pure: the caller hands in the bytes (a memory map
of the file, so its size does not count against memory) and does the I/O.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Final

from ..encoding import EncodingConfig
from .crc64 import crc64
from .functions import FUNCTION2, dump_libraries
from .load import load_value
from .object_types import RDB_VERSION
from .primitives import BadPayload, Reader

MAGIC: Final = b"REDIS"
HEADER_SIZE: Final = 9

MODULE_AUX: Final = 247
IDLE: Final = 248
FREQ: Final = 249
AUX: Final = 250
RESIZEDB: Final = 251
EXPIRETIME_MS: Final = 252
EXPIRETIME: Final = 253
SELECTDB: Final = 254
EOF: Final = 255
FUNCTION_PRE_GA: Final = 246

CHECKSUM_SINCE: Final = 5  # RDB versions from 5 end with a CRC-64


class RdbFileError(ValueError):
    """The file is not an RDB file Concord can import; the message says where and why."""


@dataclass(frozen=True, slots=True)
class RdbKey:
    db: int
    key: bytes
    expires_ms: int | None  # absolute Unix time in milliseconds
    payload: bytes  # a DUMP payload: RESTORE key ttl payload ABSTTL
    end: int  # the file offset after this key (for progress)


@dataclass(frozen=True, slots=True)
class RdbFunctions:
    payload: bytes  # a FUNCTION DUMP payload: FUNCTION RESTORE payload
    end: int


def rdb_version(data: bytes) -> int:
    """The header's version; RdbFileError if this is no RDB file Redis 7.0 could load."""
    header = data[:HEADER_SIZE]
    if len(header) < HEADER_SIZE or header[:5] != MAGIC or not header[5:].isdigit():
        raise RdbFileError("not an RDB file (it does not start with REDIS and a version)")
    version = int(header[5:])
    if not 1 <= version <= RDB_VERSION:
        raise RdbFileError(
            f"RDB version {version}: Concord reads versions 1 to {RDB_VERSION} (Redis 7.0's)"
        )
    return version


def file_checksum(data: bytes, eof: int) -> tuple[int, int] | None:
    """(stored, computed) CRC-64 of a file whose EOF byte is at `eof`, or None if the file
    has none (before version 5, or written with rdbchecksum no: stored as 0)."""
    if rdb_version(data) < CHECKSUM_SINCE:
        return None
    stored = int.from_bytes(data[eof + 1 : eof + 9], "little")
    if stored == 0:
        return None
    computed = 0
    step = 1 << 20
    for start in range(0, eof + 1, step):
        computed = crc64(data[start : min(start + step, eof + 1)], computed)
    return stored, computed


def read_rdb(
    data: bytes, config: EncodingConfig, *, payloads: bool = True
) -> Generator[RdbKey | RdbFunctions, None, int]:
    """Every key of the file in order, and its function libraries (in one FUNCTION RESTORE
    payload, before the first key). Ends with the EOF record's offset as the generator's
    return value. Raises RdbFileError naming the offset of what it cannot read. Without
    `payloads` the keys' payloads are left empty (a pass that only checks the file)."""
    version = rdb_version(data)
    footer = version.to_bytes(2, "little")
    reader = Reader(data)
    reader.position = HEADER_SIZE
    db = 0
    expires: int | None = None
    libraries: list[bytes] = []
    start = reader.position
    try:
        while True:
            start = reader.position
            kind = reader.byte()
            if kind == EOF:
                if libraries:  # a file with functions and no keys after them
                    yield RdbFunctions(dump_libraries(libraries), start)
                return start
            if kind == EXPIRETIME:
                expires = int.from_bytes(reader.take(4), "little", signed=True) * 1000
            elif kind == EXPIRETIME_MS:
                expires = int.from_bytes(reader.take(8), "little", signed=True)
            elif kind == FREQ:
                reader.byte()
            elif kind == IDLE:
                reader.length()
            elif kind == SELECTDB:
                db = reader.length()
            elif kind == RESIZEDB:
                reader.length()
                reader.length()
            elif kind == AUX:
                reader.string()
                reader.string()
            elif kind == FUNCTION2:
                libraries.append(reader.string())
            elif kind == FUNCTION_PRE_GA:
                raise RdbFileError("functions of a Redis 7.0 release candidate are not read")
            elif kind == MODULE_AUX:
                raise RdbFileError("module data: Concord has no modules")
            else:
                if libraries:
                    yield RdbFunctions(dump_libraries(libraries), start)
                    libraries = []
                key = reader.string()
                value_start = reader.position
                load_value(reader, kind, config)
                payload = b""
                if payloads:
                    body = bytes([kind]) + data[value_start : reader.position] + footer
                    payload = body + crc64(body).to_bytes(8, "little")
                yield RdbKey(db, key, expires, payload, reader.position)
                expires = None
    except BadPayload as error:
        raise RdbFileError(f"at byte {start}: {error}") from None
