"""Payloads in the RDB encodings Redis 7.0 no longer writes but still RESTOREs, built from
their documented layouts for tests: ziplists (Redis 2.6 to 6.2), zipmaps (Redis 2.4), the
plain LIST/SET/HASH/ZSET encodings, and payloads with any object type byte and RDB version.
Independent of Concord's codec (only the CRC-64 is shared, and it is checked against Redis
on its own)."""

from __future__ import annotations

from concord_resp.store.rdb import crc64


def length(size: int) -> bytes:
    """An RDB length (rdbSaveLen)."""
    if size < 1 << 6:
        return bytes((size,))
    if size < 1 << 14:
        return bytes(((size >> 8) | 0x40, size & 0xFF))
    return b"\x80" + size.to_bytes(4, "big")


def string(data: bytes) -> bytes:
    """A verbatim RDB string: its length and its bytes."""
    return length(len(data)) + data


def payload(kind: int, body: bytes, version: int = 10) -> bytes:
    """A DUMP payload: the type byte, the body, the version and the CRC-64."""
    data = bytes((kind,)) + body + version.to_bytes(2, "little")
    return data + crc64(data).to_bytes(8, "little")


def _ziplist_entry(item: bytes | int, previous: int) -> bytes:
    prevlen = bytes((previous,)) if previous < 254 else b"\xfe" + previous.to_bytes(4, "little")
    if isinstance(item, int):
        if 0 <= item <= 12:
            return prevlen + bytes((0xF1 + item,))
        for code, width in ((0xFE, 1), (0xC0, 2), (0xF0, 3), (0xD0, 4), (0xE0, 8)):
            if -(1 << (8 * width - 1)) <= item < 1 << (8 * width - 1):
                return prevlen + bytes((code,)) + item.to_bytes(width, "little", signed=True)
        raise ValueError(item)
    size = len(item)
    if size <= 0x3F:
        head = bytes((size,))
    elif size <= 0x3FFF:
        head = bytes(((size >> 8) | 0x40, size & 0xFF))
    else:
        head = b"\x80" + size.to_bytes(4, "big")
    return prevlen + head + item


def ziplist(items: list[bytes | int]) -> bytes:
    """A ziplist of strings (bytes, stored as strings) and integers (ints)."""
    body = b""
    previous = 0
    tail = 10
    for item in items:
        entry = _ziplist_entry(item, previous)
        tail = 10 + len(body)
        body += entry
        previous = len(entry)
    total = 10 + len(body) + 1
    count = min(len(items), 0xFFFF)
    return (
        total.to_bytes(4, "little")
        + tail.to_bytes(4, "little")
        + count.to_bytes(2, "little")
        + body
        + b"\xff"
    )


def zipmap(pairs: list[tuple[bytes, bytes]], free: int = 0) -> bytes:
    """A zipmap of field/value pairs (each value followed by `free` unused bytes)."""

    def encoded(size: int) -> bytes:
        return bytes((size,)) if size < 254 else b"\xfe" + size.to_bytes(4, "little")

    body = b""
    for field, value in pairs:
        body += encoded(len(field)) + field + encoded(len(value)) + bytes((free,)) + value
        body += b"\0" * free
    return bytes((min(len(pairs), 254),)) + body + b"\xff"
