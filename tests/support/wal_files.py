"""Reading and damaging write-ahead log files from tests, as a crash or a bad disk would.

The log format is `concord_resp.raft.driver.wal`'s (DESIGN.md section 5); these helpers only
locate segments and records and change bytes, so tests can say which record they hit.
"""

from __future__ import annotations

import time
from pathlib import Path

import cbor2

from concord_resp.raft.core import EntryKind, HardState
from concord_resp.raft.driver.wal import (
    HEADER,
    MAGIC,
    WriteAheadLog,
    encode_entry,
    encode_hard_state,
)
from concord_resp.state import Command, encode_op


def segments(data_dir: Path) -> list[Path]:
    """The log segments of a server's data directory, oldest first."""
    return WriteAheadLog(data_dir / "wal").segments()


def last_index_in(records: bytes) -> int:
    """The highest entry index in a run of encoded records (hard states and batch markers,
    which are not 4-element records, skipped)."""
    found, pos = 0, 0
    while pos < len(records):
        length = HEADER.unpack_from(records, pos)[0]
        record = cbor2.loads(records[pos + HEADER.size : pos + HEADER.size + length])
        if len(record) == 4:
            found = max(found, record[0])
        pos += HEADER.size + length
    return found


def record_offsets(path: Path, *, markers: bool = False) -> list[int]:
    """The byte offset of every entry and hard-state record in a segment (which must be
    intact); with `markers`, of the batch markers too."""
    data = path.read_bytes()
    found, pos = [], len(MAGIC)
    while pos < len(data):
        length = HEADER.unpack_from(data, pos)[0]
        if markers or not _is_marker(data[pos + HEADER.size : pos + HEADER.size + length]):
            found.append(pos)
        pos += HEADER.size + length
    return found


def _is_marker(payload: bytes) -> bool:
    try:
        decoded = cbor2.loads(payload)
    except (cbor2.CBORDecodeError, ValueError):
        return False  # a damaged record: report it
    return isinstance(decoded, list) and len(decoded) == 1


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


def append_bytes(path: Path, data: bytes) -> None:
    with open(path, "ab") as file:
        file.write(data)


def set_entry(index: int, key: bytes, value: bytes, time_us: int = 0) -> bytes:
    """An encoded log record of `SET key value` in db 0, as the node writes it."""
    payload = encode_op(Command(time_us or time.time_ns() // 1000, 0, [b"SET", key, value]))
    return encode_entry(index, 1, EntryKind.NORMAL, payload)


def write_set_log(data_dir: Path, count: int) -> None:
    """A log of `count` SETs (key:N -> value:N), written directly: much faster than a server.

    The log is what a one-member node writes: its hard state, then entries 1..count. The
    `meta` beside it is that of a data directory from before the promise file (which the
    server then makes from what the log holds), so the log is not taken for damage.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    meta = {"version": 1, "name": "n1", "cluster_id": "00" * 16}
    (data_dir / "meta").write_bytes(cbor2.dumps(meta))
    wal = WriteAheadLog(data_dir / "wal", fsync=False)
    wal.open_for_append(1)
    wal.write(encode_hard_state(HardState(1, "n1", 0)), 1)
    now = time.time_ns() // 1000
    chunk: list[bytes] = []
    for index in range(1, count + 1):
        chunk.append(set_entry(index, b"key:%d" % index, b"value:%d" % index, now))
        if len(chunk) == 10_000 or index == count:
            wal.write(b"".join(chunk), index + 1)
            chunk.clear()
    wal.close()
