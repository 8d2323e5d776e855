"""Redis's RDB value format, for DUMP and RESTORE: a pure codec between values and payloads.

A DUMP payload is one serialized value (`save`: the RDB object type byte, then the value as
Redis 7.0 writes it for its encoding), the RDB version (10, 2 bytes little-endian) and the
CRC-64 of everything before it (8 bytes little-endian, `crc64`). `dump_payload` builds one;
`footer_is_valid` is RESTORE's first check (a version above 10 or a wrong checksum) and
`load_payload` reads the value (`load`), raising `BadPayload` for anything it cannot load.
The building blocks follow Redis's own: `primitives` (lengths, strings, doubles), `lzf`,
`listpack`, `intset`, `quicklist`, `ziplist` (and zipmap, read only). Deterministic, no I/O:
every replica that applies a RESTORE decodes the same payload to the same value.
"""

from __future__ import annotations

from ..encoding import EncodingConfig
from .crc64 import crc64
from .load import Value, load_object
from .object_types import RDB_VERSION
from .primitives import BadPayload, Reader
from .save import save_object

FOOTER_SIZE = 10


def dump_payload(value: object, config: EncodingConfig) -> bytes:
    """createDumpPayload: the value serialized, the RDB version and the checksum."""
    body = bytearray(save_object(value, config))
    body += RDB_VERSION.to_bytes(2, "little")
    body += crc64(body).to_bytes(8, "little")
    return bytes(body)


def footer_is_valid(payload: bytes) -> bool:
    """verifyDumpPayload: at least a footer, an RDB version Redis 7.0 reads (0 to 10), and
    the checksum of everything before the checksum."""
    if len(payload) < FOOTER_SIZE:
        return False
    footer = len(payload) - FOOTER_SIZE
    version = payload[footer] | payload[footer + 1] << 8
    if version > RDB_VERSION:
        return False
    return crc64(memoryview(payload)[: footer + 2]) == int.from_bytes(payload[-8:], "little")


def load_payload(payload: bytes, config: EncodingConfig) -> Value:
    """The value a payload (whose footer is valid) holds, with the encoding Redis would give
    it. Read from the start of the whole payload, footer included, as Redis reads it."""
    return load_object(Reader(payload), config)


__all__ = [
    "RDB_VERSION",
    "BadPayload",
    "Value",
    "crc64",
    "dump_payload",
    "footer_is_valid",
    "load_payload",
]
